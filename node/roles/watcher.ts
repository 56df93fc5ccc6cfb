import type { Address, Hex, Log } from "viem";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { getServingLessors } from "../chain/actions/getServingLessors.js";
import { getPiece } from "../chain/actions/getPiece.js";
import { withdraw } from "../chain/actions/withdraw.js";
import type { ChainClient } from "../chain/client.js";
import type { EventFollower } from "../chain/event-follower.js";
import type { CofferNode } from "../assembly/coffer-node.js";
import { ReplicaState } from "../chain/states.js";
import { getLessorEndpoint, LessorUnreachableError } from "../chain/actions/getLessorEndpoint.js";
import { connectToLessor, createNodeAndChain, logStepError, RoleLoop, type RoleOptions } from "./common.js";
import { OnChainChallenger, type OpenOnChainChallenge } from "./onchain-challenger.js";
import { TimedChallenger, type TimedChallengerOptions, type TimedOutcomeStatus } from "./timed-challenger.js";
import { periodStart } from "../chain/periods.js";

/** How long one dial of a lessor's registered multiaddr may take before a timed challenge (the answer has 1 s). */
const TIMED_DIAL_TIMEOUT_MS = 2_000;

/** Per-lessor statistics the watcher keeps from chain events and its own reports. */
export interface LessorRecord {
  lessor: Address;
  proofs: number;
  misses: number;
  failures: number;
  /** Seconds from period start to the lessor's last PoSt. */
  lastLatencySeconds?: number;
  /** First period it had a proving sector (from PoRepAccepted): periods before it are no misses. */
  provingSince?: number;
  suspect: boolean;
}

/** A replica the watcher tracks (from DealCreated / PoRepAccepted events). */
export interface WatchedReplica {
  dealId: Hex;
  replicaIndex: number;
}

/** Hook for the timed challenger (node/roles/timed-challenger.ts): called once per period per proving replica. */
export type TimedChallengeHook = (replica: WatchedReplica & { lessor: Address; period: bigint }) => Promise<void>;

export interface WatcherOptions extends RoleOptions {
  /** An extra hook called once per closed period for each replica with a lessor. */
  timedChallenge?: TimedChallengeHook;
  /**
   * Built-in signed timed challenges over libp2p (docs/protocol.md §7), once per closed period per proving
   * replica: on by default; `false` turns them off.
   */
  timedChallenges?: false | Pick<TimedChallengerOptions, "kTimed" | "deadlineMs" | "graceMs" | "suspectAfter">;
  /**
   * Escalation to on-chain challenges (docs/protocol.md §7.2): a replica whose timed challenges failed
   * `escalateAfter[status]` times in a row is challenged on-chain (the watcher escrows the bond) and slashed if
   * it does not answer in time. Default: after 1 late or wrong signed answer (the lessor is up but cannot open
   * its replica in time) and after 2 unanswered ones (one may be a network blip). `false` turns it off.
   */
  onChainChallenges?: false | { escalateAfter?: Partial<Record<Exclude<TimedOutcomeStatus, "ok">, number>> };
  /** Withdraw bounties each period (default true). */
  withdrawBounties?: boolean;
}

interface WatcherState {
  deals: Record<Hex, { replicas: number; startPeriod: number; endPeriod: number }>;
  lastCheckedPeriod: number;
}

/**
 * A watcher: follows the markets' events from its persisted block, records after each period closes every
 * proving lessor that did not prove it (misses are derived on-chain, §12.5), challenges proving pieces with
 * timed challenges and escalates failures to on-chain challenges. Keeps per-lessor statistics and flags
 * lessors that missed or failed as suspects.
 */
