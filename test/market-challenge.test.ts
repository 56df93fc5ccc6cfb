/**
 * On-chain challenges (docs/protocol.md §7.2, §12.5): anyone challenges a Proving piece with a bond; the seed is
 * the hash of the next block, and its lessor must open kPoSt segments of the piece, stratified over the deal's
 * segments and shifted by the piece's offset, in its sealed sector's tree within challengeWindow blocks. Each
 * challenger has its own challenge of a slot. In time: the bond pays the lessor. Not in time: the piece fails
 * and is settled at once, its whole remaining collateral slashed (bounty to the challenger). Proofs come from
 * the TypeScript engine, so these tests also cross-check the two sides.
 */
import assert from "node:assert/strict";
import { bytesToHex, getAddress, type Address, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, deployTokenAndRegistry, fund, type MarketSystem } from "./helpers/market-fixture.js";
import { challengeAnswerFor, challengeSeedFor, commitAndProve, commitSector, createDeal, failByMissedPeriods, fillAndProve, goToPeriod, provePeriod } from "./helpers/market-actions.js";
import { challengeSeedOf, spotChallenges } from "../node/proofs/challenges.js";
import { pieceChallenges, verifyPieceChallenge } from "../node/proofs/sectors.js";
import { flipWord, opening, pieceChallengeProof, pseudoRandomBytes } from "./helpers/proofs.js";
import { ReplicaState, SectorState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(5000, "challenge-file"); // n = 157 segments, depth 8
const OTHER_FILE = pseudoRandomBytes(6000, "challenge-other-file"); // n = 188 segments, depth 8
const COLLATERAL = 10_000_000n;
const BOND = TEST_MARKET_PARAMS.challengeBond;
const WINDOW = BigInt(TEST_MARKET_PARAMS.challengeWindow);
const K = TEST_MARKET_PARAMS.kPoSt;
const BOUNTY = (COLLATERAL * BigInt(TEST_MARKET_PARAMS.bountyBps)) / 10_000n;
const REPAIR = (COLLATERAL * BigInt(TEST_MARKET_PARAMS.repairBps)) / 10_000n;

/**
 * A deal of 2 slots (periods 1..4). A packs another deal's piece first and slot 0 second, in one sector of 2^9
 * segments: slot 0 sits at offset 256, so a challenge of it opens segments 256 + stratified index. Slot 1 is open.
 */
async function challengeFixture() {
  const system = await deployMarketSystem(viem);
  await fund(system.token, system.watcher.account.address, 1_000n * TOKEN);
  await system.token.write.approve([system.vault.address, 2n ** 255n], { account: system.watcher.account });
  const dealId = await createDeal(system, { bytes: FILE, replicas: 2, duration: 4, pricePerGiB: GIB, collateral: COLLATERAL });
  const otherDeal = await createDeal(system, { bytes: OTHER_FILE, replicas: 1, duration: 4, pricePerGiB: GIB, collateral: COLLATERAL });
  const sectorA = await commitAndProve(system, system.lessorA, [
    { dealId: otherDeal, index: 0, bytes: OTHER_FILE },
    { dealId, index: 0, bytes: FILE },
  ]);
  return { ...system, dealId, otherDeal, sectorA };
}

/** Opens `challenger`'s challenge and mines its seed block; the deadline is opened + 1 + WINDOW. */
async function openChallenge(s: MarketSystem, dealId: Hex, index: number, challenger: MarketSystem["watcher"] = s.watcher) {
  await s.market.write.challengeReplica([dealId, BigInt(index)], { account: challenger.account });
  const publicClient = await viem.getPublicClient();
  const opened = await publicClient.getBlockNumber();
  await networkHelpers.mine(1);
  const seed = await challengeSeedFor(s, dealId, index, challenger.account.address);
  return { opened, seed, deadline: opened + 1n + WINDOW };
}

const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";

describe("StorageMarket: on-chain challenges (§7.2)", function () {
  it("opens with a bond and a seed fixed by the next block's hash; the engine's answer opens the piece at its offset in the sector and pays the bond", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, token, watcher, lessorA, dealId, sectorA } = s;
    const piece = sectorA.pieces.find((p) => p.dealId === dealId)!;
    assert.equal(piece.offset, 256);
    assert.equal((await market.read.getReplica([dealId, 0n])).offset, 256n);
    const escrowBefore = await vault.read.escrowed();
    const balanceBefore = await token.read.balanceOf([watcher.account.address]);

    const tx = market.write.challengeReplica([dealId, 0n], { account: watcher.account });
    await viem.assertions.emit(tx, market, "ReplicaChallenged");
    const publicClient = await viem.getPublicClient();
    const opened = await publicClient.getBlockNumber();
    const [event] = await market.getEvents.ReplicaChallenged({}, { fromBlock: opened, toBlock: opened });
    assert.equal(getAddress(event.args.lessor!), getAddress(lessorA.account.address));
    assert.equal(event.args.seedBlock, opened + 1n);
    assert.equal(event.args.deadlineBlock, opened + 1n + WINDOW);
    assert.equal(event.args.bond, BOND);
    // Nobody can know the seed in the challenge's block: it is the hash of a block not mined yet.
    assert.equal((await market.read.getChallenge([dealId, 0n, watcher.account.address])).seed, `0x${"0".repeat(64)}`);
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.answerChallenge([dealId, 0n, watcher.account.address, []], { account: lessorA.account }),
      market,
      "MarketChallengeSeedNotReady",
      [dealId, 0n, opened + 2n],
    );
    await networkHelpers.mine(2); // the seed block, then one more: an eth_call sees blockhash(latest - 1)
    const seedBlock = await publicClient.getBlock({ blockNumber: opened + 1n });
    const challenge = await market.read.getChallenge([dealId, 0n, watcher.account.address]);
    assert.equal(getAddress(challenge.challenger), getAddress(watcher.account.address));
    assert.equal(getAddress(challenge.lessor), getAddress(lessorA.account.address));
    assert.equal(challenge.openedBlock, opened);
    const expectedSeed = bytesToHex(challengeSeedOf(seedBlock.hash, dealId, 0, watcher.account.address));
    assert.equal(challenge.seed, expectedSeed, "seed = sha256(abi(blockhash(B+1), dealId, index, challenger)) as in §7.2, the TypeScript twin");
    assert.equal(await vault.read.escrowed(), escrowBefore + BOND);
    assert.equal(await token.read.balanceOf([watcher.account.address]), balanceBefore - BOND);

    // Stratified over the deal's n segments, from the sector's id, shifted by the piece's offset.
    const n = piece.segments;
    const indices = pieceChallenges(challenge.seed, sectorA.id, K, n, piece.offset);
    assert.deepEqual(indices, spotChallenges(challenge.seed, sectorA.replicaId, K, n).map((i) => 256 + i));
    indices.forEach((i, j) => assert.ok(i - 256 >= Math.floor((j * n) / K) && i - 256 < Math.floor(((j + 1) * n) / K), `index ${i} in stratum ${j}`));
    const proof = await challengeAnswerFor(s, dealId, 0, watcher.account.address);
    assert.deepEqual(proof, pieceChallengeProof(challenge.seed, sectorA, piece, K));
    assert.ok(verifyPieceChallenge({ commR: sectorA.commR, sectorId: sectorA.id, seed: challenge.seed, k: K, pieceSegments: n, offset: 256, log2Segments: 9 }, proof));

    const withdrawableBefore = await vault.read.withdrawableOf([lessorA.account.address]);
    await viem.assertions.emitWithArgs(
      market.write.answerChallenge([dealId, 0n, watcher.account.address, proof], { account: lessorA.account }),
      market,
      "ChallengeAnswered",
      [dealId, 0n, getAddress(lessorA.account.address), getAddress(watcher.account.address), BOND],
    );
    assert.equal(await vault.read.withdrawableOf([lessorA.account.address]), withdrawableBefore + BOND);
    assert.equal((await market.read.getChallenge([dealId, 0n, watcher.account.address])).challenger, ZERO_ADDRESS);
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 0);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    // Closed: a new challenge may be opened.
    await market.write.challengeReplica([dealId, 0n], { account: watcher.account });
  });

  it("refuses answers from the piece's offset 0, truncated, flipped, late, and duplicate challenges, with named errors", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, lessorA, stranger, dealId, sectorA } = s;
    const w = getAddress(s.watcher.account.address);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, []], { account: lessorA.account }), market, "MarketNoChallenge", [dealId, 0n, w]);
    const { seed, deadline } = await openChallenge(s, dealId, 0);
    const good = await challengeAnswerFor(s, dealId, 0, w);
    const answer = (proof: Hex[]) => market.write.answerChallenge([dealId, 0n, w, proof], { account: lessorA.account });

    // The right strata, but not shifted by the piece's offset: the other deal's segments, not this piece's.
    const unshifted = spotChallenges(seed, sectorA.replicaId, K, 157).flatMap((i) => opening(sectorA.sealed, i));
    await viem.assertions.revertWithCustomErrorWithArgs(answer(unshifted), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(answer(good.slice(0, -1)), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(answer([...good, good[0]]), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, 0)), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(answer(flipWord(good, good.length - 1)), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);

    // One open challenge per (slot, challenger).
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 0n], { account: s.watcher.account }), market, "MarketChallengeOpen", [dealId, 0n, w, deadline]);
    // Not expirable inside the window (the failed answers above were no blocks: reverted calls).
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "MarketChallengeNotExpired", [dealId, 0n, deadline]);

    const publicClient = await viem.getPublicClient();
    await networkHelpers.mine(Number(deadline - (await publicClient.getBlockNumber())));
    // Block deadline + 1 is the first where the answer is late; the write mines exactly that block.
    await viem.assertions.revertWithCustomErrorWithArgs(answer(good), market, "MarketChallengeLate", [dealId, 0n, deadline]);
  });

  it("refuses to challenge a slot that is not Proving, an unknown deal and an index out of range", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, watcher, lessorB, dealId } = s;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 1n], { account: watcher.account }), market, "MarketReplicaNotProving", [dealId, 1n, ReplicaState.Open]);
    await commitSector(s, lessorB, [{ dealId, index: 1, bytes: FILE }]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 1n], { account: watcher.account }), market, "MarketReplicaNotProving", [dealId, 1n, ReplicaState.Committed]);
    const unknown = `0x${"ab".repeat(32)}` as Hex;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([unknown, 0n], { account: watcher.account }), market, "MarketUnknownDeal", [unknown]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 2n], { account: watcher.account }), market, "MarketInvalidReplicaIndex", [dealId, 2n, 2n]);
  });

  it("an unanswered challenge fails the piece and settles it at once: whole collateral slashed, bounty and bond to the challenger, repair reward, rest to the client; the sector's other piece runs on", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, registry, watcher, client, lessorA, lessorC, stranger, dealId, otherDeal, sectorA } = s;
    const a = getAddress(lessorA.account.address);
    const w = getAddress(watcher.account.address);
    await openChallenge(s, dealId, 0);
    assert.equal((await market.read.getReplica([dealId, 0n])).collateralLeft, COLLATERAL);
    const lockedBefore = await registry.read.lockedStakeOf([a]);
    await networkHelpers.mine(Number(WINDOW));

    // Anyone may settle; the bounty goes to the challenger, not the caller.
    const tx = market.write.expireChallenge([dealId, 0n, w], { account: stranger.account });
    await viem.assertions.emitWithArgs(tx, market, "ChallengeExpired", [dealId, 0n, a, w, COLLATERAL, BOUNTY]);
    const [settled] = await market.getEvents.ReplicaSettled({ dealId }, { fromBlock: "latest" });
    assert.deepEqual(
      [settled.args.replicaIndex, settled.args.provenPeriods, settled.args.payment, settled.args.slashed, settled.args.released, settled.args.failed],
      [0n, 0n, 0n, COLLATERAL, 0n, true],
    );
    // Settled with the expiry: the slot is open again and carries the repair reward.
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Open);
    const replica = await market.read.getReplica([dealId, 0n]);
    assert.equal(replica.collateralLeft, 0n);
    assert.equal(replica.repairReward, REPAIR);
    assert.equal(await registry.read.lockedStakeOf([a]), lockedBefore - COLLATERAL);
    assert.equal(await vault.read.withdrawableOf([w]), BOUNTY + BOND);
    assert.equal(await vault.read.withdrawableOf([stranger.account.address]), 0n);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), COLLATERAL - BOUNTY - REPAIR);
    // The other piece of the same sector is untouched, and the sector still proves.
    assert.equal(await market.read.replicaState([otherDeal, 0n]), ReplicaState.Proving);
    assert.equal(await market.read.sectorState([sectorA.id]), SectorState.Proving);
    assert.equal((await market.read.getSector([sectorA.id])).livePieces, 1);
    // Settled once only.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "MarketNoChallenge", [dealId, 0n, w]);
    // The failed slot is open for repair, but never for the lessor that failed it.
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.commitSector([7n, 8, `0x${"11".repeat(32)}`, [dealId], "0x00"], { account: lessorA.account }),
      market,
      "MarketLessorFailedDeal",
      [dealId, a],
    );
    await commitSector(s, lessorC, [{ dealId, index: 0, bytes: FILE }]);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Committed);
  });

  it("a piece failed otherwise while challenged: the answer is void, its settlement waits for the challenge, whose expiry returns the bond; then another lessor repairs", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, watcher, lessorA, lessorC, stranger, dealId } = s;
    const w = getAddress(watcher.account.address);
    const { seed } = await openChallenge(s, dealId, 0);
    const answer = await challengeAnswerFor(s, dealId, 0, w, seed);
    // A proves nothing: by period 3 it has missed periods 1 and 2 (maxMisses = 2).
    await failByMissedPeriods(s, dealId, 0);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, answer], { account: lessorA.account }), market, "MarketChallengeVoid", [
      dealId,
      0n,
      getAddress(lessorA.account.address),
    ]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([dealId, 0n]), market, "MarketChallengesOpen", [dealId, 0n, 1n]);
    // So the slot cannot be refilled while the challenge of the failed filling is open.
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.commitSector([0n, 8, `0x${"11".repeat(32)}`, [dealId], "0x00"], { account: lessorC.account }),
      market,
      "MarketReplicaNotOpen",
      [dealId, 0n, ReplicaState.Failed],
    );
    const before = await vault.read.withdrawableOf([w]);
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "ChallengeVoided", [dealId, 0n, w, BOND]);
    assert.equal(await vault.read.withdrawableOf([w]), before + BOND);
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n]), market, "ReplicaSettled", [
      dealId,
      0n,
      getAddress(lessorA.account.address),
      0n,
      2n,
      0n,
      COLLATERAL,
      0n,
      true,
    ]);
    assert.equal(await vault.read.withdrawableOf([w]), before + BOND, "no bounty for a failure the challenge did not cause");
    await fillAndProve(s, lessorC, dealId, 0, FILE);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
  });

  it("settlement waits for open challenges; one opened in the deal's last period is still answered after the end", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, lessorA, watcher, stranger, dealId } = s;
    const a = getAddress(lessorA.account.address);
    for (let p = 1n; p <= 4n; p++) {
      await goToPeriod(s, p);
      await provePeriod(s, lessorA);
    }
    // Last period: two challengers; A answers the watcher's in time.
    const first = await openChallenge(s, dealId, 0, watcher);
    await openChallenge(s, dealId, 0, stranger);
    await market.write.answerChallenge([dealId, 0n, watcher.account.address, await challengeAnswerFor(s, dealId, 0, watcher.account.address, first.seed)], { account: lessorA.account });
    await goToPeriod(s, 5n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.settleReplica([dealId, 0n]), market, "MarketChallengesOpen", [dealId, 0n, 1n]);
    // The deal is over and the piece Finished, but its filling is not settled: the stranger's challenge is still
    // answerable (a lessor cannot escape a challenge opened near the end by staying silent, and voiding it is refused).
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Finished);
    await viem.assertions.revertWithCustomError(market.write.expireChallenge([dealId, 0n, stranger.account.address]), market, "MarketChallengeNotExpired");
    const late = await challengeAnswerFor(s, dealId, 0, stranger.account.address);
    await viem.assertions.emit(market.write.answerChallenge([dealId, 0n, stranger.account.address, late], { account: lessorA.account }), market, "ChallengeAnswered");
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n]), market, "ReplicaSettled", [dealId, 0n, a, 4n, 0n, 4n * (await market.read.getDeal([dealId])).pricePerPeriod, 0n, COLLATERAL, false]);
  });

  it("a lessor that keeps its own piece challenged shuts out no other challenger: the other's unanswered challenge still fails it, with the bounty paid at settlement", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, token, vault, lessorA, watcher, dealId } = s;
    const w = getAddress(watcher.account.address);
    // A challenges itself and answers (its bond comes back), and again, so it always has one open.
    await fund(token, lessorA.account.address, 100n * TOKEN);
    await token.write.approve([vault.address, 2n ** 255n], { account: lessorA.account });
    const self = await openChallenge(s, dealId, 0, lessorA);
    await market.write.answerChallenge([dealId, 0n, lessorA.account.address, await challengeAnswerFor(s, dealId, 0, lessorA.account.address, self.seed)], { account: lessorA.account });
    await openChallenge(s, dealId, 0, lessorA);
    // The watcher's challenge opens beside it, goes unanswered and fails the piece.
    const { deadline } = await openChallenge(s, dealId, 0);
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 2);
    const publicClient = await viem.getPublicClient();
    await networkHelpers.mine(Number(deadline - (await publicClient.getBlockNumber())) + 1);
    // Expired while A's own is open: the failure is recorded, settled (and the bounty paid) once A's closes.
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: watcher.account }), market, "ChallengeExpired", [
      dealId,
      0n,
      getAddress(lessorA.account.address),
      w,
      0n,
      0n,
    ]);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    // A's own challenge of the failed filling is void: its bond returns, no second slash.
    await viem.assertions.emit(market.write.expireChallenge([dealId, 0n, lessorA.account.address], { account: lessorA.account }), market, "ChallengeVoided");
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 0);
    const before = await vault.read.withdrawableOf([w]);
    await viem.assertions.emitWithArgs(market.write.settleReplica([dealId, 0n]), market, "ReplicaSettled", [
      dealId,
      0n,
      getAddress(lessorA.account.address),
      0n,
      0n,
      0n,
      COLLATERAL,
      0n,
      true,
    ]);
    assert.equal(await vault.read.withdrawableOf([w]), before + BOUNTY, "the watcher's bounty, paid when the failure is settled");
  });

  it("rejects a zero or beyond-the-blockhash-horizon window and bounty + repair shares above 100 %", async function () {
    const { token, registry } = await deployTokenAndRegistry(viem);
    const [admin] = await viem.getWalletClients();
    const vault = await viem.deployContract("MarketVault", [token.address, admin.account.address]);
    const accepted = await viem.deployContract("StorageMarket", [registry.address, vault.address, { ...TEST_MARKET_PARAMS }]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("StorageMarket", [registry.address, vault.address, { ...TEST_MARKET_PARAMS, challengeWindow: 0 }]),
      accepted,
      "MarketInvalidParameter",
      ["challengeWindow"],
    );
    // The answer's last block must still read the seed block's hash.
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("StorageMarket", [registry.address, vault.address, { ...TEST_MARKET_PARAMS, challengeWindow: 257 }]),
      accepted,
      "MarketInvalidParameter",
      ["challengeWindow"],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("StorageMarket", [registry.address, vault.address, { ...TEST_MARKET_PARAMS, bountyBps: 6000, repairBps: 5000 }]),
      accepted,
      "MarketInvalidParameter",
      ["bountyBps+repairBps"],
    );
    assert.equal((await accepted.read.params()).challengeWindow, TEST_MARKET_PARAMS.challengeWindow);
  });
});
