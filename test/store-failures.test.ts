import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { open, readdir, readlink, realpath, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { ChunkTree, chunkLength, chunkRoot } from "../node/proofs/chunks.js";
import { StoreWriteError } from "../node/p2p/errors.js";
import { toHex } from "../node/proofs/words.js";
import { CHUNK_SIZE } from "../node/proofs/constants.js";
import { fileLayout } from "../node/proofs/layout.js";
import { ChunkStore, type ChunkStoreOptions } from "../node/store/chunk-store.js";
import { openDatabase, type Database } from "../node/store/database.js";
import { Harness } from "./helpers/p2p-harness.js";

/** A file to be fetched chunk by chunk: its bytes, root and manifest, computed here (no store involved). */
function fileOf(size: number) {
  const bytes = randomBytes(size);
  const layout = fileLayout(size);
  const chunk = (i: number) => bytes.subarray(i * CHUNK_SIZE, i * CHUNK_SIZE + chunkLength(layout, i));
  const manifest = new Uint8Array(layout.chunkCount * 32);
  for (let i = 0; i < layout.chunkCount; i++) manifest.set(chunkRoot(chunk(i), layout, i), i * 32);
  const root = new ChunkTree(layout, manifest).root;
  return { bytes, size, root, rootHex: toHex(root), manifest, chunkCount: layout.chunkCount, chunk };
}
type TestFile = ReturnType<typeof fileOf>;

/** Indices of the chunks of `file` marked complete in the LevelDB index. */
async function markers(db: Database, file: TestFile): Promise<number[]> {
  const index = db.sublevel<string, string>("store", { valueEncoding: "utf8" });
  const found: number[] = [];
  for await (const key of index.keys({ gte: `c!${file.rootHex}!`, lt: `c!${file.rootHex}!\xff` })) found.push(Number(key.split("!")[2]));
  return found;
}

/** Descriptors this process holds open on files under `dir/chunks` (what the kernel says, not the pool). */
async function openDataFiles(dir: string): Promise<number> {
  const chunks = join(await realpath(dir), "chunks") + "/";
  let count = 0;
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(join("/proc/self/fd", fd)).catch(() => "");
    if (target.startsWith(chunks)) count++;
  }
  return count;
}

function eio(): Error {
  return Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO", errno: -5, syscall: "fdatasync" });
}

