import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IDENTITY_FILE } from "../node/p2p/identity.js";
import { CofferNode } from "../node/assembly/coffer-node.js";
import { Harness, hexToBytes, mesh } from "./helpers/p2p-harness.js";

describe("p2p resilience", function () {
  this.timeout(120_000);
  const harness = new Harness();
  afterEach(() => harness.cleanup());

  it("finishes a download from the others when a provider is killed mid-way", async () => {
    const lessors = await Promise.all([0, 1, 2].map(() => harness.node({ role: "lessor", uploadLimit: 4 * 1024 * 1024 })));
    const reader = await harness.node({ role: "user" });
    await mesh([...lessors, reader]);
    const { path, bytes } = await harness.file(8 * 1024 * 1024);
    for (const lessor of lessors) await lessor.add(path);
    const root = hexToBytes(lessors[0].store.roots()[0]);
    let killed = false;
    const victim = lessors[0];
    const out = join(await harness.dir(), "out.bin");
    const result = await reader.get(root, out, {
      requestTimeoutMs: 3_000,
      onProgress: (p) => {
        if (!killed && p.completeChunks >= 8) {
          killed = true;
          void harness.stopNode(victim);
        }
      },
    });
    assert.ok(killed, "the provider was killed during the download");
    assert.deepEqual(await readFile(out), bytes);
    assert.ok((result.stats.bytesFrom[victim.peerId.toString()] ?? 0) > 0, "the victim served part of it before dying");
    assert.ok(Object.keys(result.stats.bytesFrom).length === 3);
  });

  it("detects a corrupted chunk on a provider and fetches it elsewhere", async () => {
    const [bad, good] = await Promise.all([0, 1].map(() => harness.node({ role: "lessor" })));
    const reader = await harness.node({ role: "user" });
    await mesh([bad, good, reader]);
    const { path, bytes } = await harness.file(2 * 1024 * 1024);
    const info = await bad.add(path);
    await good.add(path);
    // Flip bytes in every chunk the bad provider serves (same length, so only the hash check catches it).
    for (let i = 0; i < info.chunkCount; i++) {
      const { path: file, offset } = bad.store.chunkLocation(info.root, i);
      const data = await readFile(file);
      data[offset + 100] ^= 0xff;
      await writeFile(file, data);
    }
    const out = join(await harness.dir(), "out.bin");
    const result = await reader.get(hexToBytes(info.root), out);
    assert.deepEqual(await readFile(out), bytes);
    assert.ok(result.stats.badChunks >= 1, "the corrupted chunk was detected");
    assert.equal(result.stats.bytesFrom[bad.peerId.toString()] ?? 0, 0, "no corrupted byte was accepted");
  });

  it("restarts with its identity and store intact, cleans half-written chunks, and serves again", async () => {
    const dataDir = await harness.dir();
    const lessor = await harness.node({ role: "lessor", dataDir });
    const { path, bytes } = await harness.file(1024 * 1024 + 5);
    const info = await lessor.add(path);
    const id = lessor.peerId.toString();
    assert.equal((await stat(join(dataDir, IDENTITY_FILE))).mode & 0o777, 0o600);
    await harness.stopNode(lessor);

    // Simulate a crash: the staging file of an interrupted import, and a chunk half overwritten on disk.
    await writeFile(join(dataDir, "chunks", ".import-dead"), Buffer.alloc(1000));
    const { path: dataFile, offset } = lessor.store.chunkLocation(info.root, 2);
    const data = await readFile(dataFile);
    data.fill(0, offset + 1000, offset + 200_000);
    await writeFile(dataFile, data);

    const again = await harness.node({ role: "lessor", dataDir });
    assert.equal(again.peerId.toString(), id, "same peer id after restart");
    const after = again.store.info(info.root)!;
    assert.equal(after.completeChunks, info.chunkCount - 1, "the damaged chunk is no longer marked complete");
    assert.equal(again.store.hasChunk(info.root, 2), false);
    assert.ok(!(await readdir(join(dataDir, "chunks"))).some((n) => n.startsWith(".import-")), "staging leftovers removed");

    // It resumes: fetch the missing chunk from a peer that has the file.
    const helper = await harness.node({ role: "lessor" });
    await helper.add(path);
    await again.connect(helper.addresses()[0]);
    await again.get(hexToBytes(info.root));
    assert.equal(again.store.info(info.root)?.complete, true);

    const reader = await harness.node({ role: "user" });
    await reader.connect(again.addresses()[0]);
    const out = join(await harness.dir(), "out.bin");
    await reader.get(hexToBytes(info.root), out, { peers: [again.peerId] });
    assert.deepEqual(await readFile(out), bytes);
  });

  it("refuses a peer key readable by others", async () => {
    const dataDir = await harness.dir();
    const node = await harness.node({ role: "user", dataDir });
    await harness.stopNode(node);
    const { chmod } = await import("node:fs/promises");
    await chmod(join(dataDir, IDENTITY_FILE), 0o644);
    await assert.rejects(CofferNode.create({ dataDir, role: "user" }), (e: Error & { code?: string }) => e.code === "key-permissions");
  });

  it("finds providers through the DHT without being connected to them", async () => {
    const boot = await harness.node({ role: "lessor" });
    const bootAddr = boot.addresses()[0];
    const holders = await Promise.all([0, 1].map(() => harness.node({ role: "lessor", bootstrap: [bootAddr] })));
    const { path, bytes } = await harness.file(600 * 1024);
    let info;
    for (const holder of holders) info = await holder.add(path);
    const root = hexToBytes(info!.root);
    // Wait until the boot node's DHT holds the provider records.
    for (let i = 0; i < 50; i++) {
      if ((await boot.findProviders(root, AbortSignal.timeout(2_000))).length >= 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const reader = await harness.node({ role: "user", bootstrap: [bootAddr] });
    const out = join(await harness.dir(), "out.bin");
    const result = await reader.get(root, out);
    assert.deepEqual(await readFile(out), bytes);
    const holderIds = holders.map((h) => h.peerId.toString());
    assert.ok(Object.keys(result.stats.bytesFrom).some((k) => holderIds.includes(k)), "served by a DHT-announced holder");
  });
});
