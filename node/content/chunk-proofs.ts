import { CHUNK_SIZE, SEGMENT_SIZE } from "../proofs/constants.js";
import type { FileLayout } from "../proofs/layout.js";
import { buildLevels, equalBytes, merkleRoot, siblingsFromLevels, verifyPath } from "../proofs/merkle.js";

/**
 * Chunk-level commitments (docs/protocol.md §2–3.2): a chunk's root is its subtree root at height
 * `chunkHeight`; the "manifest" of a file is the concatenation of its chunk roots, and the upper tree over
 * it (height `depth - chunkHeight`) has commD as root. A chunk's position proof is the upper tree's
 * siblings from the chunk root up to commD.
 *
 * Kept in one module so it can switch to the proof engine's streaming functions later.
 */

/** Chunk root: the Merkle root of the chunk's bytes, zero-padded to whole segments, at height chunkHeight. */
export function chunkRoot(bytes: Uint8Array, layout: FileLayout): Uint8Array {
  let leaves = bytes;
  if (bytes.length % SEGMENT_SIZE !== 0 || bytes.length === 0) {
    leaves = new Uint8Array(Math.max(SEGMENT_SIZE, Math.ceil(bytes.length / SEGMENT_SIZE) * SEGMENT_SIZE));
    leaves.set(bytes);
  }
  return merkleRoot(leaves, layout.chunkHeight);
}

/** Expected byte length of chunk `index` of a file (the last one may be short; the empty file has one empty chunk). */
export function chunkLength(layout: FileLayout, index: number): number {
  return Math.max(0, Math.min(CHUNK_SIZE, layout.size - index * CHUNK_SIZE));
}

/** Height of the upper tree (chunk roots -> commD). */
export function upperHeight(layout: FileLayout): number {
  return layout.depth - layout.chunkHeight;
}

/** The upper tree over a file's chunk roots: gives commD and every chunk's position proof. */
export class ChunkTree {
  private readonly levels: Uint8Array[];

  constructor(readonly layout: FileLayout, readonly chunkRoots: Uint8Array) {
    if (chunkRoots.length !== layout.chunkCount * 32) {
      throw new RangeError(`manifest has ${chunkRoots.length / 32} chunk roots, layout needs ${layout.chunkCount}`);
    }
    this.levels = buildLevels(chunkRoots, upperHeight(layout), layout.chunkHeight);
  }

  get root(): Uint8Array {
    return this.levels[this.levels.length - 1].slice(0, 32);
  }

  chunkRootAt(index: number): Uint8Array {
    return this.chunkRoots.subarray(index * 32, index * 32 + 32);
  }

  /** Siblings, bottom-up, from chunk `index`'s root to commD (upperHeight of them). */
  proof(index: number): Uint8Array[] {
    // The tree over chunk roots sits at chunkHeight: its missing nodes are zero subtrees from there.
    return siblingsFromLevels(this.levels, index, 0, this.layout.chunkHeight);
  }
}

/** True when `bytes` is chunk `index` of the file committed by `commD`, as proven by `siblings`. */
export function verifyChunk(commD: Uint8Array, layout: FileLayout, index: number, bytes: Uint8Array, siblings: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(index) || index < 0 || index >= layout.chunkCount) return false;
  if (bytes.length !== chunkLength(layout, index)) return false;
  if (siblings.length !== upperHeight(layout)) return false;
  return verifyPath(commD, chunkRoot(bytes, layout), index, siblings);
}

/** True when a manifest (concatenated chunk roots) builds up to commD. */
export function verifyManifest(commD: Uint8Array, layout: FileLayout, chunkRoots: Uint8Array): boolean {
  if (chunkRoots.length !== layout.chunkCount * 32) return false;
  return equalBytes(new ChunkTree(layout, chunkRoots).root, commD);
}

/** Splits `k` concatenated 32-byte siblings. */
export function splitSiblings(bytes: Uint8Array, count: number): Uint8Array[] {
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < count; i++) siblings.push(bytes.subarray(32 * i, 32 * i + 32));
  return siblings;
}
