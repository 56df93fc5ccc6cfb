/**
 * Challenge seeds nobody can grind (docs/protocol.md §6.1) and the smallest provable replica (§2.1).
 *
 * A lessor that threw away half of its replica calls the seed function from a contract (SeedGrinder) that
 * reverts unless all of the period's indices fall in the half it kept, and retries every block. With the seed
 * computed inside the caller's transaction that proved every period; with the seed fixed by the hash of a block
 * after the request it proves a period only when the indices happen to fall in the kept half: with probability
 * 2^-k, so it is caught in a share 1 − 2^-k of the periods, as §6.1 predicts.
 */
import assert from "node:assert/strict";
import { bytesToHex, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, PRODUCTION_SIZE_RULE, TEST_MARKET_PARAMS, deployMarketSystem, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, postArgs, seedCurrentPeriod, type ProvenReplica } from "./helpers/market-actions.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";
import { periodSeedOf, postChallenges } from "../node/proofs/challenges.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(256 * 1024, "grind-file"); // 8,192 segments: the minimum size
const SEGMENTS = FILE.length / 32;
const KEPT = SEGMENTS / 2;
const K = TEST_MARKET_PARAMS.kPoSt;
const PERIODS = 32;
/** Grinding attempts per period, one block apart: today's (old) seed would give way within ~2^k of them. */
const ATTEMPTS = 40;
const COLLATERAL = 300_000_000n; // ≥ 1,000 units per byte of the 256 KiB replica

async function grindFixture() {
  // 1,000 s periods: the 256-block horizon (1 s blocks here) passes inside one period.
  const system = await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, ...PRODUCTION_SIZE_RULE, periodLength: 1_000n });
  const dealId = await createDeal(system, { bytes: FILE, replicas: 1, duration: PERIODS + 2, pricePerGiB: GIB, collateral: COLLATERAL });
  const sealed = await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  const grinder = await viem.deployContract("SeedGrinder", [system.market.address]);
  return { ...system, dealId, replica: { dealId, index: 0, sealed } as ProvenReplica, grinder };
}

/** True when every PoSt index of the period lies in the half the lossy lessor kept. */
function provableFromKeptHalf(seed: Hex, replica: ProvenReplica): boolean {
  return postChallenges(seed, replica.sealed.replicaId, K, SEGMENTS).every((i) => i < KEPT);
}

async function latestBlock(): Promise<bigint> {
  return (await viem.getPublicClient()).getBlockNumber();
}

