import { randomBytes, randomInt } from "node:crypto";
import type { PeerId } from "@libp2p/interface";
import { getAddress, type Address, type Hex, type LocalAccount } from "viem";
import type { Logger } from "pino";
import { fileLayout } from "../proofs/layout.js";
import { asWord, toHex } from "../proofs/words.js";
import { DEFAULT_DEADLINE_MS } from "../protocols/challenge/constants.js";
import { verifyOpenings, type ChallengeResult, type ChallengeService, type SegmentOpening } from "../protocols/challenge/index.js";
import { answerDigest, challengeDigest, encodeOpenings, openingsHash, recoverSigner, signDigest, type ChallengeTerms } from "./challenge-signatures.js";

/**
 * The watcher's timed challenges (docs/protocol.md §7): it picks replicas from chain state, asks their lessor
 * for `kTimed` segments with a short deadline (round trip included), checks the openings against commR and
 * the lessor's signature, and keeps per-lessor statistics and signed evidence of late and wrong answers.
 */

export const DEFAULT_K_TIMED = 4;

/** What the watcher knows about a replica from chain state (StorageMarket + LessorRegistry). */
export interface WatchedReplica {
  /** The lessor's chain address (who must sign the answer). */
  lessor: Address;
  /** The lessor's libp2p peer (from its registry record). */
  peer: PeerId;
  commR: Hex | Uint8Array;
  /** The deal's data length L in bytes (the piece's n segments). */
  size: number;
  /** The piece's first segment in its sector (default 0: a sector holding just this piece at its start). */
  offset?: number;
  /** The sector's depth (default: the piece's own depth). commR is the sector's sealed root. */
  log2Segments?: number;
  dealId?: Hex;
  replicaIndex?: number;
  replicaId?: Hex;
}

export type TimedOutcomeStatus = "ok" | "late" | "wrong" | "unanswered";

export interface TimedChallengeOutcome {
  status: TimedOutcomeStatus;
  lessor: Address;
  commR: Hex;
  indices: number[];
  /** Round trip as measured by the watcher (dial included); undefined when nothing came back. */
  latencyMs?: number;
  /** Why the answer is wrong or missing. */
  reason?: string;
  evidence?: TimedChallengeEvidence;
}

/** A signed answer that was late or wrong: enough for anyone to recheck both signatures and the openings. */
export interface TimedChallengeEvidence {
  kind: "late" | "wrong";
  replica: { lessor: Address; commR: Hex; size: number; dealId?: Hex; replicaIndex?: number };
  challenge: ChallengeTerms & { watcherSignature: Hex };
  answer: { depth: number; openings: Hex; answeredAt?: number; signature?: string };
  latencyMs: number;
  reason: string;
}

export interface LessorTimedStats {
  lessor: Address;
  challenges: number;
  /** Answers received at all (in time or not). */
  answers: number;
  ok: number;
  late: number;
  wrong: number;
  unanswered: number;
  /** Median round trip of the answers received (ms). */
  medianLatencyMs: number | undefined;
}

export interface TimedChallengerOptions {
  /** The watcher node's challenge service (CofferNode.challenge). */
  challenges: Pick<ChallengeService, "challenge">;
  /** The watcher's chain key: it signs every challenge. */
  account: LocalAccount;
  kTimed?: number;
  /** Deadline for the whole round trip (ms). */
  deadlineMs?: number;
  /** How long to keep waiting past the deadline to collect a late answer as evidence (ms). */
  graceMs?: number;
  /** A lessor becomes a suspect after this many late, wrong or missing answers. */
  suspectAfter?: number;
  /** Index picker (tests); default: stratified uniform random (see {@link stratifiedIndices}). */
  pickIndices?: (segments: number, k: number) => number[];
  now?: () => number;
  logger?: Logger;
}

/**
 * k indices, one uniformly random in each of k equal strata of [0, n). Each index is still uniform in its
 * stratum, so a replica missing a fraction f is caught with about the same probability as with k uniform
 * indices, while the largest index is always ≥ (k−1)/k · n: a generation attacker must always re-seal at
 * least that much of the chain (§4.4).
 */
export function stratifiedIndices(segments: number, k: number): number[] {
  if (segments < k) return Array.from({ length: k }, () => randomInt(segments));
  return Array.from({ length: k }, (_, j) => {
    const from = Math.floor((j * segments) / k);
    const to = Math.floor(((j + 1) * segments) / k);
    return from + randomInt(to - from);
  });
}

export class TimedChallenger {
  private readonly stats = new Map<Address, { challenges: number; ok: number; late: number; wrong: number; unanswered: number; latencies: number[] }>();
  private readonly evidenceLog: TimedChallengeEvidence[] = [];
  readonly kTimed: number;
  readonly deadlineMs: number;
  readonly graceMs: number;

  constructor(private readonly options: TimedChallengerOptions) {
    this.kTimed = options.kTimed ?? DEFAULT_K_TIMED;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.graceMs = options.graceMs ?? 10_000;
    if (!Number.isSafeInteger(this.kTimed) || this.kTimed < 1 || this.kTimed > 64) throw new RangeError(`kTimed must be in [1, 64], got ${this.kTimed}`);
  }

  get address(): Address {
    return this.options.account.address;
  }

