import { CHUNK_HEIGHT, CHUNK_SIZE, SEGMENT_SIZE } from "./constants.js";

/** How a file of `size` bytes maps onto segments, chunks and the Merkle tree (docs/protocol.md §2). */
export interface FileLayout {
  /** Exact file length in bytes. */
  readonly size: number;
  /** Data segments n = max(1, ceil(size / 32)). */
  readonly segmentCount: number;
  /** Tree depth = ceil(log2(n)); the tree has 2^depth leaves. */
  readonly depth: number;
  /** max(1, ceil(size / 256 KiB)). */
  readonly chunkCount: number;
  /** Height of a chunk's subtree: min(13, depth). */
  readonly chunkHeight: number;
}

export function fileLayout(size: number): FileLayout {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`file size must be a non-negative integer, got ${size}`);
  const segmentCount = Math.max(1, Math.ceil(size / SEGMENT_SIZE));
  const depth = depthOf(segmentCount);
  const chunkCount = Math.max(1, Math.ceil(size / CHUNK_SIZE));
  return { size, segmentCount, depth, chunkCount, chunkHeight: Math.min(CHUNK_HEIGHT, depth) };
}

/** Tree depth ceil(log2(n)), as ProofMath.depthOf. */
export function depthOf(segments: number): number {
  let depth = 0;
  while (2 ** depth < segments) depth++;
  return depth;
}
