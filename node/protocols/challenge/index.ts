import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { splitSiblings } from "../../proofs/chunks.js";
import { CofferError } from "../../errors.js";
import { ProtocolError } from "../../p2p/errors.js";
import { errorHeader, indexField } from "../../p2p/framing.js";
import { parseRoot } from "../../p2p/hex.js";
import { toHex } from "../../proofs/words.js";
import { verifyPath } from "../../proofs/merkle.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { CHALLENGE_LIMITS, CHALLENGE_PROTOCOL, MAX_CHALLENGE_INDICES, MAX_DEADLINE_MS } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/challenge/1.0.0` — a watcher's timed challenge (docs/protocol.md §7), one per stream:
 *   → { t: "challenge", root, indices: [i...], deadlineMs }
 *   ← { t: "openings", depth, count, signature? } body = count × (segment ‖ depth siblings), 32 B each, in
 *                                                  the order of `indices`
 *   ← { t: "error", code, reason }                 unknown root, index out of range...
 * The answer itself comes from an injected {@link ChallengeResponder} (the proof engine provides the real
 * one, opening sealed replicas and signing); the responder gets an AbortSignal that fires at the deadline.
 */
export interface SegmentOpening {
  index: number;
  segment: Uint8Array;
  siblings: Uint8Array[];
}

export interface ChallengeRequest {
  root: Uint8Array;
  indices: number[];
  deadlineMs: number;
  peer: PeerId;
  /** Optional signed-challenge fields (docs/protocol.md §7.1), passed through untouched when present. */
  nonce?: string;
  issuedAt?: number;
  watcher?: string;
  watcherSignature?: string;
}

/** The optional fields of a signed challenge (§7.1) as they travel in the request header. */
export interface SignedChallengeFields {
  nonce: string;
  issuedAt: number;
  watcher: string;
  watcherSignature: string;
}

export interface ChallengeAnswer {
  depth: number;
  openings: SegmentOpening[];
  /** Optional signature over the answer by the lessor's chain key (hex), passed through untouched. */
  signature?: string;
  /** The lessor's clock (ms since the epoch) when it signed the answer (§7.1), covered by `signature`. */
  answeredAt?: number;
}

export interface ChallengeOptions {
  /** Signed-challenge fields to send with the request (§7.1). */
  signed?: SignedChallengeFields;
  /**
   * How long to keep waiting for an answer (ms, ≥ deadlineMs). A watcher waits past the deadline to collect
   * a late answer as signed evidence; the default is the deadline itself.
   */
  waitMs?: number;
}

/** Produces openings; throw a CofferError (e.g. UnknownRootError) to answer with an error frame. */
export type ChallengeResponder = (request: ChallengeRequest, signal: AbortSignal) => Promise<ChallengeAnswer>;

export interface ChallengeDeps {
  network: Network;
  responder: ChallengeResponder;
  logger?: Logger;
}

export interface ChallengeResult extends ChallengeAnswer {
  /** Round trip as the watcher measured it. */
  elapsedMs: number;
}