  /** Challenges one replica once and records the outcome. */
  async challenge(replica: WatchedReplica): Promise<TimedChallengeOutcome> {
    const lessor = getAddress(replica.lessor);
    const commR = toHex(asWord(replica.commR, "commR"));
    const { segmentCount, depth: pieceDepth } = fileLayout(replica.size);
    const depth = replica.log2Segments ?? pieceDepth;
    // The piece's range of its sector (§12.5): strata over the piece, shifted to its offset.
    const indices = (this.options.pickIndices ?? stratifiedIndices)(segmentCount, this.kTimed).map((i) => i + (replica.offset ?? 0));
    const now = this.options.now ?? Date.now;
    const terms: ChallengeTerms = { commR, indices, deadlineMs: this.deadlineMs, nonce: toHex(randomBytes(32)), issuedAt: now(), watcher: this.address };
    const watcherSignature = await signDigest(this.options.account, challengeDigest(terms));
    let result: ChallengeResult;
    try {
      result = await this.options.challenges.challenge(replica.peer, asWord(commR), indices, this.deadlineMs, {
        signed: { nonce: terms.nonce, issuedAt: terms.issuedAt, watcher: terms.watcher, watcherSignature },
        waitMs: this.deadlineMs + this.graceMs,
      });
    } catch (error) {
      const reason = (error as Error).message;
      this.options.logger?.info({ lessor, commR, reason }, "timed challenge unanswered");
      return this.record({ status: "unanswered", lessor, commR, indices, reason });
    }
    const latencyMs = result.elapsedMs;
    const evidenceOf = (kind: "late" | "wrong", reason: string): TimedChallengeEvidence => ({
      kind,
      replica: { lessor, commR, size: replica.size, dealId: replica.dealId, replicaIndex: replica.replicaIndex },
      challenge: { ...terms, watcherSignature },
      answer: { depth: result.depth, openings: toHex(encodeOpenings(result.openings, result.depth)), answeredAt: result.answeredAt, signature: result.signature },
      latencyMs,
      reason,
    });
    const wrong = await this.whyWrong(result, { lessor, commR, indices, depth, terms });
    if (wrong !== undefined) {
      return this.record({ status: "wrong", lessor, commR, indices, latencyMs, reason: wrong, evidence: evidenceOf("wrong", wrong) });
    }
    if (latencyMs > this.deadlineMs) {
      const reason = `answered in ${latencyMs.toFixed(0)} ms, deadline ${this.deadlineMs} ms`;
      return this.record({ status: "late", lessor, commR, indices, latencyMs, reason, evidence: evidenceOf("late", reason) });
    }
    return this.record({ status: "ok", lessor, commR, indices, latencyMs });
  }

  /** Challenges every replica (one at a time, so lessors do not slow each other's round trips). */
  async round(replicas: readonly WatchedReplica[]): Promise<TimedChallengeOutcome[]> {
    const outcomes: TimedChallengeOutcome[] = [];
    for (const replica of replicas) outcomes.push(await this.challenge(replica));
    return outcomes;
  }

  statsOf(lessor: Address): LessorTimedStats {
    const s = this.stats.get(getAddress(lessor)) ?? { challenges: 0, ok: 0, late: 0, wrong: 0, unanswered: 0, latencies: [] };
    return { lessor: getAddress(lessor), challenges: s.challenges, answers: s.ok + s.late + s.wrong, ok: s.ok, late: s.late, wrong: s.wrong, unanswered: s.unanswered, medianLatencyMs: median(s.latencies) };
  }

  allStats(): LessorTimedStats[] {
    return [...this.stats.keys()].map((lessor) => this.statsOf(lessor));
  }

  /** Lessors with at least `suspectAfter` (default 1) late, wrong or missing answers. */
  suspects(): Address[] {
    const threshold = this.options.suspectAfter ?? 1;
    return this.allStats().filter((s) => s.late + s.wrong + s.unanswered >= threshold).map((s) => s.lessor);
  }

  /** Signed late and wrong answers, oldest first. */
  evidence(lessor?: Address): TimedChallengeEvidence[] {
    return lessor === undefined ? [...this.evidenceLog] : this.evidenceLog.filter((e) => e.replica.lessor === getAddress(lessor));
  }

  private async whyWrong(
    result: ChallengeResult,
    expected: { lessor: Address; commR: Hex; indices: number[]; depth: number; terms: ChallengeTerms },
  ): Promise<string | undefined> {
    if (result.depth !== expected.depth) return `depth ${result.depth}, the replica's is ${expected.depth}`;
    const openings: SegmentOpening[] = result.openings;
    if (openings.some((o, k) => o.index !== expected.indices[k])) return "openings for other indices";
    if (!verifyOpenings(asWord(expected.commR), expected.depth, openings)) return "openings do not verify against commR";
    if (result.signature === undefined || result.answeredAt === undefined) return "answer not signed";
    const digest = answerDigest({
      ...expected.terms,
      openingsHash: openingsHash(openings, result.depth),
      answeredAt: result.answeredAt,
    });
    const signer = await recoverSigner(digest, result.signature);
    if (signer !== expected.lessor) return `answer signed by ${signer ?? "nobody"}, not the lessor ${expected.lessor}`;
    return undefined;
  }

  private record(outcome: TimedChallengeOutcome): TimedChallengeOutcome {
    const s = this.stats.get(outcome.lessor) ?? { challenges: 0, ok: 0, late: 0, wrong: 0, unanswered: 0, latencies: [] };
    s.challenges += 1;
    s[outcome.status] += 1;
    if (outcome.latencyMs !== undefined) s.latencies.push(outcome.latencyMs);
    this.stats.set(outcome.lessor, s);
    if (outcome.evidence) this.evidenceLog.push(outcome.evidence);
    if (outcome.status !== "ok") this.options.logger?.warn({ lessor: outcome.lessor, status: outcome.status, reason: outcome.reason }, "timed challenge failed");
    return outcome;
  }
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function createTimedChallenger(options: TimedChallengerOptions): TimedChallenger {
  return new TimedChallenger(options);
}
