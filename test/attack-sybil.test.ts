/**
 * Sybil attack (docs/protocol.md §4.1, §4.4): one operator registers three lessor identities (A, B, C) and
 * keeps ONE physical sealed copy — sealed for A — for the three replicas of a deal. B cannot pass PoRep with
 * A's copy (its replicaId keys every segment differently), and C, which sealed once for its PoRep and then
 * dropped its copy, cannot pass PoSt from A's copy. Both are slashed on-chain; A is paid.
 */
import assert from "node:assert/strict";
import { getAddress } from "viem";
import { network } from "hardhat";
import { GIB, TOKEN, deployMarketSystem, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, indexesHex, porepSeedOf, postArgs, type ProvenReplica, seedCurrentPeriod } from "./helpers/market-actions.js";
import { porepProof, postChallenges, opening, pseudoRandomBytes, sealFile, type SealedFile } from "./helpers/proofs.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(8192, "sybil-file"); // n = 256 segments, depth 8
const COLLATERAL = 10_000_000n;
const MISS_SLASH = 2_000_000n; // missSlashBps 20 %
const BOUNTY = 500_000n; // bountyBps 25 % of a slash
const FAIL_LEFT = COLLATERAL - 2n * MISS_SLASH; // the rest, slashed when the 2nd (= maxMisses) miss fails the replica
const REPAIR = FAIL_LEFT / 2n;
const STAKE = 1_000n * TOKEN;


async function sybilFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 3, duration: 6, pricePerGiB: GIB, collateral: COLLATERAL });
  return { ...system, dealId };
}

/** A's physical copy presented as `replicaId`'s replica: same sealed tree, another identity. */
function asIdentity(copy: SealedFile, replicaId: Uint8Array): SealedFile {
  return { ...copy, replicaId };
}

describe("attack: Sybil (three identities, one physical copy)", function () {
  it("B's PoRep from A's copy is rejected and expires with a slash; C's PoSt from A's copy fails and C's replica fails", async function () {
    const s = await networkHelpers.loadFixture(sybilFixture);
    const { market, registry, vault, client, lessorA, lessorB, lessorC, watcher, dealId } = s;
    const [a, b, c] = [lessorA, lessorB, lessorC].map((w) => getAddress(w.account.address));
    const { kPoRep, kPoSt, porepTimeout, sealRounds } = await market.read.params();

    // A seals and proves its replica honestly: this is the operator's only physical copy.
    const copyOfA = await fillAndProve(s, lessorA, dealId, 0, FILE);
    const a0: ProvenReplica = { dealId, index: 0, sealed: copyOfA };

    // B commits A's commR for slot 1 (it has no copy of its own) and tries to prove it with A's copy.
    const honestB = sealFile(FILE, b, dealId, 1, sealRounds);
    assert.notEqual(honestB.sealed.root, copyOfA.sealed.root, "each identity's sealed copy differs");
    await market.write.fillReplica([dealId, 1n, copyOfA.sealed.root], { account: lessorB.account });
    await networkHelpers.mine(1);
    const seedB = await porepSeedOf(s, dealId, 1);
    // Under B's replicaId (what the contract checks) and under A's own: neither passes.
    for (const attempt of [asIdentity(copyOfA, honestB.replicaId), copyOfA]) {
      await viem.assertions.revertWithCustomErrorWithArgs(
        market.write.answerPoRep([dealId, 1n, porepProof(seedB, attempt, kPoRep)], { account: lessorB.account }),
        market,
        "MarketInvalidPoRep",
        [dealId, 1n],
      );
    }
    // B cannot answer in time: a watcher expires the fill; B loses missSlashBps of its collateral.
    const freeB = await registry.read.freeStakeOf([b]);
    await networkHelpers.time.increase(porepTimeout + 1n);
    await viem.assertions.emitWithArgs(market.write.expirePoRep([dealId, 1n], { account: watcher.account }), market, "PoRepExpired", [
      dealId,
      1n,
      b,
      MISS_SLASH,
      BOUNTY,
      getAddress(watcher.account.address),
    ]);
    assert.equal(await registry.read.lockedStakeOf([b]), 0n);
    assert.equal(await registry.read.freeStakeOf([b]), freeB + COLLATERAL - MISS_SLASH);
    assert.equal(freeB + COLLATERAL, STAKE, "B's whole stake was free but for this collateral");

    // C sealed once to pass its PoRep, then dropped the copy and relies on A's.
    const c2: ProvenReplica = { dealId, index: 2, sealed: await fillAndProve(s, lessorC, dealId, 2, FILE) };
    const firstPeriod = BigInt((await market.read.getReplica([dealId, 2n])).firstPeriod);
    for (const p of [firstPeriod, firstPeriod + 1n]) {
      await goToPeriod(s, p);
      await seedCurrentPeriod(s);
      await market.write.submitPoSt(await postArgs(s, [a0]), { account: lessorA.account });
      const seed = await market.read.periodSeed([p]);
      // C's challenged indices opened in A's copy, and A's own (valid for A) proof: both fail for C's commR.
      const fromA = postChallenges(seed, c2.sealed.replicaId, c2.sealed.data.n, kPoSt).flatMap((i) => opening(copyOfA.sealed, i));
      const [, , , proofOfA] = await postArgs(s, [a0]);
      for (const proof of [fromA, [...proofOfA]]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          market.write.submitPoSt([p, [dealId], indexesHex([2]), proof], { account: lessorC.account }),
          market,
          "MarketInvalidPoSt",
          [dealId, 2n],
        );
      }
    }
    // Two periods without a proof: the watcher reports each in the period after it; the second fails C's replica.
    await viem.assertions.emitWithArgs(market.write.markProofMissing([dealId, 2n, firstPeriod], { account: watcher.account }), market, "ProofMissed", [
      dealId,
      2n,
      c,
      firstPeriod,
      MISS_SLASH,
      BOUNTY,
      getAddress(watcher.account.address),
    ]);
    await goToPeriod(s, firstPeriod + 2n);
    await viem.assertions.emitWithArgs(market.write.markProofMissing([dealId, 2n, firstPeriod + 1n], { account: watcher.account }), market, "ReplicaFailed", [
      dealId,
      2n,
      c,
      FAIL_LEFT,
      REPAIR,
    ]);
    assert.equal(await registry.read.lockedStakeOf([c]), 0n);
    assert.equal(await registry.read.freeStakeOf([c]), STAKE - COLLATERAL);

    // The operator's three identities earned one replica's pay and lost 1.2 collaterals.
    const pricePerPeriod = (await market.read.getDeal([dealId])).pricePerPeriod;
    assert.equal(await vault.read.withdrawableOf([a]), 2n * pricePerPeriod);
    assert.equal(await vault.read.withdrawableOf([b]), 0n);
    assert.equal(await vault.read.withdrawableOf([c]), 0n);
    assert.equal(await vault.read.withdrawableOf([getAddress(watcher.account.address)]), 3n * BOUNTY);
    assert.equal(await vault.read.withdrawableOf([getAddress(client.account.address)]), 3n * (MISS_SLASH - BOUNTY) + (FAIL_LEFT - REPAIR));
  });
});
