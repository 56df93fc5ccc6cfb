import assert from "node:assert/strict";
import { getAddress } from "viem";
import { network } from "hardhat";
import { GIB, TOKEN, deployMarketSystem } from "./helpers/market-fixture.js";
import { commitAndProve, createDeal, fillAndProve, goToPeriod, postArgs, seedCurrentPeriod } from "./helpers/market-actions.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";
import { DealState, ReplicaState, SectorState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "lifecycle-file"); // n = 32 segments, depth 5
const FILE2 = pseudoRandomBytes(3000, "lifecycle-file-2"); // n = 94 segments, depth 7
const PRICE_PER_GIB = GIB * 7n + 5n; // not a multiple of 2^30: per-period prices round up
const PRICE1 = 7001n; // ceil(1000 * PRICE_PER_GIB / 2^30)
const PRICE2 = 21001n; // ceil(3000 * PRICE_PER_GIB / 2^30)
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n; // 20 % per missed period
const REPAIR = (COLLATERAL - 2n * MISS_SLASH) / 2n; // 50 % of what is left after the misses' share
const STAKE = 1_000n * TOKEN;

async function lifecycleFixture() {
  const system = await deployMarketSystem(viem);
  const deal1 = await createDeal(system, { bytes: FILE, replicas: 3, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  const deal2 = await createDeal(system, { bytes: FILE2, replicas: 1, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  return { ...system, deal1, deal2 };
}

describe("StorageMarket: the life of a deal", function () {
  it("packs, proves one PoSt per lessor per period, fails a lessor by time, settles before repair, ends and refunds to the wei", async function () {
    const s = await networkHelpers.loadFixture(lifecycleFixture);
    const { market, vault, registry, token, client, lessorA, lessorB, lessorC, watcher, deal1, deal2 } = s;
    const a = getAddress(lessorA.account.address);
    const b = getAddress(lessorB.account.address);
    const c = getAddress(lessorC.account.address);

    const deal = await market.read.getDeal([deal1]);
    assert.equal(deal.startPeriod, 1);
    assert.equal(deal.endPeriod, 9);
    assert.equal(deal.pricePerPeriod, PRICE1);
    assert.equal(deal.escrow, 3n * 8n * PRICE1);
    assert.equal(deal.segments, 32);
    assert.equal(deal.depth, 5);
    assert.equal((await market.read.getDeal([deal2])).pricePerPeriod, PRICE2);
    const escrowIn = 3n * 8n * PRICE1 + 8n * PRICE2;
    assert.equal(await vault.read.escrowed(), escrowIn);
    assert.equal(await market.read.dealState([deal1]), DealState.Pending);

    // Period 0: A packs deal 2 (depth 7) and deal 1 slot 0 (depth 5) into one sector of 2^8 segments; B seals slot 1 alone.
    const freeA = await registry.read.freeStakeOf([a]);
    const sectorA = await commitAndProve(s, lessorA, [
      { dealId: deal1, index: 0, bytes: FILE },
      { dealId: deal2, index: 0, bytes: FILE2 },
    ]);
    assert.equal(sectorA.log2Segments, 8);
    assert.deepEqual(sectorA.pieces.map((p) => [p.dealId, p.offset]), [[deal2, 0], [deal1, 128]], "larger piece first, each aligned to its size");
    const onChainA = await market.read.getSector([sectorA.id]);
    assert.equal(onChainA.commD, sectorA.commD, "the contract recomputed the sector's commD from the pieces");
    assert.equal(onChainA.pieces, 2);
    assert.equal(onChainA.firstPeriod, 1);
    assert.equal((await market.read.getReplica([deal1, 0n])).offset, 128n);
    const sectorB = await fillAndProve(s, lessorB, deal1, 1, FILE);
    assert.equal(sectorB.log2Segments, 5);
    assert.equal(await registry.read.lockedStakeOf([a]), 2n * COLLATERAL);
    assert.equal(await registry.read.freeStakeOf([a]), freeA - 2n * COLLATERAL);
    assert.equal(await market.read.replicaState([deal1, 0n]), ReplicaState.Proving);
    assert.equal(await market.read.replicaState([deal1, 2n]), ReplicaState.Open);
    assert.equal(await market.read.dealState([deal1]), DealState.Active);
    assert.equal(await market.read.sectorState([sectorA.id]), SectorState.Proving);

    let c1 = undefined as Awaited<ReturnType<typeof fillAndProve>> | undefined;
    for (let p = 1n; p <= 8n; p++) {
      await goToPeriod(s, p);
      await seedCurrentPeriod(s);
      // A proves its one sector (both pieces) in one transaction.
      await viem.assertions.emitWithArgs(market.write.submitPoSt(await postArgs(s, lessorA), { account: lessorA.account }), market, "PoStSubmitted", [a, p, 1n, 256n * 32n]);
      if (p <= 2n) await market.write.submitPoSt(await postArgs(s, lessorB), { account: lessorB.account });
      if (p === 4n) {
        // B missed period 3: one miss, still proving; nothing to settle yet.
        assert.equal(await market.read.replicaState([deal1, 1n]), ReplicaState.Proving);
        await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([deal1, 1n], { account: watcher.account }), market, "MarketReplicaNotSettleable", [
          deal1,
          1n,
          ReplicaState.Proving,
        ]);
      }
      if (p === 5n) {
        // Periods 3 and 4 closed without B's proof: its piece failed (nobody reported anything).
        assert.equal(await market.read.replicaState([deal1, 1n]), ReplicaState.Failed);
        // The slot is not open to C until the failure is settled.
        await viem.assertions.revertWithCustomErrorWithArgs(
          market.write.commitSector([0n, 5, sectorB.commR, [deal1], "0x01"], { account: lessorC.account }),
          market,
          "MarketReplicaNotOpen",
          [deal1, 1n, ReplicaState.Failed],
        );
        // Anyone settles: B's two proven periods are paid, all its collateral is slashed, half of the rest after
        // the misses' share is escrowed for the repairer.
        await viem.assertions.emitWithArgs(market.write.settleReplica([deal1, 1n], { account: watcher.account }), market, "ReplicaSettled", [
          deal1,
          1n,
          b,
          2n,
          2n,
          2n * PRICE1,
          COLLATERAL,
          0n,
          true,
        ]);
        assert.equal(await market.read.replicaState([deal1, 1n]), ReplicaState.Open);
        assert.equal((await market.read.getReplica([deal1, 1n])).repairReward, REPAIR);
        assert.equal(await registry.read.lockedStakeOf([b]), 0n);
        assert.equal((await market.read.getSector([sectorB.id])).livePieces, 0);
        // B never gets a slot of this deal again; C repairs it.
        await viem.assertions.revertWithCustomErrorWithArgs(
          market.write.commitSector([1n, 5, sectorB.commR, [deal1], "0x01"], { account: lessorB.account }),
          market,
          "MarketLessorFailedDeal",
          [deal1, b],
        );
        const freeC = await registry.read.freeStakeOf([c]);
        c1 = await fillAndProve(s, lessorC, deal1, 1, FILE);
        assert.equal(await registry.read.freeStakeOf([c]), freeC - COLLATERAL);
        assert.equal((await market.read.getSector([c1.id])).firstPeriod, 6);
      }
      if (p >= 6n) await market.write.submitPoSt(await postArgs(s, lessorC), { account: lessorC.account });
    }
    assert.ok(c1);
    assert.equal(await vault.read.withdrawableOf([a]), 0n, "nobody is paid before settling");
    assert.equal(await vault.read.withdrawableOf([b]), 2n * PRICE1);
    const toClient = COLLATERAL - REPAIR;
    assert.equal(await vault.read.withdrawableOf([client.account.address]), toClient);
    assert.equal((await market.read.getReplica([deal1, 1n])).paidPeriods, 2);

    // Period 9: the deal has ended. claimRefund settles every filled slot, then refunds the unfilled slot 2 and
    // the periods slot 1 went unproven (3, 4, 5).
    await goToPeriod(s, 9n);
    assert.equal(await market.read.dealState([deal1]), DealState.Finished);
    assert.equal(await market.read.replicaState([deal1, 0n]), ReplicaState.Finished);
    const refund = 3n * 8n * PRICE1 - (8n + 2n + 3n) * PRICE1;
    await viem.assertions.emitWithArgs(market.write.claimRefund([deal1], { account: watcher.account }), market, "DealRefunded", [
      deal1,
      getAddress(client.account.address),
      refund,
    ]);
    const settled = await market.getEvents.ReplicaSettled({ dealId: deal1 }, { fromBlock: "latest" });
    assert.deepEqual(
      settled.map((e) => [e.args.replicaIndex, e.args.lessor, e.args.provenPeriods, e.args.missedPeriods, e.args.payment, e.args.slashed, e.args.released, e.args.failed]),
      [
        [0n, a, 8n, 0n, 8n * PRICE1, 0n, COLLATERAL, false],
        [1n, c, 3n, 0n, 3n * PRICE1 + REPAIR, 0n, COLLATERAL, false],
      ],
      "A's 8 periods; C's 3 periods plus the repair reward",
    );
    assert.equal((await market.read.getReplica([deal1, 1n])).paidPeriods, 5);
    assert.equal((await market.read.getReplica([deal1, 1n])).repairReward, 0n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([deal1]), market, "MarketAlreadyRefunded", [deal1]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([deal1, 0n]), market, "MarketReplicaNotSettleable", [deal1, 0n, ReplicaState.Finished]);
    // Deal 2's piece, in the same sector as deal 1's, is settled on its own.
    await market.write.settleReplica([deal2, 0n], { account: watcher.account });
    await viem.assertions.emitWithArgs(market.write.claimRefund([deal2]), market, "DealRefunded", [deal2, getAddress(client.account.address), 0n]);
    assert.equal(await vault.read.escrowed(), 0n);

    assert.equal(await vault.read.withdrawableOf([a]), 8n * (PRICE1 + PRICE2));
    assert.equal(await vault.read.withdrawableOf([c]), 3n * PRICE1 + REPAIR);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), toClient + refund);
    assert.equal(await registry.read.lockedStakeOf([a]), 0n);
    assert.equal(await registry.read.freeStakeOf([a]), freeA);
    assert.equal(await registry.read.lockedStakeOf([c]), 0n);
    assert.equal(await registry.read.freeStakeOf([b]), STAKE - COLLATERAL);
    assert.equal((await market.read.getSector([sectorA.id])).livePieces, 0);

    // The books: everything escrowed, plus B's slash, went out as payments, the client's share and refunds.
    const payments = 8n * (PRICE1 + PRICE2) + 2n * PRICE1 + 3n * PRICE1 + REPAIR;
    assert.equal(escrowIn + COLLATERAL, payments + toClient + refund);

    // Everyone withdraws; the vault ends empty.
    const before = await token.read.balanceOf([a]);
    await vault.write.withdraw({ account: lessorA.account });
    assert.equal((await token.read.balanceOf([a])) - before, 8n * (PRICE1 + PRICE2));
    for (const w of [lessorB, lessorC, client]) await vault.write.withdraw({ account: w.account });
    assert.equal(await token.read.balanceOf([vault.address]), 0n);
    assert.equal(await vault.read.totalWithdrawable(), 0n);
  });

  it("keeps the vault's balance equal to escrow plus withdrawable through a settled miss", async function () {
    const s = await networkHelpers.loadFixture(lifecycleFixture);
    const { market, vault, token, registry, client, lessorA, deal1 } = s;
    const a = getAddress(lessorA.account.address);
    await fillAndProve(s, lessorA, deal1, 0, FILE);
    // A proves periods 1..8 but 4: one miss, less than maxMisses.
    for (let p = 1n; p <= 8n; p++) {
      await goToPeriod(s, p);
      if (p !== 4n) await market.write.submitPoSt(await postArgs(s, lessorA), { account: lessorA.account });
    }
    assert.equal(await market.read.isPeriodProven([a, 3n]), true);
    assert.equal(await market.read.isPeriodProven([a, 4n]), false);
    assert.equal(await market.read.replicaState([deal1, 0n]), ReplicaState.Proving);
    await goToPeriod(s, 9n);
    await viem.assertions.emitWithArgs(market.write.settleReplica([deal1, 0n]), market, "ReplicaSettled", [
      deal1,
      0n,
      a,
      7n,
      1n,
      7n * PRICE1,
      MISS_SLASH,
      COLLATERAL - MISS_SLASH,
      false,
    ]);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), MISS_SLASH);
    assert.equal(await registry.read.lockedStakeOf([a]), 0n);
    const balance = await token.read.balanceOf([vault.address]);
    assert.equal(balance, (await vault.read.escrowed()) + (await vault.read.totalWithdrawable()));
  });
});
