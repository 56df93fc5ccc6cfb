import { CHUNK_SIZE } from "./constants.js";
import type { CommittedFile } from "./committed-file.js";
import { IndexOutOfRangeError, MalformedProofError, WrongRootError } from "./errors.js";
import type { FileLayout } from "./layout.js";
import { buildLevels, equalBytes, merkleRoot, rootFromPath, siblingsFromLevels, toSegments } from "./merkle.js";
import { keptSiblings, type KeptTree } from "./tree-cache.js";
import { asWord, toHex, type Hex } from "./words.js";

/**
 * Chunks (docs/protocol.md §2, §3.2): 256 KiB subtrees of height min(13, depth), the unit of transfer.
 * A chunk proof is the `depth - chunkHeight` siblings of the chunk's subtree root, bottom-up. The "manifest"
 * of a file is the concatenation of its chunk roots; the upper tree over it (height `depth - chunkHeight`,
 * {@link ChunkTree}) has commD as root.
 */

/** Byte range [start, end) of chunk `chunkIndex` in a file (the last chunk is short; the empty file's only chunk is empty). */
export function chunkByteRange(layout: FileLayout, chunkIndex: number): { start: number; end: number } {
  checkChunkIndex(layout, chunkIndex);
  const start = chunkIndex * CHUNK_SIZE;
  return { start, end: Math.min(layout.size, start + CHUNK_SIZE) };
}

/** Expected byte length of chunk `index` of a file (the last one may be short; the empty file has one empty chunk). */
export function chunkLength(layout: FileLayout, index: number): number {
  return Math.max(0, Math.min(CHUNK_SIZE, layout.size - index * CHUNK_SIZE));
}

/** Height of the upper tree (chunk roots -> commD). */
export function upperHeight(layout: FileLayout): number {
  return layout.depth - layout.chunkHeight;
}

/** The root of chunk `chunkIndex`'s subtree over its real bytes (zero-padded for hashing only). */
export function chunkRoot(chunkBytes: Uint8Array, layout: FileLayout, chunkIndex: number): Uint8Array {
  const { start, end } = chunkByteRange(layout, chunkIndex);
  if (chunkBytes.length !== end - start) {
    throw new MalformedProofError(`chunk ${chunkIndex} of a ${layout.size}-byte file has ${end - start} bytes, got ${chunkBytes.length}`);
  }
  return merkleRoot(toSegments(chunkBytes), layout.chunkHeight);
}

/** The chunk's siblings from the kept tree (of a CommittedFile or a KeptTree): no disk access. */
export function chunkProof(source: CommittedFile | KeptTree, chunkIndex: number): Uint8Array[] {
  const tree = "tree" in source ? source.tree : source;
  checkChunkIndex(tree.layout, chunkIndex);
  return keptSiblings(tree, tree.layout.chunkHeight, chunkIndex);
}

/** Reads chunk `chunkIndex` (its real length) from a committed file. */
export async function readChunk(file: CommittedFile, chunkIndex: number): Promise<Uint8Array> {
  const { start, end } = chunkByteRange(file.layout, chunkIndex);
  return file.readBytes(start, end);
}

/**
 * True when `chunkBytes` is chunk `chunkIndex` of the file committed as `commD` with `layout`. Never throws
 * for bad peer input (wrong length, index, sibling count): it answers false.
 */
export function verifyChunk(
  commD: Uint8Array | Hex,
  layout: FileLayout,
  chunkIndex: number,
  chunkBytes: Uint8Array,
  siblings: readonly (Uint8Array | Hex)[],
): boolean {
  try {
    assertChunk(commD, layout, chunkIndex, chunkBytes, siblings);
    return true;
  } catch {
    return false;
  }
}

/** Like {@link verifyChunk} but throws a typed error naming what is wrong. */
export function assertChunk(
  commD: Uint8Array | Hex,
  layout: FileLayout,
  chunkIndex: number,
  chunkBytes: Uint8Array,
  siblings: readonly (Uint8Array | Hex)[],
): void {
  const expectedSiblings = upperHeight(layout);
  if (siblings.length !== expectedSiblings) {
    throw new MalformedProofError(`a chunk proof of this file has ${expectedSiblings} siblings, got ${siblings.length}`);
  }
  const root = rootFromPath(
    chunkRoot(chunkBytes, layout, chunkIndex),
    chunkIndex,
    siblings.map((sibling) => asWord(sibling, "chunk sibling")),
  );
  const expected = asWord(commD, "commD");
  if (!equalBytes(root, expected)) throw new WrongRootError(`chunk ${chunkIndex}`, toHex(expected), toHex(root));
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

/** True when a manifest (concatenated chunk roots) builds up to commD. */
export function verifyManifest(commD: Uint8Array, layout: FileLayout, chunkRoots: Uint8Array): boolean {
  if (chunkRoots.length !== layout.chunkCount * 32) return false;
  return equalBytes(new ChunkTree(layout, chunkRoots).root, commD);
}

/** Splits `count` concatenated 32-byte siblings. */
export function splitSiblings(bytes: Uint8Array, count: number): Uint8Array[] {
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < count; i++) siblings.push(bytes.subarray(32 * i, 32 * i + 32));
  return siblings;
}

function checkChunkIndex(layout: FileLayout, chunkIndex: number): void {
  if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= layout.chunkCount) {
    throw new IndexOutOfRangeError("chunk index", chunkIndex, layout.chunkCount);
  }
}
