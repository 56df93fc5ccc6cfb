import { open, rename, rm } from "node:fs/promises";
import { PAGE_HEIGHT } from "./constants.js";
import { CorruptTreeCacheError } from "./errors.js";
import { fileLayout, type FileLayout } from "./layout.js";
import { buildLevels, equalBytes, ZERO_HASHES } from "./merkle.js";

/**
 * The kept part of a Merkle tree (docs/protocol.md §3.3): every node at heights >= min(8, depth), i.e. one
 * node per 8 KiB page and everything above, ~0.78 % of the data. An opening reads its page from the file,
 * recomputes the page's inner nodes and takes the upper siblings from here.
 */
export interface KeptTree {
  /** Layout of the hashed bytes (its `size` is the length of the file the tree was built over). */
  readonly layout: FileLayout;
  /** Lowest kept height: min(PAGE_HEIGHT, depth). A "page" is a subtree of this height. */
  readonly baseHeight: number;
  /** levels[h - baseHeight] for h in [baseHeight, depth]: the ceil(n / 2^h) nodes that hold data. */
  readonly levels: readonly Uint8Array[];
  readonly root: Uint8Array;
}

/** Builds the kept levels from the roots of every page (height baseHeight subtrees), in order. */
export function keptTreeFromPageRoots(layout: FileLayout, pageRoots: Uint8Array): KeptTree {
  const baseHeight = Math.min(PAGE_HEIGHT, layout.depth);
  const expected = Math.ceil(layout.segmentCount / 2 ** baseHeight);
  if (pageRoots.length !== expected * 32) {
    throw new RangeError(`expected ${expected} page roots for ${layout.segmentCount} segments, got ${pageRoots.length / 32}`);
  }
  const levels = buildLevels(pageRoots, layout.depth - baseHeight, baseHeight);
  return { layout, baseHeight, levels, root: levels[levels.length - 1].slice(0, 32) };
}

/** The kept node at height h (>= baseHeight) and position `index`; zero subtrees are implied. */
export function keptNode(tree: KeptTree, height: number, index: number): Uint8Array {
  const level = tree.levels[height - tree.baseHeight];
  const offset = index * 32;
  return offset + 32 <= level.length ? level.subarray(offset, offset + 32) : ZERO_HASHES[height];
}

/** Bottom-up siblings of node `index` at height `fromHeight` (>= baseHeight) up to the root. */
export function keptSiblings(tree: KeptTree, fromHeight: number, index: number): Uint8Array[] {
  if (fromHeight < tree.baseHeight) throw new RangeError(`height ${fromHeight} is below the kept heights (>= ${tree.baseHeight})`);
  const siblings: Uint8Array[] = [];
  let position = index;
  for (let h = fromHeight; h < tree.layout.depth; h++) {
    siblings.push(new Uint8Array(keptNode(tree, h, position ^ 1)));
    position = Math.floor(position / 2);
  }
  return siblings;
}

// Tree-cache file: a 64-byte header, then the kept levels from baseHeight up, each unpadded.
const MAGIC = new TextEncoder().encode("CFRTREE1");
const HEADER_SIZE = 64;

/** Serialises a kept tree: header (magic, size, baseHeight, depth, root) followed by its levels. */
export function encodeKeptTree(tree: KeptTree): Uint8Array {
  const body = tree.levels.reduce((sum, level) => sum + level.length, 0);
  const out = new Uint8Array(HEADER_SIZE + body);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setBigUint64(8, BigInt(tree.layout.size));
  view.setUint32(16, tree.baseHeight);
  view.setUint32(20, tree.layout.depth);
  out.set(tree.root, 32);
  let offset = HEADER_SIZE;
  for (const level of tree.levels) {
    out.set(level, offset);
    offset += level.length;
  }
  return out;
}

/** Parses and checks a serialised kept tree: the levels must hash up to the recorded root. */
export function decodeKeptTree(bytes: Uint8Array, path = "<memory>"): KeptTree {
  if (bytes.length < HEADER_SIZE || !equalBytes(bytes.subarray(0, 8), MAGIC)) throw new CorruptTreeCacheError(path, "bad header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = Number(view.getBigUint64(8));
  const layout = fileLayout(size);
  const baseHeight = view.getUint32(16);
  if (view.getUint32(20) !== layout.depth || baseHeight !== Math.min(PAGE_HEIGHT, layout.depth)) {
    throw new CorruptTreeCacheError(path, "header does not match the file size");
  }
  const pageCount = Math.ceil(layout.segmentCount / 2 ** baseHeight);
  const pageRoots = bytes.subarray(HEADER_SIZE, HEADER_SIZE + pageCount * 32);
  if (pageRoots.length !== pageCount * 32) throw new CorruptTreeCacheError(path, "truncated");
  // Recomputing the upper levels from the page roots costs 1/256 of a commit and catches any damaged node.
  const tree = keptTreeFromPageRoots(layout, new Uint8Array(pageRoots));
  const stored = bytes.subarray(HEADER_SIZE);
  const expectedBody = tree.levels.reduce((sum, level) => sum + level.length, 0);
  if (stored.length !== expectedBody) throw new CorruptTreeCacheError(path, `body is ${stored.length} bytes, expected ${expectedBody}`);
  if (!equalBytes(encodeKeptTree(tree).subarray(HEADER_SIZE), stored) || !equalBytes(tree.root, bytes.subarray(32, 64))) {
    throw new CorruptTreeCacheError(path, "stored nodes do not hash to the stored root");
  }
  return tree;
}

/** Writes the tree cache atomically (temporary file + rename), so a crash never leaves half a cache. */
export async function writeTreeCache(path: string, tree: KeptTree): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(encodeKeptTree(tree));
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}

/** Reads and checks a tree cache written by {@link writeTreeCache}. */
export async function readTreeCache(path: string): Promise<KeptTree> {
  let bytes: Uint8Array;
  try {
    const handle = await open(path, "r");
    try {
      bytes = new Uint8Array(await handle.readFile());
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new CorruptTreeCacheError(path, "cannot be read", { cause: error });
  }
  return decodeKeptTree(bytes, path);
}
