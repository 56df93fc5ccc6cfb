import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { ChunkTree, chunkLength, chunkRoot, verifyManifest } from "../content/chunk-proofs.js";
import { BaseError, StoreWriteError, UnknownRootError, VerificationError } from "../p2p/errors.js";
import { parseRoot, toHex } from "../p2p/hex.js";
import { CHUNK_SIZE } from "../proofs/constants.js";
import { fileLayout, type FileLayout } from "../proofs/layout.js";
import { equalBytes } from "../proofs/merkle.js";
import type { Database } from "./database.js";

/**
 * Content store: chunks as files under `<dataDir>/chunks/<root>/<index>.chunk`, index in LevelDB.
 *
 * LevelDB keys (sublevel "store"):
 *   f!<root>            JSON { size }                 — a file we hold or are fetching
 *   m!<root>            hex of the chunk roots         — the manifest, verified against root (= commD)
 *   c!<root>!<index>    "1"                            — chunk complete: written AFTER the chunk file is
 *                                                       fsynced and renamed into place
 * A crash mid-write leaves at worst a `*.tmp-*` file (removed on open) or a renamed chunk without its
 * marker (verified and marked on open). A marker never points at a half chunk.
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
}

export interface ChunkStoreOptions {
  logger?: Logger;
  /** Re-hash every chunk on open (default true): detects bit rot and half writes. */
  verifyOnOpen?: boolean;
}

export interface StoreEvents {
  /** Called after a chunk is durably stored. */
  onChunk?: (rootHex: string, index: number) => void;
}

export class ChunkStore {
  private readonly entries = new Map<string, Entry>();
  private readonly db;
  readonly chunksDir: string;
  listener: StoreEvents = {};

  private constructor(database: Database, dataDir: string, private readonly logger?: Logger) {
    this.db = database.sublevel<string, string>("store", { valueEncoding: "utf8" });
    this.chunksDir = join(dataDir, "chunks");
  }

  static async open(database: Database, dataDir: string, options: ChunkStoreOptions = {}): Promise<ChunkStore> {
    const store = new ChunkStore(database, dataDir, options.logger);
    await mkdir(store.chunksDir, { recursive: true });
    await store.load(options.verifyOnOpen ?? true);
    return store;
  }

