import { SEGMENT_SIZE } from "./constants.js";
import { hashPair, hashPairsInto } from "./hash.js";

/**
 * Positional binary SHA-256 Merkle trees over 32-byte leaves (docs/protocol.md §3).
 * Leaves are raw segments; an inner node is H(left ‖ right); missing leaves are zero segments.
 */

const MAX_HEIGHT = 64;

/** Z[h]: the root of a subtree of height h whose leaves are all zero. */
export const ZERO_HASHES: readonly Uint8Array[] = (() => {
  const zeros: Uint8Array[] = [new Uint8Array(32)];
  for (let h = 1; h <= MAX_HEIGHT; h++) zeros.push(hashPair(zeros[h - 1], zeros[h - 1]));
  return zeros;
})();

/**
 * Every level of a subtree of `height` over `leaves` (concatenated 32-byte words, at most 2^height of them;
 * missing ones are zero). levels[0] is the (unpadded) leaf level, levels[height] holds the root.
 * Each level is stored unpadded: a node that depends only on padding is not stored (it is ZERO_HASHES[h]).
 * `baseHeight` is the height of the given nodes in the whole tree (e.g. 8 for page roots): padding at
 * level h uses ZERO_HASHES[baseHeight + h].
 */
export function buildLevels(leaves: Uint8Array, height: number, baseHeight = 0): Uint8Array[] {
  if (leaves.length % 32 !== 0) throw new RangeError(`leaves must be whole 32-byte words, got ${leaves.length} bytes`);
  const leafCount = leaves.length / 32;
  if (leafCount > 2 ** height) throw new RangeError(`${leafCount} leaves do not fit a tree of height ${height}`);
  const levels: Uint8Array[] = [leaves];
  let level = leaves;
  for (let h = 0; h < height; h++) {
    const count = level.length / 32;
    const parentCount = Math.max(1, Math.ceil(count / 2));
    let input = level;
    if (count % 2 === 1 || count === 0) {
      // Pad the odd node with the zero subtree of this height.
      input = new Uint8Array(parentCount * 64);
      input.set(level, 0);
      input.set(ZERO_HASHES[baseHeight + h], count * 32);
    }
    const parents = new Uint8Array(parentCount * 32);
    hashPairsInto(input, parents);
    levels.push(parents);
    level = parents;
  }
  return levels;
}

/** The root of a subtree of `height` over `leaves` (missing leaves are zero). */
export function merkleRoot(leaves: Uint8Array, height: number): Uint8Array {
  if (height === 0) {
    if (leaves.length > 32) throw new RangeError(`a tree of height 0 holds one leaf, got ${leaves.length} bytes`);
    const root = new Uint8Array(32);
    root.set(leaves);
    return root;
  }
  const leafCount = leaves.length / 32;
  if (leaves.length > SCRATCH_LIMIT || leafCount % 2 === 1 || leafCount === 0 || leafCount > 2 ** height || leaves.length % 32 !== 0) {
    return buildLevels(leaves, height)[height].slice(0, 32);
  }
  // A chunk's tree (8,192 leaves) is hashed for every chunk received: its inner levels go through two
  // reused scratch halves instead of new buffers (fewer large allocations, less GC; same result).
  const half = leaves.length / 2 + 64;
  if (scratch.length < 2 * half) scratch = new Uint8Array(2 * half);
  let level = leaves;
  for (let h = 0; h < height; h++) {
    const count = level.length / 32;
    const parentCount = Math.max(1, Math.ceil(count / 2));
    let input = level;
    if (count % 2 === 1) {
      // Pad in place (only levels h ≥ 1 are odd here): the level's region has room for one more word.
      input = new Uint8Array(scratch.buffer, level.byteOffset, parentCount * 64);
      input.set(ZERO_HASHES[h], count * 32);
    }
    const parents = scratch.subarray((h % 2) * half, (h % 2) * half + parentCount * 32);
    hashPairsInto(input, parents);
    level = parents;
  }
  return level.slice(0, 32);
}

/** Leaves up to this size (2 chunks) are hashed through the shared scratch buffer. */
const SCRATCH_LIMIT = 512 * 1024;
let scratch = new Uint8Array(0);

/** Pads raw bytes with zeros up to whole 32-byte segments (at least one). */
export function toSegments(data: Uint8Array): Uint8Array {
  const padded = Math.max(SEGMENT_SIZE, Math.ceil(data.length / SEGMENT_SIZE) * SEGMENT_SIZE);
  if (padded === data.length) return data;
  const out = new Uint8Array(padded);
  out.set(data);
  return out;
}

/**
 * Node `index` at level `h` from levels built by {@link buildLevels} (the zero subtree when not stored);
 * `baseHeight` as in buildLevels.
 */
export function nodeAt(levels: Uint8Array[], h: number, index: number, baseHeight = 0): Uint8Array {
  const level = levels[h];
  const offset = index * 32;
  return offset + 32 <= level.length ? level.subarray(offset, offset + 32) : ZERO_HASHES[baseHeight + h];
}

/**
 * Siblings (bottom-up) of node `index` at level `fromHeight` up to the root at `levels.length - 1`, for
 * levels built by {@link buildLevels} with the same `baseHeight`.
 */
export function siblingsFromLevels(levels: Uint8Array[], index: number, fromHeight = 0, baseHeight = 0): Uint8Array[] {
  const siblings: Uint8Array[] = [];
  let position = index;
  for (let h = fromHeight; h < levels.length - 1; h++) {
    siblings.push(new Uint8Array(nodeAt(levels, h, position ^ 1, baseHeight)));
    position = Math.floor(position / 2);
  }
  return siblings;
}

/** Folds a node up through its bottom-up siblings (docs/protocol.md §3.2) and returns the root it implies. */
export function rootFromPath(node: Uint8Array, index: number, siblings: readonly Uint8Array[]): Uint8Array {
  let current = node;
  let position = index;
  for (const sibling of siblings) {
    current = position % 2 === 1 ? hashPair(sibling, current) : hashPair(current, sibling);
    position = Math.floor(position / 2);
  }
  return current;
}

/** True when `node` at `index` (at the height the siblings start from) folds up to `root`. */
export function verifyPath(root: Uint8Array, node: Uint8Array, index: number, siblings: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** siblings.length) return false;
  return equalBytes(rootFromPath(node, index, siblings), root);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
