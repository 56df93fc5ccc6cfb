import assert from "node:assert/strict";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, OPERATOR_ROLE, TEST_MARKET_PARAMS, deployMarketSystem, stakeLessor, type MarketParams } from "./helpers/market-fixture.js";
import {
  commitArgsOf,
  commitSector,
  createDeal,
  fillAndProve,
  goToPeriod,
  porepAnswerOf,
  porepSeedOf,
  postArgs,
  postPlan,
  sealSectorFor,
  seedCurrentPeriod,
  provenCapacity,
} from "./helpers/market-actions.js";
import { flipWord, porepProof, pseudoRandomBytes } from "./helpers/proofs.js";
import { DealState, ReplicaState, SectorState } from "../node/chain/states.js";
import { ZERO_HASHES } from "../node/proofs/merkle.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "errors-file"); // 32 segments, depth 5
const BIG_FILE = pseudoRandomBytes(3000, "errors-big-file"); // 94 segments, depth 7
const PRICE_PER_GIB = GIB * 7n;
const PRICE = 7000n;
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n;

async function dealFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 2, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
  return { ...system, dealId };
}

/** Deal (periods 1..5) with both replicas proven in period 0: A holds slot 0, B slot 1, each in a sector of its own. */
async function provingFixture() {
  const system = await dealFixture();
  const { dealId, lessorA, lessorB } = system;
  const a = await fillAndProve(system, lessorA, dealId, 0, FILE);
  const b = await fillAndProve(system, lessorB, dealId, 1, FILE);
  return { ...system, a, b };
}