  /** Loads the index, removes temp files, and reconciles markers with what is on disk. */
  private async load(verify: boolean): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gte: "f!", lt: "f!\xff" })) {
      const rootHex = key.slice(2);
      const manifestHex = await this.db.get(`m!${rootHex}`);
      if (manifestHex === undefined) continue;
      const layout = fileLayout((JSON.parse(value) as { size: number }).size);
      const tree = new ChunkTree(layout, new Uint8Array(Buffer.from(manifestHex, "hex")));
      this.entries.set(rootHex, { rootHex, layout, tree, bits: new Uint8Array(Math.ceil(layout.chunkCount / 8)), completeCount: 0 });
    }
    for (const entry of this.entries.values()) {
      const marked = new Set<number>();
      for await (const key of this.db.keys({ gte: `c!${entry.rootHex}!`, lt: `c!${entry.rootHex}!\xff` })) marked.add(Number(key.split("!")[2]));
      const dir = this.dirOf(entry.rootHex);
      await mkdir(dir, { recursive: true });
      const onDisk = new Set<number>();
      for (const name of await readdir(dir)) {
        if (name.includes(".tmp-")) await rm(join(dir, name), { force: true });
        else if (name.endsWith(".chunk")) onDisk.add(Number(name.slice(0, -6)));
      }
      const batch = this.db.batch();
      for (let index = 0; index < entry.layout.chunkCount; index++) {
        const present = onDisk.has(index);
        let good = present && (marked.has(index) || verify);
        if (good && verify) good = await this.chunkMatches(entry, index);
        if (good) {
          this.setBit(entry, index);
          if (!marked.has(index)) batch.put(this.chunkKey(entry.rootHex, index), "1");
        } else {
          if (marked.has(index)) batch.del(this.chunkKey(entry.rootHex, index));
          if (present) await rm(this.chunkPath(entry.rootHex, index), { force: true });
          if (present || marked.has(index)) this.logger?.warn({ root: entry.rootHex, index }, "dropped a chunk that failed verification on open");
        }
      }
      await batch.write();
    }
  }

  private async chunkMatches(entry: Entry, index: number): Promise<boolean> {
    try {
      const bytes = await readFile(this.chunkPath(entry.rootHex, index));
      return bytes.length === chunkLength(entry.layout, index) && equalBytes(chunkRoot(bytes, entry.layout), entry.tree.chunkRootAt(index));
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
    if (!hasBit(entry.bits, index)) throw new BaseError(`chunk ${index} of ${entry.rootHex} is not stored`, { code: "missing-chunk" });
    const data = await readFile(this.chunkPath(entry.rootHex, index));
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // a view: no 256 KiB copy per read
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Registers a file to hold (or fetch): its size and manifest; the manifest must build up to `root`. */
  async declare(root: Uint8Array, size: number, chunkRoots: Uint8Array): Promise<void> {
    const rootHex = toHex(root);
    if (this.entries.has(rootHex)) {
      const known = this.entries.get(rootHex)!;
      if (known.layout.size !== size) throw new VerificationError(`root ${rootHex} is already stored with size ${known.layout.size}`, { code: "size-mismatch" });
      return;
    }
    const layout = fileLayout(size);
    if (!verifyManifest(root, layout, chunkRoots)) throw new VerificationError(`manifest does not match root ${rootHex}`, { code: "bad-manifest" });
    await mkdir(this.dirOf(rootHex), { recursive: true });
    await this.db.batch().put(`m!${rootHex}`, Buffer.from(chunkRoots).toString("hex")).put(`f!${rootHex}`, JSON.stringify({ size })).write();
    this.entries.set(rootHex, { rootHex, layout, tree: new ChunkTree(layout, chunkRoots.slice()), bits: new Uint8Array(Math.ceil(layout.chunkCount / 8)), completeCount: 0 });
  }

  /**
   * Stores chunk `index` durably (temp file, fsync, rename, then the marker). Verifies it against the
   * manifest first (pass `computedRoot` when the caller already hashed it). Idempotent.
   */
  async writeChunk(root: Uint8Array | string, index: number, bytes: Uint8Array, computedRoot?: Uint8Array): Promise<void> {
    const entry = this.entry(root);
    if (!Number.isSafeInteger(index) || index < 0 || index >= entry.layout.chunkCount) throw new VerificationError(`chunk index ${index} out of range`, { code: "bad-index" });
    if (bytes.length !== chunkLength(entry.layout, index)) throw new VerificationError(`chunk ${index} has ${bytes.length} bytes, expected ${chunkLength(entry.layout, index)}`, { code: "bad-length" });
    const actual = computedRoot ?? chunkRoot(bytes, entry.layout);
    if (!equalBytes(actual, entry.tree.chunkRootAt(index))) throw new VerificationError(`chunk ${index} of ${entry.rootHex} does not match its root`, { code: "bad-chunk" });
    if (hasBit(entry.bits, index)) return;
    await this.writeAtomically(this.chunkPath(entry.rootHex, index), bytes);
    await this.db.put(this.chunkKey(entry.rootHex, index), "1");
    if (!hasBit(entry.bits, index)) {
      this.setBit(entry, index);
      this.listener.onChunk?.(entry.rootHex, index);
    }
  }

  private async writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      const handle = await open(temp, "w", 0o600);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (cause) {
      await rm(temp, { force: true });
      const code = (cause as NodeJS.ErrnoException).code;
      throw new StoreWriteError(code === "ENOSPC" ? "disk full" : `cannot write ${path}`, { code: code === "ENOSPC" ? "disk-full" : "write-failed", cause });
    }
  }

  /**
   * Imports a local file: streams it once in 256 KiB chunks, computing chunk roots and writing chunk
   * files into a staging directory that is renamed into place once the root is known.
   */
  async importFile(path: string): Promise<StoredFileInfo> {
    const size = (await stat(path)).size;
    const layout = fileLayout(size);
    const staging = join(this.chunksDir, `.import-${randomBytes(6).toString("hex")}`);
    await mkdir(staging, { recursive: true });
    const chunkRoots = new Uint8Array(layout.chunkCount * 32);
    try {
      let index = 0;
      for await (const chunk of readChunks(path)) {
        chunkRoots.set(chunkRoot(chunk, layout), index * 32);
        await this.writeAtomically(join(staging, `${index}.chunk`), chunk);
        index++;
      }
      if (size === 0) {
        chunkRoots.set(chunkRoot(new Uint8Array(0), layout), 0);
        await this.writeAtomically(join(staging, "0.chunk"), new Uint8Array(0));
      }
      const tree = new ChunkTree(layout, chunkRoots);
      const rootHex = toHex(tree.root);
      if (this.entries.get(rootHex)?.completeCount === layout.chunkCount) return this.info(rootHex)!;
      if (!this.entries.has(rootHex)) await this.declare(tree.root, size, chunkRoots);
      for (let i = 0; i < layout.chunkCount; i++) {
        if (hasBit(this.entries.get(rootHex)!.bits, i)) continue;
        await rename(join(staging, `${i}.chunk`), this.chunkPath(rootHex, i));
      }
      const entry = this.entries.get(rootHex)!;
      const batch = this.db.batch();
      for (let i = 0; i < layout.chunkCount; i++) if (!hasBit(entry.bits, i)) { batch.put(this.chunkKey(rootHex, i), "1"); this.setBit(entry, i); }
      await batch.write();
      return this.info(rootHex)!;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Writes a complete file to `outPath` (temp file + rename). */
  async exportFile(root: Uint8Array | string, outPath: string): Promise<void> {
    const entry = this.entry(root);
    if (entry.completeCount !== entry.layout.chunkCount) throw new BaseError(`file ${entry.rootHex} is incomplete (${entry.completeCount}/${entry.layout.chunkCount} chunks)`, { code: "incomplete" });
    const temp = `${outPath}.tmp-${randomBytes(4).toString("hex")}`;
    const handle = await open(temp, "w", 0o644);
    try {
      for (let i = 0; i < entry.layout.chunkCount; i++) await handle.write(await readFile(this.chunkPath(entry.rootHex, i)));
      await handle.sync();
    } catch (cause) {
      await handle.close();
      await rm(temp, { force: true });
      const code = (cause as NodeJS.ErrnoException).code;
      throw new StoreWriteError(code === "ENOSPC" ? "disk full" : `cannot write ${outPath}`, { code: code === "ENOSPC" ? "disk-full" : "write-failed", cause });
    }
    await handle.close();
    await rename(temp, outPath);
  }

  async remove(root: Uint8Array | string): Promise<void> {
    const entry = this.entry(root);
    const batch = this.db.batch().del(`f!${entry.rootHex}`).del(`m!${entry.rootHex}`);
    for (let i = 0; i < entry.layout.chunkCount; i++) batch.del(this.chunkKey(entry.rootHex, i));
    await batch.write();
    this.entries.delete(entry.rootHex);
    await rm(this.dirOf(entry.rootHex), { recursive: true, force: true });
  }

  /** Path of a stored chunk (tests use it to corrupt data on disk). */
  chunkPath(rootHex: string, index: number): string {
    return join(this.dirOf(rootHex), `${index}.chunk`);
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
