import assert from "node:assert/strict";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Choker } from "../node/download/choker.js";
import { ChunkStore } from "../node/store/chunk-store.js";
import { openDatabase } from "../node/store/database.js";
import { Harness, hexToBytes, mesh } from "./helpers/p2p-harness.js";

describe("p2p store and user-to-user sharing", function () {
  this.timeout(120_000);
  const harness = new Harness();
  afterEach(() => harness.cleanup());

  it("store: verifies writes, and on open re-checks chunks against the manifest", async () => {
    const dir = await harness.dir();
    const { path, bytes } = await harness.file(3 * 262144 + 10);
    let db = await openDatabase(dir);
    let store = await ChunkStore.open(db, dir);
    const src = await store.importFile(path);
    const manifest = store.manifest(src.root);
    // A second file declared for download: chunks arrive one by one.
    const dir2 = await harness.dir();
    const db2 = await openDatabase(dir2);
    const store2 = await ChunkStore.open(db2, dir2);
    await assert.rejects(store2.declare(hexToBytes(src.root), src.size, manifest.subarray(32)), { code: "bad-manifest" });
    await store2.declare(hexToBytes(src.root), src.size, manifest);
    await assert.rejects(store2.writeChunk(src.root, 0, new Uint8Array(262144)), { code: "bad-chunk" });
    await assert.rejects(store2.writeChunk(src.root, 3, new Uint8Array(5)), { code: "bad-length" });
    await assert.rejects(store2.writeChunk(src.root, 4, new Uint8Array(5)), { code: "bad-index" });
    await store2.writeChunk(src.root, 1, bytes.subarray(262144, 2 * 262144));
    assert.deepEqual(store2.info(src.root), { root: src.root, size: src.size, chunkCount: 4, completeChunks: 1, complete: false });
    // Concurrent writes share group commits; each resolves only once its chunk is marked.
    await Promise.all([0, 2, 3].map((i) => store2.writeChunk(src.root, i, bytes.subarray(i * 262144, Math.min(bytes.length, (i + 1) * 262144)))));
    assert.deepEqual(store2.bitfield(src.root), Uint8Array.of(0xf0));
    const exported = join(dir2, "out.bin");
    await store2.exportFile(src.root, exported);
    assert.deepEqual(await readFile(exported), bytes);
    await store2.close();
    await db2.close();

    // Crash cases on the first store: chunk bytes written in place whose marker was never written, and a
    // marked chunk that rotted on disk.
    await store.remove(src.root);
    const again = await store.importFile(path);
    const rotten = store.chunkLocation(again.root, 0);
    await store.close();
    await db.close();
    db = await openDatabase(dir);
    const idx = db.sublevel<string, string>("store", { valueEncoding: "utf8" });
    await idx.del(`c!${again.root}!${"2".padStart(10, "0")}`);
    const data = await readFile(rotten.path);
    data[rotten.offset + 7] ^= 1;
    await writeFile(rotten.path, data);
    store = await ChunkStore.open(db, dir);
    assert.equal(store.hasChunk(again.root, 2), true, "verified and re-marked");
    assert.equal(store.hasChunk(again.root, 0), false, "rotten chunk dropped");
    assert.equal(store.info(again.root)?.completeChunks, 3);
    await store.close();
    await db.close();
  });

  it("store: moves a data directory from one file per chunk into the single data file", async () => {
    const dir = await harness.dir();
    const { path, bytes } = await harness.file(2 * 262144 + 77);
    let db = await openDatabase(dir);
    let store = await ChunkStore.open(db, dir);
    const info = await store.importFile(path);
    const { path: dataPath } = store.chunkLocation(info.root, 0);
    await store.close();
    await db.close();
    // The former layout: <index>.chunk files, plus a temp file of an interrupted write.
    const chunkDir = join(dir, "chunks", info.root.slice(2));
    for (let i = 0; i < info.chunkCount; i++) await writeFile(join(chunkDir, `${i}.chunk`), bytes.subarray(i * 262144, Math.min(bytes.length, (i + 1) * 262144)));
    await writeFile(join(chunkDir, "1.chunk.tmp-1-dead"), Buffer.alloc(10));
    await rm(dataPath);
    db = await openDatabase(dir);
    store = await ChunkStore.open(db, dir);
    assert.equal(store.info(info.root)?.complete, true);
    assert.deepEqual(await readdir(chunkDir), ["data"]);
    assert.deepEqual(await readFile(dataPath), bytes);
    assert.deepEqual(Buffer.from(await store.readChunk(info.root, 2)), bytes.subarray(2 * 262144));
    await store.close();
    await db.close();

    // A marked chunk whose file was lost (its rename never reached the disk) is not held after the move,
    // even without verification.
    await writeFile(join(chunkDir, "0.chunk"), bytes.subarray(0, 262144));
    await writeFile(join(chunkDir, "2.chunk"), bytes.subarray(2 * 262144));
    await rm(dataPath);
    db = await openDatabase(dir);
    store = await ChunkStore.open(db, dir, { verifyOnOpen: false });
    assert.deepEqual(store.bitfield(info.root), Uint8Array.of(0xa0), "chunks 0 and 2 held, 1 not");
    await store.close();
    await db.close();
  });

  it("store: remove and close while writes are under way; concurrent declares; truncated data; exports 0644", async () => {
    const dir = await harness.dir();
    const a = await harness.file(6 * 262144);
    const b = await harness.file(6 * 262144 + 3);
    let db = await openDatabase(dir);
    let store = await ChunkStore.open(db, dir);
    // Import into a scratch store to learn roots and manifests, then declare both here (twice at once).
    const scratchDir = await harness.dir();
    const scratchDb = await openDatabase(scratchDir);
    const scratch = await ChunkStore.open(scratchDb, scratchDir);
    const infoA = await scratch.importFile(a.path);
    const infoB = await scratch.importFile(b.path);
    const manifestA = scratch.manifest(infoA.root);
    const manifestB = scratch.manifest(infoB.root);
    await scratch.close();
    await scratchDb.close();
    await Promise.all([store.declare(hexToBytes(infoA.root), infoA.size, manifestA), store.declare(hexToBytes(infoA.root), infoA.size, manifestA), store.declare(hexToBytes(infoB.root), infoB.size, manifestB)]);
    const chunk = (bytes: Buffer, i: number) => bytes.subarray(i * 262144, Math.min(bytes.length, (i + 1) * 262144));
    await store.writeChunk(infoA.root, 0, chunk(a.bytes, 0));
    await store.declare(hexToBytes(infoA.root), infoA.size, manifestA); // a late second declare truncates nothing
    assert.deepEqual(Buffer.from(await store.readChunk(infoA.root, 0)), chunk(a.bytes, 0));

    // Remove A while chunks of A and B are being written: B's all land, A leaves no marker behind.
    const writesA = [1, 2, 3, 4, 5].map((i) => store.writeChunk(infoA.root, i, chunk(a.bytes, i)).then(() => "ok", (e: { code?: string }) => e.code));
    const writesB = [0, 1, 2, 3, 4, 5, 6].map((i) => store.writeChunk(infoB.root, i, chunk(b.bytes, i)));
    await store.remove(infoA.root);
    await Promise.all(writesB);
    for (const outcome of await Promise.all(writesA)) assert.ok(outcome === "ok" || outcome === "unknown-root", String(outcome));
    assert.equal(store.has(infoA.root), false);
    const idx = db.sublevel<string, string>("store", { valueEncoding: "utf8" });
    const leftover: string[] = [];
    for await (const key of idx.keys({ gte: `c!${infoA.root}!`, lt: `c!${infoA.root}!\xff` })) leftover.push(key);
    assert.deepEqual(leftover, [], "no marker of the removed root");
    assert.equal(store.info(infoB.root)?.complete, true);

    // Exports are readable by others, as before.
    const exported = join(dir, "b.out");
    await store.exportFile(infoB.root, exported);
    assert.deepEqual(await readFile(exported), b.bytes);
    assert.equal((await stat(exported)).mode & 0o777, 0o644);

    // Close while a write is under way: it finishes or fails cleanly, and later writes are refused.
    await store.declare(hexToBytes(infoA.root), infoA.size, manifestA);
    const racing = store.writeChunk(infoA.root, 1, chunk(a.bytes, 1)).then(() => "ok", (e: { code?: string }) => e.code);
    await store.close();
    assert.ok(["ok", "store-closed"].includes(String(await racing)));
    await assert.rejects(store.writeChunk(infoA.root, 2, chunk(a.bytes, 2)), { code: "store-closed" });
    await db.close();

    // A data file cut short (chunks 3.. of B gone): those are no longer held after a restart, even unverified.
    const { path: dataB } = store.chunkLocation(infoB.root, 0);
    await truncate(dataB, 3 * 262144 + 10);
    db = await openDatabase(dir);
    store = await ChunkStore.open(db, dir, { verifyOnOpen: false });
    assert.deepEqual(store.bitfield(infoB.root), Uint8Array.of(0xe0));
    assert.equal((await stat(dataB)).size, infoB.size, "re-extended to the file size");
    await store.close();
    await db.close();
  });

  it("choker: unchokes the fastest uploaders plus one optimistic peer", async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair("Ed25519"))));
    const choker = new Choker({ slots: 1, optimisticEvery: 1 });
    // While no more peers than slots + 1 are interested, nobody is choked.
    assert.deepEqual(ids.slice(0, 2).map((id) => choker.isUnchoked(id)), [true, true]);
    for (const id of ids.slice(2)) choker.isUnchoked(id); // now four are interested
    choker.recordReceived(ids[2], 10_000_000);
    choker.recordReceived(ids[0], 1_000);
    choker.evaluate();
    assert.equal(choker.isUnchoked(ids[2]), true, "fastest uploader unchoked");
    const unchoked = ids.filter((id) => choker.isUnchoked(id));
    assert.equal(unchoked.length, 2, "one regular slot + one optimistic unchoke");
  });

  it("users fetch from each other (a super-seeding seed sends each chunk about once)", async () => {
    const seed = await harness.node({ role: "lessor", superSeed: true, uploadLimit: 2 * 1024 * 1024 });
    const users = await Promise.all([0, 1, 2].map(() => harness.node({ role: "user", uploadLimit: 2 * 1024 * 1024 })));
    await mesh([seed, ...users]);
    const { path, bytes } = await harness.file(4 * 1024 * 1024);
    const root = hexToBytes((await seed.add(path)).root);
    const outs = await Promise.all(users.map(async () => join(await harness.dir(), "out.bin")));
    const results = await Promise.all(users.map((u, i) => u.get(root, outs[i], { peers: [seed, ...users].filter((o) => o !== u).map((o) => o.peerId), haveRefreshMs: 250 })));
    for (const out of outs) assert.deepEqual(await readFile(out), bytes);
    const seedId = seed.peerId.toString();
    const fromSeed = results.reduce((s, r) => s + (r.stats.bytesFrom[seedId] ?? 0), 0);
    const fromUsers = results.reduce((s, r) => s + Object.entries(r.stats.bytesFrom).filter(([k]) => k !== seedId).reduce((a, [, v]) => a + v, 0), 0);
    assert.ok(fromUsers > bytes.length, `users shared with each other (${fromUsers} bytes)`);
    assert.ok(fromSeed < 1.6 * bytes.length, `seed sent ${(fromSeed / bytes.length).toFixed(2)} copies`);
  });
});