describe("StorageMarket: refusals", function () {
  describe("deploy and deal creation", function () {
    it("rejects bad parameters at deploy", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const deploy = (override: Partial<MarketParams>) =>
        viem.deployContract("StorageMarket", [s.registry.address, s.vault.address, { ...TEST_MARKET_PARAMS, ...override }]);
      const cases: [Partial<MarketParams>, string][] = [
        [{ periodLength: 0n }, "periodLength"],
        [{ kPoSt: 0 }, "kPoSt"],
        [{ maxMisses: 0 }, "maxMisses"],
        [{ bountyBps: 10_001 }, "bountyBps"],
        [{ minSegments: 0 }, "minSegments"],
        [{ minSectorLog: 18 }, "maxSectorLog"],
        [{ maxSectorLog: 46 }, "maxSectorLog"],
        [{ minSectorLog: 1 }, "minSectorLog"], // 17 - 1 = 16 size classes: one too many for the counts word
      ];
      for (const [override, name] of cases) {
        await viem.assertions.revertWithCustomErrorWithArgs(deploy(override), s.market, "MarketInvalidParameter", [name]);
      }
      await deploy({ minSectorLog: 2, maxSectorLog: 17 });
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
      // Smallest deal: minSegments (16) segments; 481 bytes are 16 segments, 480 only 15.
      await viem.assertions.revertWithCustomErrorWithArgs(create(480n, 1, 5, PRICE_PER_GIB, COLLATERAL), market, "MarketDealTooSmall", [480n, 512n]);
      await create(481n, 1, 5, PRICE_PER_GIB, COLLATERAL);
    });

    it("rejects unknown deals and sectors", async function () {
      const { market, lessorA } = await networkHelpers.loadFixture(dealFixture);
      const unknown = `0x${"ab".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(market.read.getDeal([unknown]), market, "MarketUnknownDeal", [unknown]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([0n, 5, unknown, [unknown], "0x00"], { account: lessorA.account }), market, "MarketUnknownDeal", [
        unknown,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([unknown, 0n]), market, "MarketUnknownDeal", [unknown]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([unknown, []], { account: lessorA.account }), market, "MarketUnknownSector", [unknown]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([unknown], { account: lessorA.account }), market, "MarketUnknownSector", [unknown]);
      assert.equal(await market.read.sectorState([unknown]), SectorState.None);
    });
  });

  describe("cancellation and refunds", function () {
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
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketDealCancelled", [dealId]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([0n, 5, dealId, [dealId], "0x00"], { account: lessorA.account }), market, "MarketDealCancelled", [
        dealId,
      ]);
    });

    it("refuses to cancel once a replica was filled, even after that filling failed", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      await commitSector(s, s.lessorA, [{ dealId: s.dealId, index: 0, bytes: FILE }]);
      await viem.assertions.revertWithCustomErrorWithArgs(s.market.write.cancelDeal([s.dealId], { account: s.client.account }), s.market, "MarketDealAlreadyFilled", [s.dealId]);
      await networkHelpers.time.increase(TEST_MARKET_PARAMS.porepTimeout + 1n);
      await s.market.write.settleReplica([s.dealId, 0n]);
      assert.equal(await s.market.read.replicaState([s.dealId, 0n]), ReplicaState.Open);
      await viem.assertions.revertWithCustomErrorWithArgs(s.market.write.cancelDeal([s.dealId], { account: s.client.account }), s.market, "MarketDealAlreadyFilled", [s.dealId]);
    });

    it("refunds everything of a deal nobody stored, after its end, once; then it cannot be cancelled", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, vault, client, stranger, dealId } = s;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketDealNotEnded", [dealId, 6n, 0n]);
      await goToPeriod(s, 6n);
      assert.equal(await market.read.dealState([dealId]), DealState.Failed);
      await viem.assertions.emitWithArgs(market.write.claimRefund([dealId], { account: stranger.account }), market, "DealRefunded", [
        dealId,
        getAddress(client.account.address),
        2n * 5n * PRICE,
      ]);
      assert.equal(await vault.read.withdrawableOf([client.account.address]), 2n * 5n * PRICE);
      assert.equal(await vault.read.escrowed(), 0n);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.claimRefund([dealId]), market, "MarketAlreadyRefunded", [dealId]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.cancelDeal([dealId], { account: client.account }), market, "MarketAlreadyRefunded", [dealId]);
    });
  });

  describe("committing sectors", function () {
    it("refuses bad sectors and bad piece lists", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, lessorA, stranger, dealId } = s;
      const commit = (args: readonly [bigint, number, Hex, readonly Hex[], Hex], wallet = lessorA) => market.write.commitSector(args, { account: wallet.account });
      const commR = `0x${"77".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 5, commR, [dealId], "0x00"], stranger), market, "MarketLessorNotActive", [getAddress(stranger.account.address)]);
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 1, commR, [], "0x"]), market, "MarketInvalidSectorSize", [1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 18, commR, [], "0x"]), market, "MarketInvalidSectorSize", [18n]);
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 5, commR, [dealId], "0x0001"]), market, "MarketPieceListMismatch", [1n, 2n]);
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 5, commR, [dealId], "0x02"]), market, "MarketInvalidReplicaIndex", [dealId, 2n, 2n]);
      // A depth-5 piece in a 16-segment sector: larger than the sector; a depth-7 piece after a depth-5 one is out of order.
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 4, commR, [dealId], "0x00"]), market, "MarketSectorOverfull", [32n, 16n]);
      const big = await createDeal(s, { bytes: BIG_FILE, replicas: 1, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: 3n * COLLATERAL });
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 8, commR, [dealId, big], "0x0000"]), market, "MarketPiecesOutOfOrder", [1n]);
      // Two slots of one deal in one sector: one identity holds at most one live replica of a deal.
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 6, commR, [dealId, dealId], "0x0001"]), market, "MarketLessorAlreadyHoldsReplica", [
        dealId,
        getAddress(lessorA.account.address),
        0n,
      ]);
      // The same slot twice in one sector: the second is no longer open. (The error's state argument reads
      // Proving: the sector being committed is not stored yet when the second piece is checked.)
      await viem.assertions.revertWithCustomError(commit([0n, 6, commR, [dealId, dealId], "0x0000"]), market, "MarketReplicaNotOpen");
      // 128 + 32 segments in a 128-segment sector.
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 7, commR, [big, dealId], "0x0000"]), market, "MarketSectorOverfull", [160n, 128n]);
      // A lessor registered with too little stake: the registry refuses to lock collateral.
      const [, , , , , , , , poor] = await viem.getWalletClients();
      await stakeLessor(s, poor.account.address, 10n);
      await viem.assertions.revertWithCustomErrorWithArgs(commit([0n, 5, commR, [dealId], "0x00"], poor), s.registry, "RegistryInsufficientFreeStake", [
        getAddress(poor.account.address),
        10n,
        COLLATERAL,
      ]);
    });

    it("refuses a taken slot, a second slot of the same deal, a reused sector number and a deal in its last period", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, lessorA, lessorB, dealId } = s;
      const a = await commitSector(s, lessorA, [{ dealId, index: 0, bytes: FILE }]);
      const commR = `0x${"77".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([0n, 5, commR, [dealId], "0x00"], { account: lessorB.account }), market, "MarketReplicaNotOpen", [
        dealId,
        0n,
        ReplicaState.Committed,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([1n, 5, commR, [dealId], "0x01"], { account: lessorA.account }), market, "MarketLessorAlreadyHoldsReplica", [
        dealId,
        getAddress(lessorA.account.address),
        0n,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([0n, 5, commR, [], "0x"], { account: lessorA.account }), market, "MarketSectorExists", [a.id]);
      // Slot 1 can be filled while a whole period remains after the current one: until period 4 of 1..5.
      await goToPeriod(s, 5n);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([0n, 5, commR, [dealId], "0x01"], { account: lessorB.account }), market, "MarketDealEnded", [
        dealId,
        6n,
        5n,
      ]);
    });

    it("commits a sector: ids from (lessor, number), commD recomputed from the pieces, collateral locked, events per piece", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, registry, lessorA, dealId } = s;
      const a = getAddress(lessorA.account.address);
      const big = await createDeal(s, { bytes: BIG_FILE, replicas: 1, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: 3n * COLLATERAL });
      const sector = await sealSectorFor(s, a, [
        { dealId, index: 1, bytes: FILE },
        { dealId: big, index: 0, bytes: BIG_FILE },
      ], { sectorNumber: 7n, log2Segments: 9 });
      const tx = market.write.commitSector(commitArgsOf(sector), { account: lessorA.account });
      await viem.assertions.emitWithArgs(tx, market, "SectorCommitted", [sector.id, a, 7n, 9, sector.commR, sector.commD, 2n]);
      const filled = await market.getEvents.ReplicaFilled({}, { fromBlock: "latest" });
      assert.deepEqual(
        filled.map((e) => [e.args.dealId, e.args.replicaIndex, e.args.sector, e.args.offset, e.args.collateral]),
        [
          [big, 0n, sector.id, 0n, 3n * COLLATERAL],
          [dealId, 1n, sector.id, 128n, COLLATERAL],
        ],
      );
      assert.equal(await registry.read.lockedStakeOf([a]), 4n * COLLATERAL);
      const stored = await market.read.getSector([sector.id]);
      assert.equal(stored.commD, sector.commD);
      assert.equal(stored.log2Segments, 9);
      assert.equal(stored.livePieces, 2);
      assert.equal(await market.read.sectorState([sector.id]), SectorState.Committed);
      assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Committed);
      assert.equal((await market.read.getReplica([dealId, 1n])).sector, sector.id);
      // A capacity sector holds no piece: its commD is the zero tree's root, nothing is locked.
      const capacity = await sealSectorFor(s, a, [], { log2Segments: 6 });
      await viem.assertions.emitWithArgs(market.write.commitSector(commitArgsOf(capacity), { account: lessorA.account }), market, "SectorCommitted", [
        capacity.id,
        a,
        capacity.sectorNumber,
        6,
        capacity.commR,
        `0x${Buffer.from(ZERO_HASHES[6]).toString("hex")}`,
        0n,
      ]);
      assert.equal(await registry.read.lockedStakeOf([a]), 4n * COLLATERAL);
    });
  });

  describe("PoRep", function () {
    it("rejects early, foreign, wrong, truncated and replayed PoRep answers, then accepts and refuses a second", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, lessorA, lessorB, dealId } = s;
      const k = TEST_MARKET_PARAMS.kPoRep;
      // Answer in the very next block: the seed block's hash does not exist yet.
      const early = await sealSectorFor(s, lessorB.account.address, [{ dealId, index: 1, bytes: FILE }]);
      await market.write.commitSector(commitArgsOf(early), { account: lessorB.account });
      const commitBlock = (await market.read.getSector([early.id])).commitBlock;
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([early.id, []], { account: lessorB.account }), market, "MarketPoRepSeedNotReady", [
        early.id,
        commitBlock + 2n,
      ]);

      const a = await commitSector(s, lessorA, [{ dealId, index: 0, bytes: FILE }]);
      const seed = await porepSeedOf(s, a.id);
      await networkHelpers.mine(1); // an eth_call at latest cannot read the latest block's hash
      assert.equal(await market.read.porepSeed([a.id]), seed);
      const good = porepProof(seed, a, k);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([a.id, good], { account: lessorB.account }), market, "MarketNotSectorLessor", [
        a.id,
        getAddress(lessorB.account.address),
      ]);
      const answer = (proof: Hex[]) => market.write.answerPoRep([a.id, proof], { account: lessorA.account });
      await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, 3)), market, "MarketInvalidPoRep", [a.id]); // wrong sibling
      await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, 0)), market, "MarketInvalidPoRep", [a.id]); // wrong segment
      await viem.assertions.revertWithCustomErrorWithArgs(answer(good.slice(0, -1)), market, "MarketInvalidPoRep", [a.id]); // truncated
      await viem.assertions.revertWithCustomErrorWithArgs(answer([...good, good[0]]), market, "MarketInvalidPoRep", [a.id]); // trailing word
      // The answer to another seed: openings of the wrong indices.
      await viem.assertions.revertWithCustomErrorWithArgs(answer(porepProof(`0x${"42".repeat(32)}`, a, k)), market, "MarketInvalidPoRep", [a.id]);
      // The same bytes sealed as another sector (another replicaId), answered for this one.
      const other = await sealSectorFor(s, lessorA.account.address, [{ dealId, index: 0, bytes: FILE }], { sectorNumber: 99n });
      await viem.assertions.revertWithCustomErrorWithArgs(answer(porepProof(seed, other, k)), market, "MarketInvalidPoRep", [a.id]);
      await viem.assertions.emitWithArgs(answer(good), market, "PoRepAccepted", [a.id, getAddress(lessorA.account.address), 1]);
      assert.equal(await market.read.sectorState([a.id]), SectorState.Proving);
      assert.equal(await market.read.porepSeed([a.id]), `0x${"0".repeat(64)}`, "no PoRep seed once proving");
      assert.equal(await market.read.provingCounts([lessorA.account.address]), 1n << 48n, "one sector of 2^5 segments: class 3");
      assert.equal(await market.read.provingSectorAt([lessorA.account.address, 5, 0n]), a.id);
      await viem.assertions.revertWithCustomErrorWithArgs(answer(good), market, "MarketSectorWrongState", [a.id, SectorState.Proving]);
    });

    it("a late PoRep fails the sector's pieces: settling slashes missSlashBps, releases the rest and reopens the slot, also to the same lessor", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, registry, vault, lessorA, stranger, client, dealId } = s;
      const a = getAddress(lessorA.account.address);
      const freeBefore = await registry.read.freeStakeOf([a]);
      const sector = await commitSector(s, lessorA, [{ dealId, index: 0, bytes: FILE }]);
      const proof = await porepAnswerOf(s, sector);
      const { commitTime } = await market.read.getSector([sector.id]);
      // Not settleable while the PoRep may still come. (The error's state argument reads Open here, not
      // Committed: _settlement returns its zero Settlement before setting the state.)
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Committed);
      await viem.assertions.revertWithCustomError(market.write.settleReplica([dealId, 0n]), market, "MarketReplicaNotSettleable");
      await networkHelpers.time.increaseTo(commitTime + TEST_MARKET_PARAMS.porepTimeout + 1n);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
      assert.equal(await market.read.sectorState([sector.id]), SectorState.Expired);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([sector.id, proof], { account: lessorA.account }), market, "MarketSectorWrongState", [
        sector.id,
        SectorState.Expired,
      ]);
      await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n], { account: stranger.account }), market, "ReplicaSettled", [
        dealId,
        0n,
        a,
        0n,
        0n,
        0n,
        MISS_SLASH,
        COLLATERAL - MISS_SLASH,
        true,
      ]);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Open);
      assert.equal((await market.read.getReplica([dealId, 0n])).repairReward, 0n, "no repair reward from a PoRep that never passed");
      assert.equal(await registry.read.lockedStakeOf([a]), 0n);
      assert.equal(await registry.read.freeStakeOf([a]), freeBefore - MISS_SLASH);
      assert.equal(await vault.read.withdrawableOf([client.account.address]), MISS_SLASH);
      assert.equal(await vault.read.withdrawableOf([stranger.account.address]), 0n);
      // An expired PoRep is no lost replica: the same lessor may take the slot again.
      await fillAndProve(s, lessorA, dealId, 0, FILE);
      assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    });

    it("a PoRep whose seed block left the 256-block window is late too", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const sector = await commitSector(s, s.lessorA, [{ dealId: s.dealId, index: 0, bytes: FILE }]);
      assert.equal(await s.market.read.sectorState([sector.id]), SectorState.Committed);
      await networkHelpers.mine(256);
      assert.equal(await s.market.read.sectorState([sector.id]), SectorState.Expired);
      await s.market.write.settleReplica([s.dealId, 0n], { account: s.watcher.account });
      assert.equal(await s.market.read.replicaState([s.dealId, 0n]), ReplicaState.Open);
    });
  });

  describe("PoSt", function () {
    it("refuses a PoSt for another period, before the seed is readable and from a lessor with nothing proving; accepts it once", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, lessorC } = s;
      const a = getAddress(lessorA.account.address);
      await goToPeriod(s, 1n);
      // Nobody asked for the seed yet (readyBlock 0); then asked, but its seed block is the very next one.
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([1n, []], { account: lessorA.account }), market, "MarketPeriodNotSeeded", [1n, 0n]);
      await market.write.seedPeriod();
      const seedBlock = await market.read.periodSeedBlock([1n]);
      assert.equal(seedBlock, (await (await viem.getPublicClient()).getBlockNumber()) + 1n, "the seed block follows the request");
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([1n, []], { account: lessorA.account }), market, "MarketPeriodNotSeeded", [1n, seedBlock + 1n]);
      await seedCurrentPeriod(s);
      const [period, proof] = await postArgs(s, lessorA);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([0n, proof], { account: lessorA.account }), market, "MarketWrongPeriod", [0n, 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([2n, proof], { account: lessorA.account }), market, "MarketWrongPeriod", [2n, 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([period, proof], { account: lessorC.account }), market, "MarketNothingToProve", [
        getAddress(lessorC.account.address),
      ]);
      assert.equal(await provenCapacity(s, a), 0n, "nothing proven recently");
      await viem.assertions.emitWithArgs(market.write.submitPoSt([period, proof], { account: lessorA.account }), market, "PoStSubmitted", [a, 1n, 1n, 32n * 32n]);
      assert.equal(await market.read.isPeriodProven([a, 1n]), true);
      assert.equal(await provenCapacity(s, a), 32n * 32n);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([period, proof], { account: lessorA.account }), market, "MarketPeriodAlreadyProven", [a, 1n]);
      // Nobody is paid by a PoSt: pieces are paid when settled.
      assert.equal(await s.vault.read.withdrawableOf([a]), 0n);
    });

    it("rejects wrong siblings and segments (naming the challenge), wrong lengths, and replays from another period or lessor", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, lessorA, lessorB } = s;
      const a = getAddress(lessorA.account.address);
      await goToPeriod(s, 1n);
      const plan = await postPlan(s, lessorA);
      const { proof } = plan;
      const stride = 5 + 1;
      assert.equal(proof.length, TEST_MARKET_PARAMS.kPoSt * stride);
      const submitA = (p: readonly Hex[]) => market.write.submitPoSt([1n, p], { account: lessorA.account });
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, 1)), market, "MarketInvalidPoSt", [a, 1n, 0n]); // first sibling
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, stride - 1)), market, "MarketInvalidPoSt", [a, 1n, 0n]); // top sibling
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, stride)), market, "MarketInvalidPoSt", [a, 1n, 1n]); // second segment
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(flipWord(proof, 2 * stride + 3)), market, "MarketInvalidPoSt", [a, 1n, 2n]); // last opening
      const n = BigInt(proof.length);
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(proof.slice(0, -1)), market, "MarketPoStLengthMismatch", [n, n - 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(submitA([...proof, proof[0]]), market, "MarketPoStLengthMismatch", [n, n + 1n]);
      await viem.assertions.revertWithCustomErrorWithArgs(submitA([]), market, "MarketPoStLengthMismatch", [BigInt(stride), 0n]);
      // B's valid PoSt (same data, its own sector) presented by A: other challenges, other commR.
      const [, proofB] = await postArgs(s, lessorB);
      await viem.assertions.revertWithCustomErrorWithArgs(submitA(proofB), market, "MarketInvalidPoSt", [a, 1n, 0n]);
      await submitA(proof);
      // Period 2: replaying period 1's proof fails at the first challenge that moved.
      await goToPeriod(s, 2n);
      const next = await postPlan(s, lessorA);
      const moved = next.challenges.findIndex((c, j) => c.offset !== plan.challenges[j].offset);
      assert.ok(moved >= 0);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([2n, proof], { account: lessorA.account }), market, "MarketInvalidPoSt", [a, 2n, BigInt(moved)]);
      await market.write.submitPoSt([2n, next.proof], { account: lessorA.account });
    });

    it("a sector whose PoRep is pending is not proven: a lessor with only that has nothing to prove", async function () {
      const s = await networkHelpers.loadFixture(dealFixture);
      const { market, lessorA, dealId } = s;
      await commitSector(s, lessorA, [{ dealId, index: 0, bytes: FILE }]);
      await goToPeriod(s, 1n);
      await seedCurrentPeriod(s);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([1n, []], { account: lessorA.account }), market, "MarketNothingToProve", [
        getAddress(lessorA.account.address),
      ]);
    });
  });

  describe("settlement", function () {
    it("refuses to settle a proving, an open or an out-of-range slot; a failure's repair reward returns to the client if nobody repairs", async function () {
      const s = await networkHelpers.loadFixture(provingFixture);
      const { market, vault, client, lessorA, lessorB, dealId } = s;
      const b = getAddress(lessorB.account.address);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([dealId, 2n]), market, "MarketInvalidReplicaIndex", [dealId, 2n, 2n]);
      await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([dealId, 0n]), market, "MarketReplicaNotSettleable", [dealId, 0n, ReplicaState.Proving]);
      // A proves periods 1..5; B only period 1 and fails in period 4 (misses 2, 3).
      for (let p = 1n; p <= 5n; p++) {
        await goToPeriod(s, p);
        await market.write.submitPoSt(await postArgs(s, lessorA), { account: lessorA.account });
        if (p === 1n) await market.write.submitPoSt(await postArgs(s, lessorB), { account: lessorB.account });
        if (p === 3n) assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Proving);
        if (p === 4n) {
          assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Failed);
          await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 1n]), market, "ReplicaSettled", [dealId, 1n, b, 1n, 2n, PRICE, COLLATERAL, 0n, true]);
          await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([dealId, 1n]), market, "MarketReplicaNotSettleable", [dealId, 1n, ReplicaState.Open]);
        }
      }
      const repair = (COLLATERAL - 2n * MISS_SLASH) / 2n;
      assert.equal((await market.read.getReplica([dealId, 1n])).repairReward, repair);
      const clientBefore = await vault.read.withdrawableOf([client.account.address]);
      assert.equal(clientBefore, COLLATERAL - repair);
      await goToPeriod(s, 6n);
      await viem.assertions.emitWithArgs(market.write.claimRefund([dealId]), market, "DealRefunded", [
        dealId,
        getAddress(client.account.address),
        2n * 5n * PRICE - (5n + 1n) * PRICE + repair,
      ]);
      assert.equal((await market.read.getReplica([dealId, 1n])).repairReward, 0n);
      assert.equal(await vault.read.withdrawableOf([lessorA.account.address]), 5n * PRICE);
      assert.equal(await vault.read.escrowed(), 0n);
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
