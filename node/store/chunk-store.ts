import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, truncate, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { ChunkTree, chunkLength, chunkRoot, verifyManifest } from "../proofs/chunks.js";
import { CofferError } from "../errors.js";
import { StoreWriteError, UnknownRootError, VerificationError } from "../p2p/errors.js";
import { parseRoot } from "../p2p/hex.js";
import { toHex } from "../proofs/words.js";
import { CHUNK_SIZE } from "../proofs/constants.js";
import { fileLayout, type FileLayout } from "../proofs/layout.js";
import { equalBytes } from "../proofs/merkle.js";
import type { Database } from "./database.js";
import { FileHandlePool, FileHandlePoolClosedError } from "./file-handles.js";

/**
 * Content store: each file's chunks in one data file `<dataDir>/chunks/<root>/data` (chunk i at byte
 * i × 256 KiB, the file pre-sized and sparse until filled), index in LevelDB.
 *
 * LevelDB keys (sublevel "store"):
 *   f!<root>            JSON { size }                 — a file we hold or are fetching
 *   m!<root>            hex of the chunk roots         — the manifest, verified against root (= commD)
 *   c!<root>!<index>    "1"                            — chunk complete: written AFTER the chunk's bytes
 *                                                       are written in place and fdatasync'ed
 * Chunks are only ever written where no complete chunk is, and a marker is only written once its bytes
 * are durable, so a crash mid-write leaves at worst unmarked bytes (verified and marked on open, or
 * fetched again) and never a marker over a half chunk. Markers of chunks written at about the same time
 * share one fdatasync and one LevelDB batch (group commit). One data file per root, not one file per
 * chunk: creating, syncing and renaming a file per 256 KiB chunk cost ~1.3 ms of CPU each, ten times
 * the write itself (a 256 MiB transfer between two nodes took 9.4 CPU-s that way, 5.6 CPU-s this way).
 */
export interface StoredFileInfo {
  root: string;
  size: number;
  chunkCount: number;
  completeChunks: number;
  complete: boolean;
}

interface Entry {
  rootHex: string;
  layout: FileLayout;
  tree: ChunkTree;
  bits: Uint8Array;
  completeCount: number;
  /** Bumped when a sync of the data file fails: chunks written before that are not marked. */
  generation: number;
}

export interface ChunkStoreOptions {
  logger?: Logger;
  /** Re-hash every chunk on open (default true): detects bit rot and half writes. */
  verifyOnOpen?: boolean;
  /** Most data files held open at once (default 64); a read or write waits while all are in use. */
  maxOpenFiles?: number;
  /**
   * Makes a data file's written chunks durable before they are marked, in a group commit and on open
   * (default: `handle.datasync()`, i.e. fdatasync). Tests pass one that fails to exercise a failed sync;
   * `path` is the data file's.
   */
  syncData?: (handle: FileHandle, path: string) => Promise<void>;
}

export class ChunkStore {
  private readonly entries = new Map<string, Entry>();
  private readonly db;
  private readonly handles: FileHandlePool;
  private readonly syncData: (handle: FileHandle, path: string) => Promise<void>;
  private readonly logger: Logger | undefined;
  /** Chunks written in place whose markers wait for the next group commit. */
  private pending: PendingChunk[] = [];
  private committing: Promise<void> | undefined;
  /** Chunk writes between their start and their marker (close() waits for them). */
  private inFlightWrites = 0;
  private writesDone: (() => void) | undefined;
  private closed = false;
  /** Ends a commit's linger early (enough chunks are waiting, or the store closes). */
  private lingerWake: (() => void) | undefined;
  /** declare() calls in progress, per root (a second caller waits for the first). */
  private readonly declarations = new Map<string, Promise<void>>();
  readonly chunksDir: string;

  private constructor(database: Database, dataDir: string, options: ChunkStoreOptions) {
    this.db = database.sublevel<string, string>("store", { valueEncoding: "utf8" });
    this.chunksDir = join(dataDir, "chunks");
    this.logger = options.logger;
    this.handles = new FileHandlePool(options.maxOpenFiles);
    this.syncData = options.syncData ?? ((handle) => handle.datasync());
  }