export class WatcherRole {
  readonly lessors = new Map<string, LessorRecord>();
  /** Periods proving lessors missed (derived on-chain; recorded, nobody reports them: §12.5). */
  readonly reports: { period: bigint; lessor: Address }[] = [];
  private state: WatcherState = { deals: {}, lastCheckedPeriod: -1 };
  /** Failed timed challenges in a row, per replica, by outcome (reset by an ok answer). */
  private readonly failedInARow = new Map<string, Record<Exclude<TimedOutcomeStatus, "ok">, number>>();
  private readonly follower: EventFollower<typeof storageMarketAbi>;
  private readonly loop: RoleLoop;

  /** The watcher's timed challenger (statistics, suspects, signed evidence), unless turned off. */
  readonly timed?: TimedChallenger;
  /** The watcher's on-chain challenges (escalations of failed timed challenges). */
  readonly onChain: OnChainChallenger;

  private constructor(readonly options: WatcherOptions, readonly node: CofferNode, readonly chain: ChainClient) {
    if (options.timedChallenges !== false) {
      this.timed = new TimedChallenger({ challenges: node.challenge, account: chain.messageSigner(), logger: options.logger, ...options.timedChallenges });
    }
    this.onChain = new OnChainChallenger({
      chain,
      logger: options.logger,
      load: () => chain.getState<OpenOnChainChallenge[]>("watcher-onchain-challenges"),
      save: (open) => chain.putState("watcher-onchain-challenges", open),
    });
    this.follower = chain.followMarketEvents("watcher", (logs, range) => this.onLogs(logs, range)) as unknown as EventFollower<typeof storageMarketAbi>;
    this.loop = new RoleLoop(() => this.step(), options.tickMs ?? 500, options.logger, "watcher");
  }

  static async create(options: WatcherOptions): Promise<WatcherRole> {
    const { node, chain } = await createNodeAndChain(options, "watcher");
    return new WatcherRole(options, node, chain);
  }

  async start(): Promise<void> {
    this.state = (await this.chain.getState<WatcherState>("watcher")) ?? this.state;
    await this.onChain.load();
    await this.node.start();
    // The follower is driven from the loop (catchUp each pass), never concurrently with it.
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.node.stop();
  }

  private record(lessor: Address): LessorRecord {
    const key = lessor.toLowerCase();
    let r = this.lessors.get(key);
    if (!r) this.lessors.set(key, (r = { lessor, proofs: 0, misses: 0, failures: 0, suspect: false }));
    return r;
  }

  private async onLogs(logs: Log[], range: { fromBlock: bigint; toBlock: bigint }): Promise<void> {
    for (const log of logs as (Log & { eventName?: string; args?: Record<string, unknown> })[]) {
      const a = log.args ?? {};
      switch (log.eventName) {
        case "DealCreated":
          this.state.deals[a.dealId as Hex] = { replicas: Number(a.replicas), startPeriod: Number(a.startPeriod), endPeriod: Number(a.endPeriod) };
          break;
        case "PoRepAccepted": {
          const r = this.record(a.lessor as Address);
          r.provingSince ??= Number(a.firstPeriod);
          break;
        }
        case "PoStSubmitted": {
          const r = this.record(a.lessor as Address);
          r.proofs += 1;
          const block = await this.chain.publicClient.getBlock({ blockNumber: log.blockNumber! });
          r.lastLatencySeconds = Number(block.timestamp - periodStart({ startTime: this.chain.startTime, periodLength: this.chain.params.periodLength }, a.period as bigint));
          break;
        }
        case "ReplicaSettled": {
          if (!a.failed) break;
          const r = this.record(a.lessor as Address);
          r.failures += 1;
          r.suspect = true;
          break;
        }
      }
    }
    // How our on-chain challenges closed (answered, expired, voided), before the checkpoint passes these blocks.
    await this.onChain.observe(logs, range);
    await this.chain.putState("watcher", this.state);
  }

