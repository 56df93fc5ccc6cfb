import { isAddressEqual, parseEventLogs, type Address, type Hex, type Log } from "viem";
import type { Logger } from "pino";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { approveVault } from "../chain/actions/approveVault.js";
import { challengeReplica } from "../chain/actions/challengeReplica.js";
import { expireChallenge } from "../chain/actions/expireChallenge.js";
import { isMarketError, type MarketActionContext } from "../chain/actions/market-call.js";
import type { MarketParameters } from "../chain/client.js";

/**
 * The watcher's side of on-chain challenges (docs/protocol.md §7.2). A watcher escalates a replica whose
 * off-chain timed challenge went wrong (late, wrong, unanswered) to an on-chain challenge: it escrows the bond,
 * then, once the window has passed without an answer, settles it with expireChallenge — the replica fails, its
 * lessor loses its remaining collateral and the watcher earns the bounty. An honest lessor answers in time and
 * keeps the bond, which is what makes frivolous challenges cost the watcher.
 *
 * How a challenge closed (answered, expired or voided by anyone) is learnt from the market's events, fed in
 * chain order by the watcher's event follower through `observe`: settling reads nothing per challenge.
 */

export interface OnChainChallengerOptions {
  chain: MarketActionContext & { params: Pick<MarketParameters, "challengeWindow" | "challengeBond"> };
  logger: Logger;
  /** Persistence of the open challenges (the watcher's LevelDB); in memory when absent. */
  load?: () => Promise<OpenOnChainChallenge[] | undefined>;
  save?: (open: OpenOnChainChallenge[]) => Promise<void>;
}

export interface OpenOnChainChallenge {
  dealId: Hex;
  replicaIndex: number;
  lessor: Address;
  openedBlock: string;
  deadlineBlock: string;
  /** Position of the ReplicaChallenged log in its block (absent in challenges persisted before it was kept). */
  openedLogIndex?: number;
}

export interface SettledOnChainChallenge {
  dealId: Hex;
  replicaIndex: number;
  lessor: Address;
  openedBlock: bigint;
  /** answered: the lessor opened its replica in time (it keeps the bond); slashed: it did not. */
  result: "answered" | "slashed" | "voided";
  slashed: bigint;
  bounty: bigint;
}

/** The market events that close a challenge. */
const CLOSING_EVENTS = ["ChallengeAnswered", "ChallengeExpired", "ChallengeVoided"] as const;

export class OnChainChallenger {
  readonly settled: SettledOnChainChallenge[] = [];
  private readonly open = new Map<string, OpenOnChainChallenge>();
  /** Challenges the events closed, handed out by the next settle(). */
  private readonly closed: SettledOnChainChallenge[] = [];
  /** Last block whose events `observe` has seen: a challenge still open here was not closed up to this block. */
  private observedTo?: bigint;

  constructor(private readonly options: OnChainChallengerOptions) {}

  /** This watcher's address: its challenges are the ones keyed by it (§7.2). */
  private get challenger(): Address {
    return this.options.chain.walletClient.account.address;
  }

  /**
   * Loads the persisted open challenges. One closed while the watcher was down is classified when the event
   * follower, resuming from its persisted block (older than the closing: the follower's checkpoint only passes
   * a closing after `observe` persisted it), feeds that closing to `observe`.
   */
  async load(): Promise<void> {
    for (const c of (await this.options.load?.()) ?? []) this.open.set(key(c.dealId, c.replicaIndex), c);
  }

  openChallenges(): OpenOnChainChallenge[] {
    return [...this.open.values()];
  }

  isOpen(dealId: Hex, replicaIndex: number): boolean {
    return this.open.has(key(dealId, replicaIndex));
  }

  /** Opens an on-chain challenge of a Proving replica, approving the vault for the bond first. */
  async challenge(dealId: Hex, replicaIndex: number, lessor: Address): Promise<OpenOnChainChallenge> {
    const { chain, logger } = this.options;
    if (chain.params.challengeBond > 0n) await approveVault(chain, { amount: chain.params.challengeBond });
    const result = await challengeReplica(chain, { dealId, replicaIndex });
    const open = { dealId, replicaIndex, lessor, openedBlock: result.openedBlock.toString(), deadlineBlock: result.deadlineBlock.toString(), openedLogIndex: result.openedLogIndex };
    this.open.set(key(dealId, replicaIndex), open);
    await this.persist();
    logger.info({ dealId, replicaIndex, lessor, deadlineBlock: open.deadlineBlock }, "watcher: on-chain challenge opened");
    return open;
  }

  /**
   * Takes the market's decoded logs of blocks `range` (the event follower's onLogs, in chain order): each
   * ChallengeAnswered / ChallengeExpired / ChallengeVoided of one of our open challenges closes it. The open
   * set is persisted before this resolves, so the follower's checkpoint never passes an unrecorded closing.
   */
  async observe(logs: readonly Log[], range: { toBlock: bigint }): Promise<void> {
    const { chain } = this.options;
    const closings = parseEventLogs({ abi: storageMarketAbi, eventName: [...CLOSING_EVENTS], logs: logs as Log[] });
    const stillOpen = new Map(this.open);
    const closedNow: SettledOnChainChallenge[] = [];
    for (const log of closings) {
      if (!isAddressEqual(log.address, chain.addresses.market)) continue;
      // Each challenger has its own challenge of a replica (§7.2): another's closing is not ours.
      if (!isAddressEqual(log.args.challenger, this.challenger)) continue;
      const k = key(log.args.dealId, Number(log.args.replicaIndex));
      const c = stillOpen.get(k);
      if (c === undefined || !loggedAfterOpening(log, c)) continue; // not ours, or it closed an earlier challenge
      closedNow.push(settledBy(log, c));
      stillOpen.delete(k);
    }
    if (closedNow.length > 0) {
      // Persisted first: if saving fails, memory still holds them open and the follower retries this range.
      await this.options.save?.([...stillOpen.values()]);
      for (const c of closedNow) this.open.delete(key(c.dealId, c.replicaIndex));
      this.closed.push(...closedNow);
    }
    this.observedTo = range.toBlock;
  }

