/**
 * Lost data (docs/protocol.md §6, §10.4, §10.5): a lessor silently loses 10 % of its sealed replica (4 of its
 * 40 pages). Each period it proves what it can — a challenge that lands in a lost page makes its PoSt
 * impossible, so it submits nothing. A third-party watcher marks every unproven closed period (bounty paid);
 * at maxMisses the replica fails, another lessor repairs it from a remaining copy fetched over libp2p, and the
 * user's file still downloads byte-identical from the remaining replicas.
 *
 * Expected detection (§10.5): a period's proof fails with p = 1 − 0.9^kPoSt; with kPoSt = 5 (the spec's
 * default) p = 40.95 %, and maxMisses = 2 misses are expected after 2/p ≈ 4.9 periods. The test allows
 * MAX_PERIODS = 30: an honest-to-goodness defence fails to reach 2 misses in 30 periods with probability
 * (1−p)^30 + 30·p·(1−p)^29 ≈ 3·10⁻⁶, so a failure here is a real failure.
 */
import assert from "node:assert/strict";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, deployMarketSystem, stakeLessor, TOKEN, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, indexesHex, postArgs, type ProvenReplica, seedCurrentPeriod } from "./helpers/market-actions.js";
import { Harness, mesh } from "./helpers/p2p-harness.js";
import { CommittedFile, CorruptReplicaError, commitFile, provePoSt, toHex } from "../node/proofs/index.js";
import { fromHex } from "../node/proofs/words.js";
import { ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const SIZE = 320 * 1024; // 40 pages of 8 KiB, 10,240 segments
const LOST_PAGES = [3, 11, 19, 27]; // 10 % of the replica
const K_POST = 5;
const MAX_MISSES = 2;
const MAX_PERIODS = 30;
const COLLATERAL = 400_000_000n; // ≥ 1,000 units per byte
const DURATION = MAX_PERIODS + 6;

async function lostDataFixture() {
  const system = await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, kPoSt: K_POST, maxMisses: MAX_MISSES });
  await stakeLessor(system, system.stranger.account.address, 1_000n * TOKEN); // the repairer
  return system;
}