  static async open(database: Database, dataDir: string, options: ChunkStoreOptions = {}): Promise<ChunkStore> {
    const store = new ChunkStore(database, dataDir, options);
    await mkdir(store.chunksDir, { recursive: true });
    await store.load(options.verifyOnOpen ?? true);
    return store;
  }

  /**
   * Refuses new writes, waits for the ones under way (to their markers or their failure) and closes the
   * data files. The database stays open: the caller owns it.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.lingerWake?.();
    while (this.inFlightWrites > 0) await new Promise<void>((resolve) => (this.writesDone = resolve));
    while (this.committing) await this.committing;
    await this.handles.closeAll();
  }

  /** Data files open now, the cap, and the most that were ever open at once. */
  openFiles(): { open: number; max: number; peak: number } {
    return { open: this.handles.open, max: this.handles.maxOpen, peak: this.handles.peakOpen };
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreWriteError("the store is closed", { code: "store-closed" });
  }

  /** Loads the index, removes leftovers of interrupted imports, and reconciles markers with the data files. */
  private async load(verify: boolean): Promise<void> {
    for (const name of await readdir(this.chunksDir)) if (name.startsWith(".import-")) await rm(join(this.chunksDir, name), { recursive: true, force: true });
    for await (const [key, value] of this.db.iterator({ gte: "f!", lt: "f!\xff" })) {
      const rootHex = key.slice(2);
      const manifestHex = await this.db.get(`m!${rootHex}`);
      if (manifestHex === undefined) continue;
      const layout = fileLayout((JSON.parse(value) as { size: number }).size);
      const tree = new ChunkTree(layout, new Uint8Array(Buffer.from(manifestHex, "hex")));
      this.entries.set(rootHex, newEntry(rootHex, layout, tree));
    }
    for (const entry of this.entries.values()) {
      const marked = new Set<number>();
      for await (const key of this.db.keys({ gte: `c!${entry.rootHex}!`, lt: `c!${entry.rootHex}!\xff` })) marked.add(Number(key.split("!")[2]));
      await mkdir(this.dirOf(entry.rootHex), { recursive: true });
      const migrated = await this.migrateChunkFiles(entry);
      const onDisk = await stat(this.dataPath(entry.rootHex)).then((s) => s.size, () => -1);
      if (onDisk !== entry.layout.size) await this.createDataFile(entry, onDisk >= 0);
      const batch = this.db.batch();
      const unmarkedGood: number[] = [];
      for (let index = 0; index < entry.layout.chunkCount; index++) {
        // A chunk past the end of a truncated data file is gone; the file was re-extended with zeros. A
        // migrated root holds only the chunks whose files were there.
        const present = migrated ? migrated.has(index) : index * CHUNK_SIZE + chunkLength(entry.layout, index) <= Math.max(onDisk, 0);
        let good = present && (marked.has(index) || verify);
        if (good && verify) good = await this.chunkMatches(entry, index);
        if (good) {
          if (marked.has(index)) this.setBit(entry, index);
          else unmarkedGood.push(index);
        } else if (marked.has(index)) {
          batch.del(this.chunkKey(entry.rootHex, index));
          this.logger?.warn({ root: entry.rootHex, index }, "dropped a chunk that failed verification on open");
        }
      }
      // Good bytes without a marker (a write cut short before its commit) may so far be only in the page
      // cache: durable first, then marked. If the sync fails they stay unmarked and are fetched again.
      if (unmarkedGood.length > 0 && (await this.syncedOnOpen(entry))) {
        for (const index of unmarkedGood) {
          this.setBit(entry, index);
          batch.put(this.chunkKey(entry.rootHex, index), "1");
        }
      }
      await batch.write();
    }
  }

