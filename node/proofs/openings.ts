import type { SegmentOpening } from "./committed-file.js";
import { hashPair } from "./hash.js";
import { equalBytes } from "./merkle.js";
import { asWord, toHex, type Hex } from "./words.js";

/**
 * Flat opening layout shared with contracts/libraries/Sha256Merkle.sol: an opening is the segment followed
 * by its `depth` siblings, bottom-up; several openings are concatenated.
 */

/** [segment, ...siblings] as hex words. */
export function flattenOpening(opening: SegmentOpening): Hex[] {
  return [toHex(opening.segment), ...opening.siblings.map(toHex)];
}

export function flattenOpenings(openings: readonly SegmentOpening[]): Hex[] {
  return openings.flatMap(flattenOpening);
}

/** Parses a flat proof into 32-byte words; null when any word is malformed (verifiers then answer false). */
export function proofWords(proof: readonly (Hex | Uint8Array)[]): Uint8Array[] | null {
  try {
    return proof.map((word) => asWord(word));
  } catch {
    return null;
  }
}

/** Mirrors Sha256Merkle.rootFromCalldata: folds `leaf` at `index` up through words[siblingsStart … siblingsStart+depth-1]. */
export function rootFromWords(leaf: Uint8Array, index: number | bigint, words: readonly Uint8Array[], siblingsStart: number, depth: number): Uint8Array {
  let node = leaf;
  let position = BigInt(index);
  for (let level = 0; level < depth; level++) {
    const sibling = words[siblingsStart + level];
    node = (position & 1n) === 1n ? hashPair(sibling, node) : hashPair(node, sibling);
    position >>= 1n;
  }
  return node;
}

/**
 * Mirrors ProofVerifier.verifySegment: the opening at words[start…] (segment + depth siblings) proves
 * segment `index` of `root`. Requires index < 2^depth; the caller checks index < n where it matters.
 */
export function verifyOpeningWords(root: Uint8Array, index: number | bigint, depth: number, words: readonly Uint8Array[], start = 0): boolean {
  if (words.length < start + depth + 1) return false;
  if (BigInt(index) < 0n || BigInt(index) >> BigInt(depth) !== 0n) return false;
  return equalBytes(rootFromWords(words[start], index, words, start + 1, depth), root);
}

/** verifyOpeningWords over a hex (or byte) proof, as the contract's verifySegment sees it. */
export function verifySegmentProof(
  root: Uint8Array | Hex,
  index: number | bigint,
  depth: number,
  proof: readonly (Hex | Uint8Array)[],
  start = 0,
): boolean {
  const words = proofWords(proof);
  return words !== null && verifyOpeningWords(asWord(root, "root"), index, depth, words, start);
}
