import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UPLOAD_LIMITS } from "../node/protocols/upload/constants.js";
import { Harness, hexToBytes, mesh } from "./helpers/p2p-harness.js";

describe("p2p transfer: put to lessors, multi-source get", function () {
  this.timeout(120_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("puts a file to three lessors and fetches it byte-identical from several at once", async () => {
    const lessors = await Promise.all([0, 1, 2].map(() => harness.node({ role: "lessor" })));
    const user = await harness.node({ role: "user" });
    const reader = await harness.node({ role: "user" });
    await mesh([...lessors, user, reader]);
    const { path, bytes } = await harness.file(3 * 1024 * 1024 + 12345); // 13 chunks, last one short
    const put = await user.put(path, { lessors: lessors.map((l) => l.peerId) });
    assert.equal(put.storedOn.length, 3, JSON.stringify(put.failed));
    for (const lessor of lessors) assert.equal(lessor.store.info(put.info.root)?.complete, true);

    const out = join(await harness.dir(), "out.bin");
    // The user that put the file is gone: only lessors can serve it.
    await harness.stopNode(user);
    const result = await reader.get(hexToBytes(put.info.root), out);
    assert.deepEqual(await readFile(out), bytes);
    const sources = Object.keys(result.stats.bytesFrom);
    assert.ok(sources.length >= 2, `expected several sources, got ${sources.length}`);
    assert.equal(result.stats.badChunks, 0);
  });

  it("a lessor whose disk fails to sync refuses the upload with the store's reason (no ack waits forever); the other lessor stores it", async () => {
    const eio = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    const failing = await harness.node({ role: "lessor", store: { syncData: async () => { throw eio; } } });
    const healthy = await harness.node({ role: "lessor" });
    const user = await harness.node({ role: "user" });
    await mesh([failing, healthy, user]);
    const { path } = await harness.file(40 * 256 * 1024 + 1); // 41 chunks: more than one upload window
    const started = performance.now();
    const put = await user.put(path, { lessors: [failing.peerId, healthy.peerId] });
    // Refused at the failure, not when the stream's idle timeout (30 s) ends a wait for an ack.
    assert.ok(performance.now() - started < UPLOAD_LIMITS.idleTimeoutMs / 2, `took ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(put.storedOn, [healthy.peerId.toString()]);
    assert.match(put.failed[failing.peerId.toString()] ?? "", /write-failed|cannot write|sync/i);
    assert.equal(healthy.store.info(put.info.root)?.complete, true);
    assert.equal(failing.store.info(put.info.root)?.complete, false, "nothing is marked over an unsynced chunk");
  });
});