  /**
   * Data directories written before the single data file (one `<index>.chunk` file per chunk) are moved
   * into it on open. Returns the indices that had a whole chunk file (undefined: nothing to migrate);
   * `load` then treats only those as present and verifies them as usual.
   */
  private async migrateChunkFiles(entry: Entry): Promise<Set<number> | undefined> {
    const dir = this.dirOf(entry.rootHex);
    const names = await readdir(dir);
    if (!names.some((name) => name.endsWith(".chunk") || name.includes(".tmp-"))) return undefined;
    await this.createDataFile(entry, names.includes("data"));
    const migrated = new Set<number>();
    const handle = await open(this.dataPath(entry.rootHex), "r+");
    try {
      for (const name of names) {
        const index = Number(name.slice(0, -".chunk".length));
        if (!name.endsWith(".chunk") || !Number.isSafeInteger(index) || index < 0 || index >= entry.layout.chunkCount) continue;
        const bytes = await readFile(join(dir, name));
        if (bytes.length !== chunkLength(entry.layout, index)) continue;
        await handle.write(bytes, 0, bytes.length, index * CHUNK_SIZE);
        migrated.add(index);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dir); // the data file's name is durable before the chunk files go
    for (const name of names) if (name.endsWith(".chunk") || name.includes(".tmp-")) await rm(join(dir, name), { force: true });
    this.logger?.info({ root: entry.rootHex, chunks: migrated.size }, "moved chunk files into the data file");
    return migrated;
  }

  private async syncedOnOpen(entry: Entry): Promise<boolean> {
    const path = this.dataPath(entry.rootHex);
    try {
      await this.handles.with(path, (handle) => this.syncData(handle, path));
      return true;
    } catch (error) {
      await this.handles.forget(path);
      this.logger?.warn({ root: entry.rootHex, err: error }, "cannot sync a data file on open: its unmarked chunks stay unmarked");
      return false;
    }
  }

  /** Creates (or re-sizes) the sparse data file of `entry`; never truncates bytes below its size. */
  private async createDataFile(entry: Entry, exists: boolean): Promise<void> {
    const path = this.dataPath(entry.rootHex);
    await this.handles.forget(path);
    if (!exists) await (await open(path, "a", 0o600)).close();
    await truncate(path, entry.layout.size);
  }

  private async chunkMatches(entry: Entry, index: number): Promise<boolean> {
    try {
      const bytes = await this.readAt(entry, index);
      return equalBytes(chunkRoot(bytes, entry.layout, index), entry.tree.chunkRootAt(index));
    } catch {
      return false;
    }
  }

  // ---- queries -------------------------------------------------------------------------------

  has(root: Uint8Array | string): boolean {
    return this.entries.has(keyOf(root));
  }

  roots(): string[] {
    return [...this.entries.keys()];
  }

  info(root: Uint8Array | string): StoredFileInfo | undefined {
    const entry = this.entries.get(keyOf(root));
    if (entry === undefined) return undefined;
    return {
      root: entry.rootHex,
      size: entry.layout.size,
      chunkCount: entry.layout.chunkCount,
      completeChunks: entry.completeCount,
      complete: entry.completeCount === entry.layout.chunkCount,
    };
  }

  layout(root: Uint8Array | string): FileLayout {
    return this.entry(root).layout;
  }

  /** Concatenated chunk roots (the manifest), verified against the root when declared. */
  manifest(root: Uint8Array | string): Uint8Array {
    return this.entry(root).tree.chunkRoots;
  }

  /** Bitfield of complete chunks: bit i (MSB-first within each byte) is chunk i. */
  bitfield(root: Uint8Array | string): Uint8Array {
    return this.entry(root).bits.slice();
  }

  hasChunk(root: Uint8Array | string, index: number): boolean {
    const entry = this.entries.get(keyOf(root));
    return entry !== undefined && index >= 0 && index < entry.layout.chunkCount && hasBit(entry.bits, index);
  }

  /** Position proof of a chunk (siblings from its chunk root to the root). */
  proof(root: Uint8Array | string, index: number): Uint8Array[] {
    return this.entry(root).tree.proof(index);
  }

  chunkRootAt(root: Uint8Array | string, index: number): Uint8Array {
    return this.entry(root).tree.chunkRootAt(index);
  }

  async readChunk(root: Uint8Array | string, index: number): Promise<Uint8Array> {
    const entry = this.entry(root);
    if (!hasBit(entry.bits, index)) throw new CofferError(`chunk ${index} of ${entry.rootHex} is not stored`, { code: "missing-chunk" });
    return this.readAt(entry, index);
  }

  private async readAt(entry: Entry, index: number): Promise<Uint8Array> {
    const length = chunkLength(entry.layout, index);
    const bytes = new Uint8Array(length);
    if (length === 0) return bytes;
    const { bytesRead } = await this.handles
      .with(this.dataPath(entry.rootHex), (handle) => handle.read(bytes, 0, length, index * CHUNK_SIZE))
      .catch((error: unknown) => {
        // (a read once close() has closed the data files: the pool opens none for it)
        throw error instanceof FileHandlePoolClosedError ? new CofferError("the store is closed", { code: "store-closed", cause: error }) : error;
      });
    if (bytesRead !== length) throw new CofferError(`chunk ${index} of ${entry.rootHex} is truncated on disk`, { code: "truncated" });
    return bytes;
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Registers a file to hold (or fetch): its size and manifest; the manifest must build up to `root`. */
  async declare(root: Uint8Array, size: number, chunkRoots: Uint8Array): Promise<void> {
    this.assertOpen();
    const rootHex = toHex(root);
    await this.declarationSettled(rootHex);
    if (this.entries.has(rootHex)) {
      const known = this.entries.get(rootHex)!;
      if (known.layout.size !== size) throw new VerificationError(`root ${rootHex} is already stored with size ${known.layout.size}`, { code: "size-mismatch" });
      return;
    }
    const layout = fileLayout(size);
    if (!verifyManifest(root, layout, chunkRoots)) throw new VerificationError(`manifest does not match root ${rootHex}`, { code: "bad-manifest" });
    await this.declaring(rootHex, async () => {
      const entry = newEntry(rootHex, layout, new ChunkTree(layout, chunkRoots.slice()));
      await mkdir(this.dirOf(rootHex), { recursive: true });
      await this.writing(this.dataPath(rootHex), () => this.createDataFile(entry, false));
      await this.putFileRecord(rootHex, size, chunkRoots);
      this.entries.set(rootHex, entry);
    });
  }

  /** Registers `declare` (the work that creates root's entry) so a second declaration waits for it. */
  private async declaring(rootHex: string, declare: () => Promise<void>): Promise<void> {
    const declared = declare();
    this.declarations.set(rootHex, declared);
    try {
      await declared;
    } finally {
      this.declarations.delete(rootHex);
    }
  }

  /** The index records of a held (or fetching) file: its size and its manifest. */
  private async putFileRecord(rootHex: string, size: number, chunkRoots: Uint8Array): Promise<void> {
    await this.db.batch().put(`m!${rootHex}`, Buffer.from(chunkRoots).toString("hex")).put(`f!${rootHex}`, JSON.stringify({ size })).write();
  }

  /**
   * One declaration per root at a time: a second caller (an upload and a download of the same root, or an
   * import) waits for the first, then sees its entry. Callers register theirs with no await in between.
   */
  private async declarationSettled(rootHex: string): Promise<void> {
    while (this.declarations.has(rootHex)) await this.declarations.get(rootHex)!.catch(() => undefined);
  }

  /**
   * Stores chunk `index` durably: written in place, fdatasync'ed, then marked (group commit). Verifies it
   * against the manifest first (pass `computedRoot` when the caller already hashed it). Idempotent.
   */
  async writeChunk(root: Uint8Array | string, index: number, bytes: Uint8Array, computedRoot?: Uint8Array): Promise<void> {
    this.assertOpen();
    const entry = this.entry(root);
    if (!Number.isSafeInteger(index) || index < 0 || index >= entry.layout.chunkCount) throw new VerificationError(`chunk index ${index} out of range`, { code: "bad-index" });
    if (bytes.length !== chunkLength(entry.layout, index)) throw new VerificationError(`chunk ${index} has ${bytes.length} bytes, expected ${chunkLength(entry.layout, index)}`, { code: "bad-length" });
    const actual = computedRoot ?? chunkRoot(bytes, entry.layout, index);
    if (!equalBytes(actual, entry.tree.chunkRootAt(index))) throw new VerificationError(`chunk ${index} of ${entry.rootHex} does not match its root`, { code: "bad-chunk" });
    if (hasBit(entry.bits, index)) return;
    this.inFlightWrites++;
    try {
      // (Two writers of the same chunk write the same verified bytes: harmless.)
      const generation = entry.generation;
      const path = this.dataPath(entry.rootHex);
      await this.writing(path, () => this.handles.with(path, (handle) => handle.write(bytes, 0, bytes.length, index * CHUNK_SIZE)));
      await new Promise<void>((resolve, reject) => {
        this.pending.push({ entry, index, generation, resolve, reject });
        if (this.pending.length >= COMMIT_GROUP_TARGET) this.lingerWake?.();
        this.committing ??= this.commitPending();
      });
    } finally {
      if (--this.inFlightWrites === 0) this.writesDone?.();
    }
  }

  /**
   * Group commit: one fdatasync per data file written since the last commit, then one LevelDB batch with
   * all their markers. Chunks written while a commit runs go into the next one. Each root stands alone: a
   * failed fdatasync fails that root's chunks only, and (Linux marks the lost pages clean, so a later
   * sync would succeed over them) every chunk of it written before the failure, by bumping its generation.
   */
  private async commitPending(): Promise<void> {
    while (this.pending.length > 0) {
      // Linger: chunks arriving one by one (a download from peers capped at a few MiB/s) would each
      // cost an fdatasync; waiting briefly for more lets them share it. A full group (an upload's window
      // of unacknowledged chunks) or close() ends the wait at once.
      if (this.pending.length < COMMIT_GROUP_TARGET && !this.closed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, COMMIT_LINGER_MS);
          this.lingerWake = () => { clearTimeout(timer); resolve(); };
        });
        this.lingerWake = undefined;
      }
      const group = this.pending;
      this.pending = [];
      const failed = new Map<PendingChunk, unknown>();
      const isLive = (p: PendingChunk) => this.entries.get(p.entry.rootHex) === p.entry && p.generation === p.entry.generation;
      for (const p of group) if (!isLive(p)) failed.set(p, this.entries.get(p.entry.rootHex) === p.entry ? new StoreWriteError(`chunk ${p.index} of ${p.entry.rootHex} was written before a failed sync`, { code: "write-failed" }) : new UnknownRootError(p.entry.rootHex));
      for (const entry of new Set(group.filter((p) => !failed.has(p)).map((p) => p.entry))) {
        const path = this.dataPath(entry.rootHex);
        try {
          // (The handle the chunks were written through may have been evicted since: an fdatasync through
          // any descriptor flushes the whole file, and Linux reports a writeback error not yet reported to
          // the next fsync, even through a descriptor opened after the error.)
          await this.writing(path, () => this.handles.with(path, (handle) => this.syncData(handle, path)));
        } catch (error) {
          entry.generation++;
          await this.handles.forget(path);
          for (const p of group) if (p.entry === entry) failed.set(p, error);
        }
      }
      try {
        const batch = this.db.batch();
        for (const p of group) if (!failed.has(p)) batch.put(this.chunkKey(p.entry.rootHex, p.index), "1");
        await batch.write();
      } catch (error) {
        for (const p of group) if (!failed.has(p)) failed.set(p, error);
      }
      for (const p of group) {
        // (A root removed while its markers were being written: remove() deletes them after this commit.)
        const error = failed.get(p) ?? (this.entries.get(p.entry.rootHex) === p.entry ? undefined : new UnknownRootError(p.entry.rootHex));
        if (error !== undefined) { p.reject(error); continue; }
        this.setBit(p.entry, p.index);
        p.resolve();
      }
    }
    this.committing = undefined;
  }

  /** Runs a write to `path`, turning I/O errors into StoreWriteError (`disk-full` for ENOSPC). */
  private async writing<T>(path: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (cause) {
      if (cause instanceof CofferError) throw cause;
      const code = (cause as NodeJS.ErrnoException).code;
      throw new StoreWriteError(code === "ENOSPC" ? "disk full" : `cannot write ${path}`, { code: code === "ENOSPC" ? "disk-full" : "write-failed", cause });
    }
  }

  /**
   * Imports a local file: streams it once in 256 KiB chunks into a staging data file while computing the
   * chunk roots; the staging file becomes the root's data file once the root is known.
   */
  async importFile(path: string): Promise<StoredFileInfo> {
    this.assertOpen();
    const size = (await stat(path)).size;
    const layout = fileLayout(size);
    const staging = join(this.chunksDir, `.import-${randomBytes(6).toString("hex")}`);
    const chunkRoots = new Uint8Array(layout.chunkCount * 32);
    try {
      const out = await this.writing(staging, () => open(staging, "w", 0o600));
      try {
        let index = 0;
        for await (const chunk of readChunks(path)) {
          chunkRoots.set(chunkRoot(chunk, layout, index), index * 32);
          await this.writing(staging, () => out.write(chunk, 0, chunk.length, index * CHUNK_SIZE));
          index++;
        }
        if (size === 0) chunkRoots.set(chunkRoot(new Uint8Array(0), layout, 0), 0);
        await this.writing(staging, () => out.sync());
      } finally {
        await out.close();
      }
      const tree = new ChunkTree(layout, chunkRoots);
      const rootHex = toHex(tree.root);
      // (Registering waits for, and blocks, a declare() of the same root: one of them creates its entry.)
      await this.declarationSettled(rootHex);
      const known = this.entries.get(rootHex);
      if (known === undefined) {
        await this.declaring(rootHex, async () => {
          const entry = newEntry(rootHex, layout, tree);
          // The root first (a crash before the rename leaves a declared, empty root: fetched again, not
          // a data directory nothing knows about), then the data, then its markers.
          await mkdir(this.dirOf(rootHex), { recursive: true });
          await this.putFileRecord(rootHex, size, chunkRoots);
          await this.handles.forget(this.dataPath(rootHex));
          await rename(staging, this.dataPath(rootHex));
          await syncDirectory(this.dirOf(rootHex));
          const batch = this.db.batch();
          for (let i = 0; i < layout.chunkCount; i++) batch.put(this.chunkKey(rootHex, i), "1");
          await batch.write();
          for (let i = 0; i < layout.chunkCount; i++) this.setBit(entry, i);
          this.entries.set(rootHex, entry);
        });
      } else if (known.completeCount < layout.chunkCount) {
        // Partly fetched already (readers may hold its data file open): fill in the missing chunks.
        const source = await open(staging, "r");
        try {
          const missing = Array.from({ length: layout.chunkCount }, (_, i) => i).filter((i) => !hasBit(known.bits, i));
          for (let at = 0; at < missing.length; at += 16) {
            // 16 at a time: they share group commits instead of one fdatasync each
            await Promise.all(missing.slice(at, at + 16).map(async (i) => {
              const bytes = new Uint8Array(chunkLength(layout, i));
              await source.read(bytes, 0, bytes.length, i * CHUNK_SIZE);
              await this.writeChunk(rootHex, i, bytes);
            }));
          }
        } finally {
          await source.close();
        }
      }
      return this.info(rootHex)!;
    } finally {
      await rm(staging, { force: true });
    }
  }

  /** Writes a complete file to `outPath` (a copy of the data file, synced, then renamed into place). */
  async exportFile(root: Uint8Array | string, outPath: string): Promise<void> {
    const entry = this.entry(root);
    if (entry.completeCount !== entry.layout.chunkCount) throw new CofferError(`file ${entry.rootHex} is incomplete (${entry.completeCount}/${entry.layout.chunkCount} chunks)`, { code: "incomplete" });
    const temp = `${outPath}.tmp-${randomBytes(4).toString("hex")}`;
    await this.writing(outPath, async () => {
      try {
        await copyFile(this.dataPath(entry.rootHex), temp);
        const handle = await open(temp, "r+");
        try {
          await handle.chmod(0o644); // (the copy has the store's 0600)
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, outPath);
      } catch (cause) {
        await rm(temp, { force: true });
        throw cause;
      }
    });
  }

  async remove(root: Uint8Array | string): Promise<void> {
    const entry = this.entry(root);
    // Out of the index first (new writes fail with unknown-root), then let a commit under way finish, so
    // none of its markers lands after the deletion below.
    this.entries.delete(entry.rootHex);
    while (this.committing) await this.committing;
    const batch = this.db.batch().del(`f!${entry.rootHex}`).del(`m!${entry.rootHex}`);
    for (let i = 0; i < entry.layout.chunkCount; i++) batch.del(this.chunkKey(entry.rootHex, i));
    await batch.write();
    await this.handles.forget(this.dataPath(entry.rootHex));
    await rm(this.dirOf(entry.rootHex), { recursive: true, force: true });
  }

  /** Where chunk `index` of a root lies on disk (tests use it to corrupt data). */
  chunkLocation(rootHex: string, index: number): { path: string; offset: number; length: number } {
    const entry = this.entry(rootHex);
    return { path: this.dataPath(entry.rootHex), offset: index * CHUNK_SIZE, length: chunkLength(entry.layout, index) };
  }

  private dataPath(rootHex: string): string {
    return join(this.dirOf(rootHex), "data");
  }

  private dirOf(rootHex: string): string {
    return join(this.chunksDir, rootHex.slice(2));
  }

  private chunkKey(rootHex: string, index: number): string {
    return `c!${rootHex}!${String(index).padStart(10, "0")}`;
  }

  private entry(root: Uint8Array | string): Entry {
    const entry = this.entries.get(keyOf(root));
    if (entry === undefined) throw new UnknownRootError(keyOf(root));
    return entry;
  }

  private setBit(entry: Entry, index: number): void {
    if (hasBit(entry.bits, index)) return;
    entry.bits[index >> 3] |= 0x80 >> (index & 7);
    entry.completeCount++;
  }
}

