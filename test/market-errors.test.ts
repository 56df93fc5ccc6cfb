import assert from "node:assert/strict";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, OPERATOR_ROLE, TEST_MARKET_PARAMS, deployMarketSystem, stakeLessor, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fill, fillAndProve, goToPeriod, indexesHex, porepSeedOf, postArgs, type ProvenReplica, seedCurrentPeriod } from "./helpers/market-actions.js";
import { porepProof, pseudoRandomBytes } from "./helpers/proofs.js";
import { DealState, ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "errors-file");
const OTHER_FILE = pseudoRandomBytes(700, "errors-other-file");
const PRICE_PER_GIB = GIB * 7n;
const PRICE = 7000n;
const COLLATERAL = 10_000_000n;
const K_POST = TEST_MARKET_PARAMS.kPoSt;
const DEPTH = 5;



async function dealFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 2, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  return { ...system, dealId };
}

/** Deal (periods 1..5) with both replicas proven in period 0: A holds slot 0, B slot 1. Still in period 0. */
async function provingFixture() {
  const system = await dealFixture();
  const { dealId, lessorA, lessorB } = system;
  const a: ProvenReplica = { dealId, index: 0, sealed: await fillAndProve(system, lessorA, dealId, 0, FILE) };
  const b: ProvenReplica = { dealId, index: 1, sealed: await fillAndProve(system, lessorB, dealId, 1, FILE) };
  return { ...system, a, b };
}

function flipWord(proof: readonly Hex[], at: number): Hex[] {
  const out = [...proof];
  out[at] = `0x${(BigInt(out[at]) ^ 1n).toString(16).padStart(64, "0")}` as Hex;
  return out;
}

