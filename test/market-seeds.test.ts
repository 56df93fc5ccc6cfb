/**
 * Challenge seeds nobody can grind (docs/protocol.md §6.1) and the smallest deal (§2.1).
 *
 * A lessor that threw away half of its proving set calls the seed function from a contract (SeedGrinder) that
 * reverts unless all of the period's PoSt draws (over the lessor's total proving segments) fall in the half it
 * kept, and retries every block. With the seed computed inside the caller's transaction that proved every
 * period; with the seed fixed by the hash of a block after the request it proves a period only when the draws
 * happen to fall in the kept half: with probability 2^-k, so it is caught in a share 1 − 2^-k of the periods.
 */
import assert from "node:assert/strict";
import { bytesToHex, getAddress, type Address, type Hex } from "viem";
import { network } from "hardhat";
import { DEFAULT_MARKET_PARAMS } from "../ignition/market-defaults.js";
import { GIB, TEST_MARKET_PARAMS, deployMarketSystem, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, postArgs, provePeriod, seedCurrentPeriod } from "./helpers/market-actions.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";
import { periodSeedOf } from "../node/proofs/challenges.js";
import { lessorPoStChallenges } from "../node/proofs/sectors.js";
import { ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(256 * 1024, "grind-file"); // 8,192 segments: one sector of 2^13, the whole proving set
const SEGMENTS = FILE.length / 32;
const KEPT = SEGMENTS / 2;
const K = TEST_MARKET_PARAMS.kPoSt;
const PERIODS = 32;
/** Grinding attempts per period, one block apart: an in-transaction seed would give way within ~2^k of them. */
const ATTEMPTS = 40;
const COLLATERAL = 300_000_000n; // ≥ 1,000 units per byte of the 256 KiB piece

async function grindFixture() {
  // 1,000 s periods: the 256-block horizon (1 s blocks here) passes inside one period.
  const system = await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, periodLength: 1_000n });
  const dealId = await createDeal(system, { bytes: FILE, replicas: 1, duration: PERIODS + 2, pricePerGiB: GIB, collateral: COLLATERAL });
  const sector = await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  const grinder = await viem.deployContract("SeedGrinder", [system.market.address]);
  return { ...system, dealId, sector, grinder };
}

/** True when every PoSt challenge of the period lies in the half of its proving set the lossy lessor kept. */
async function provableFromKeptHalf(s: MarketSystem, seed: Hex, lessor: Address): Promise<boolean> {
  const counts = await s.market.read.provingCounts([lessor]);
  return lessorPoStChallenges(seed, lessor, K, counts, TEST_MARKET_PARAMS.minSectorLog).every((c) => c.draw < BigInt(KEPT));
}

async function latestBlock(): Promise<bigint> {
  return (await viem.getPublicClient()).getBlockNumber();
}

