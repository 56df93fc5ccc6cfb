/**
 * getServingLessors (node/chain/actions/getServingLessors.ts): the replicas of a deal a lessor serves now —
 * the read the user's download and the watcher's timed challenges pick their replicas from. Only Proving
 * replicas of a deal that has not ended are served; Open, Committed and Failed slots are not.
 */
import assert from "node:assert/strict";
import { network } from "hardhat";
import { getAddress, type PublicClient } from "viem";
import { getServingLessors } from "../node/chain/actions/getServingLessors.js";
import { ReplicaState } from "../node/chain/states.js";
import { commitOnePieceSector, createDeal, failByMissedPeriods, fillAndProve, goToPeriod, provePeriod } from "./helpers/market-actions.js";
import { GIB, deployMarketSystem } from "./helpers/market-fixture.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";

const { viem, networkHelpers } = await network.create();
const FILE = pseudoRandomBytes(2000, "serving-lessors-file");

async function threeSlotDealFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 3, duration: 4, pricePerGiB: GIB, collateral: 10_000_000n });
  return { ...system, dealId };
}

describe("getServingLessors", function () {
  it("lists only the Proving replicas of a running deal, by index, with their lessors", async function () {
    const s = await networkHelpers.loadFixture(threeSlotDealFixture);
    const { market, lessorA, lessorB, lessorC, dealId } = s;
    const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
    const ctx = { publicClient, addresses: { token: s.token.address, registry: s.registry.address, vault: s.vault.address, market: market.address, downloads: s.downloads.address } };
    const serving = async () => (await getServingLessors(ctx, { dealId, replicas: 3 })).map((r) => ({ replicaIndex: r.replicaIndex, lessor: getAddress(r.lessor) }));

    assert.deepEqual(await serving(), [], "no slot filled yet");
    await fillAndProve(s, lessorB, dealId, 1, FILE);
    await commitOnePieceSector(s, lessorA, dealId, 0, FILE); // Committed: its sector's PoRep is pending
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Committed);
    assert.deepEqual(await serving(), [{ replicaIndex: 1, lessor: getAddress(lessorB.account.address) }]);

    await fillAndProve(s, lessorC, dealId, 2, FILE);
    assert.deepEqual(await serving(), [
      { replicaIndex: 1, lessor: getAddress(lessorB.account.address) },
      { replicaIndex: 2, lessor: getAddress(lessorC.account.address) },
    ]);

    // C proves periods 1 and 2, B none: by period 3 B has missed maxMisses = 2 periods, its piece failed (nobody
    // reported it) and is no longer served; A's sector never passed its PoRep.
    for (const p of [1n, 2n]) {
      await goToPeriod(s, p);
      await provePeriod(s, lessorC);
    }
    await failByMissedPeriods(s, dealId, 1);
    assert.equal(await market.read.currentPeriod(), 3n);
    assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Failed);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    assert.equal(await market.read.replicaState([dealId, 2n]), ReplicaState.Proving);
    assert.deepEqual(await serving(), [{ replicaIndex: 2, lessor: getAddress(lessorC.account.address) }]);

    // Once the deal has ended nothing is served, even by a replica still Proving.
    const start = await market.read.startTime();
    const { periodLength } = await market.read.params();
    const { endPeriod } = await market.read.getDeal([dealId]);
    await networkHelpers.time.increaseTo(start + BigInt(endPeriod) * periodLength + 1n);
    assert.deepEqual(await serving(), []);
  });
});
