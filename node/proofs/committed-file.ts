import { open, type FileHandle } from "node:fs/promises";
import { SEGMENT_SIZE } from "./constants.js";
import { CorruptFileError, CorruptReplicaError, IndexOutOfRangeError, TruncatedFileError, WrongRootError } from "./errors.js";
import type { FileLayout } from "./layout.js";
import { buildLevels, equalBytes, siblingsFromLevels, toSegments } from "./merkle.js";
import { keptNode, keptSiblings, readTreeCache, type KeptTree } from "./tree-cache.js";
import { toHex } from "./words.js";
import { commitBytes } from "./commit.js";
import { readFully } from "./files.js";

/** An opening of one segment (docs/protocol.md §3.2): the segment and its `depth` siblings, bottom-up. */
export interface SegmentOpening {
  index: number;
  segment: Uint8Array;
  siblings: Uint8Array[];
}

/** Anything that can open segments of a committed tree: a file on disk or bytes in memory. */
export interface SegmentSource {
  readonly layout: FileLayout;
  readonly root: Uint8Array;
  openSegment(index: number): Promise<SegmentOpening>;
  openSegments(indices: readonly number[]): Promise<SegmentOpening[]>;
}

export type CommittedFileKind = "data" | "replica" | "ciphertext";

export interface OpenCommittedFileOptions {
  /** What the file is, for error messages and error types (a replica's damage is a CorruptReplicaError). */
  kind?: CommittedFileKind;
  /** Refuse to open unless the kept tree's root is this one. */
  expectedRoot?: Uint8Array;
}

/**
 * A committed file on disk plus its kept tree (heights >= 8). Opening a segment costs one pread of its 8 KiB
 * page, 255 hashes, and the upper siblings from the kept levels; the page is checked against the kept tree,
 * so a damaged file is reported (CorruptFileError / CorruptReplicaError) instead of yielding a bad proof.
 */
export class CommittedFile implements SegmentSource {
  private constructor(
    readonly path: string,
    readonly tree: KeptTree,
    readonly kind: CommittedFileKind,
    private readonly handle: FileHandle,
  ) {}

  /** Opens `path` with its kept tree (a KeptTree in memory or the path of its tree-cache file). */
  static async open(path: string, tree: KeptTree | string, options: OpenCommittedFileOptions = {}): Promise<CommittedFile> {
    const kept = typeof tree === "string" ? await readTreeCache(tree) : tree;
    if (options.expectedRoot && !equalBytes(options.expectedRoot, kept.root)) {
      throw new WrongRootError(`kept tree of ${path}`, toHex(options.expectedRoot), toHex(kept.root));
    }
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size !== kept.layout.size) throw new TruncatedFileError(path, kept.layout.size, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new CommittedFile(path, kept, options.kind ?? "data", handle);
  }

  get layout(): FileLayout {
    return this.tree.layout;
  }

  get root(): Uint8Array {
    return this.tree.root;
  }

  async openSegment(index: number): Promise<SegmentOpening> {
    checkSegmentIndex(index, this.layout);
    const page = Math.floor(index / 2 ** this.tree.baseHeight);
    const levels = await this.readPageLevels(page, index);
    const inPage = index % 2 ** this.tree.baseHeight;
    return {
      index,
      segment: levels[0].slice(inPage * 32, inPage * 32 + 32),
      siblings: [...siblingsFromLevels(levels, inPage), ...keptSiblings(this.tree, this.tree.baseHeight, page)],
    };
  }

  async openSegments(indices: readonly number[]): Promise<SegmentOpening[]> {
    return Promise.all(indices.map((index) => this.openSegment(index)));
  }

  /** The bytes of the file from `start` (inclusive) to `end` (exclusive), checked for length only. */
  async readBytes(start: number, end: number): Promise<Uint8Array> {
    const out = new Uint8Array(end - start);
    await readFully(this.handle, out, end - start, start, this.path, this.layout.size);
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Reads page `page` (zero-padded), builds its levels and checks its root against the kept tree. */
  private async readPageLevels(page: number, index: number): Promise<Uint8Array[]> {
    const pageBytes = 2 ** this.tree.baseHeight * SEGMENT_SIZE;
    const start = page * pageBytes;
    const length = Math.min(pageBytes, this.layout.size - start);
    const bytes = new Uint8Array(Math.max(SEGMENT_SIZE, Math.ceil(length / SEGMENT_SIZE) * SEGMENT_SIZE));
    await readFully(this.handle, bytes, length, start, this.path, this.layout.size);
    const levels = buildLevels(bytes, this.tree.baseHeight);
    const root = levels[this.tree.baseHeight].subarray(0, 32);
    if (!equalBytes(root, keptNode(this.tree, this.tree.baseHeight, page))) {
      throw this.kind === "replica" ? new CorruptReplicaError(this.path, index) : new CorruptFileError(this.path, index, this.kind);
    }
    return levels;
  }
}

/** A whole tree over bytes held in memory: openings without any disk access (small files, tests). */
export class InMemoryTree implements SegmentSource {
  readonly layout: FileLayout;
  readonly root: Uint8Array;
  private readonly levels: Uint8Array[];

  constructor(bytes: Uint8Array) {
    const commitment = commitBytes(bytes);
    this.layout = commitment.layout;
    this.root = commitment.root;
    this.levels = buildLevels(toSegments(bytes), this.layout.depth);
  }

  async openSegment(index: number): Promise<SegmentOpening> {
    return this.openSegmentSync(index);
  }

  async openSegments(indices: readonly number[]): Promise<SegmentOpening[]> {
    return indices.map((index) => this.openSegmentSync(index));
  }

  openSegmentSync(index: number): SegmentOpening {
    checkSegmentIndex(index, this.layout);
    return { index, segment: new Uint8Array(this.levels[0].subarray(index * 32, index * 32 + 32)), siblings: siblingsFromLevels(this.levels, index) };
  }
}

export function checkSegmentIndex(index: number, layout: FileLayout): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= layout.segmentCount) {
    throw new IndexOutOfRangeError("segment index", index, layout.segmentCount);
  }
}
