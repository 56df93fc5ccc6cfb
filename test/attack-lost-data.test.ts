/**
 * Lost data (docs/protocol.md §12.1, §12.5): a lessor silently loses 10.9 % of its sealed sector (7 of its 64
 * pages: the sector holds the deal's piece and zeros after it). Each period it proves what it can — a challenge
 * that lands in a lost page makes its PoSt impossible, so it submits nothing. Misses are derived from time:
 * after maxMisses unproven closed periods the piece is Failed without anyone reporting it; anyone settles it
 * (the whole collateral slashed), another lessor repairs it from a remaining copy fetched over libp2p, and the
 * user's file still downloads byte-identical from the remaining replicas.
 *
 * Expected detection (§12.1): a period's proof fails with p = 1 − 0.9^kPoSt; with kPoSt = 5 here p = 40.95 %
 * (the deployed k = 33 gives 96.9 %), and maxMisses = 2 misses are expected after 2/p ≈ 4.9 periods. The test allows
 * MAX_PERIODS = 30: an honest-to-goodness defence fails to reach 2 misses in 30 periods with probability
 * (1−p)^30 + 30·p·(1−p)^29 ≈ 3·10⁻⁶, so a failure here is a real failure.
 */
import assert from "node:assert/strict";
import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, deployMarketSystem, stakeLessor, TOKEN, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, provePeriod, seedCurrentPeriod } from "./helpers/market-actions.js";
import { Harness, mesh } from "./helpers/p2p-harness.js";
import { CommittedFile, CorruptReplicaError, commitFile, proveLessorPoSt, toHex } from "../node/proofs/index.js";
import { fromHex } from "../node/proofs/words.js";
import { ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const SIZE = 320 * 1024; // 10,240 segments: a piece of depth 14 filling a 2^14-segment (512 KiB, 64-page) sector's first 40 pages
const LOST_PAGES = [3, 11, 19, 27, 35, 43, 51]; // 7 of 64 pages: 10.9 % of the sector (pages 40 on are sealed zeros, kept like data)
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

  it("is detected within the predicted periods, fails by derived misses, is settled and repaired, and the file still downloads", async function () {
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

    // Both seal a one-piece sector and prove it. A keeps its sealed sector on disk with the kept tree…
    const a = await fillAndProve(s, lessorA, dealId, 0, bytes);
    await fillAndProve(s, lessorB, dealId, 1, bytes);
    const replicaPath = join(await harness.dir("coffer-lost-replica-"), "sector.bin");
    await writeFile(replicaPath, a.sealed.leaves);
    const commitment = await commitFile(replicaPath);
    assert.equal(toHex(commitment.root), a.commR);
    // …and silently loses some pages of it (and its unsealed copy).
    const handle = await open(replicaPath, "r+");
    for (const page of LOST_PAGES) await handle.write(new Uint8Array(8192), 0, 8192, page * 8192);
    await handle.close();
    await nodeA.store.remove(commD);
    const replicaA = await CommittedFile.open(replicaPath, commitment.tree, { kind: "replica" });
    const lostFraction = (LOST_PAGES.length * 8192) / (a.sealed.n * 32);

    // Periods: A proves when it can; B always does; nobody reports anything: misses are derived.
    const firstPeriod = BigInt((await market.read.getSector([a.id])).firstPeriod);
    const { minSectorLog } = await market.read.params();
    const counts = await market.read.provingCounts([lessorA.account.address]);
    let failedAt: bigint | undefined;
    let proven = 0;
    for (let p = firstPeriod; failedAt === undefined && p < firstPeriod + BigInt(MAX_PERIODS); p++) {
      await goToPeriod(s, p);
      if ((await market.read.replicaState([dealId, 0n])) === ReplicaState.Failed) {
        failedAt = p;
        break;
      }
      await seedCurrentPeriod(s);
      await provePeriod(s, lessorB);
      const seed = await market.read.periodSeed([p]);
      try {
        const proof = await proveLessorPoSt({ seed, lessor: getAddress(lessorA.account.address), challenges: K_POST, counts, minSectorLog, sector: () => replicaA });
        await market.write.submitPoSt([p, proof as Hex[]], { account: lessorA.account });
        proven += 1;
      } catch (error) {
        assert.ok(error instanceof CorruptReplicaError, `lossy lessor: ${(error as Error).message}`);
      }
    }
    await replicaA.close();
    assert.ok(failedAt !== undefined, `piece never failed within ${MAX_PERIODS} periods`);
    // Anyone settles the failed piece: A's whole collateral is slashed (to the client, less the repair reward).
    const freeA = await registry.read.freeStakeOf([lessorA.account.address]);
    const settled = await market.write.settleReplica([dealId, 0n], { account: watcher.account });
    const [event] = await market.getEvents.ReplicaSettled({}, { blockHash: (await (await viem.getPublicClient()).waitForTransactionReceipt({ hash: settled })).blockHash });
    assert.equal(event.args.failed, true);
    assert.equal(event.args.missedPeriods, BigInt(MAX_MISSES));
    assert.equal(event.args.slashed, COLLATERAL);
    assert.equal(await registry.read.lockedStakeOf([lessorA.account.address]), 0n);
    assert.equal(await registry.read.freeStakeOf([lessorA.account.address]), freeA, "A's whole collateral is gone");
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Open);
    void vault;

    // Repair: C fetches the file from the remaining copy over libp2p, seals, fills the failed slot, proves.
    const repairedPath = join(await harness.dir("coffer-repair-"), "file.bin");
    await nodeC.get(commD, repairedPath, { peers: [nodeB.peerId], discoveryTimeoutMs: 5_000 });
    const repairBytes = new Uint8Array(await readFile(repairedPath));
    await fillAndProve(s, stranger, dealId, 0, repairBytes);
    await goToPeriod(s, failedAt! + 1n);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    assert.ok((await market.read.getReplica([dealId, 0n])).repairReward > 0n, "the repair reward waits for the repairer's settlement");

    // The user's file still downloads, byte-identical, from the remaining replicas (B and C).
    const fresh = await harness.node({ role: "user" });
    await mesh([fresh, nodeB, nodeC]);
    const outPath = join(await harness.dir("coffer-download-"), "file.bin");
    await fresh.get(commD, outPath, { peers: [nodeB.peerId, nodeC.peerId], discoveryTimeoutMs: 5_000 });
    assert.deepEqual(new Uint8Array(await readFile(outPath)), bytes);

    const periods = Number(failedAt! - firstPeriod);
    const p = 1 - (1 - lostFraction) ** K_POST;
    console.log(`      lost data: ${JSON.stringify({ lostFraction: Number(lostFraction.toFixed(4)), kPoSt: K_POST, detectionPerPeriod: Number(p.toFixed(4)), expectedPeriodsToFail: Number((MAX_MISSES / p).toFixed(1)), periodsToFail: periods, periodsProvenByLossyLessor: proven })}`);
  });
});