/** A root's in-memory entry with no chunk held yet. */
function newEntry(rootHex: string, layout: FileLayout, tree: ChunkTree): Entry {
  return { rootHex, layout, tree, bits: new Uint8Array(Math.ceil(layout.chunkCount / 8)), completeCount: 0, generation: 0 };
}

/** A commit waits up to this long for more chunks to share its fdatasync... */
const COMMIT_LINGER_MS = 50;
/** ...unless this many are waiting already (the upload protocol allows 8 unacknowledged chunks). */
const COMMIT_GROUP_TARGET = 8;

interface PendingChunk {
  entry: Entry;
  index: number;
  /** The root's generation when the write started (a failed sync bumps it). */
  generation: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** fsync of a directory: makes the names created or renamed in it durable (Linux). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function hasBit(bits: Uint8Array, index: number): boolean {
  return (bits[index >> 3] & (0x80 >> (index & 7))) !== 0;
}

function keyOf(root: Uint8Array | string): string {
  if (typeof root !== "string") return toHex(root);
  const parsed = parseRoot(root);
  return parsed === undefined ? root : toHex(parsed);
}

/** Yields a file's bytes in CHUNK_SIZE pieces (the last may be short). */
async function* readChunks(path: string): AsyncGenerator<Uint8Array> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of createReadStream(path, { highWaterMark: CHUNK_SIZE })) {
    pending = pending.length === 0 ? (piece as Buffer) : Buffer.concat([pending, piece as Buffer]);
    while (pending.length >= CHUNK_SIZE) {
      yield new Uint8Array(pending.subarray(0, CHUNK_SIZE));
      pending = pending.subarray(CHUNK_SIZE);
    }
  }
  if (pending.length > 0) yield new Uint8Array(pending);
}
