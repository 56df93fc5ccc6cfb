import { getAddress, isAddress, isHex, type Address, type Hex, type LocalAccount } from "viem";
import type { Logger } from "pino";
import { CofferError } from "../errors.js";
import { CommittedFile, type SegmentSource } from "../proofs/committed-file.js";
import { toHex } from "../proofs/words.js";
import type { ChallengeAnswer, ChallengeRequest, ChallengeResponder } from "../protocols/challenge/index.js";
import { UNSIGNED_CHALLENGE, answerDigest, challengeDigest, openingsHash, recoverSigner, signDigest } from "./challenge-signatures.js";

/**
 * A lessor's answer to timed challenges (docs/protocol.md §7): openings of its SEALED sectors against their
 * commR (a CommittedFile over the sealed sector and its kept tree; a watcher challenges one piece's range), signed with the lessor's chain key over
 * (commR, indices, openings, the watcher's nonce and time, its own time) so it cannot deny a late or wrong
 * answer later.
 */

export interface HeldReplica {
  /** Openings against commR: the sealed sector with its kept tree (or any SegmentSource in tests). */
  source: SegmentSource;
  /** The sector's id. */
  sector?: Hex;
}

export interface TimedChallengeResponderOptions {
  /** The lessor's chain key (the address registered in the LessorRegistry). */
  account: LocalAccount;
  /** Refuse challenges that are not signed by a watcher (§7.1); default false (any peer may ask). */
  requireSignedChallenges?: boolean;
  /** Clock for `answeredAt` (ms since the epoch). */
  now?: () => number;
  logger?: Logger;
}

export class TimedChallengeResponder {
  private readonly replicas = new Map<string, HeldReplica & { owned?: CommittedFile }>();

  constructor(private readonly options: TimedChallengeResponderOptions) {}

  get address(): Address {
    return this.options.account.address;
  }

  /** Serves challenges on `replica.source.root` (commR). */
  add(replica: HeldReplica): void {
    this.replicas.set(toHex(replica.source.root), replica);
  }

  /** Opens a sealed replica file with its tree cache (checked against `commR`) and serves it. */
  async addSealedFile(replicaPath: string, treeCache: string | CommittedFile["tree"], commR: Uint8Array, meta: Omit<HeldReplica, "source"> = {}): Promise<void> {
    const file = await CommittedFile.open(replicaPath, treeCache, { kind: "replica", expectedRoot: commR });
    this.replicas.set(toHex(file.root), { ...meta, source: file, owned: file });
  }

  /** Stops serving `commR` (closing the file if this responder opened it). */
  async remove(commR: Uint8Array): Promise<void> {
    const key = toHex(commR);
    const held = this.replicas.get(key);
    this.replicas.delete(key);
    await held?.owned?.close();
  }

  /** The held sealed sector with root `commR`, for answering on-chain challenges (§7.2). */
  sourceOf(commR: Uint8Array): SegmentSource | undefined {
    return this.replicas.get(toHex(commR))?.source;
  }

  has(commR: Uint8Array): boolean {
    return this.replicas.has(toHex(commR));
  }

  async close(): Promise<void> {
    for (const held of this.replicas.values()) await held.owned?.close();
    this.replicas.clear();
  }

  /** The function to pass as CofferNode's `challengeResponder`. */
  readonly responder: ChallengeResponder = (request, signal) => this.answer(request, signal);

  async answer(request: ChallengeRequest, signal: AbortSignal): Promise<ChallengeAnswer> {
    const held = this.replicas.get(toHex(request.root));
    if (held === undefined) throw new CofferError("replica not held", { code: "unknown-root" });
    const { segmentCount, depth } = held.source.layout;
    const beyond = request.indices.find((i) => i >= segmentCount);
    if (beyond !== undefined) throw new CofferError(`segment ${beyond} is beyond the replica (${segmentCount} segments)`, { code: "bad-index" });
    const terms = await this.challengeTerms(request);
    signal.throwIfAborted();
    const openings = await held.source.openSegments(request.indices);
    const answeredAt = (this.options.now ?? Date.now)();
    const digest = answerDigest({ ...terms, commR: toHex(request.root), indices: request.indices, openingsHash: openingsHash(openings, depth), answeredAt });
    const signature = await signDigest(this.options.account, digest);
    return { depth, openings, signature, answeredAt };
  }

  /** The request's §7.1 fields (zeros for an unsigned challenge), checked when signatures are required. */
  private async challengeTerms(request: ChallengeRequest): Promise<{ nonce: Hex; issuedAt: number; watcher: Address }> {
    const { nonce, issuedAt, watcher, watcherSignature } = request;
    const present = nonce !== undefined && issuedAt !== undefined && watcher !== undefined && watcherSignature !== undefined;
    if (!present || !isHex(nonce) || nonce.length !== 66 || !isAddress(watcher, { strict: false })) {
      if (this.options.requireSignedChallenges) throw new CofferError("challenge must be signed by a watcher", { code: "unsigned-challenge" });
      return { ...UNSIGNED_CHALLENGE };
    }
    const terms = { nonce, issuedAt, watcher: getAddress(watcher) };
    if (this.options.requireSignedChallenges) {
      const digest = challengeDigest({ ...terms, commR: toHex(request.root), indices: request.indices, deadlineMs: request.deadlineMs });
      const signer = await recoverSigner(digest, watcherSignature);
      if (signer !== terms.watcher) throw new CofferError("watcher signature does not match the challenge", { code: "bad-signature" });
    }
    return terms;
  }
}

export function createTimedChallengeResponder(options: TimedChallengeResponderOptions): TimedChallengeResponder {
  return new TimedChallengeResponder(options);
}
