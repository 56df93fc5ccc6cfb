import assert from "node:assert/strict";
import type { PeerId } from "@libp2p/interface";
import type { CofferNode } from "../node/assembly/coffer-node.js";
import { Harness } from "./helpers/p2p-harness.js";

describe("p2p overlay", function () {
  this.timeout(120_000);
  const harness = new Harness();
  afterEach(() => harness.cleanup());

  const SLOW = 256 * 1024; // bytes/s upload cap of the artificially slowed peers

  async function peers(fast: number, slow: number): Promise<{ fast: CofferNode[]; slow: CofferNode[] }> {
    return {
      fast: await Promise.all(Array.from({ length: fast }, () => harness.node({ role: "lessor" }))),
      slow: await Promise.all(Array.from({ length: slow }, () => harness.node({ role: "lessor", uploadLimit: SLOW }))),
    };
  }

  /** Loopback peers share one /24: give each its own group unless a test is about groups. */
  const ownGroup = (peer: PeerId) => peer.toString();
  const ids = (list: { id: string }[] | CofferNode[]) => list.map((x) => ("peerId" in x ? x.peerId.toString() : x.id)).sort();

  it("converges to the fastest neighbours, drops the slowed ones, and lists them to others", async () => {
    const { fast, slow } = await peers(3, 3);
    const user = await harness.node({ role: "user", overlay: { maxNeighbours: 3, probesPerRound: 10, probeBytes: 128 * 1024, intervalMs: 3_600_000, groupOf: ownGroup } });
    for (const p of [...slow, ...fast]) await user.connect(p.addresses()[0]);
    await user.overlay.round();
    await user.overlay.round();
    assert.deepEqual(ids(user.overlay.neighbours()), ids(fast));
    const speeds = user.overlay.candidates().filter((c) => ids(slow).includes(c.id)).map((c) => c.speed);
    assert.ok(speeds.every((s) => s > 0 && s < 2 * SLOW), `slow peers measured near their cap: ${speeds}`);

    // Another node asks our user for its neighbours over /coffer/neighbours.
    const asker = await harness.node({ role: "user" });
    await asker.connect(user.addresses()[0]);
    const listed = await asker.neighbours.query(user.peerId, AbortSignal.timeout(5_000));
    assert.deepEqual(listed.map((p) => p.id).sort(), ids(fast));

    // selectLessors prefers the fast neighbours.
    const chosen = (await user.overlay.selectLessors(2)).map(String);
    assert.ok(chosen.every((id) => ids(fast).includes(id)));
  });

  it("caps neighbours per address group (eclipse resistance) and prefers distinct groups for lessors", async () => {
    const { fast, slow } = await peers(3, 2);
    // Loopback has one /24, so groups come from a map: all fast peers share group "A".
    const group = new Map<string, string>([...fast.map((f) => [f.peerId.toString(), "A"] as const), [slow[0].peerId.toString(), "B"], [slow[1].peerId.toString(), "C"]]);
    const user = await harness.node({
      role: "user",
      overlay: { maxNeighbours: 3, maxPerGroup: 1, probesPerRound: 10, probeBytes: 128 * 1024, intervalMs: 3_600_000, groupOf: (peer: PeerId) => group.get(peer.toString()) ?? "?" },
    });
    for (const p of [...slow, ...fast]) await user.connect(p.addresses()[0]);
    await user.overlay.round();
    await user.overlay.round();
    const neighbours = ids(user.overlay.neighbours());
    assert.equal(neighbours.length, 3);
    assert.equal(neighbours.filter((id) => group.get(id) === "A").length, 1, "only one neighbour from group A");
    const lessors = (await user.overlay.selectLessors(3)).map(String);
    assert.equal(new Set(lessors.map((id) => group.get(id))).size, 3, "three distinct groups");
  });

  it("reset() forgets neighbours but keeps the persisted history across restarts", async () => {
    const { fast } = await peers(2, 0);
    const dataDir = await harness.dir();
    const user = await harness.node({ role: "user", dataDir, overlay: { enabled: true, probesPerRound: 10, probeBytes: 64 * 1024, intervalMs: 3_600_000 } });
    for (const p of fast) await user.connect(p.addresses()[0]);
    await user.overlay.round();
    assert.deepEqual(ids(user.overlay.neighbours()), ids(fast));
    await user.overlay.reset();
    assert.equal(user.overlay.neighbours().length, 0);
    assert.deepEqual(ids(user.overlay.past()), ids(fast));
    await harness.stopNode(user);
    const again = await harness.node({ role: "user", dataDir, overlay: { enabled: true, probesPerRound: 10, probeBytes: 64 * 1024, intervalMs: 3_600_000 } });
    assert.deepEqual(ids(again.overlay.past()), ids(fast), "history survives a restart");
    // Past neighbours are the first candidates: one round reconnects to them without any dial from us.
    await again.overlay.round();
    assert.deepEqual(ids(again.overlay.neighbours()), ids(fast));
  });

  it("drops a neighbour that became unreachable and replaces it", async () => {
    const { fast } = await peers(3, 0);
    const user = await harness.node({ role: "user", overlay: { maxNeighbours: 2, probesPerRound: 10, probeBytes: 64 * 1024, intervalMs: 3_600_000, maxFailures: 1 } });
    for (const p of fast) await user.connect(p.addresses()[0]);
    await user.overlay.round();
    const before = ids(user.overlay.neighbours());
    assert.equal(before.length, 2);
    const victim = fast.find((f) => before.includes(f.peerId.toString()))!;
    await harness.stopNode(victim);
    await user.overlay.round();
    const after = ids(user.overlay.neighbours());
    assert.equal(after.length, 2);
    assert.ok(!after.includes(victim.peerId.toString()));
  });
});