  /**
   * Settles what can be settled: hands out the challenges the events closed and expires each open one whose
   * window had passed by the last observed block (no event closed it up to there). Reads nothing per challenge.
   */
  async settle(): Promise<SettledOnChainChallenge[]> {
    const { chain, logger } = this.options;
    const done = this.closed.splice(0);
    try {
      for (const [k, c] of this.open) {
        if (this.observedTo === undefined || this.observedTo <= BigInt(c.deadlineBlock)) continue;
        const openedBlock = BigInt(c.openedBlock);
        try {
          const result = await expireChallenge(chain, { dealId: c.dealId, replicaIndex: c.replicaIndex, challenger: this.challenger, openedBlock });
          done.push({ dealId: c.dealId, replicaIndex: c.replicaIndex, lessor: c.lessor, openedBlock, result: result.outcome, slashed: result.slashed, bounty: result.bounty });
          this.open.delete(k);
        } catch (error) {
          if (!isMarketError(error, "MarketNoChallenge")) throw error;
          // Closed by someone else. Usually after the last observed block, and its event will tell how; but
          // a closing already behind the follower (state saved by an older watcher, say) never comes: one
          // read tells the two apart, and the logs classify the second (a rare path: reads are fine here).
          const onChain = await chain.publicClient.readContract({ address: chain.addresses.market, abi: storageMarketAbi, functionName: "getChallenge", args: [c.dealId, BigInt(c.replicaIndex), this.challenger] });
          if (onChain.openedBlock === openedBlock) throw error;
          const settledBefore = await this.closingFromLogs(c, this.observedTo!);
          if (settledBefore) {
            done.push(settledBefore);
            this.open.delete(k);
          } else logger.debug({ dealId: c.dealId, replicaIndex: c.replicaIndex }, "watcher: on-chain challenge closed meanwhile");
        }
      }
    } finally {
      if (done.length > 0) {
        this.settled.push(...done);
        await this.persist();
        for (const s of done) logger.info({ dealId: s.dealId, replicaIndex: s.replicaIndex, lessor: s.lessor, result: s.result, slashed: s.slashed.toString() }, "watcher: on-chain challenge settled");
      }
    }
    return done;
  }

  /**
   * How challenge `c` closed, from the market's logs up to block `toBlock` (inclusive); undefined when no
   * closing of it was logged by then (its event is still ahead of the follower).
   */
  private async closingFromLogs(c: OpenOnChainChallenge, toBlock: bigint): Promise<SettledOnChainChallenge | undefined> {
    const { chain } = this.options;
    const logs = await chain.publicClient.getLogs({ address: chain.addresses.market, fromBlock: BigInt(c.openedBlock), toBlock });
    const closing = parseEventLogs({ abi: storageMarketAbi, eventName: [...CLOSING_EVENTS], logs })
      .find(
        (log) =>
          key(log.args.dealId, Number(log.args.replicaIndex)) === key(c.dealId, c.replicaIndex) &&
          isAddressEqual(log.args.challenger, this.challenger) &&
          loggedAfterOpening(log, c),
      );
    return closing === undefined ? undefined : settledBy(closing, c);
  }

  private async persist(): Promise<void> {
    await this.options.save?.(this.openChallenges());
  }
}

type ClosingLog = ReturnType<typeof parseEventLogs<typeof storageMarketAbi, true, (typeof CLOSING_EVENTS)[number]>>[number];

/** What a closing log of challenge `c` means for it: answered, slashed (expired) or voided. */
function settledBy(log: ClosingLog, c: OpenOnChainChallenge): SettledOnChainChallenge {
  const base = { dealId: c.dealId, replicaIndex: c.replicaIndex, lessor: c.lessor, openedBlock: BigInt(c.openedBlock) };
  if (log.eventName === "ChallengeExpired") return { ...base, result: "slashed", slashed: log.args.slashed, bounty: log.args.bounty };
  return { ...base, result: log.eventName === "ChallengeVoided" ? "voided" : "answered", slashed: 0n, bounty: 0n };
}

function key(dealId: Hex, replicaIndex: number): string {
  return `${dealId.toLowerCase()}:${replicaIndex}`;
}

/**
 * True when `log` comes after the challenge's ReplicaChallenged log: a challenger has one challenge per replica
 * open at a time, so its closing logged before the opening (possibly in the same block) closed an earlier one.
 */
function loggedAfterOpening(log: { blockNumber: bigint; logIndex: number }, c: OpenOnChainChallenge): boolean {
  const openedBlock = BigInt(c.openedBlock);
  if (log.blockNumber !== openedBlock) return log.blockNumber > openedBlock;
  return c.openedLogIndex === undefined || log.logIndex > c.openedLogIndex;
}