  private async step(): Promise<void> {
    await this.follower.catchUp();
    // Every pass, not once per period: a challenge window is a few blocks.
    await this.onChain.settle().catch((err) => logStepError(this.options.logger, err, {}, "watcher: settling on-chain challenges failed"));
    const period = Number(await this.chain.currentPeriod());
    const closed = period - 1;
    if (closed <= this.state.lastCheckedPeriod) return;
    // Misses are derived on-chain (§12.5): a closed period a proving lessor did not prove is recorded here.
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const from = Math.max(this.state.lastCheckedPeriod + 1, closed - 4);
    for (const record of this.lessors.values()) {
      const counts = await this.chain.publicClient.readContract({ ...market, functionName: "provingCounts", args: [record.lessor] });
      if (counts === 0n) continue;
      for (let p = Math.max(from, record.provingSince ?? from); p <= closed; p++) {
        const proven = await this.chain.publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [record.lessor, BigInt(p)] });
        if (proven) continue;
        record.misses += 1;
        record.suspect = true;
        this.reports.push({ lessor: record.lessor, period: BigInt(p) });
        this.options.logger.info({ lessor: record.lessor, period: p }, "watcher: a lessor missed a period");
      }
    }
    if (this.options.timedChallenge || this.timed) {
      for (const [dealId, deal] of Object.entries(this.state.deals) as [Hex, WatcherState["deals"][Hex]][]) {
        for (const { replicaIndex: i, lessor } of await getServingLessors(this.chain, { dealId, replicas: deal.replicas })) {
          await this.options.timedChallenge?.({ dealId, replicaIndex: i, lessor, period: BigInt(period) }).catch((err) => logStepError(this.options.logger, err, {}, "watcher: timed challenge hook failed"));
          await this.challengeReplica(dealId, i, lessor).catch((err) => logStepError(this.options.logger, err, {}, "watcher: timed challenge failed"));
        }
      }
    }
    this.state.lastCheckedPeriod = closed;
    await this.chain.putState("watcher", this.state);
    if (this.options.withdrawBounties !== false) await withdraw(this.chain).catch((err) => logStepError(this.options.logger, err, {}, "watcher: withdraw failed"));
  }

  /** One signed timed challenge of a proving replica, reaching the lessor through its registered multiaddrs. */
  private async challengeReplica(dealId: Hex, replicaIndex: number, lessor: Address): Promise<void> {
    if (!this.timed) return;
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const [state, piece, deal, endpoint] = await Promise.all([
      this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [dealId, BigInt(replicaIndex)] }),
      getPiece(this.chain, { dealId, replicaIndex }),
      this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [dealId] }),
      getLessorEndpoint(this.chain, { lessor }).catch((error: unknown) => {
        if (error instanceof LessorUnreachableError) return undefined; // nothing to challenge over p2p
        throw error;
      }),
    ]);
    if (state !== ReplicaState.Proving || endpoint === undefined || piece === undefined) return;
    const peer = await connectToLessor(this.node, endpoint, TIMED_DIAL_TIMEOUT_MS);
    const outcome = await this.timed.challenge({ lessor, peer, commR: piece.commR, size: Number(deal.size), offset: piece.offset, log2Segments: piece.log2Segments, dealId, replicaIndex });
    this.options.logger.info({ dealId, replicaIndex, lessor, status: outcome.status }, "watcher: timed challenge");
    const key = `${dealId}:${replicaIndex}`;
    if (outcome.status === "ok") {
      this.failedInARow.delete(key);
      return;
    }
    const counts = this.failedInARow.get(key) ?? { late: 0, wrong: 0, unanswered: 0 };
    counts[outcome.status] += 1;
    this.failedInARow.set(key, counts);
    const escalation = this.options.onChainChallenges;
    if (escalation === false || this.onChain.isOpen(dealId, replicaIndex)) return;
    const threshold = { late: 1, wrong: 1, unanswered: 2, ...escalation?.escalateAfter }[outcome.status];
    if (counts[outcome.status] < threshold) return;
    this.failedInARow.delete(key);
    await this.onChain.challenge(dealId, replicaIndex, lessor);
  }

  suspects(): LessorRecord[] {
    return [...this.lessors.values()].filter((r) => r.suspect);
  }
}
