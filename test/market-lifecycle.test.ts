import assert from "node:assert/strict";
import { getAddress } from "viem";
import { network } from "hardhat";
import { GIB, deployMarketSystem, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, postArgs, type ProvenReplica, seedCurrentPeriod } from "./helpers/market-actions.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";
import { DealState, ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "lifecycle-file"); // n = 32 segments, depth 5
const FILE2 = pseudoRandomBytes(3000, "lifecycle-file-2"); // n = 94 segments, depth 7
const PRICE_PER_GIB = GIB * 7n + 5n; // not a multiple of 2^30: per-period prices round up
const PRICE1 = 7001n; // ceil(1000 * PRICE_PER_GIB / 2^30)
const PRICE2 = 21001n; // ceil(3000 * PRICE_PER_GIB / 2^30)
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n; // 20 %
const BOUNTY = 500_000n; // 25 % of a slash
const FAIL_LEFT = COLLATERAL - 2n * MISS_SLASH; // slashed at failure
const REPAIR = FAIL_LEFT / 2n; // 50 % of it



async function lifecycleFixture() {
  const system = await deployMarketSystem(viem);
  const deal1 = await createDeal(system, { bytes: FILE, replicas: 3, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  const deal2 = await createDeal(system, { bytes: FILE2, replicas: 1, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  return { ...system, deal1, deal2 };
}

describe("StorageMarket: the life of a deal", function () {
  it("fills, proves, pays per period, slashes misses, fails, repairs, ends and refunds to the wei", async function () {
    const s = await networkHelpers.loadFixture(lifecycleFixture);
    const { market, vault, registry, token, client, lessorA, lessorB, lessorC, watcher, deal1, deal2 } = s;
    const a = lessorA.account.address;
    const b = lessorB.account.address;
    const c = lessorC.account.address;

    const deal = await market.read.getDeal([deal1]);
    assert.equal(deal.startPeriod, 1);
    assert.equal(deal.endPeriod, 9);
    assert.equal(deal.pricePerPeriod, PRICE1);
    assert.equal(deal.escrow, 3n * 8n * PRICE1);
    assert.equal(deal.segments, 32);
    assert.equal(deal.depth, 5);
    assert.equal((await market.read.getDeal([deal2])).pricePerPeriod, PRICE2);
    assert.equal(await vault.read.escrowed(), 3n * 8n * PRICE1 + 8n * PRICE2);
    assert.equal(await market.read.dealState([deal1]), DealState.Pending);

    // Period 0: A and B fill and prove deal 1, A also deal 2.
    const freeA = await registry.read.freeStakeOf([a]);
    const a1: ProvenReplica = { dealId: deal1, index: 0, sealed: await fillAndProve(s, lessorA, deal1, 0, FILE) };
    const b1: ProvenReplica = { dealId: deal1, index: 1, sealed: await fillAndProve(s, lessorB, deal1, 1, FILE) };
    const a2: ProvenReplica = { dealId: deal2, index: 0, sealed: await fillAndProve(s, lessorA, deal2, 0, FILE2) };
    assert.equal(await registry.read.lockedStakeOf([a]), 2n * COLLATERAL);
    assert.equal(await registry.read.freeStakeOf([a]), freeA - 2n * COLLATERAL);
    assert.equal(await market.read.replicaState([deal1, 0n]), ReplicaState.Proving);
    assert.equal(await market.read.replicaState([deal1, 2n]), ReplicaState.Open);
    assert.equal(await market.read.dealState([deal1]), DealState.Active);
    assert.equal((await market.read.getReplica([deal1, 0n])).firstPeriod, 1);

    for (let p = 1n; p <= 8n; p++) {
      await goToPeriod(s, p);
      await seedCurrentPeriod(s);
      // A proves both of its replicas in one transaction.
      await viem.assertions.emitWithArgs(
        market.write.submitPoSt(await postArgs(s, [a1, a2]), { account: lessorA.account }),
        market,
        "PoStSubmitted",
        [getAddress(a), p, 2n, PRICE1 + PRICE2],
      );
      if (p <= 2n) await market.write.submitPoSt(await postArgs(s, [b1]), { account: lessorB.account });
      if (p === 4n) {
        // B missed period 3: a watcher reports it during period 4.
        await viem.assertions.emitWithArgs(
          market.write.markProofMissing([deal1, 1n, 3n], { account: watcher.account }),
          market,
          "ProofMissed",
          [deal1, 1n, getAddress(b), 3n, MISS_SLASH, BOUNTY, getAddress(watcher.account.address)],
        );
        assert.equal(await market.read.replicaState([deal1, 1n]), ReplicaState.Proving);
      }
      if (p === 5n) {
        // Second miss: B's replica fails; the rest of its collateral is slashed, half funds the repair.
        await viem.assertions.emitWithArgs(
          market.write.markProofMissing([deal1, 1n, 4n], { account: watcher.account }),
          market,
          "ReplicaFailed",
          [deal1, 1n, getAddress(b), FAIL_LEFT, REPAIR],
        );
        assert.equal(await market.read.replicaState([deal1, 1n]), ReplicaState.Failed);
        assert.equal(await registry.read.lockedStakeOf([b]), 0n);
        // C repairs the slot and is paid the repair reward when its PoRep passes.
        const freeC = await registry.read.freeStakeOf([c]);
        const c1: ProvenReplica = { dealId: deal1, index: 1, sealed: await fillAndProve(s, lessorC, deal1, 1, FILE) };
        assert.equal(await vault.read.withdrawableOf([c]), REPAIR);
        assert.equal(await registry.read.freeStakeOf([c]), freeC - COLLATERAL);
        assert.equal((await market.read.getReplica([deal1, 1n])).firstPeriod, 6);
        Object.assign(b1, c1); // from now on slot 1 is C's
      }
      if (p >= 6n) await market.write.submitPoSt(await postArgs(s, [b1]), { account: lessorC.account });
    }
    assert.equal(await vault.read.withdrawableOf([a]), 8n * (PRICE1 + PRICE2));
    assert.equal(await vault.read.withdrawableOf([b]), 2n * PRICE1);
    assert.equal(await vault.read.withdrawableOf([c]), REPAIR + 3n * PRICE1);
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), 2n * BOUNTY);
    const compensation = 2n * (MISS_SLASH - BOUNTY) + (FAIL_LEFT - REPAIR);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), compensation);
    assert.equal((await market.read.getReplica([deal1, 1n])).paidPeriods, 5);

    // Period 9: the deal has ended; the unfilled slot 2 and the missed periods are refunded.
    await goToPeriod(s, 9n);
    assert.equal(await market.read.dealState([deal1]), DealState.Finished);
    assert.equal(await market.read.replicaState([deal1, 0n]), ReplicaState.Finished);
    const refund = 3n * 8n * PRICE1 - 13n * PRICE1;
    assert.equal(await market.read.refundable([deal1]), refund);
    await viem.assertions.emitWithArgs(market.write.claimRefund([deal1], { account: watcher.account }), market, "DealRefunded", [
      deal1,
      getAddress(client.account.address),
      refund,
    ]);
    await market.write.claimRefund([deal2]);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), compensation + refund);
    assert.equal(await vault.read.escrowed(), 0n);

    // Collateral: released one period after the end.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.finishReplica([deal1, 0n]), market, "MarketReplicaNotFinishable", [
      deal1,
      0n,
      10n,
    ]);
    await goToPeriod(s, 10n);
    await viem.assertions.emitWithArgs(market.write.finishReplica([deal1, 0n]), market, "ReplicaFinished", [deal1, 0n, getAddress(a), COLLATERAL]);
    await market.write.finishReplica([deal1, 1n]);
    await market.write.finishReplica([deal2, 0n]);
    assert.equal(await registry.read.lockedStakeOf([a]), 0n);
    assert.equal(await registry.read.freeStakeOf([a]), freeA);
    assert.equal(await registry.read.lockedStakeOf([c]), 0n);
    assert.equal(await registry.read.freeStakeOf([b]), 1_000n * 10n ** 18n - COLLATERAL);

    // Everyone withdraws; the vault ends empty.
    const before = await token.read.balanceOf([a]);
    await vault.write.withdraw({ account: lessorA.account });
    assert.equal((await token.read.balanceOf([a])) - before, 8n * (PRICE1 + PRICE2));
    for (const w of [lessorB, lessorC, watcher, client]) await vault.write.withdraw({ account: w.account });
    assert.equal(await token.read.balanceOf([vault.address]), 0n);
    assert.equal(await vault.read.totalWithdrawable(), 0n);
  });

  it("keeps the vault's balance equal to escrow plus withdrawable through slashes", async function () {
    const s = await networkHelpers.loadFixture(lifecycleFixture);
    const { market, vault, token, lessorA, watcher, deal1 } = s;
    await fillAndProve(s, lessorA, deal1, 0, FILE);
    await goToPeriod(s, 2n);
    await market.write.markProofMissing([deal1, 0n, 1n], { account: watcher.account });
    const balance = await token.read.balanceOf([vault.address]);
    assert.equal(balance, (await vault.read.escrowed()) + (await vault.read.totalWithdrawable()));
    assert.equal(await market.read.isPeriodMarkedMissed([deal1, 0n, 1n]), true);
    assert.equal(await market.read.isPeriodProven([deal1, 0n, 1n]), false);
  });
});
