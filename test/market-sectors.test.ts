/**
 * The sector rules that matter most (docs/protocol.md §12): one PoSt per lessor per period over sectors of
 * several sizes, whose cost does not grow with the sector count; pieces of one sector paid and settled
 * independently; the proving-set lock; dropping sectors; misses counted from time up to the failure; the
 * vault's books over a full life.
 */
import assert from "node:assert/strict";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, fund } from "./helpers/market-fixture.js";
import {
  challengeAnswerFor,
  challengeSeedFor,
  commitAndProve,
  commitSector,
  createDeal,
  fillAndProve,
  goToPeriod,
  porepAnswerOf,
  postPlan,
  provePeriod,
  proveSector,
  sealSectorFor,
  seedCurrentPeriod,
  provenCapacity,
} from "./helpers/market-actions.js";
import { flipWord, opening, pseudoRandomBytes } from "./helpers/proofs.js";
import { ReplicaState, SectorState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "sectors-file"); // 32 segments, depth 5
const FILE2 = pseudoRandomBytes(3000, "sectors-file-2"); // 94 segments, depth 7
const PRICE_PER_GIB = GIB * 7n;
const PRICE1 = 7000n; // 1000 bytes · 7 per byte-period
const PRICE2 = 21000n; // 3000 bytes · 7
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n;
const MIN_LOG = TEST_MARKET_PARAMS.minSectorLog;

const countsOf = (log2s: readonly number[]) => log2s.reduce((word, log2) => word + (1n << BigInt(16 * (log2 - MIN_LOG))), 0n);

async function systemFixture() {
  return fundedSystem(await deployMarketSystem(viem));
}

/** Periods long enough for 300 blocks (the blockhash horizon) inside one. */
async function longPeriodFixture() {
  return fundedSystem(await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, periodLength: 10_000n }));
}

async function fundedSystem(system: Awaited<ReturnType<typeof deployMarketSystem>>) {
  await fund(system.token, system.watcher.account.address, 1_000n * TOKEN);
  await system.token.write.approve([system.vault.address, 2n ** 255n], { account: system.watcher.account });
  return system;
}

async function gasOf(hash: Promise<Hex>): Promise<bigint> {
  const receipt = await (await viem.getPublicClient()).waitForTransactionReceipt({ hash: await hash });
  assert.equal(receipt.status, "success");
  return receipt.gasUsed;
}