describe("StorageMarket: challenge seeds and the minimum replica size (§6.1, §2.1)", function () {
  it("a lessor grinding the PoSt seed from a contract gains nothing: with half its replica it proves ≈ 2^-k of the periods", async function () {
    this.timeout(300_000);
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, lessorA, grinder, replica } = s;
    const first = BigInt((await market.read.getReplica([replica.dealId, 0n])).firstPeriod);
    let proven = 0;
    let grinderWon = 0;
    for (let p = first; p < first + BigInt(PERIODS); p++) {
      await goToPeriod(s, p);
      // The attacker's contract: request/read the seed and revert unless it favours the kept half; retry next block.
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        try {
          await grinder.write.grind([bytesToHex(replica.sealed.replicaId), BigInt(SEGMENTS), BigInt(KEPT), BigInt(K)], { account: lessorA.account });
          grinderWon += 1;
          break;
        } catch {
          await networkHelpers.mine(1);
        }
      }
      // Grinding is over: the seed is whatever the chain fixed (anyone — a watcher — requests it otherwise).
      const seed = await seedCurrentPeriod(s);
      if (!provableFromKeptHalf(seed, replica)) continue; // it cannot open a thrown-away segment: the period is missed
      await market.write.submitPoSt(await postArgs(s, [replica]), { account: lessorA.account });
      proven += 1;
    }
    // Bin(32, 1/8) for kPoSt = 3: mean 4; P(X ≥ 11) ≈ 0.001. The old in-transaction seed let it prove all 32.
    const predictedCaught = 1 - 2 ** -K;
    console.log(`      grinding lessor with half its replica: proved ${proven}/${PERIODS} periods (caught ${(((PERIODS - proven) / PERIODS) * 100).toFixed(1)} %, predicted ${(predictedCaught * 100).toFixed(1)} %); the grinder's check passed ${grinderWon} times`);
    assert.equal(grinderWon, 0, "the seed is never visible inside the requesting transaction");
    assert.ok(proven <= 10, `proved ${proven} of ${PERIODS} periods: more than chance allows, the seed was ground`);
  });

  it("the period seed is the hash of the block after the first request, the same from the TypeScript twin; the first request wins", async function () {
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, stranger, lessorA } = s;
    const period = BigInt((await market.read.getReplica([s.dealId, 0n])).firstPeriod);
    await goToPeriod(s, period);
    await viem.assertions.emitWithArgs(market.write.seedPeriod({ account: stranger.account }), market, "PeriodSeedRequested", [period, (await latestBlock()) + 2n]);
    const seedBlock = await market.read.periodSeedBlock([period]);
    assert.equal(seedBlock, await latestBlock() + 1n);
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

  it("a seed nobody stored within 256 blocks is lost: the period cannot be proven and its miss is reported", async function () {
    const s = await networkHelpers.loadFixture(grindFixture);
    const { market, lessorA, stranger, replica } = s;
    const period = BigInt((await market.read.getReplica([s.dealId, 0n])).firstPeriod);
    await goToPeriod(s, period);
    await market.write.seedPeriod({ account: lessorA.account });
    const seedBlock = await market.read.periodSeedBlock([period]);
    // Blocks pass faster than the period (still inside it): the lessor waits out blockhash's horizon.
    await networkHelpers.mine(258); // an eth_call at latest runs at its number: latest - seedBlock = 257 > 256
    assert.equal(await market.read.currentPeriod(), period, "still the same period");
    assert.equal(await market.read.periodSeed([period]), `0x${"0".repeat(64)}`);
    const [, ids, indexes, proof] = await postArgs(s, [replica], period);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.submitPoSt([period, ids, indexes, proof], { account: lessorA.account }), market, "MarketPeriodSeedLost", [period, seedBlock]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.seedPeriod({ account: lessorA.account }), market, "MarketPeriodSeedLost", [period, seedBlock]);
    // Not a way out: the period is missed like any other.
    await goToPeriod(s, period + 1n);
    await viem.assertions.emit(market.write.markProofMissing([s.dealId, 0n, period], { account: stranger.account }), market, "ProofMissed");
  });

  it("refuses a replica below the minimum size (a 1-byte deal's proof is its commR, no data needed) and a duration whose openings would publish over 10 % of it", async function () {
    const s: MarketSystem = await deployMarketSystem(viem, { ...TEST_MARKET_PARAMS, ...PRODUCTION_SIZE_RULE });
    const { market, client } = s;
    const minimum = BigInt(PRODUCTION_SIZE_RULE.minSegments) * 32n;
    assert.equal(await market.read.minimumSize([1n]), minimum);
    // Counted in whole segments: minimum - 31 bytes still fills 8,192 of them; minimum - 32 does not.
    for (const size of [1n, 32n, minimum - 32n]) {
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.createDeal([`0x${"11".repeat(32)}`, size, 1, 10, GIB, COLLATERAL], { account: client.account }),
        market,
        "MarketDealTooSmall",
        [size, minimum],
      );
    }
    // revealFactor · kPoSt · d segments: 20 · 3 · 137 = 8,220 > 8,192.
    const long = 137;
    const longMinimum = BigInt(PRODUCTION_SIZE_RULE.revealFactor * K * long) * 32n;
    assert.equal(await market.read.minimumSize([BigInt(long)]), longMinimum);
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.createDeal([`0x${"11".repeat(32)}`, minimum, 1, long, GIB, COLLATERAL], { account: client.account }),
      market,
      "MarketDealTooSmall",
      [minimum, longMinimum],
    );
    // The minimum itself is accepted; extending it past the reveal budget is refused like creating it so.
    await market.write.createDeal([`0x${"11".repeat(32)}`, minimum - 31n, 1, 10, GIB, COLLATERAL], { account: client.account });
    const dealId = await createDeal(s, { bytes: new Uint8Array(Number(minimum)), replicas: 1, duration: 100, pricePerGiB: GIB, collateral: COLLATERAL });
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.topUp([dealId, long - 100], { account: client.account }), market, "MarketDealTooSmall", [minimum, longMinimum]);
  });
});