export class ChallengeService implements Startable {
  readonly protocol = CHALLENGE_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: ChallengeDeps, readonly limits: StreamLimits = CHALLENGE_LIMITS) {
    this.responder = new FramedResponder(deps.network, CHALLENGE_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "challenge") throw new ProtocolError("expected a `challenge` request", { code: "bad-type" });
      const root = parseRoot(header.root);
      if (root === undefined) throw new ProtocolError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
      const indices = header.indices;
      if (!Array.isArray(indices) || indices.length === 0 || indices.length > MAX_CHALLENGE_INDICES || indices.some((i) => indexField(i, 2 ** 48) === undefined)) {
        throw new ProtocolError(`indices must be 1..${MAX_CHALLENGE_INDICES} integers in [0, 2^48)`, { code: "bad-index" });
      }
      const deadlineMs = indexField(header.deadlineMs, MAX_DEADLINE_MS + 1);
      if (deadlineMs === undefined || deadlineMs === 0) throw new ProtocolError(`deadlineMs must be in (0, ${MAX_DEADLINE_MS}]`, { code: "bad-deadline" });
      const signal = AbortSignal.any([ctx.stopSignal, AbortSignal.timeout(deadlineMs)]);
      let answer: ChallengeAnswer;
      try {
        answer = await this.deps.responder({ root, indices: indices as number[], deadlineMs, peer: ctx.remotePeer, ...signedFields(header) }, signal);
      } catch (error) {
        if (error instanceof CofferError) {
          await ctx.framed.write(errorHeader(error.code, error.shortMessage), undefined, ctx.idleSignal());
          return;
        }
        throw error;
      }
      const wordsPer = 1 + answer.depth;
      const body = new Uint8Array(answer.openings.length * wordsPer * 32);
      answer.openings.forEach((opening, k) => {
        body.set(opening.segment, k * wordsPer * 32);
        opening.siblings.forEach((s, j) => body.set(s, (k * wordsPer + 1 + j) * 32));
      });
      const reply: Record<string, unknown> = { t: "openings", depth: answer.depth, count: answer.openings.length };
      if (answer.signature !== undefined) reply.signature = answer.signature;
      if (answer.answeredAt !== undefined) reply.answeredAt = answer.answeredAt;
      await ctx.framed.write(reply as { t: string }, body, ctx.idleSignal());
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /**
   * Challenges `peer` for the openings of `indices` of `root`; rejects (TimeoutError) when the deadline
   * passes. The caller verifies the openings ({@link verifyOpenings}) against the committed root.
   */
  async challenge(peer: PeerId, root: Uint8Array, indices: number[], deadlineMs: number, options: ChallengeOptions = {}): Promise<ChallengeResult> {
    const signal = AbortSignal.timeout(Math.max(deadlineMs, options.waitMs ?? deadlineMs));
    const started = performance.now();
    const framed = await openFramed(this.deps.network, peer, CHALLENGE_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "challenge", root: toHex(root), indices, deadlineMs, ...options.signed } as { t: string }, undefined, signal);
      const { header, body } = await framed.read(signal);
      const { depth, count } = header;
      if (header.t !== "openings" || typeof depth !== "number" || !Number.isSafeInteger(depth) || depth < 0 || depth > 64 || count !== indices.length || body.length !== indices.length * (1 + depth) * 32) {
        throw new ProtocolError("bad openings response", { code: "bad-response" });
      }
      const wordsPer = 1 + depth;
      const openings = indices.map((index, k) => ({
        index,
        segment: body.slice(k * wordsPer * 32, k * wordsPer * 32 + 32),
        siblings: splitSiblings(body.slice((k * wordsPer + 1) * 32, (k + 1) * wordsPer * 32), depth),
      }));
      const signature = typeof header.signature === "string" ? header.signature : undefined;
      const answeredAt = typeof header.answeredAt === "number" && Number.isSafeInteger(header.answeredAt) ? header.answeredAt : undefined;
      return { depth, openings, signature, answeredAt, elapsedMs: performance.now() - started };
    } finally {
      await framed.stream.close({ signal: AbortSignal.timeout(500) }).catch(() => undefined);
    }
  }
}

/** The §7.1 fields of a request header, when they are all present and well-typed (otherwise none). */
function signedFields(header: Record<string, unknown>): Partial<SignedChallengeFields> {
  const { nonce, issuedAt, watcher, watcherSignature } = header;
  if (typeof nonce !== "string" || typeof watcher !== "string" || typeof watcherSignature !== "string") return {};
  if (typeof issuedAt !== "number" || !Number.isSafeInteger(issuedAt) || issuedAt < 0) return {};
  if (nonce.length > 66 || watcher.length > 42 || watcherSignature.length > 200) return {};
  return { nonce, issuedAt, watcher, watcherSignature };
}

/** True when every opening folds up to `root` with exactly `depth` siblings. */
export function verifyOpenings(root: Uint8Array, depth: number, openings: readonly SegmentOpening[]): boolean {
  return openings.every((o) => o.siblings.length === depth && verifyPath(root, o.segment, o.index, o.siblings));
}

export function createChallengeService(deps: ChallengeDeps, limits?: StreamLimits): ChallengeService {
  return new ChallengeService(deps, limits);
}