describe("StorageMarket: sectors (§12)", function () {
  it("one PoSt covers sectors of several sizes; a wrong opening in any challenged sector fails it, naming the challenge", async function () {
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, lessorA } = s;
    const a = getAddress(lessorA.account.address);
    const d1 = await createDeal(s, { bytes: FILE, replicas: 1, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
    const d2 = await createDeal(s, { bytes: FILE2, replicas: 1, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: 3n * COLLATERAL });
    // Sectors of 2^5 (a piece), 2^6 (two capacity sectors) and 2^7 (a piece) segments.
    const sectors = [
      await fillAndProve(s, lessorA, d1, 0, FILE),
      await commitAndProve(s, lessorA, [], { log2Segments: 6 }),
      await commitAndProve(s, lessorA, [], { log2Segments: 6 }),
      await fillAndProve(s, lessorA, d2, 0, FILE2),
    ];
    assert.deepEqual(sectors.map((x) => x.log2Segments), [5, 6, 6, 7]);
    assert.equal(await market.read.provingCounts([a]), countsOf([5, 6, 6, 7]));
    assert.equal(await market.read.provingSectorAt([a, 6, 1n]), sectors[2].id);

    // A period whose challenges fall in sectors of at least two sizes (each period draws afresh).
    let plan = undefined as Awaited<ReturnType<typeof postPlan>> | undefined;
    for (let p = 1n; p <= 8n && plan === undefined; p++) {
      await goToPeriod(s, p);
      const candidate = await postPlan(s, lessorA);
      if (new Set(candidate.challenges.map((c) => c.log2Segments)).size >= 2) plan = candidate;
      else await market.write.submitPoSt([candidate.period, candidate.proof], { account: lessorA.account });
    }
    assert.ok(plan, "some period challenges two sizes");
    const { period, proof, challenges } = plan;
    // Each opening is as long as its sector is deep: the proof is Σ (log2 + 1) words.
    assert.equal(proof.length, challenges.reduce((n, c) => n + c.log2Segments + 1, 0));
    const submit = (p: readonly Hex[]) => market.write.submitPoSt([period, p], { account: lessorA.account });
    for (const [j, c] of challenges.entries()) {
      await viem.assertions.revertWithCustomErrorWithArgs(submit(flipWord(proof, c.start)), market, "MarketInvalidPoSt", [a, period, BigInt(j)]); // its segment
      await viem.assertions.revertWithCustomErrorWithArgs(submit(flipWord(proof, c.start + c.log2Segments)), market, "MarketInvalidPoSt", [a, period, BigInt(j)]); // its top sibling
    }
    // The right offset opened in another sector of the same size (the other 2^6 one, or a sector outside the
    // set) fails too: each sector has its own commR.
    const c0 = challenges[0];
    const other = c0.log2Segments === 6 ? sectors[c0.index === 0 ? 2 : 1] : await sealSectorFor(s, a, [], { log2Segments: c0.log2Segments, sectorNumber: 1000n });
    const swapped = [...proof];
    swapped.splice(c0.start, c0.log2Segments + 1, ...opening(other.sealed, c0.offset));
    assert.equal(swapped.length, proof.length);
    await viem.assertions.revertWithCustomErrorWithArgs(submit(swapped), market, "MarketInvalidPoSt", [a, period, 0n]);
    const n = BigInt(proof.length);
    await viem.assertions.revertWithCustomErrorWithArgs(submit(proof.slice(0, -1)), market, "MarketPoStLengthMismatch", [n, n - 1n]);
    await viem.assertions.emitWithArgs(submit(proof), market, "PoStSubmitted", [a, period, 4n, (32n + 64n + 64n + 128n) * 32n]);
    assert.equal(await market.read.isPeriodProven([a, period]), true);
  });

  it("a lessor's PoSt gas does not grow with its sector count beyond the cold reads: 16 sectors cost < 1.5× one", async function () {
    this.timeout(120_000);
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, lessorA, lessorB } = s;
    await commitAndProve(s, lessorA, [], { log2Segments: 8 });
    for (let i = 0; i < 16; i++) await commitAndProve(s, lessorB, [], { log2Segments: 8 });
    assert.equal(await market.read.provingCounts([lessorB.account.address]), 16n << BigInt(16 * (8 - MIN_LOG)));
    const figures: string[] = [];
    for (const p of [1n, 2n, 3n]) {
      await goToPeriod(s, p);
      await seedCurrentPeriod(s);
      const one = await gasOf(provePeriod(s, lessorA));
      const sixteen = await gasOf(provePeriod(s, lessorB));
      const planB = await postPlan(s, lessorB, p);
      figures.push(`period ${p}: 1 sector ${one} gas, 16 sectors ${sixteen} gas (${new Set(planB.challenges.map((c) => c.index)).size} distinct challenged)`);
      assert.ok(sixteen < (one * 3n) / 2n, `16 sectors: ${sixteen} gas, 1 sector: ${one} gas`);
    }
    console.log(`      PoSt gas: ${figures.join("; ")}`);
  });

  it("a multi-piece sector's pieces are paid and settled independently: one deal ends and settles while the other runs, misses and settles later", async function () {
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, vault, registry, lessorA, stranger } = s;
    const a = getAddress(lessorA.account.address);
    const short = await createDeal(s, { bytes: FILE2, replicas: 1, duration: 2, pricePerGiB: PRICE_PER_GIB, collateral: 3n * COLLATERAL }); // periods 1..2
    const long = await createDeal(s, { bytes: FILE, replicas: 1, duration: 5, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL }); // periods 1..5
    const sector = await commitAndProve(s, lessorA, [
      { dealId: long, index: 0, bytes: FILE },
      { dealId: short, index: 0, bytes: FILE2 },
    ]);
    assert.deepEqual(sector.pieces.map((p) => [p.dealId, p.offset]), [[short, 0], [long, 128]]);
    assert.equal(await registry.read.lockedStakeOf([a]), 4n * COLLATERAL);
    // A proves periods 1, 2, 3 and 5 (not 4).
    for (const p of [1n, 2n, 3n, 5n]) {
      await goToPeriod(s, p);
      await provePeriod(s, lessorA);
      if (p === 3n) {
        assert.equal(await market.read.replicaState([short, 0n]), ReplicaState.Finished);
        assert.equal(await market.read.replicaState([long, 0n]), ReplicaState.Proving);
        await viem.assertions.emitWithArgs(market.write.settleReplica([short, 0n], { account: stranger.account }), market, "ReplicaSettled", [
          short,
          0n,
          a,
          2n,
          0n,
          2n * PRICE2,
          0n,
          3n * COLLATERAL,
          false,
        ]);
        await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([long, 0n]), market, "MarketReplicaNotSettleable", [long, 0n, ReplicaState.Proving]);
        assert.equal((await market.read.getSector([sector.id])).livePieces, 1);
        assert.equal(await registry.read.lockedStakeOf([a]), COLLATERAL, "the short piece's collateral came back");
        assert.equal(await vault.read.withdrawableOf([a]), 2n * PRICE2);
      }
    }
    await goToPeriod(s, 6n);
    // The long piece alone pays for the sector's miss of period 4.
    await viem.assertions.emitWithArgs(market.write.settleReplica([long, 0n]), market, "ReplicaSettled", [long, 0n, a, 4n, 1n, 4n * PRICE1, MISS_SLASH, COLLATERAL - MISS_SLASH, false]);
    assert.equal((await market.read.getSector([sector.id])).livePieces, 0);
    assert.equal(await vault.read.withdrawableOf([a]), 2n * PRICE2 + 4n * PRICE1);
    assert.equal(await registry.read.lockedStakeOf([a]), 0n);
    assert.equal(await market.read.sectorState([sector.id]), SectorState.Proving, "the sector itself is still proving (capacity now)");
  });

  it("the proving-set lock holds all period once the seed is stored (a stored seed is never 'lost'); a seed never stored unlocks it", async function () {
    const s = await networkHelpers.loadFixture(longPeriodFixture);
    const { market, lessorA, lessorB } = s;
    const a = getAddress(lessorA.account.address);
    const b = getAddress(lessorB.account.address);
    const proving = await commitAndProve(s, lessorA, [], { log2Segments: 5 });
    const provingB = await commitAndProve(s, lessorB, [], { log2Segments: 5 });
    // Period 1: B proves (which stores the seed); A has not proven when 256 blocks have passed.
    await goToPeriod(s, 1n);
    await provePeriod(s, lessorB);
    await networkHelpers.mine(300);
    assert.equal(await market.read.currentPeriod(), 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([proving.id], { account: lessorA.account }), market, "MarketProvingSetLocked", [a, 1n]);
    // Period 2: the seed is requested but never stored; 256 blocks later nobody can prove the period: unlocked.
    await goToPeriod(s, 2n);
    await market.write.seedPeriod({ account: s.stranger.account });
    await networkHelpers.mine(300);
    assert.equal(await market.read.currentPeriod(), 2n);
    await viem.assertions.emit(market.write.dropSector([proving.id], { account: lessorA.account }), market, "SectorDropped");
    void provingB;
    void b;
  });

  it("the proving-set lock: once the period's seed is readable a lessor's PoRep answers and drops wait until it proved the period", async function () {
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, lessorA, lessorC } = s;
    const a = getAddress(lessorA.account.address);
    const first = await commitAndProve(s, lessorA, [], { log2Segments: 5 });
    await goToPeriod(s, 1n);
    const early = await commitSector(s, lessorA, [], { log2Segments: 5 });
    const inSeedBlock = await commitSector(s, lessorA, [], { log2Segments: 5 });
    const late = await commitSector(s, lessorA, [], { log2Segments: 5 });
    const other = await commitSector(s, lessorC, [], { log2Segments: 5 });
    // Nobody requested the seed yet: the set may change.
    await proveSector(s, lessorA, early);
    // The request fixes the next block as the seed block; in that block its hash is not known yet: still free.
    const inSeedBlockAnswer = await porepAnswerOf(s, inSeedBlock);
    await market.write.seedPeriod({ account: s.stranger.account });
    const seedBlock = await market.read.periodSeedBlock([1n]);
    await market.write.answerPoRep([inSeedBlock.id, inSeedBlockAnswer], { account: lessorA.account });
    assert.equal(await market.read.sectorState([inSeedBlock.id]), SectorState.Proving);
    assert.equal(await (await viem.getPublicClient()).getBlockNumber(), seedBlock, "answered in the seed block");
    // From the next block on the seed is readable: A's challenges are known, its set is locked.
    const lateAnswer = await porepAnswerOf(s, late);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerPoRep([late.id, lateAnswer], { account: lessorA.account }), market, "MarketProvingSetLocked", [a, 1n]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([first.id], { account: lessorA.account }), market, "MarketProvingSetLocked", [a, 1n]);
    // A lessor with nothing proving yet has no challenges to remap: not locked.
    await proveSector(s, lessorC, other);
    // Once A proved the period (over its three proving sectors) the set is free again.
    await viem.assertions.emitWithArgs(provePeriod(s, lessorA), market, "PoStSubmitted", [a, 1n, 3n, 3n * 32n * 32n]);
    await viem.assertions.emitWithArgs(market.write.answerPoRep([late.id, lateAnswer], { account: lessorA.account }), market, "PoRepAccepted", [late.id, a, 2]);
    await viem.assertions.emit(market.write.dropSector([first.id], { account: lessorA.account }), market, "SectorDropped");
    // Next period, before its seed is requested: free.
    await goToPeriod(s, 2n);
    await viem.assertions.emit(market.write.dropSector([early.id], { account: lessorA.account }), market, "SectorDropped");
  });

  it("dropping a capacity sector (or one whose pieces all ended) is free; dropping one with a running piece fails it with a full slash", async function () {
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, registry, vault, client, lessorA, lessorB } = s;
    const a = getAddress(lessorA.account.address);
    const running = await createDeal(s, { bytes: FILE, replicas: 1, duration: 6, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL }); // 1..6
    const brief = await createDeal(s, { bytes: FILE, replicas: 1, duration: 1, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL }); // 1
    const caps = [];
    for (let i = 0; i < 3; i++) caps.push(await commitAndProve(s, lessorA, [], { log2Segments: 4 }));
    const withRunning = await fillAndProve(s, lessorA, running, 0, FILE);
    const withBrief = await fillAndProve(s, lessorA, brief, 0, FILE);
    const pending = await commitSector(s, lessorA, [], { log2Segments: 4 });
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([caps[0].id], { account: lessorB.account }), market, "MarketNotSectorLessor", [
      caps[0].id,
      getAddress(lessorB.account.address),
    ]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([pending.id], { account: lessorA.account }), market, "MarketSectorWrongState", [pending.id, SectorState.Committed]);

    await goToPeriod(s, 1n);
    await provePeriod(s, lessorA);
    const stake = [await registry.read.freeStakeOf([a]), await registry.read.lockedStakeOf([a])];
    const escrowed = await vault.read.escrowed();
    // A capacity sector: out of the proving set, nothing else moves. The last of its size takes its place.
    await viem.assertions.emitWithArgs(market.write.dropSector([caps[0].id], { account: lessorA.account }), market, "SectorDropped", [caps[0].id, a, 1, 0n]);
    assert.equal(await market.read.sectorState([caps[0].id]), SectorState.Dropped);
    assert.equal(await market.read.provingCounts([a]), countsOf([4, 4, 5, 5]));
    assert.equal(await market.read.provingSectorAt([a, 4, 0n]), caps[2].id);
    assert.equal((await market.read.getSector([caps[2].id])).index, 0);
    assert.deepEqual([await registry.read.freeStakeOf([a]), await registry.read.lockedStakeOf([a])], stake);
    assert.equal(await vault.read.escrowed(), escrowed);
    assert.equal(await provenCapacity(s, a), (16n * 2n + 32n * 2n) * 32n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.dropSector([caps[0].id], { account: lessorA.account }), market, "MarketSectorWrongState", [caps[0].id, SectorState.Dropped]);

    // Period 2: the remaining set proves (provingSectorAt follows the move); the brief deal has ended.
    await goToPeriod(s, 2n);
    await provePeriod(s, lessorA);
    await viem.assertions.emitWithArgs(market.write.dropSector([withBrief.id], { account: lessorA.account }), market, "SectorDropped", [withBrief.id, a, 2, 1n]);
    await viem.assertions.emitWithArgs(market.write.settleReplica([brief, 0n]), market, "ReplicaSettled", [brief, 0n, a, 1n, 0n, PRICE1, 0n, COLLATERAL, false]);
    // A running piece: dropping its sector fails it at this period, the whole collateral slashed.
    await viem.assertions.emitWithArgs(market.write.dropSector([withRunning.id], { account: lessorA.account }), market, "SectorDropped", [withRunning.id, a, 2, 1n]);
    assert.equal(await market.read.replicaState([running, 0n]), ReplicaState.Failed);
    const clientBefore = await vault.read.withdrawableOf([client.account.address]);
    // Period 1 paid; period 2, the drop's period, is not (though A proved it).
    await viem.assertions.emitWithArgs(market.write.settleReplica([running, 0n]), market, "ReplicaSettled", [running, 0n, a, 1n, 0n, PRICE1, COLLATERAL, 0n, true]);
    const repair = COLLATERAL / 2n;
    assert.equal((await market.read.getReplica([running, 0n])).repairReward, repair);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), clientBefore + COLLATERAL - repair);
    assert.equal(await registry.read.lockedStakeOf([a]), 0n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.commitSector([99n, 5, withRunning.commR, [running], "0x00"], { account: lessorA.account }), market, "MarketLessorFailedDeal", [running, a]);
    assert.equal(await market.read.provingCounts([a]), countsOf([4, 4]));
  });

  it("a piece failed by maxMisses is paid the periods its lessor proved until settlement (nobody else proved them) and loses its whole collateral", async function () {
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, lessorA } = s;
    const a = getAddress(lessorA.account.address);
    const dealId = await createDeal(s, { bytes: FILE, replicas: 1, duration: 8, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL }); // 1..8
    await fillAndProve(s, lessorA, dealId, 0, FILE);
    // Proven: 1, 2, 4, 6, 7. Missed: 3 and 5 (the second miss fails the piece: from period 6 on).
    for (const p of [1n, 2n, 4n, 6n, 7n]) {
      await goToPeriod(s, p);
      if (p === 4n) assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving, "one miss");
      if (p === 6n) assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed, "two misses");
      await provePeriod(s, lessorA);
    }
    assert.equal(await market.read.isPeriodProven([a, 6n]), true);
    // Settled in period 7: the closed periods proven, 1, 2, 4 and 6, are paid (period 7 is not closed yet); a
    // repairer proves only from after its own PoRep, so no period is paid twice. Still refillable (7 + 1 < 9).
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n]), market, "ReplicaSettled", [dealId, 0n, a, 4n, 2n, 4n * PRICE1, COLLATERAL, 0n, true]);
    assert.equal((await market.read.getReplica([dealId, 0n])).paidPeriods, 4);
    assert.equal((await market.read.getReplica([dealId, 0n])).repairReward, (COLLATERAL - 2n * MISS_SLASH) / 2n);
  });

  it("the vault's books balance over a full life: what came in (escrows, slashes, bonds) is what went out (payments, refunds, slash shares, bounties, bonds)", async function () {
    this.timeout(120_000);
    const s = await networkHelpers.loadFixture(systemFixture);
    const { market, vault, token, registry, client, lessorA, lessorB, lessorC, watcher } = s;
    const fromBlock = await (await viem.getPublicClient()).getBlockNumber();
    const d1 = await createDeal(s, { bytes: FILE, replicas: 2, duration: 6, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL }); // 1..6
    const d2 = await createDeal(s, { bytes: FILE2, replicas: 1, duration: 6, pricePerGiB: PRICE_PER_GIB, collateral: COLLATERAL });
    const sectorA = await commitAndProve(s, lessorA, [
      { dealId: d1, index: 0, bytes: FILE },
      { dealId: d2, index: 0, bytes: FILE2 },
    ]);
    await goToPeriod(s, 1n);
    await provePeriod(s, lessorA);
    // B's first sector misses its PoRep (slashed missSlashBps); its second proves.
    await commitSector(s, lessorB, [{ dealId: d1, index: 1, bytes: FILE }]);
    await networkHelpers.time.increase(TEST_MARKET_PARAMS.porepTimeout + 1n);
    await market.write.settleReplica([d1, 1n]);
    await fillAndProve(s, lessorB, d1, 1, FILE);
    await goToPeriod(s, 2n);
    await provePeriod(s, lessorA);
    await provePeriod(s, lessorB);
    // The watcher challenges B, which answers (the bond pays B).
    await market.write.challengeReplica([d1, 1n], { account: watcher.account });
    await networkHelpers.mine(1);
    await market.write.answerChallenge([d1, 1n, watcher.account.address, await challengeAnswerFor(s, d1, 1, watcher.account.address)], { account: lessorB.account });
    // B stops proving: failed by period 5, settled, C repairs.
    for (const p of [3n, 4n, 5n]) {
      await goToPeriod(s, p);
      await provePeriod(s, lessorA);
    }
    await market.write.settleReplica([d1, 1n]);
    await fillAndProve(s, lessorC, d1, 1, FILE);
    // The watcher challenges A's d2 piece, which A leaves unanswered: it fails and is settled at once.
    await market.write.challengeReplica([d2, 0n], { account: watcher.account });
    await networkHelpers.mine(1);
    await challengeSeedFor(s, d2, 0, watcher.account.address);
    await networkHelpers.mine(TEST_MARKET_PARAMS.challengeWindow + 1);
    await viem.assertions.emit(market.write.expireChallenge([d2, 0n, watcher.account.address]), market, "ChallengeExpired");
    await goToPeriod(s, 6n);
    await provePeriod(s, lessorA);
    await provePeriod(s, lessorC);
    await goToPeriod(s, 7n);
    await market.write.claimRefund([d1]);
    await market.write.claimRefund([d2]); // nobody repaired d2: its repair reward comes back to the client
    assert.equal(await vault.read.escrowed(), 0n);
    assert.equal((await market.read.getSector([sectorA.id])).livePieces, 0);
    for (const lessor of [lessorA, lessorB, lessorC]) assert.equal(await registry.read.lockedStakeOf([lessor.account.address]), 0n);

    // The books, from the market's events.
    const range = { fromBlock };
    const created = await market.getEvents.DealCreated({}, range);
    const settled = await market.getEvents.ReplicaSettled({}, range);
    const refunded = await market.getEvents.DealRefunded({}, range);
    const challenged = await market.getEvents.ReplicaChallenged({}, range);
    const answered = await market.getEvents.ChallengeAnswered({}, range);
    const expired = await market.getEvents.ChallengeExpired({}, range);
    const sum = (xs: readonly (bigint | undefined)[]) => xs.reduce<bigint>((t, x) => t + (x ?? 0n), 0n);
    const escrows = sum(created.map((e) => BigInt(e.args.replicas!) * BigInt(e.args.endPeriod! - e.args.startPeriod!) * e.args.pricePerPeriod!));
    const slashes = sum(settled.map((e) => e.args.slashed));
    const bonds = sum(challenged.map((e) => e.args.bond));
    const payments = sum(settled.map((e) => e.args.payment));
    const refunds = sum(refunded.map((e) => e.args.amount));
    const bounties = sum(expired.map((e) => e.args.bounty));
    assert.deepEqual(
      settled.map((e) => [e.args.dealId, e.args.replicaIndex, e.args.provenPeriods, e.args.failed]),
      [
        [d1, 1n, 0n, true], // B's expired PoRep
        [d1, 1n, 1n, true], // B's misses (period 2 proven)
        [d2, 0n, 4n, true], // A's expired challenge (periods 1..4; 5 was the failure's)
        [d1, 0n, 6n, false],
        [d1, 1n, 1n, false], // C: period 6, plus the repair reward in its payment
      ],
    );
    assert.ok(slashes > 0n && bounties > 0n && answered.length === 1);
    // In: escrows + slashes + bonds. Out: payments + refunds + the client's slash shares + bounties + bonds back.
    const withdrawable = [client, lessorA, lessorB, lessorC, watcher].map(async (w) => vault.read.withdrawableOf([w.account.address]));
    const [toClient, toA, toB, toC, toWatcher] = await Promise.all(withdrawable);
    assert.equal(toA + toB + toC, payments + sum(answered.map((e) => e.args.bond)), "lessors: their payments (repair rewards included) and answered bonds");
    assert.equal(toWatcher, bounties + sum(expired.map(() => TEST_MARKET_PARAMS.challengeBond)), "the watcher: its bounty and its expired challenge's bond");
    // Repair rewards: carved from slashes into escrow; paid to the repairer (C) or refunded (d2's).
    const repairs = sum((await vault.getEvents.IncomingEscrowed(range)).map((e) => e.args.amount));
    const repairsPaid = payments - sum(settled.map((e) => e.args.provenPeriods! * (e.args.dealId === d2 ? PRICE2 : PRICE1)));
    assert.ok(repairs > repairsPaid && repairsPaid > 0n);
    assert.equal(toClient, refunds + slashes - bounties - repairs, "the client: refunds (unclaimed repair rewards included) and its slash shares");
    assert.equal(escrows + slashes + bonds, toClient + toA + toB + toC + toWatcher);
    assert.equal(await vault.read.totalWithdrawable(), escrows + slashes + bonds);
    assert.equal(await token.read.balanceOf([vault.address]), escrows + slashes + bonds);
    for (const w of [client, lessorA, lessorB, lessorC, watcher]) await vault.write.withdraw({ account: w.account });
    assert.equal(await token.read.balanceOf([vault.address]), 0n);
  });
});

