import type { Address, Hex } from "viem";
import type { Logger } from "pino";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { answerChallenge } from "../chain/actions/answerChallenge.js";
import { seedBlockUsable } from "../chain/actions/seedPeriod.js";
import { MarketActionError, type MarketActionContext } from "../chain/actions/market-call.js";
import type { MarketParameters } from "../chain/client.js";
import { challengeSeedOf, provePieceChallenge, toHex, type SegmentSource } from "../proofs/index.js";
import { RoleLoop } from "./common.js";

/**
 * The lessor's side of on-chain challenges (docs/protocol.md §7.2): it polls for ReplicaChallenged events
 * naming this lessor and answers each from the sealed sector holding the piece before the deadline block. Polling is fast
 * (250 ms by default) because the window is a few blocks; the answer needs only reads of the held replica.
 */

/** Refusals that mean the challenge can no longer be answered. */
const SETTLED_ERRORS = new Set(["MarketChallengeLate", "MarketNoChallenge", "MarketChallengeVoid"]);

/** Refusals that mean "not yet": retried on the next poll. */
const EARLY_ERRORS = new Set(["MarketChallengeSeedNotReady"]);

/** The sealed sector holding a piece, and where the piece sits in it. */
export interface PieceSource {
  /** The sealed sector with its commR tree. */
  source: SegmentSource;
  /** The sector's id (its replicaId). */
  sector: Hex;
  /** The piece's first segment in the sector. */
  offset: number;
  /** The deal's data segments. */
  segments: number;
}

export interface OnChainChallengeAnswererOptions {
  chain: MarketActionContext & { address: Address; params: Pick<MarketParameters, "kPoSt" | "challengeWindow"> };
  /** The sector holding slot (dealId, replicaIndex), undefined when not held. */
  pieceSource(dealId: Hex, replicaIndex: number): PieceSource | undefined;
  logger: Logger;
  pollMs?: number;
}

export interface AnsweredChallenge {
  dealId: Hex;
  replicaIndex: number;
  challenger: Address;
  openedBlock: bigint;
  /** Block the answer was mined in. */
  answeredBlock: bigint;
  /** Wall time from noticing the challenge to the mined answer. */
  ms: number;
}

interface PendingChallenge {
  dealId: Hex;
  replicaIndex: number;
  challenger: Address;
  openedBlock: bigint;
  /** openedBlock + 1: its hash fixes the seed, so the answer can be built once it is mined. */
  seedBlock: bigint;
  /** As the ReplicaChallenged log says (openedBlock + the window at the time). */
  deadlineBlock: bigint;
}

export class OnChainChallengeAnswerer {
  readonly answered: AnsweredChallenge[] = [];
  /** Challenges this lessor could not answer (replica not held, or noticed after the deadline). */
  readonly missed: (PendingChallenge & { reason: string })[] = [];
  private readonly loop: RoleLoop;
  private nextBlock?: bigint;
  private readonly pending = new Map<string, PendingChallenge>();

  constructor(private readonly options: OnChainChallengeAnswererOptions) {
    this.loop = new RoleLoop(() => this.poll(), options.pollMs ?? 250, options.logger, "challenge-answerer");
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  private async poll(): Promise<void> {
    const { chain } = this.options;
    const latest = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    // On (re)start look back one challenge window: any challenge still answerable was opened in it.
    const window = BigInt(chain.params.challengeWindow);
    const from = this.nextBlock ?? (latest > window ? latest - window : 0n);
    if (from <= latest) {
      const logs = await chain.publicClient.getContractEvents({
        address: chain.addresses.market,
        abi: storageMarketAbi,
        eventName: "ReplicaChallenged",
        args: { lessor: chain.address },
        fromBlock: from,
        toBlock: latest,
      });
      for (const log of logs) {
        const c = {
          dealId: log.args.dealId!,
          replicaIndex: Number(log.args.replicaIndex!),
          challenger: log.args.challenger!,
          openedBlock: log.blockNumber!,
          seedBlock: log.args.seedBlock!,
          deadlineBlock: log.args.deadlineBlock!,
        };
        this.pending.set(`${c.dealId}:${c.replicaIndex}:${c.challenger}:${c.openedBlock}`, c);
      }
      this.nextBlock = latest + 1n;
    }
    await Promise.all([...this.pending.entries()].map(([key, c]) => this.answer(key, c, latest)));
  }

  private async answer(key: string, c: PendingChallenge, latest: bigint): Promise<void> {
    const { chain, logger } = this.options;
    const noticed = performance.now();
    // The seed is the seed block's hash (§7.2): wait for the next poll rather than send a refused answer.
    if (!seedBlockUsable(latest, c.seedBlock)) return;
    const onChain = await chain.publicClient.readContract({ address: chain.addresses.market, abi: storageMarketAbi, functionName: "getChallenge", args: [c.dealId, BigInt(c.replicaIndex), c.challenger] });
    if (onChain.openedBlock !== c.openedBlock || onChain.lessor.toLowerCase() !== chain.address.toLowerCase()) {
      this.pending.delete(key); // answered or settled already
      return;
    }
    const deadline = c.deadlineBlock;
    if (latest > deadline) return this.giveUp(key, c, `noticed at block ${latest}, after the deadline ${deadline}`);
    const piece = this.options.pieceSource(c.dealId, c.replicaIndex);
    if (!piece) return this.giveUp(key, c, "replica not held");
    const seedBlock = await chain.publicClient.getBlock({ blockNumber: c.seedBlock });
    const seed = toHex(challengeSeedOf(seedBlock.hash, c.dealId, c.replicaIndex, c.challenger));
    const proof = await provePieceChallenge({ sector: piece.source, sectorId: piece.sector, seed, k: chain.params.kPoSt, pieceSegments: piece.segments, offset: piece.offset });
    let answeredBlock: bigint;
    try {
      ({ blockNumber: answeredBlock } = await answerChallenge(chain, { dealId: c.dealId, replicaIndex: c.replicaIndex, challenger: c.challenger, proof, openedBlock: c.openedBlock }));
    } catch (error) {
      if (error instanceof MarketActionError && EARLY_ERRORS.has(error.errorName)) return;
      // Too late or settled meanwhile: nothing left to answer (anything else is retried on the next poll).
      if (error instanceof MarketActionError && SETTLED_ERRORS.has(error.errorName)) return this.giveUp(key, c, `answer refused: ${error.errorName}`);
      throw error;
    }
    this.pending.delete(key);
    const ms = performance.now() - noticed;
    this.answered.push({ ...c, answeredBlock, ms });
    logger.info({ dealId: c.dealId, replicaIndex: c.replicaIndex, openedBlock: c.openedBlock, ms: Math.round(ms) }, "lessor: on-chain challenge answered");
  }

  private giveUp(key: string, c: PendingChallenge, reason: string): void {
    this.pending.delete(key);
    this.missed.push({ ...c, reason });
    this.options.logger.warn({ dealId: c.dealId, replicaIndex: c.replicaIndex, reason }, "lessor: cannot answer an on-chain challenge");
  }
}
