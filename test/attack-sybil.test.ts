/**
 * Sybil attack (docs/protocol.md §4.1, §4.4, §12.2): one operator registers three lessor identities (A, B, C)
 * and keeps ONE physical sealed copy — A's sector — for the three replicas of a deal. B cannot pass its sector's
 * PoRep with A's copy (its sector id, the replicaId, keys every segment differently), and C, which sealed once
 * for its PoRep and then dropped its sector, cannot pass PoSt from A's copy. B's PoRep expires, C's piece fails
 * by missed periods; both are slashed when settled. A is paid.
 */
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { network } from "hardhat";
import { GIB, TOKEN, deployMarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, porepSeedOf, postArgs, postPlan, sealSectorFor } from "./helpers/market-actions.js";
import { opening, porepProof, pseudoRandomBytes, type SealedSector } from "./helpers/proofs.js";
import { ReplicaState, SectorState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(8192, "sybil-file"); // n = 256 segments, depth 8
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n; // missSlashBps 20 %: an expired PoRep's slash
const REPAIR = (COLLATERAL - 2n * MISS_SLASH) / 2n; // repairBps 50 % of what the misses' share leaves
const STAKE = 1_000n * TOKEN;

async function sybilFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 3, duration: 6, pricePerGiB: GIB, collateral: COLLATERAL });
  return { ...system, dealId };
}

/** A's physical copy presented as another sector's: same sealed and unsealed trees, another replicaId. */
function asSector(copy: SealedSector, other: SealedSector): SealedSector {
  return { ...copy, id: other.id, replicaId: other.replicaId };
}

describe("attack: Sybil (three identities, one physical copy)", function () {
  it("B's PoRep from A's copy is rejected and expires with a slash; C's PoSt from A's copy fails and C's piece fails", async function () {
    const s = await networkHelpers.loadFixture(sybilFixture);
    const { market, registry, vault, client, lessorA, lessorB, lessorC, dealId } = s;
    const [a, b, c] = [lessorA, lessorB, lessorC].map((w) => getAddress(w.account.address));
    const { kPoRep, porepTimeout } = await market.read.params();
    const price = (await market.read.getDeal([dealId])).pricePerPeriod;

    // A seals and proves its sector honestly: this is the operator's only physical copy.
    const copyOfA = await fillAndProve(s, lessorA, dealId, 0, FILE);

    // B commits A's commR for slot 1 in a sector of its own (it has no copy) and tries to prove it with A's copy.
    const honestB = await sealSectorFor(s, b, [{ dealId, index: 1, bytes: FILE }]);
    assert.notEqual(honestB.commR, copyOfA.commR, "each identity's sealed sector differs");
    assert.equal(honestB.commD, copyOfA.commD, "over the same unsealed bytes");
    await market.write.commitSector([honestB.sectorNumber, honestB.log2Segments, copyOfA.commR, [dealId], "0x01"], { account: lessorB.account });
    await networkHelpers.mine(1);
    const seedB = await porepSeedOf(s, honestB.id);
    // Under B's sector id (what the contract checks) and under A's own: neither passes.
    for (const attempt of [asSector(copyOfA, honestB), copyOfA]) {
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.answerPoRep([honestB.id, porepProof(seedB, attempt, kPoRep)], { account: lessorB.account }),
        market,
        "MarketInvalidPoRep",
        [honestB.id],
      );
    }
    // B cannot answer in time: its sector expires; settling its piece costs it missSlashBps of its collateral.
    const freeB = await registry.read.freeStakeOf([b]);
    await networkHelpers.time.increase(porepTimeout + 1n);
    assert.equal(await market.read.sectorState([honestB.id]), SectorState.Expired);
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 1n]), market, "ReplicaSettled", [dealId, 1n, b, 0n, 0n, 0n, MISS_SLASH, COLLATERAL - MISS_SLASH, true]);
    assert.equal(await registry.read.lockedStakeOf([b]), 0n);
    assert.equal(await registry.read.freeStakeOf([b]), freeB + COLLATERAL - MISS_SLASH);
    assert.equal(freeB + COLLATERAL, STAKE, "B's whole stake was free but for this collateral");

    // C sealed once to pass its PoRep, then dropped its sector and relies on A's copy.
    const sectorC = await fillAndProve(s, lessorC, dealId, 2, FILE);
    const firstPeriod = BigInt((await market.read.getSector([sectorC.id])).firstPeriod);
    for (let p = 1n; p <= 6n; p++) {
      await goToPeriod(s, p);
      await market.write.submitPoSt(await postArgs(s, lessorA), { account: lessorA.account });
      if (p >= firstPeriod + 2n) continue;
      // C's challenges opened in A's copy, and A's own (valid for A) proof: both fail for C.
      const planC = await postPlan(s, lessorC);
      const fromA = planC.challenges.flatMap((x) => opening(copyOfA.sealed, x.offset));
      const [, proofOfA] = await postArgs(s, lessorA, p);
      for (const proof of [fromA, [...proofOfA]]) {
        await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([p, proof], { account: lessorC.account }), market, "MarketInvalidPoSt", [c, p, 0n]);
      }
      if (p === firstPeriod + 1n) assert.equal(await market.read.replicaState([dealId, 2n]), ReplicaState.Proving, "one miss so far");
    }
    // Two periods without C's proof: its piece failed. Settled: all of its collateral slashed.
    assert.equal(await market.read.replicaState([dealId, 2n]), ReplicaState.Failed);
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 2n]), market, "ReplicaSettled", [dealId, 2n, c, 0n, 5n, 0n, COLLATERAL, 0n, true]);
    assert.equal(await registry.read.lockedStakeOf([c]), 0n);
    assert.equal(await registry.read.freeStakeOf([c]), STAKE - COLLATERAL);

    // The deal ends: A is paid its six periods; the two slots the operator could not keep are refunded.
    await goToPeriod(s, 7n);
    await market.write.claimRefund([dealId]);
    assert.equal(await vault.read.withdrawableOf([a]), 6n * price);
    assert.equal(await vault.read.withdrawableOf([b]), 0n);
    assert.equal(await vault.read.withdrawableOf([c]), 0n);
    // The client: B's PoRep slash, C's failure (less the repair reward nobody claimed, which comes back in the
    // refund), and the 12 unpaid replica-periods.
    const refund = 3n * 6n * price - 6n * price + REPAIR;
    assert.equal(await vault.read.withdrawableOf([client.account.address]), MISS_SLASH + (COLLATERAL - REPAIR) + refund);
    assert.equal(await vault.read.escrowed(), 0n);
    // The operator's three identities earned one replica's pay and lost 1.2 collaterals.
    assert.equal(STAKE * 3n - (await registry.read.freeStakeOf([a])) - (await registry.read.freeStakeOf([b])) - (await registry.read.freeStakeOf([c])), MISS_SLASH + COLLATERAL);
  });
});