describe("store failure paths: failed fdatasync, file handle pool", function () {
  this.timeout(60_000);
  const harness = new Harness();
  afterEach(() => harness.cleanup());

  async function openStore(dir: string, options: ChunkStoreOptions = {}) {
    const db = await openDatabase(dir);
    return { db, store: await ChunkStore.open(db, dir, options) };
  }

  it("a failed fdatasync (EIO) fails that root's chunks only, leaves no marker, and the chunks can be written again", async () => {
    const dir = await harness.dir();
    const a = fileOf(4 * CHUNK_SIZE + 100);
    const b = fileOf(4 * CHUNK_SIZE);
    const synced: string[] = [];
    let failSyncOf: string | undefined;
    const syncData = async (handle: FileHandle, path: string) => {
      synced.push(path);
      if (path === failSyncOf) throw eio();
      await handle.datasync();
    };
    let { db, store } = await openStore(dir, { syncData });
    await store.declare(a.root, a.size, a.manifest);
    await store.declare(b.root, b.size, b.manifest);
    const pathA = store.chunkLocation(a.rootHex, 0).path;
    const pathB = store.chunkLocation(b.rootHex, 0).path;

    // Four chunks of each root at once: eight waiting chunks make one commit group (one sync per root).
    failSyncOf = pathA;
    const results = await Promise.allSettled([0, 1, 2, 3].flatMap((i) => [store.writeChunk(a.rootHex, i, a.chunk(i)), store.writeChunk(b.rootHex, i, b.chunk(i))]));
    failSyncOf = undefined;
    assert.deepEqual([...synced].sort(), [pathA, pathB].sort(), "one commit: one sync of each data file");
    const [ofA, ofB] = [results.filter((_, k) => k % 2 === 0), results.filter((_, k) => k % 2 === 1)];
    for (const result of ofA) {
      assert.equal(result.status, "rejected");
      const error = (result as PromiseRejectedResult).reason as StoreWriteError;
      assert.ok(error instanceof StoreWriteError, `a StoreWriteError, got ${String(error)}`);
      assert.equal(error.code, "write-failed");
      assert.equal((error.cause as NodeJS.ErrnoException).code, "EIO");
      assert.equal(error.shortMessage, `cannot write ${pathA}`);
    }
    assert.deepEqual(ofB.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    assert.deepEqual(await markers(db, a), [], "no marker of A's chunks");
    assert.deepEqual(await markers(db, b), [0, 1, 2, 3]);
    assert.equal(store.info(a.rootHex)?.completeChunks, 0);
    assert.equal(store.hasChunk(a.rootHex, 0), false);
    await assert.rejects(store.readChunk(a.rootHex, 0), { code: "missing-chunk" });
    assert.equal(store.info(b.rootHex)?.complete, true);

    // A write to A after the failure goes through: a failed chunk again, and one never written before.
    await store.writeChunk(a.rootHex, 0, a.chunk(0));
    await store.writeChunk(a.rootHex, 4, a.chunk(4));
    assert.deepEqual(store.bitfield(a.rootHex), Uint8Array.of(0x88));
    assert.deepEqual(Buffer.from(await store.readChunk(a.rootHex, 4)), a.chunk(4));
    await store.close();
    await db.close();

    // After a restart (index as written, no re-hashing): A holds exactly the chunks written after the
    // failure; B is complete and reads back.
    ({ db, store } = await openStore(dir, { verifyOnOpen: false }));
    assert.deepEqual(await markers(db, a), [0, 4]);
    assert.deepEqual(store.bitfield(a.rootHex), Uint8Array.of(0x88));
    assert.deepEqual(store.bitfield(b.rootHex), Uint8Array.of(0xf0));
    for (let i = 0; i < b.chunkCount; i++) assert.deepEqual(Buffer.from(await store.readChunk(b.rootHex, i)), b.chunk(i));
    // The chunks that failed are simply missing: written again, they are held.
    await Promise.all([1, 2, 3].map((i) => store.writeChunk(a.rootHex, i, a.chunk(i))));
    assert.equal(store.info(a.rootHex)?.complete, true);
    for (let i = 0; i < a.chunkCount; i++) assert.deepEqual(Buffer.from(await store.readChunk(a.rootHex, i)), a.chunk(i));
    await store.close();
    await db.close();
  });

  it("a chunk written while its root's sync is failing fails too; one written after the failure is held", async () => {
    const dir = await harness.dir();
    const a = fileOf(2 * CHUNK_SIZE);
    let pathA = "";
    let failing = true;
    let syncOfAStarted!: () => void;
    const syncStarted = new Promise<void>((resolve) => (syncOfAStarted = resolve));
    let releaseSync!: () => void;
    const syncReleased = new Promise<void>((resolve) => (releaseSync = resolve));
    const syncData = async (handle: FileHandle, path: string) => {
      if (path === pathA && failing) {
        syncOfAStarted();
        await syncReleased;
        failing = false;
        throw eio();
      }
      await handle.datasync();
    };
    const { db, store } = await openStore(dir, { syncData });
    await store.declare(a.root, a.size, a.manifest);
    pathA = store.chunkLocation(a.rootHex, 0).path;
    const first = store.writeChunk(a.rootHex, 0, a.chunk(0));
    await syncStarted;
    // Its bytes go to the file while the sync that will fail runs: they may be among the lost pages.
    const during = store.writeChunk(a.rootHex, 1, a.chunk(1));
    releaseSync();
    await assert.rejects(first, (error: StoreWriteError) => error.code === "write-failed" && (error.cause as NodeJS.ErrnoException).code === "EIO");
    await assert.rejects(during, { name: "StoreWriteError", code: "write-failed", shortMessage: `chunk 1 of ${a.rootHex} was written before a failed sync` });
    assert.deepEqual(await markers(db, a), []);
    await store.writeChunk(a.rootHex, 1, a.chunk(1));
    assert.deepEqual(await markers(db, a), [1]);
    assert.deepEqual(store.bitfield(a.rootHex), Uint8Array.of(0x40));
    await store.close();
    await db.close();
  });

  it("on open, good chunk bytes without a marker are marked only once their data file syncs", async () => {
    const dir = await harness.dir();
    const a = fileOf(3 * CHUNK_SIZE);
    let { db, store } = await openStore(dir);
    await store.declare(a.root, a.size, a.manifest);
    await store.writeChunk(a.rootHex, 0, a.chunk(0));
    const { path, offset } = store.chunkLocation(a.rootHex, 2);
    await store.close();
    await db.close();
    // A crash between writing chunk 2 in place and its commit: the bytes are there, unmarked.
    const raw = await open(path, "r+");
    await raw.write(a.chunk(2), 0, CHUNK_SIZE, offset);
    await raw.close();

    // Its data file cannot be synced: chunk 2 is not taken as held (its bytes may exist only in the page cache).
    const syncing = async (handle: FileHandle, synced: string) => {
      if (synced === path) throw eio();
      await handle.datasync();
    };
    ({ db, store } = await openStore(dir, { syncData: syncing }));
    assert.deepEqual(store.bitfield(a.rootHex), Uint8Array.of(0x80));
    assert.deepEqual(await markers(db, a), [0]);
    await store.close();
    await db.close();

    // Once it syncs, the verified chunk is marked.
    const synced: string[] = [];
    ({ db, store } = await openStore(dir, { syncData: async (handle, at) => { synced.push(at); await handle.datasync(); } }));
    assert.deepEqual(synced, [path]);
    assert.deepEqual(store.bitfield(a.rootHex), Uint8Array.of(0xa0));
    assert.deepEqual(await markers(db, a), [0, 2]);
    assert.deepEqual(Buffer.from(await store.readChunk(a.rootHex, 2)), a.chunk(2));
    await store.close();
    await db.close();
  });

  it("a pool of 2 file handles serves 6 roots written and read interleaved, never holding more than 2 open", async () => {
    const dir = await harness.dir();
    const files = Array.from({ length: 6 }, (_, r) => fileOf(2 * CHUNK_SIZE + 1000 + r));
    let { db, store } = await openStore(dir, { maxOpenFiles: 2 });
    for (const f of files) await store.declare(f.root, f.size, f.manifest);
    assert.deepEqual(store.openFiles(), { open: 0, max: 2, peak: 0 });

    await Promise.all(files.map((f) => store.writeChunk(f.rootHex, 0, f.chunk(0))));
    // Chunk 1 of every root while chunk 0 of every root is read back (most of those roots' handles were
    // evicted by then), then chunk 2 while chunk 1 is read back.
    for (const i of [1, 2]) {
      const reads = await Promise.all(files.flatMap((f) => [store.writeChunk(f.rootHex, i, f.chunk(i)).then(() => undefined), store.readChunk(f.rootHex, i - 1)]));
      files.forEach((f, r) => assert.deepEqual(Buffer.from(reads[2 * r + 1]!), f.chunk(i - 1), `root ${r} chunk ${i - 1}`));
    }
    for (const f of files) for (let i = 0; i < f.chunkCount; i++) assert.deepEqual(Buffer.from(await store.readChunk(f.rootHex, i)), f.chunk(i));
    assert.equal(store.openFiles().peak, 2, "the cap was reached and never passed");
    assert.equal(await openDataFiles(dir), store.openFiles().open, "the pool's count is the kernel's");
    assert.ok(store.openFiles().open <= 2);
    await store.close();
    assert.equal(store.openFiles().open, 0);
    assert.equal(await openDataFiles(dir), 0, "close leaves no data file open");
    // A read after close is refused instead of reopening a data file nothing would close.
    await assert.rejects(store.readChunk(files[0]!.rootHex, 0), (e: Error & { code?: string }) => e.code === "store-closed");
    assert.equal(await openDataFiles(dir), 0);
    await db.close();

    // After a restart, every chunk is marked, and re-hashing all 18 chunks on open stays within the cap.
    ({ db, store } = await openStore(dir, { maxOpenFiles: 2 }));
    for (const f of files) {
      assert.deepEqual(await markers(db, f), [0, 1, 2]);
      assert.equal(store.info(f.rootHex)?.complete, true);
    }
    assert.ok(store.openFiles().peak <= 2, `peak ${store.openFiles().peak}`);
    await store.close();
    await db.close();
  });

  it("a handle in use is not evicted: a read of another root waits for the sync under way on the only handle", async () => {
    const dir = await harness.dir();
    const a = fileOf(CHUNK_SIZE);
    const b = fileOf(CHUNK_SIZE);
    let pathA = "";
    let syncOfAStarted!: () => void;
    const syncStarted = new Promise<void>((resolve) => (syncOfAStarted = resolve));
    let releaseSync!: () => void;
    const syncReleased = new Promise<void>((resolve) => (releaseSync = resolve));
    const syncData = async (handle: FileHandle, path: string) => {
      if (path === pathA) {
        syncOfAStarted();
        await syncReleased;
      }
      await handle.datasync(); // EBADF if the handle had been closed meanwhile
    };
    const { db, store } = await openStore(dir, { maxOpenFiles: 1, syncData });
    await store.declare(a.root, a.size, a.manifest);
    await store.declare(b.root, b.size, b.manifest);
    pathA = store.chunkLocation(a.rootHex, 0).path;
    await store.writeChunk(b.rootHex, 0, b.chunk(0));

    const writeA = store.writeChunk(a.rootHex, 0, a.chunk(0));
    await syncStarted;
    let readSettled = false;
    const readB = store.readChunk(b.rootHex, 0).finally(() => (readSettled = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(readSettled, false, "the read waits for the handle in use");
    assert.deepEqual(store.openFiles(), { open: 1, max: 1, peak: 1 });
    releaseSync();
    await writeA;
    assert.deepEqual(Buffer.from(await readB), b.chunk(0));
    assert.equal(store.hasChunk(a.rootHex, 0), true);
    assert.equal(store.openFiles().peak, 1);
    await store.close();
    await db.close();
  });

  it("close() refuses a read waiting for a free handle instead of letting it reopen a file, and waits for the read under way", async () => {
    const dir = await harness.dir();
    const a = fileOf(CHUNK_SIZE);
    const b = fileOf(CHUNK_SIZE);
    const { db, store } = await openStore(dir, { maxOpenFiles: 1 });
    for (const f of [a, b]) {
      await store.declare(f.root, f.size, f.manifest);
      await store.writeChunk(f.rootHex, 0, f.chunk(0));
    }
    await store.readChunk(a.rootHex, 0); // A's handle is now the pooled one
    const readA = store.readChunk(a.rootHex, 0); // holds the only handle
    const readB = store.readChunk(b.rootHex, 0).then(() => "read", (e: Error & { code?: string }) => e.code); // waits for it
    await store.close();
    assert.deepEqual(Buffer.from(await readA), a.chunk(0), "the read under way completes");
    assert.equal(await readB, "store-closed");
    assert.equal(store.openFiles().open, 0);
    assert.equal(await openDataFiles(dir), 0, "no data file left open");
    await db.close();
  });
});
