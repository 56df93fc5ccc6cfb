import { postChallenges, spotChallenges } from "./challenges.js";
import type { SegmentSource } from "./committed-file.js";
import { flattenOpenings, proofWords, verifyOpeningWords } from "./openings.js";
import { depthOf } from "./layout.js";
import { asWord, type Hex } from "./words.js";

/**
 * PoSt proofs (docs/protocol.md §6) in ProofVerifier.verifyPoSt's flat layout: for j < k, the opening of
 * S[i_j] (segment + depth siblings). Timed challenges (§7) use the same format.
 */

export interface ProvePoStParams {
  /** The sealed replica with its commR tree. */
  replica: SegmentSource;
  replicaId: Uint8Array | Hex;
  periodSeed: Uint8Array | Hex;
  /** kPoSt. */
  challenges: number;
}

/** The openings of the period's challenged segments of one replica. */
export async function provePoSt(params: ProvePoStParams): Promise<Hex[]> {
  const indices = postChallenges(params.periodSeed, params.replicaId, params.challenges, params.replica.layout.segmentCount);
  return flattenOpenings(await params.replica.openSegments(indices));
}

/**
 * Proofs of many replicas for one period, concatenated in order (one transaction carries them all);
 * `starts[r]` is where replica r's openings begin.
 */
export async function provePoStBatch(items: readonly ProvePoStParams[]): Promise<{ proof: Hex[]; starts: number[] }> {
  const parts = await Promise.all(items.map(provePoSt));
  const starts: number[] = [];
  const proof: Hex[] = [];
  for (const part of parts) {
    starts.push(proof.length);
    proof.push(...part);
  }
  return { proof, starts };
}

export interface PoStClaim {
  commR: Uint8Array | Hex;
  periodSeed: Uint8Array | Hex;
  replicaId: Uint8Array | Hex;
  /** n, the replica's segment count. */
  segments: number;
  challenges: number;
}

/** Mirrors ProofVerifier.verifyPoSt: checks one replica's openings at proof[start…]; `next` is just past them. */
export function verifyPoStAt(claim: PoStClaim, proof: readonly (Hex | Uint8Array)[], start = 0): { ok: boolean; next: number } {
  const depth = depthOf(claim.segments);
  const stride = depth + 1;
  const next = start + claim.challenges * stride;
  const words = proofWords(proof);
  if (words === null || words.length < next) return { ok: false, next };
  const indices = postChallenges(claim.periodSeed, claim.replicaId, claim.challenges, claim.segments);
  return { ok: openingsValid(claim.commR, indices, depth, words, start), next };
}

/** A whole single-replica PoSt proof: valid and exactly proof.length words (as the harness checks it). */
export function verifyPoSt(claim: PoStClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const { ok, next } = verifyPoStAt(claim, proof, 0);
  return ok && next === proof.length;
}

export interface ProveChallengeAnswerParams {
  /** The sealed replica with its commR tree. */
  replica: SegmentSource;
  replicaId: Uint8Array | Hex;
  /** The challenge's seed as stored on-chain (StorageMarket.getChallenge). */
  seed: Uint8Array | Hex;
  /** kPoSt: the contract uses the same count. */
  challenges: number;
}

/** The answer to an on-chain challenge (§7.2): the openings of the stratified challenged segments, in order. */
export async function proveChallengeAnswer(params: ProveChallengeAnswerParams): Promise<Hex[]> {
  const indices = spotChallenges(params.seed, params.replicaId, params.challenges, params.replica.layout.segmentCount);
  return flattenOpenings(await params.replica.openSegments(indices));
}

export interface ChallengeAnswerClaim {
  commR: Uint8Array | Hex;
  seed: Uint8Array | Hex;
  replicaId: Uint8Array | Hex;
  segments: number;
  challenges: number;
}

/** Mirrors ProofVerifier.verifyChallenge: exactly k openings of the stratified indices against commR. */
export function verifyChallengeAnswer(claim: ChallengeAnswerClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const depth = depthOf(claim.segments);
  const stride = depth + 1;
  const words = proofWords(proof);
  if (words === null || words.length !== claim.challenges * stride) return false;
  return openingsValid(claim.commR, spotChallenges(claim.seed, claim.replicaId, claim.challenges, claim.segments), depth, words, 0);
}

/** Whether words[start…] holds, in order, valid openings of `indices` against `commR` (segment + depth siblings each). */
function openingsValid(commR: Uint8Array | Hex, indices: readonly number[], depth: number, words: Uint8Array[], start: number): boolean {
  const root = asWord(commR, "commR");
  return indices.every((index, j) => verifyOpeningWords(root, index, depth, words, start + j * (depth + 1)));
}
