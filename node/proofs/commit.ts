import { open } from "node:fs/promises";
import { PAGE_HEIGHT, SEGMENT_SIZE } from "./constants.js";
import { throwIfAborted } from "./errors.js";
import { readFully } from "./files.js";
import { subtreeRoots } from "./kernels.js";
import { fileLayout, type FileLayout } from "./layout.js";
import { proofsLogger } from "./logger.js";
import { toSegments } from "./merkle.js";
import { keptTreeFromPageRoots, writeTreeCache, type KeptTree } from "./tree-cache.js";
import type { LongOperationOptions } from "./types.js";
import { hashWorkerPool } from "./worker-pool.js";

export interface CommitFileOptions extends LongOperationOptions {
  /** Where to keep the tree nodes at heights >= 8 (docs/protocol.md §3.3). Omit to keep them in memory only. */
  treeCachePath?: string;
}

/** A commitment: the root (commD / commR / commE), the layout of the hashed bytes and the kept tree. */
export interface Commitment {
  root: Uint8Array;
  layout: FileLayout;
  tree: KeptTree;
  treeCachePath?: string;
}

/** Bytes read per block: big enough for few syscalls and cheap worker round trips, small enough to bound memory. */
export const COMMIT_BLOCK_SIZE = 4 * 1024 * 1024;

/**
 * Streams `path` from disk once and returns its Merkle root (docs/protocol.md §3). The file is read in
 * 4 MiB blocks (never whole in memory); the blocks' page roots are hashed in the hash workers with
 * hashtree batch calls; the kept levels (heights >= 8) are written to `treeCachePath` when given.
 */
export async function commitFile(path: string, options: CommitFileOptions = {}): Promise<Commitment> {
  const logger = options.logger ?? proofsLogger;
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const layout = fileLayout(size);
    const builder = new StreamingTreeBuilder(layout);
    const started = performance.now();
    for (let position = 0; position < size; position += COMMIT_BLOCK_SIZE) {
      throwIfAborted(options.signal, `commitFile(${path})`);
      const length = Math.min(COMMIT_BLOCK_SIZE, size - position);
      const block = new Uint8Array(Math.ceil(length / SEGMENT_SIZE) * SEGMENT_SIZE);
      await readFully(handle, block, length, position, path, size);
      await builder.push(block);
      options.onProgress?.({ phase: "commit", bytesDone: position + length, bytesTotal: size });
    }
    const tree = await builder.finish();
    if (options.treeCachePath) await writeTreeCache(options.treeCachePath, tree);
    logger.debug({ path, size, ms: performance.now() - started }, "committed file");
    return { root: tree.root, layout, tree, treeCachePath: options.treeCachePath };
  } finally {
    await handle.close();
  }
}

/** The commitment of bytes held in memory (small files, chunks, tests). */
export function commitBytes(bytes: Uint8Array): Commitment {
  const layout = fileLayout(bytes.length);
  const baseHeight = Math.min(PAGE_HEIGHT, layout.depth);
  const tree = keptTreeFromPageRoots(layout, subtreeRoots(toSegments(bytes), baseHeight));
  return { root: tree.root, layout, tree };
}

/**
 * Builds a kept tree from the hashed bytes pushed in order, in blocks that are whole pages except the last
 * (each padded to whole segments). Page roots are computed in the hash workers; up to a few blocks are in
 * flight so reading and hashing overlap.
 */
export class StreamingTreeBuilder {
  readonly baseHeight: number;
  private readonly pageBytes: number;
  private readonly pageRoots: Uint8Array;
  private pushedBytes = 0;
  private readonly inFlight: Promise<void>[] = [];
  private readonly maxInFlight: number;

  constructor(readonly layout: FileLayout) {
    this.baseHeight = Math.min(PAGE_HEIGHT, layout.depth);
    this.pageBytes = 2 ** this.baseHeight * SEGMENT_SIZE;
    this.pageRoots = new Uint8Array(Math.ceil(layout.segmentCount / 2 ** this.baseHeight) * 32);
    this.maxInFlight = Math.max(2, hashWorkerPool().size * 2);
  }

  /** Queues the next block; `block` is handed over (transferred to a worker) and must not be reused. */
  async push(block: Uint8Array): Promise<void> {
    const firstPage = this.claim(block.length);
    const task = hashWorkerPool()
      .subtreeRoots(block, this.baseHeight)
      .then((roots) => this.pageRoots.set(roots, firstPage * 32));
    // Observed at once: a caller that gives up between two pushes (an abort, a read error) must not leave a
    // rejection nobody handles (it would end the process); finish() and the next push still see the error.
    task.catch(() => undefined);
    this.inFlight.push(task);
    if (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
  }

  /**
   * Takes the page roots (subtrees of height `baseHeight`) of the next `byteLength` hashed bytes, computed
   * elsewhere — e.g. by the worker that produced those bytes (kernels.unsealBatchWithRoots) — instead of
   * hashing a block here. Same ordering rules as {@link push}.
   */
  pushPageRoots(byteLength: number, roots: Uint8Array): void {
    const firstPage = this.claim(byteLength);
    const expected = Math.max(1, Math.ceil(byteLength / this.pageBytes)) * 32;
    if (roots.length !== expected) throw new RangeError(`${byteLength} bytes have ${expected / 32} page roots, got ${roots.length / 32}`);
    this.pageRoots.set(roots, firstPage * 32);
  }

  /** Checks that the next `byteLength` bytes may follow and returns the index of their first page. */
  private claim(byteLength: number): number {
    if (this.pushedBytes % this.pageBytes !== 0) throw new RangeError("only the last block may end inside a page");
    if (byteLength % SEGMENT_SIZE !== 0) throw new RangeError("blocks must be whole segments");
    const firstPage = this.pushedBytes / this.pageBytes;
    this.pushedBytes += byteLength;
    return firstPage;
  }

  /** Waits for the queued blocks and builds the kept levels. */
  async finish(): Promise<KeptTree> {
    await Promise.all(this.inFlight.splice(0));
    // The empty file is one zero segment, whose page root is zero: nothing to hash.
    return keptTreeFromPageRoots(this.layout, this.pageRoots);
  }
}