describe("attack: a lessor silently loses 10 % of its replica", function () {
  this.timeout(180_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("is detected within the predicted periods, marked missing by a watcher, fails, is repaired, and the file still downloads", async function () {
    const s = await networkHelpers.loadFixture(lostDataFixture);
    const { market, vault, registry, lessorA, lessorB, stranger, watcher } = s;
    const dataPath = join(await harness.dir("coffer-lost-"), "file.bin");
    const bytes = new Uint8Array((await import("node:crypto")).randomBytes(SIZE));
    await writeFile(dataPath, bytes);

    // The user stores the file on two lessors over libp2p and buys a 2-replica deal.
    const userNode = await harness.node({ role: "user" });
    const nodeA = await harness.node({ role: "lessor" });
    const nodeB = await harness.node({ role: "lessor" });
    const nodeC = await harness.node({ role: "lessor" });
    await mesh([userNode, nodeA, nodeB, nodeC]);
    const put = await userNode.put(dataPath, { lessors: [nodeA.peerId, nodeB.peerId] });
    assert.equal(put.storedOn.length, 2);
    const commD = fromHex(put.info.root);
    const dealId = await createDeal(s, { bytes, replicas: 2, duration: DURATION, pricePerGiB: GIB, collateral: COLLATERAL });
    assert.equal((await market.read.getDeal([dealId])).commD, toHex(commD));

    // Both seal and prove. A keeps its sealed replica on disk with the kept tree…
    const a: ProvenReplica = { dealId, index: 0, sealed: await fillAndProve(s, lessorA, dealId, 0, bytes) };
    const b: ProvenReplica = { dealId, index: 1, sealed: await fillAndProve(s, lessorB, dealId, 1, bytes) };
    const replicaPath = join(await harness.dir("coffer-lost-replica-"), "replica.bin");
    await writeFile(replicaPath, a.sealed.sealed.leaves);
    const commitment = await commitFile(replicaPath);
    assert.equal(toHex(commitment.root), a.sealed.sealed.root);
    // …and silently loses 10 % of it (and its unsealed copy).
    const handle = await open(replicaPath, "r+");
    for (const page of LOST_PAGES) await handle.write(new Uint8Array(8192), 0, 8192, page * 8192);
    await handle.close();
    await nodeA.store.remove(commD);
    const replicaA = await CommittedFile.open(replicaPath, commitment.tree, { kind: "replica" });

    // Periods: A proves when it can; B always does; a watcher marks every unproven closed period.
    const firstPeriod = BigInt((await market.read.getReplica([dealId, 0n])).firstPeriod);
    const freeA = await registry.read.freeStakeOf([lessorA.account.address]);
    const watcherAddress = getAddress(watcher.account.address);
    let misses = 0;
    let bounties = 0n;
    let failedAt: bigint | undefined;
    let proven = 0;
    for (let p = firstPeriod; failedAt === undefined && p < firstPeriod + BigInt(MAX_PERIODS); p++) {
      await goToPeriod(s, p);
      await seedCurrentPeriod(s);
      await market.write.submitPoSt(await postArgs(s, [b]), { account: lessorB.account });
      const seed = await market.read.periodSeed([p]);
      try {
        const proof = await provePoSt({ replica: replicaA, replicaId: a.sealed.replicaId, periodSeed: seed, challenges: K_POST });
        await market.write.submitPoSt([p, [dealId], indexesHex([0]), proof as Hex[]], { account: lessorA.account });
        proven += 1;
      } catch (error) {
        assert.ok(error instanceof CorruptReplicaError, `lossy lessor: ${(error as Error).message}`);
      }
      // The watcher, during period p, reports period p - 1 if it was not proven.
      const previous = p - 1n;
      if (previous >= firstPeriod && !(await market.read.isPeriodProven([dealId, 0n, previous]))) {
        const before = await vault.read.withdrawableOf([watcherAddress]);
        await market.write.markProofMissing([dealId, 0n, previous], { account: watcher.account });
        bounties += (await vault.read.withdrawableOf([watcherAddress])) - before;
        misses += 1;
        if ((await market.read.replicaState([dealId, 0n])) === ReplicaState.Failed) failedAt = p;
      }
    }
    await replicaA.close();
    assert.ok(failedAt !== undefined, `replica never failed within ${MAX_PERIODS} periods`);
    assert.equal(misses, MAX_MISSES);
    const { missSlashBps, bountyBps } = await market.read.params();
    assert.equal(bounties, BigInt(MAX_MISSES) * ((((COLLATERAL * BigInt(missSlashBps)) / 10_000n) * BigInt(bountyBps)) / 10_000n), "a bounty per reported miss");
    assert.equal(await registry.read.lockedStakeOf([lessorA.account.address]), 0n);
    assert.equal(await registry.read.freeStakeOf([lessorA.account.address]), freeA, "A's whole collateral is gone");

    // Repair: C fetches the file from the remaining copy over libp2p, seals, fills the failed slot, proves.
    const repairedPath = join(await harness.dir("coffer-repair-"), "file.bin");
    await nodeC.get(commD, repairedPath, { peers: [nodeB.peerId], discoveryTimeoutMs: 5_000 });
    const repairBytes = new Uint8Array(await readFile(repairedPath));
    await fillAndProve(s, stranger, dealId, 0, repairBytes);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    assert.ok((await vault.read.withdrawableOf([stranger.account.address])) > 0n, "the repairer got the repair reward");

    // The user's file still downloads, byte-identical, from the remaining replicas (B and C).
    const fresh = await harness.node({ role: "user" });
    await mesh([fresh, nodeB, nodeC]);
    const outPath = join(await harness.dir("coffer-download-"), "file.bin");
    await fresh.get(commD, outPath, { peers: [nodeB.peerId, nodeC.peerId], discoveryTimeoutMs: 5_000 });
    assert.deepEqual(new Uint8Array(await readFile(outPath)), bytes);

    const periods = Number(failedAt! - firstPeriod);
    const p = 1 - 0.9 ** K_POST;
    console.log(`      lost data: ${JSON.stringify({ lostFraction: 0.1, kPoSt: K_POST, detectionPerPeriod: Number(p.toFixed(4)), expectedPeriodsToFail: Number((MAX_MISSES / p).toFixed(1)), periodsToFail: periods, periodsProvenByLossyLessor: proven })}`);
  });
});
