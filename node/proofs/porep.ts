import { porepChallenges } from "./challenges.js";
import type { SegmentOpening, SegmentSource } from "./committed-file.js";
import { InvalidProofError, WrongRootError } from "./errors.js";
import { flattenOpenings, proofWords, verifyOpeningWords } from "./openings.js";
import { sealDependency, sealKey } from "./seal.js";
import { depthOf } from "./layout.js";
import { equalBytes } from "./merkle.js";
import { asWord, toHex, xorWords, type Hex } from "./words.js";

/**
 * PoRep answers (docs/protocol.md §5) in ProofVerifier.verifyPoRep's flat layout: for each challenge i,
 * the openings of S[i] in commR and D[i] in commD, then for i >= 1 S[i-1] and S[d(i)] in commR.
 */

export interface PoRepClaim {
  commR: Uint8Array | Hex;
  commD: Uint8Array | Hex;
  /** σ = blockhash(b + 1) of the fill block b. */
  seed: Uint8Array | Hex;
  replicaId: Uint8Array | Hex;
  /** n, the data segment count. */
  segments: number;
  /** kPoRep. */
  challenges: number;
  sealRounds: number;
}

export interface ProvePoRepParams {
  /** The sealed replica with its commR tree. */
  replica: SegmentSource;
  /** The original data with its commD tree. */
  data: SegmentSource;
  replicaId: Uint8Array | Hex;
  seed: Uint8Array | Hex;
  challenges: number;
  /** When given, the proof is checked before it is returned (InvalidProofError when the replica does not match). */
  sealRounds?: number;
}

/** Builds the PoRep answer for the challenges derived from `seed` and the replica's commR. */
export async function provePoRep(params: ProvePoRepParams): Promise<Hex[]> {
  const { replica, data } = params;
  if (replica.layout.segmentCount !== data.layout.segmentCount) {
    throw new WrongRootError("replica and data segment counts", String(data.layout.segmentCount), String(replica.layout.segmentCount));
  }
  const n = replica.layout.segmentCount;
  const indices = porepChallenges(params.seed, params.replicaId, replica.root, params.challenges, n);
  const openings: SegmentOpening[] = [];
  for (const i of indices) {
    const [sealed, original] = await Promise.all([replica.openSegment(i), data.openSegment(i)]);
    openings.push(sealed, original);
    if (i >= 1) {
      const previous = await replica.openSegment(i - 1);
      openings.push(previous, await replica.openSegment(sealDependency(previous.segment, i)));
    }
  }
  const proof = flattenOpenings(openings);
  if (params.sealRounds !== undefined) {
    const claim: PoRepClaim = {
      commR: replica.root,
      commD: data.root,
      seed: params.seed,
      replicaId: params.replicaId,
      segments: n,
      challenges: params.challenges,
      sealRounds: params.sealRounds,
    };
    if (!verifyPoRep(claim, proof)) throw new InvalidProofError(`PoRep answer for replica ${toHex(asWord(params.replicaId))} does not verify: the replica is not the sealing of this data`);
  }
  return proof;
}

/** Mirrors ProofVerifier.verifyPoRep: true when the whole answer is valid and uses exactly proof.length words. */
export function verifyPoRep(claim: PoRepClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const words = proofWords(proof);
  if (words === null) return false;
  const commR = asWord(claim.commR, "commR");
  const commD = asWord(claim.commD, "commD");
  const replica = asWord(claim.replicaId, "replicaId");
  const depth = depthOf(claim.segments);
  const stride = depth + 1;
  const indices = porepChallenges(claim.seed, replica, commR, claim.challenges, claim.segments);
  let cursor = 0;
  for (const i of indices) {
    const next = cursor + (i === 0 ? 2 : 4) * stride;
    if (words.length < next) return false;
    if (!verifyOpeningWords(commR, i, depth, words, cursor)) return false;
    if (!verifyOpeningWords(commD, i, depth, words, cursor + stride)) return false;
    let key: Uint8Array;
    if (i === 0) {
      key = sealKey(replica, new Uint8Array(32), replica, claim.sealRounds);
    } else {
      const previous = words[cursor + 2 * stride];
      if (!verifyOpeningWords(commR, i - 1, depth, words, cursor + 2 * stride)) return false;
      const d = sealDependency(previous, i);
      if (!verifyOpeningWords(commR, d, depth, words, cursor + 3 * stride)) return false;
      key = sealKey(replica, previous, words[cursor + 3 * stride], claim.sealRounds);
    }
    const expected = xorWords(words[cursor + stride], key);
    if (!equalBytes(words[cursor], expected)) return false;
    cursor = next;
  }
  return cursor === words.length;
}
