import { CHUNK_SIZE } from "./constants.js";
import type { CommittedFile } from "./committed-file.js";
import { IndexOutOfRangeError, MalformedProofError, WrongRootError } from "./errors.js";
import type { FileLayout } from "./layout.js";
import { equalBytes, merkleRoot, rootFromPath, toSegments } from "./merkle.js";
import { keptSiblings, type KeptTree } from "./tree-cache.js";
import { asWord, toHex, type Hex } from "./words.js";

/**
 * Chunks (docs/protocol.md §2, §3.2): 256 KiB subtrees of height min(13, depth), the unit of transfer.
 * A chunk proof is the `depth - chunkHeight` siblings of the chunk's subtree root, bottom-up.
 */

/** Byte range [start, end) of chunk `chunkIndex` in a file (the last chunk is short; the empty file's only chunk is empty). */
export function chunkByteRange(layout: FileLayout, chunkIndex: number): { start: number; end: number } {
  checkChunkIndex(layout, chunkIndex);
  const start = chunkIndex * CHUNK_SIZE;
  return { start, end: Math.min(layout.size, start + CHUNK_SIZE) };
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
  const expectedSiblings = layout.depth - layout.chunkHeight;
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

function checkChunkIndex(layout: FileLayout, chunkIndex: number): void {
  if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= layout.chunkCount) {
    throw new IndexOutOfRangeError("chunk index", chunkIndex, layout.chunkCount);
  }
}
