import type { Address, Hex } from "viem";
import type { Logger } from "pino";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { approveVault } from "../chain/actions/approveVault.js";
import { challengeReplica } from "../chain/actions/challengeReplica.js";
import { expireChallenge } from "../chain/actions/expireChallenge.js";
import type { MarketActionContext } from "../chain/actions/market-call.js";
import type { MarketParameters } from "../chain/client.js";

/**
 * The watcher's side of on-chain challenges (docs/protocol.md §7.2). A watcher escalates a replica whose
 * off-chain timed challenge went wrong (late, wrong, unanswered) to an on-chain challenge: it escrows the bond,
 * then, once the window has passed without an answer, settles it with expireChallenge — the replica fails, its
 * lessor loses its remaining collateral and the watcher earns the bounty. An honest lessor answers in time and
 * keeps the bond, which is what makes frivolous challenges cost the watcher.
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

export class OnChainChallenger {
  readonly settled: SettledOnChainChallenge[] = [];
  private readonly open = new Map<string, OpenOnChainChallenge>();

  constructor(private readonly options: OnChainChallengerOptions) {}

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
    const open = { dealId, replicaIndex, lessor, openedBlock: result.openedBlock.toString(), deadlineBlock: result.deadlineBlock.toString() };
    this.open.set(key(dealId, replicaIndex), open);
    await this.persist();
    logger.info({ dealId, replicaIndex, lessor, deadlineBlock: open.deadlineBlock }, "watcher: on-chain challenge opened");
    return open;
  }

  /** Settles what can be settled: answered challenges are dropped, unanswered ones past their window expired. */
  async settle(): Promise<SettledOnChainChallenge[]> {
    const { chain, logger } = this.options;
    if (this.open.size === 0) return [];
    const latest = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const done: SettledOnChainChallenge[] = [];
    for (const [k, c] of this.open) {
      const openedBlock = BigInt(c.openedBlock);
      const onChain = await chain.publicClient.readContract({ address: chain.addresses.market, abi: storageMarketAbi, functionName: "getChallenge", args: [c.dealId, BigInt(c.replicaIndex)] });
      const base = { dealId: c.dealId, replicaIndex: c.replicaIndex, lessor: c.lessor, openedBlock };
      if (onChain.openedBlock !== openedBlock) {
        // No longer open: the lessor answered, or someone else settled it first (expired or voided).
        const closedBy = async (eventName: "ChallengeExpired" | "ChallengeVoided") =>
          (await chain.publicClient.getContractEvents({ address: chain.addresses.market, abi: storageMarketAbi, eventName, args: { dealId: c.dealId }, fromBlock: openedBlock }))
            .find((e) => Number(e.args.replicaIndex) === c.replicaIndex);
        const slash = await closedBy("ChallengeExpired");
        if (slash?.eventName === "ChallengeExpired") done.push({ ...base, result: "slashed", slashed: slash.args.slashed!, bounty: slash.args.bounty! });
        else done.push({ ...base, result: (await closedBy("ChallengeVoided")) ? "voided" : "answered", slashed: 0n, bounty: 0n });
        this.open.delete(k);
      } else if (latest > BigInt(c.deadlineBlock)) {
        const result = await expireChallenge(chain, { dealId: c.dealId, replicaIndex: c.replicaIndex, openedBlock });
        done.push({ ...base, result: result.outcome, slashed: result.slashed, bounty: result.bounty });
        this.open.delete(k);
      }
    }
    if (done.length > 0) {
      this.settled.push(...done);
      await this.persist();
      for (const s of done) logger.info({ dealId: s.dealId, replicaIndex: s.replicaIndex, lessor: s.lessor, result: s.result, slashed: s.slashed.toString() }, "watcher: on-chain challenge settled");
    }
    return done;
  }

  private async persist(): Promise<void> {
    await this.options.save?.(this.openChallenges());
  }
}

function key(dealId: Hex, replicaIndex: number): string {
  return `${dealId.toLowerCase()}:${replicaIndex}`;
}