describe("StorageMarket: challenge seeds and the smallest deal (§6.1, §2.1)", function () {
  it("a lessor grinding the PoSt seed from a contract gains nothing: with half its proving set it proves ≈ 2^-k of the periods", async function () {
    this.timeout(300_000);
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, lessorA, grinder, sector } = s;
    const a = getAddress(lessorA.account.address);
    assert.equal(sector.log2Segments, 13, "the whole proving set is this one sector");
    const first = BigInt((await market.read.getSector([sector.id])).firstPeriod);
    let proven = 0;
    let grinderWon = 0;
    for (let p = first; p < first + BigInt(PERIODS); p++) {
      await goToPeriod(s, p);
      // The attacker's contract: request/read the seed and revert unless it favours the kept half; retry next block.
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        try {
          await grinder.write.grind([BigInt(SEGMENTS), BigInt(KEPT), BigInt(K)], { account: lessorA.account });
          grinderWon += 1;
          break;
        } catch {
          await networkHelpers.mine(1);
        }
      }
      // Grinding is over: the seed is whatever the chain fixed (anyone — a watcher — requests it otherwise).
      const seed = await seedCurrentPeriod(s);
      if (!(await provableFromKeptHalf(s, seed, a))) continue; // it cannot open a thrown-away segment: the period is missed
      await market.write.submitPoSt(await postArgs(s, lessorA), { account: lessorA.account });
      proven += 1;
    }
    // Bin(32, 1/8) for kPoSt = 3: mean 4; P(X ≥ 11) ≈ 0.001. An in-transaction seed would let it prove all 32.
    const predictedCaught = 1 - 2 ** -K;
    console.log(`      grinding lessor with half its proving set: proved ${proven}/${PERIODS} periods (caught ${(((PERIODS - proven) / PERIODS) * 100).toFixed(1)} %, predicted ${(predictedCaught * 100).toFixed(1)} %); the grinder's check passed ${grinderWon} times`);
    assert.equal(grinderWon, 0, "the seed is never visible inside the requesting transaction");
    assert.ok(proven <= 10, `proved ${proven} of ${PERIODS} periods: more than chance allows, the seed was ground`);
  });

  it("the period seed is the hash of the block after the first request, the same from the TypeScript twin; the first request wins", async function () {
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, stranger, lessorA, sector } = s;
    const period = BigInt((await market.read.getSector([sector.id])).firstPeriod);
    await goToPeriod(s, period);
    await viem.assertions.emitWithArgs(market.write.seedPeriod({ account: stranger.account }), market, "PeriodSeedRequested", [period, (await latestBlock()) + 2n]);
    const seedBlock = await market.read.periodSeedBlock([period]);
    assert.equal(seedBlock, (await latestBlock()) + 1n);
    // A second request in the seed block itself changes nothing and stores nothing.
    await market.write.seedPeriod({ account: lessorA.account });
    assert.equal(await market.read.periodSeedBlock([period]), seedBlock, "the first request fixed the block");
    assert.equal(await market.read.periodSeed([period]), `0x${"0".repeat(64)}`, "not readable in its own block");
    await networkHelpers.mine(1);
    const hash = (await (await viem.getPublicClient()).getBlock({ blockNumber: seedBlock })).hash;
    const expected = bytesToHex(periodSeedOf(hash, period));
    assert.equal(await market.read.periodSeed([period]), expected, "periodSeed() computes it before it is stored");
    await viem.assertions.emitWithArgs(market.write.seedPeriod({ account: stranger.account }), market, "PeriodSeeded", [period, expected]);
    assert.equal(await market.read.periodSeed([period]), expected);
  });

  it("a seed nobody stored within 256 blocks is lost: the period cannot be proven and counts as a miss", async function () {
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, lessorA, dealId, sector } = s;
    const a = getAddress(lessorA.account.address);
    const period = BigInt((await market.read.getSector([sector.id])).firstPeriod);
    await goToPeriod(s, period);
    await market.write.seedPeriod({ account: lessorA.account });
    const seedBlock = await market.read.periodSeedBlock([period]);
    // Blocks pass faster than the period (still inside it): the lessor waits out blockhash's horizon.
    await networkHelpers.mine(258); // an eth_call at latest runs at its number: latest - seedBlock = 257 > 256
    assert.equal(await market.read.currentPeriod(), period, "still the same period");
    assert.equal(await market.read.periodSeed([period]), `0x${"0".repeat(64)}`);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([period, []], { account: lessorA.account }), market, "MarketPeriodSeedLost", [period, seedBlock]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.seedPeriod({ account: lessorA.account }), market, "MarketPeriodSeedLost", [period, seedBlock]);
    // Not a way out: the period is missed like any other. With the next period proven and the one after not,
    // the lost one is the first of maxMisses = 2 misses.
    await goToPeriod(s, period + 1n);
    await provePeriod(s, lessorA);
    assert.equal(await market.read.isPeriodProven([a, period]), false);
    await goToPeriod(s, period + 2n);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving, "one miss");
    await goToPeriod(s, period + 3n);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed, "the lost seed's period and period + 2");
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n]), market, "ReplicaSettled", [dealId, 0n, a, 1n, 2n, (await market.read.getDeal([dealId])).pricePerPeriod, COLLATERAL, 0n, true]);
  });

  it("refuses a deal below minSegments (the production 8,192: a 1-byte deal's proof would need no data), counted in whole segments", async function () {
    const s: MarketSystem = await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, minSegments: DEFAULT_MARKET_PARAMS.minSegments, minSectorLog: 13, maxSectorLog: 17 });
    const { market, client } = s;
    const minimum = BigInt(DEFAULT_MARKET_PARAMS.minSegments) * 32n;
    // minimum - 31 bytes still fill 8,192 segments; minimum - 32 do not.
    for (const size of [1n, 32n, minimum - 32n]) {
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.createDeal([`0x${"11".repeat(32)}`, size, 1, 10, GIB, COLLATERAL], { account: client.account }),
        market,
        "MarketDealTooSmall",
        [size, minimum],
      );
    }
    await market.write.createDeal([`0x${"11".repeat(32)}`, minimum - 31n, 1, 10, GIB, COLLATERAL], { account: client.account });
    // The smallest deal is one smallest sector's worth here; a lessor seals and proves it.
    const dealId = await createDeal(s, { bytes: FILE, replicas: 1, duration: 10, pricePerGiB: GIB, collateral: COLLATERAL });
    const sector = await fillAndProve(s, s.lessorA, dealId, 0, FILE);
    assert.equal(sector.log2Segments, 13);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
  });
});