describe("StorageMarket: refusals", function () {
  describe("deploy and deal creation", function () {
    it("rejects bad parameters at deploy", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("StorageMarket", [s.registry.address, s.vault.address, { ...TEST_MARKET_PARAMS, periodLength: 0n }]),
        s.market,
        "MarketInvalidParameter",
        ["periodLength"],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("StorageMarket", [s.registry.address, s.vault.address, { ...TEST_MARKET_PARAMS, bountyBps: 10_001 }]),
        s.market,
        "MarketInvalidParameter",
        ["bountyBps"],
      );
    });

    it("rejects bad deal terms", async function () {
      const { market, client } = await networkHelpers.loadFixture(dealFixture);
      const commD = `0x${"11".repeat(32)}` as Hex;
      const create = (size: bigint, replicas: number, duration: number, price: bigint, collateral: bigint) =>
        market.write.createDeal([commD, size, replicas, duration, price, collateral], { account: client.account });
      await viem.assertions.revertWithCustomErrorWithArgs(create(1000n, 0, 5, PRICE_PER_GIB, COLLATERAL), market, "MarketInvalidReplicaCount", [0n]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(1000n, 11, 5, PRICE_PER_GIB, COLLATERAL), market, "MarketInvalidReplicaCount", [11n]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(0n, 1, 5, PRICE_PER_GIB, COLLATERAL), market, "MarketInvalidSize", [0n]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(1n << 51n, 1, 5, PRICE_PER_GIB, COLLATERAL), market, "MarketInvalidSize", [1n << 51n]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(1000n, 1, 5, 0n, COLLATERAL), market, "MarketInvalidPrice", [0n]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(1000n, 1, 5, PRICE_PER_GIB, 999_999n), market, "MarketCollateralTooLow", [
        999_999n,
        1_000_000n,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(create(1000n, 1, 0, PRICE_PER_GIB, COLLATERAL), market, "MarketInvalidDuration", [0n]);
    });

    it("rejects unknown deals", async function () {
      const { market, lessorA } = await networkHelpers.loadFixture(dealFixture);
      const unknown = `0x${"ab".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(market.read.getDeal([unknown]), market, "MarketUnknownDeal", [unknown]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.fillReplica([unknown, 0n, unknown], { account: lessorA.account }),
        market,
        "MarketUnknownDeal",
        [unknown],
      );
    });
  });

  describe("cancellation, top-up and refunds", function () {
    it("cancels an unfilled deal with a full refund, once, by the client only", async function () {
      const { market, vault, client, stranger, lessorA, dealId } = await networkHelpers.loadFixture(dealFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.cancelDeal([dealId], { account: stranger.account }), market, "MarketNotDealClient", [
        dealId,
        getAddress(stranger.account.address),
      ]);
      await viem.assertions.emitWithArgs(market.write.cancelDeal([dealId], { account: client.account }), market, "DealCancelled", [dealId, 2n * 5n * PRICE]);
      assert.equal(await vault.read.withdrawableOf([client.account.address]), 2n * 5n * PRICE);
      assert.equal(await market.read.dealState([dealId]), DealState.Cancelled);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.cancelDeal([dealId], { account: client.account }), market, "MarketDealCancelled", [dealId]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.topUp([dealId, 1]), market, "MarketDealCancelled", [dealId]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketDealCancelled", [dealId]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.fillReplica([dealId, 0n, dealId], { account: lessorA.account }),
        market,
        "MarketDealCancelled",
        [dealId],
      );
    });

    it("refuses to cancel once a replica was filled", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      await fill(s, s.lessorA, s.dealId, 0, FILE);
      await viem.assertions.revertWithCustomErrorWithArgs(s.market.write.cancelDeal([s.dealId], { account: s.client.account }), s.market, "MarketDealAlreadyFilled", [
        s.dealId,
      ]);
      // Nor can the deal be extended: the lessor accepted its end when it filled.
      const endBefore = (await s.market.read.getDeal([s.dealId])).endPeriod;
      await viem.assertions.revertWithCustomErrorWithArgs(s.market.write.topUp([s.dealId, 2], { account: s.client.account }), s.market, "MarketDealAlreadyFilled", [s.dealId]);
      assert.equal((await s.market.read.getDeal([s.dealId])).endPeriod, endBefore);
    });

    it("tops up a deal no lessor filled yet and refunds everything unspent of a deal nobody stored", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, vault, client, stranger, dealId } = s;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.topUp([dealId, 0]), market, "MarketInvalidDuration", [0n]);
      await viem.assertions.emitWithArgs(market.write.topUp([dealId, 2], { account: stranger.account }), market, "DealToppedUp", [
        dealId,
        getAddress(stranger.account.address),
        2,
        2n * 2n * PRICE,
        8,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketDealNotEnded", [dealId, 8n, 0n]);
      await goToPeriod(s, 8n);
      assert.equal(await market.read.dealState([dealId]), DealState.Failed);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.topUp([dealId, 1]), market, "MarketDealEnded", [dealId, 8n, 8n]);
      await market.write.claimRefund([dealId]);
      assert.equal(await vault.read.withdrawableOf([client.account.address]), 2n * 7n * PRICE);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketAlreadyRefunded", [dealId]);
    });
  });

  describe("filling and PoRep", function () {
    it("refuses bad fills", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, registry, lessorA, stranger, dealId } = s;
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.fillReplica([dealId, 2n, dealId], { account: lessorA.account }),
        market,
        "MarketInvalidReplicaIndex",
        [dealId, 2n, 2n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.fillReplica([dealId, 0n, dealId], { account: stranger.account }), market, "MarketLessorNotActive", [
        getAddress(stranger.account.address),
      ]);
      // A lessor registered with too little stake: the registry refuses to lock collateral.
      const [, , , , , , , , poor] = await viem.getWalletClients();
      await stakeLessor(s, poor.account.address, 10n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.fillReplica([dealId, 0n, dealId], { account: poor.account }),
        registry,
        "RegistryInsufficientFreeStake",
        [getAddress(poor.account.address), 10n, COLLATERAL],
      );
      await fill(s, lessorA, dealId, 0, FILE);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.fillReplica([dealId, 0n, dealId], { account: s.lessorB.account }), market, "MarketReplicaNotOpen", [
        dealId,
        0n,
        ReplicaState.Committed,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.fillReplica([dealId, 1n, dealId], { account: lessorA.account }),
        market,
        "MarketLessorAlreadyHoldsReplica",
        [dealId, getAddress(lessorA.account.address), 0n],
      );
      // Too late: the deal's last period has begun.
      await goToPeriod(s, 5n);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.fillReplica([dealId, 1n, dealId], { account: s.lessorB.account }), market, "MarketDealEnded", [
        dealId,
        6n,
        5n,
      ]);
    });

    it("rejects early, wrong, truncated and replayed PoRep answers", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, lessorA, lessorB, dealId } = s;
      const k = TEST_MARKET_PARAMS.kPoRep;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([dealId, 1n, []], { account: lessorB.account }), market, "MarketReplicaNotCommitted", [
        dealId,
        1n,
        ReplicaState.Open,
      ]);
      // Answer in the very next block: the seed block's hash does not exist yet.
      await market.write.fillReplica([dealId, 1n, dealId], { account: lessorB.account });
      const fillBlock = (await market.read.getReplica([dealId, 1n])).fillBlock;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([dealId, 1n, []], { account: lessorB.account }), market, "MarketPoRepSeedNotReady", [
        dealId,
        1n,
        fillBlock + 2n,
      ]);

      const a = await fill(s, lessorA, dealId, 0, FILE);
      const seed = await porepSeedOf(s, dealId, 0);
      const good = porepProof(seed, a, k);
      const answer = (proof: Hex[]) => market.write.answerPoRep([dealId, 0n, proof], { account: lessorA.account });
      const invalid: [Hex, bigint] = [dealId, 0n];
      await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, 3)), market, "MarketInvalidPoRep", invalid); // wrong sibling
      await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, 0)), market, "MarketInvalidPoRep", invalid); // wrong segment
      await viem.assertions.revertWithCustomErrorWithArgs(answer(good.slice(0, -1)), market, "MarketInvalidPoRep", invalid); // truncated
      await viem.assertions.revertWithCustomErrorWithArgs(answer([...good, good[0]]), market, "MarketInvalidPoRep", invalid); // trailing word
      // Openings of the wrong indices: the answer to another seed.
      await viem.assertions.revertWithCustomErrorWithArgs(answer(porepProof(`0x${"42".repeat(32)}`, a, k)), market, "MarketInvalidPoRep", invalid);
      // Replay of the same data sealed for another slot (another replicaId).
      const b = await fill(s, lessorB, (await createDeal(s, { bytes: FILE, replicas: 1, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL })), 0, FILE);
      await viem.assertions.revertWithCustomErrorWithArgs(answer(porepProof(seed, b, k)), market, "MarketInvalidPoRep", invalid);
      await viem.assertions.emitWithArgs(answer(good), market, "PoRepAccepted", [dealId, 0n, getAddress(lessorA.account.address), 1, 0n]);
    });

    it("expires a late PoRep by time, slashing for the reporter and the client, and reopens the slot", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, registry, vault, lessorA, watcher, client, dealId } = s;
      const freeBefore = await registry.read.freeStakeOf([lessorA.account.address]);
      const a = await fill(s, lessorA, dealId, 0, FILE);
      const replica = await market.read.getReplica([dealId, 0n]);
      const deadline = replica.fillTime + TEST_MARKET_PARAMS.porepTimeout;
      const lastBlock = replica.fillBlock + 256n;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.expirePoRep([dealId, 0n], { account: watcher.account }), market, "MarketPoRepNotExpired", [
        dealId,
        0n,
        deadline,
        lastBlock,
      ]);
      await networkHelpers.time.increaseTo(deadline + 1n);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
      const proof = porepProof(await porepSeedOf(s, dealId, 0), a, TEST_MARKET_PARAMS.kPoRep);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([dealId, 0n, proof], { account: lessorA.account }), market, "MarketPoRepLate", [
        dealId,
        0n,
        deadline,
        lastBlock,
      ]);
      await viem.assertions.emitWithArgs(market.write.expirePoRep([dealId, 0n], { account: watcher.account }), market, "PoRepExpired", [
        dealId,
        0n,
        getAddress(lessorA.account.address),
        2_000_000n,
        500_000n,
        getAddress(watcher.account.address),
      ]);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Open);
      assert.equal(await registry.read.lockedStakeOf([lessorA.account.address]), 0n);
      assert.equal(await registry.read.freeStakeOf([lessorA.account.address]), freeBefore - 2_000_000n);
      assert.equal(await vault.read.withdrawableOf([watcher.account.address]), 500_000n);
      assert.equal(await vault.read.withdrawableOf([client.account.address]), 1_500_000n);
      await fillAndProve(s, s.lessorB, dealId, 0, FILE);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    });

    it("expires a PoRep whose seed block left the 256-block window", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      await fill(s, s.lessorA, s.dealId, 0, FILE);
      await networkHelpers.mine(256);
      await s.market.write.expirePoRep([s.dealId, 0n], { account: s.watcher.account });
      assert.equal(await s.market.read.replicaState([s.dealId, 0n]), ReplicaState.Open);
    });
  });

  describe("PoSt", function () {
    it("rejects a proof for a period not yet due, then accepts it in period 1 and pays", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, vault, lessorA, a, dealId } = s;
      await seedCurrentPeriod(s);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt(await postArgs(s, [a]), { account: lessorA.account }), market, "MarketPeriodNotDue", [
        dealId,
        0n,
        0n,
      ]);
      await goToPeriod(s, 1n);
      // Nobody asked for the seed yet (readyBlock 0); then asked, but its seed block is the very next one.
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt(await postArgs(s, [a], 1n), { account: lessorA.account }), market, "MarketPeriodNotSeeded", [1n, 0n]);
      await market.write.seedPeriod();
      const seedBlock = await market.read.periodSeedBlock([1n]);
      assert.equal(seedBlock, (await (await viem.getPublicClient()).getBlockNumber()) + 1n, "the seed block follows the request");
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt(await postArgs(s, [a], 1n), { account: lessorA.account }), market, "MarketPeriodNotSeeded", [1n, seedBlock + 1n]);
      await viem.assertions.emitWithArgs(market.write.submitPoSt(await postArgs(s, [a]), { account: lessorA.account }), market, "PoStAccepted", [dealId, 0n, 1n]);
      assert.equal(await vault.read.withdrawableOf([lessorA.account.address]), PRICE);
      assert.equal(await market.read.isPeriodProven([dealId, 0n, 1n]), true);
    });

    it("rejects malformed batches", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, a, b, dealId } = s;
      await goToPeriod(s, 1n);
      await seedCurrentPeriod(s);
      const [period, dealIds, indexes, proof] = await postArgs(s, [a]);
      const submit = (args: readonly [bigint, readonly Hex[], Hex, readonly Hex[]], wallet = lessorA) =>
        market.write.submitPoSt(args, { account: wallet.account });
      await viem.assertions.revertWithCustomErrorWithArgs(submit([2n, dealIds, indexes, proof]), market, "MarketWrongPeriod", [2n, 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit([period, [], "0x", []]), market, "MarketEmptyPoSt", [1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit([period, [dealId, dealId], indexes, proof]), market, "MarketPoStBatchMismatch", [2n, 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit(await postArgs(s, [b])), market, "MarketNotReplicaLessor", [
        dealId,
        1n,
        getAddress(lessorA.account.address),
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit([period, dealIds, indexes, [...proof, proof[0]]]), market, "MarketPoStLengthMismatch", [
        BigInt(proof.length),
        BigInt(proof.length + 1),
      ]);
      // The same replica twice in one batch.
      await viem.assertions.revertWithCustomErrorWithArgs(submit([period, [dealId, dealId], indexesHex([0, 0]), [...proof, ...proof]]), market, "MarketPeriodAlreadyProven", [
        dealId,
        0n,
        1n,
      ]);
      await submit([period, dealIds, indexes, proof]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit([period, dealIds, indexes, proof]), market, "MarketPeriodAlreadyProven", [dealId, 0n, 1n]);
    });

    it("rejects wrong siblings, wrong indices, truncated paths and replays from another period or replica", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, lessorB, a, b, dealId } = s;
      await goToPeriod(s, 1n);
      await seedCurrentPeriod(s);
      const [period, dealIds, indexes, proof] = await postArgs(s, [a]);
      const submitA = (p: readonly Hex[]) => market.write.submitPoSt([period, dealIds, indexes, p], { account: lessorA.account });
      const invalidA: [Hex, bigint] = [dealId, 0n];
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, 1)), market, "MarketInvalidPoSt", invalidA); // sibling
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, DEPTH)), market, "MarketInvalidPoSt", invalidA); // top sibling
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, (DEPTH + 1) * (K_POST - 1))), market, "MarketInvalidPoSt", invalidA); // last segment
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(proof.slice(0, -1)), market, "MarketInvalidPoSt", invalidA); // truncated path
      // Openings in the wrong order = wrong indices.
      const stride = DEPTH + 1;
      const swapped = [...proof.slice(stride, 2 * stride), ...proof.slice(0, stride), ...proof.slice(2 * stride)];
      if (swapped.join() !== proof.join()) await viem.assertions.revertWithCustomErrorWithArgs(submitA(swapped), market, "MarketInvalidPoSt", invalidA);
      // B's valid openings (same data, other replica) presented for A's replica.
      const [, , , proofB] = await postArgs(s, [b]);
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(proofB), market, "MarketInvalidPoSt", invalidA);
      await submitA(proof);
      // Period 2: replaying period 1's proof fails (other challenges).
      await goToPeriod(s, 2n);
      await seedCurrentPeriod(s);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.submitPoSt([2n, dealIds, indexes, proof], { account: lessorA.account }),
        market,
        "MarketInvalidPoSt",
        invalidA,
      );
      await market.write.submitPoSt(await postArgs(s, [b]), { account: lessorB.account });
    });

    it("refuses a PoSt for a replica whose PoRep is pending, and after the deal's last period", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, a, dealId } = s;
      const other = await createDeal(s, { bytes: OTHER_FILE, replicas: 1, duration: 3, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
      const pending = await fill(s, lessorA, other, 0, OTHER_FILE);
      await goToPeriod(s, 1n);
      await seedCurrentPeriod(s);
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.submitPoSt(await postArgs(s, [{ dealId: other, index: 0, sealed: pending }]), { account: lessorA.account }),
        market,
        "MarketReplicaNotProving",
        [other, 0n, ReplicaState.Failed],
      );
      await goToPeriod(s, 6n);
      await seedCurrentPeriod(s);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt(await postArgs(s, [a]), { account: lessorA.account }), market, "MarketPeriodNotDue", [
        dealId,
        0n,
        6n,
      ]);
    });
  });

  describe("missed proofs", function () {
    it("refuses to mark open, proven, current, early or already-marked periods", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, watcher, a, dealId } = s;
      const mark = (index: bigint, period: bigint) => market.write.markProofMissing([dealId, index, period], { account: watcher.account });
      await viem.assertions.revertWithCustomErrorWithArgs(mark(2n, 0n), market, "MarketInvalidReplicaIndex", [dealId, 2n, 2n]);
      await goToPeriod(s, 1n);
      await seedCurrentPeriod(s);
      await market.write.submitPoSt(await postArgs(s, [a]), { account: lessorA.account });
      await viem.assertions.revertWithCustomErrorWithArgs(mark(0n, 1n), market, "MarketPeriodNotClosed", [1n, 1n]);
      await goToPeriod(s, 2n);
      await viem.assertions.revertWithCustomErrorWithArgs(mark(0n, 0n), market, "MarketPeriodNotDue", [dealId, 0n, 0n]);
      await viem.assertions.revertWithCustomErrorWithArgs(mark(0n, 1n), market, "MarketPeriodAlreadyProven", [dealId, 0n, 1n]);
      await mark(1n, 1n);
      await goToPeriod(s, 3n);
      // Period 1's report window closed with period 2 (§10.4).
      await viem.assertions.revertWithCustomErrorWithArgs(mark(0n, 1n), market, "MarketMissReportClosed", [dealId, 0n, 1n, 3n]);
      await mark(0n, 2n);
      await viem.assertions.revertWithCustomErrorWithArgs(mark(0n, 2n), market, "MarketMissAlreadyMarked", [dealId, 0n, 2n]);
      // Slot 1 fails after two misses; then it is no longer proving.
      await mark(1n, 2n);
      await viem.assertions.revertWithCustomErrorWithArgs(mark(1n, 2n), market, "MarketReplicaNotProving", [dealId, 1n, ReplicaState.Failed]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.finishReplica([dealId, 1n]), market, "MarketReplicaNotProving", [
        dealId,
        1n,
        ReplicaState.Failed,
      ]);
      // The repair reward stays escrowed and returns to the client if nobody repairs.
      await goToPeriod(s, 6n);
      const repair = (COLLATERAL - 4_000_000n) / 2n;
      assert.equal(await market.read.refundable([dealId]), 2n * 5n * PRICE - 1n * PRICE + repair);
    });
  });

  describe("vault", function () {
    it("refuses empty withdrawals and unbacked or over-escrow credits", async function () {
      const { vault, admin, stranger } = await networkHelpers.loadFixture(dealFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(vault.write.withdraw({ account: stranger.account }), vault, "MarketVaultNothingToWithdraw", [
        getAddress(stranger.account.address),
      ]);
      await vault.write.grantRole([OPERATOR_ROLE, admin.account.address]);
      const escrowed = await vault.read.escrowed();
      await viem.assertions.revertWithCustomErrorWithArgs(vault.write.credit([stranger.account.address, escrowed + 1n]), vault, "MarketVaultInsufficientEscrow", [
        escrowed,
        escrowed + 1n,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(vault.write.creditIncoming([stranger.account.address, 1n]), vault, "MarketVaultUnbacked", [
        escrowed,
        escrowed + 1n,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(vault.write.escrowIncoming([1n]), vault, "MarketVaultUnbacked", [escrowed, escrowed + 1n]);
    });
  });
});
