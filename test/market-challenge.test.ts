/**
 * On-chain challenges (docs/protocol.md §7.2): anyone challenges a Proving replica with a bond; the seed is the
 * hash of the next block, and its lessor must open kPoSt stratified segments of the sealed replica within
 * challengeWindow blocks of that. Each challenger has its own challenge of a replica. In time: the bond pays the
 * lessor. Not in time: the replica fails and its whole remaining collateral is slashed (bounty to the
 * challenger). Proofs come from the TypeScript engine, so these tests also cross-check the two sides.
 */
import assert from "node:assert/strict";
import { bytesToHex, type Address, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, deployTokenAndRegistry, fund, type MarketSystem } from "./helpers/market-fixture.js";
import { challengeSeedFor, createDeal, failByMissedPeriods, fillAndProve, postArgs } from "./helpers/market-actions.js";
import { challengeSeedOf } from "../node/proofs/challenges.js";
import { challengeProof, postProof, pseudoRandomBytes } from "./helpers/proofs.js";
import { spotChallenges } from "../node/proofs/challenges.js";
import { verifyChallengeAnswer } from "../node/proofs/post.js";
import { ReplicaState } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(5000, "challenge-file"); // n = 157 segments, depth 8
const COLLATERAL = 10_000_000n;
const BOND = TEST_MARKET_PARAMS.challengeBond;
const WINDOW = BigInt(TEST_MARKET_PARAMS.challengeWindow);
const K = TEST_MARKET_PARAMS.kPoSt;

async function challengeFixture() {
  const system = await deployMarketSystem(viem);
  await fund(system.token, system.watcher.account.address, 1_000n * TOKEN);
  await system.token.write.approve([system.vault.address, 2n ** 255n], { account: system.watcher.account });
  const dealId = await createDeal(system, { bytes: FILE, replicas: 2, duration: 4, pricePerGiB: GIB, collateral: COLLATERAL });
  const sealedA = await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  // Replica 1 is filled by B but its PoRep is left pending: not Proving.
  return { ...system, dealId, sealedA };
}

/** Opens the watcher's challenge and mines its seed block; the deadline is opened + 1 + WINDOW. */
async function openChallenge(s: MarketSystem, dealId: Hex, index: number, challenger: MarketSystem["watcher"] = s.watcher) {
  await s.market.write.challengeReplica([dealId, BigInt(index)], { account: challenger.account });
  const publicClient = await viem.getPublicClient();
  const opened = await publicClient.getBlockNumber();
  await networkHelpers.mine(1);
  const challenge = await s.market.read.getChallenge([dealId, BigInt(index), challenger.account.address]);
  const seed = await challengeSeedFor(s, dealId, index, challenger.account.address);
  return { opened, challenge: { ...challenge, seed }, deadline: opened + 1n + WINDOW };
}

const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";

describe("StorageMarket: on-chain challenges (§7.2)", function () {
  it("opens with a bond and a seed fixed by the next block's hash (unknown in the challenge's own block); the engine's answer passes and pays the bond to the lessor", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, token, watcher, lessorA, dealId, sealedA } = s;
    const escrowBefore = await vault.read.escrowed();
    const balanceBefore = await token.read.balanceOf([watcher.account.address]);

    const tx = market.write.challengeReplica([dealId, 0n], { account: watcher.account });
    await viem.assertions.emit(tx, market, "ReplicaChallenged");
    const publicClient = await viem.getPublicClient();
    const opened = await publicClient.getBlockNumber();
    const [event] = await market.getEvents.ReplicaChallenged({}, { fromBlock: opened, toBlock: opened });
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
    assert.equal(challenge.challenger.toLowerCase(), watcher.account.address.toLowerCase());
    assert.equal(challenge.lessor.toLowerCase(), lessorA.account.address.toLowerCase());
    assert.equal(challenge.openedBlock, opened);
    const expectedSeed = bytesToHex(challengeSeedOf(seedBlock.hash, dealId, 0, watcher.account.address));
    assert.equal(challenge.seed, expectedSeed, "seed = sha256(abi(blockhash(B+1), dealId, index, challenger)) as in §7.2, the TypeScript twin");
    assert.equal(await vault.read.escrowed(), escrowBefore + BOND);
    assert.equal(await token.read.balanceOf([watcher.account.address]), balanceBefore - BOND);

    // Stratified: challenge j lies in [j·n/k, (j+1)·n/k).
    const n = sealedA.data.n;
    const indices = spotChallenges(challenge.seed, sealedA.replicaId, K, n);
    indices.forEach((i, j) => assert.ok(i >= Math.floor((j * n) / K) && i < Math.floor(((j + 1) * n) / K), `index ${i} in stratum ${j}`));
    const proof = challengeProof(challenge.seed, sealedA, K);
    assert.ok(verifyChallengeAnswer({ commR: sealedA.sealed.root, seed: challenge.seed, replicaId: sealedA.replicaId, segments: n, challenges: K }, proof));

    const withdrawableBefore = await vault.read.withdrawableOf([lessorA.account.address]);
    await viem.assertions.emitWithArgs(
      market.write.answerChallenge([dealId, 0n, watcher.account.address, proof], { account: lessorA.account }),
      market,
      "ChallengeAnswered",
      [dealId, 0n, lessorA.account.address, watcher.account.address, BOND],
    );
    assert.equal(await vault.read.withdrawableOf([lessorA.account.address]), withdrawableBefore + BOND);
    assert.equal((await market.read.getChallenge([dealId, 0n, watcher.account.address])).challenger, ZERO_ADDRESS);
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 0);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    // Settled: a new challenge may be opened.
    await market.write.challengeReplica([dealId, 0n], { account: watcher.account });
  });

  it("refuses wrong, truncated, late and duplicate answers with named errors", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, lessorA, stranger, dealId, sealedA } = s;
    const w = s.watcher.account.address;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, []], { account: lessorA.account }), market, "MarketNoChallenge", [dealId, 0n, w]);
    const { challenge, deadline } = await openChallenge(s, dealId, 0);
    const good = challengeProof(challenge.seed, sealedA, K);

    // A PoSt-style answer (unstratified indices) and a truncated one are wrong.
    const postStyle = postProof(challenge.seed, sealedA, K);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, postStyle], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, good.slice(0, -1)], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    const flipped = [...good];
    flipped[0] = `0x${(BigInt(flipped[0]) ^ 1n).toString(16).padStart(64, "0")}` as Hex;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, flipped], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);

    // One open challenge per (replica, challenger).
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 0n], { account: s.watcher.account }), market, "MarketChallengeOpen", [dealId, 0n, w, deadline]);
    // Not expirable inside the window (the failed answers above were no blocks: reverted calls).
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "MarketChallengeNotExpired", [dealId, 0n, deadline]);

    const publicClient = await viem.getPublicClient();
    const testClient = await viem.getTestClient();
    await testClient.mine({ blocks: Number(deadline - (await publicClient.getBlockNumber())) });
    // Block deadline + 1 is the first where the answer is late; the write mines exactly that block.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, w, good], { account: lessorA.account }), market, "MarketChallengeLate", [dealId, 0n, deadline]);
  });

  it("an unanswered challenge fails the replica: whole collateral slashed, bounty and bond to the challenger, repair reward, rest to the client", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, registry, watcher, client, lessorA, stranger, dealId } = s;
    await openChallenge(s, dealId, 0);
    const left = (await market.read.getReplica([dealId, 0n])).collateralLeft;
    assert.equal(left, COLLATERAL);
    const lockedBefore = await registry.read.lockedStakeOf([lessorA.account.address]);
    const clientBefore = await vault.read.withdrawableOf([client.account.address]);
    const testClient = await viem.getTestClient();
    await testClient.mine({ blocks: Number(WINDOW) });
    const w = watcher.account.address;

    const bounty = (left * BigInt(TEST_MARKET_PARAMS.bountyBps)) / 10_000n;
    const repair = (left * BigInt(TEST_MARKET_PARAMS.repairBps)) / 10_000n;
    // Anyone may settle; the bounty goes to the challenger, not the caller.
    const tx = market.write.expireChallenge([dealId, 0n, w], { account: stranger.account });
    await viem.assertions.emitWithArgs(tx, market, "ChallengeExpired", [dealId, 0n, lessorA.account.address, watcher.account.address, left, bounty]);
    const [failed] = await market.getEvents.ReplicaFailed({ dealId });
    assert.deepEqual([failed.args.slashed, failed.args.repairReward], [left, repair]);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    const replica = await market.read.getReplica([dealId, 0n]);
    assert.equal(replica.collateralLeft, 0n);
    assert.equal(replica.repairReward, repair);
    assert.equal(await registry.read.lockedStakeOf([lessorA.account.address]), lockedBefore - left);
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), bounty + BOND);
    assert.equal(await vault.read.withdrawableOf([stranger.account.address]), 0n);
    assert.equal(await vault.read.withdrawableOf([client.account.address]), clientBefore + left - bounty - repair);
    // Settled once only.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "MarketNoChallenge", [dealId, 0n, w]);
    // The failed slot is open for repair, like a replica failed by misses, but never for the lessor that failed it.
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.fillReplica([dealId, 0n, ("0x" + "11".repeat(32)) as Hex], { account: lessorA.account }),
      market,
      "MarketLessorFailedDeal",
      [dealId, lessorA.account.address],
    );
    const { lessorC } = s;
    await market.write.fillReplica([dealId, 0n, "0x" + "11".repeat(32) as Hex], { account: lessorC.account });
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Committed);
  });

  it("a challenge whose lessor lost the slot otherwise is voided and the bond returned; finishing waits for open challenges", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, watcher, lessorA, stranger, dealId, sealedA } = s;
    // Not Proving: replica 1 was never filled; unknown deal; index out of range.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 1n], { account: watcher.account }), market, "MarketReplicaNotProving", [dealId, 1n, ReplicaState.Open]);
    const unknown = ("0x" + "ab".repeat(32)) as Hex;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([unknown, 0n], { account: watcher.account }), market, "MarketUnknownDeal", [unknown]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 2n], { account: watcher.account }), market, "MarketInvalidReplicaIndex", [dealId, 2n, 2n]);

    // A fails by missed periods while challenged (maxMisses = 2): the answer is void, the expiry refunds.
    await openChallenge(s, dealId, 0);
    await failByMissedPeriods(s, dealId, 0);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    const w = watcher.account.address;
    const challenge = await market.read.getChallenge([dealId, 0n, w]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.answerChallenge([dealId, 0n, w, challengeProof(challenge.seed, sealedA, K)], { account: lessorA.account }),
      market,
      "MarketChallengeVoid",
      [dealId, 0n, lessorA.account.address],
    );
    const before = await vault.read.withdrawableOf([watcher.account.address]);
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n, w], { account: stranger.account }), market, "ChallengeVoided", [dealId, 0n, w, BOND]);
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), before + BOND);
  });

  it("a challenge of a filling that failed never reaches the next filling of the slot", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, watcher, lessorC, stranger, dealId } = s;
    await openChallenge(s, dealId, 0);
    await failByMissedPeriods(s, dealId, 0);
    // C repairs the failed slot with a fresh collateral, long after the challenge's window.
    await fillAndProve(s, lessorC, dealId, 0, FILE);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    const collateralBefore = (await market.read.getReplica([dealId, 0n])).collateralLeft;
    const before = await vault.read.withdrawableOf([watcher.account.address]);
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n, watcher.account.address], { account: stranger.account }), market, "ChallengeVoided", [dealId, 0n, watcher.account.address, BOND]);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving, "the new filling is not failed");
    assert.equal((await market.read.getReplica([dealId, 0n])).collateralLeft, collateralBefore, "nothing slashed");
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), before + BOND, "bond refunded");
  });

  it("finishReplica is refused while a challenge is open, and works once it is answered", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, lessorA, dealId, sealedA } = s;
    // Prove every period so the replica stays Proving to the end (periods 1..4).
    const start = await market.read.startTime();
    const { periodLength } = await market.read.params();
    for (let p = 1n; p <= 4n; p++) {
      await networkHelpers.time.increaseTo(start + p * periodLength + 1n);
      await market.write.submitPoSt(await postArgs(s, [{ dealId, index: 0, sealed: sealedA }]), { account: lessorA.account });
    }
    // Last period: two challengers (blocks b, b + 1), then go past the end (b + 2). Finishing waits for both.
    await market.write.challengeReplica([dealId, 0n], { account: s.watcher.account });
    await market.write.challengeReplica([dealId, 0n], { account: s.stranger.account });
    await networkHelpers.time.increaseTo(start + 6n * periodLength + 1n);
    const challenge = { seed: await challengeSeedFor(s, dealId, 0, s.watcher.account.address) };
    const strangers = { seed: await challengeSeedFor(s, dealId, 0, s.stranger.account.address) };
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.finishReplica([dealId, 0n], { account: lessorA.account }), market, "MarketChallengesOpen", [dealId, 0n, 2n]);
    await market.write.answerChallenge([dealId, 0n, s.watcher.account.address, challengeProof(challenge.seed, sealedA, K)], { account: lessorA.account });
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.finishReplica([dealId, 0n], { account: lessorA.account }), market, "MarketChallengesOpen", [dealId, 0n, 1n]);
    await market.write.answerChallenge([dealId, 0n, s.stranger.account.address, challengeProof(strangers.seed, sealedA, K)], { account: lessorA.account });
    await viem.assertions.emit(market.write.finishReplica([dealId, 0n], { account: lessorA.account }), market, "ReplicaFinished");
  });

  it("a lessor that keeps its own replica challenged shuts out no other challenger: the other's unanswered challenge still fails the replica", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, token, vault, lessorA, watcher, dealId, sealedA } = s;
    // A challenges itself and answers (its bond comes back), and again, so it always has one open.
    await fund(token, lessorA.account.address, 100n * TOKEN);
    await token.write.approve([vault.address, 2n ** 255n], { account: lessorA.account });
    const self = await openChallenge(s, dealId, 0, lessorA);
    await market.write.answerChallenge([dealId, 0n, lessorA.account.address, challengeProof(self.challenge.seed, sealedA, K)], { account: lessorA.account });
    await openChallenge(s, dealId, 0, lessorA);
    // The watcher's challenge opens beside it (before: MarketChallengeOpen), goes unanswered and fails the replica.
    const { deadline } = await openChallenge(s, dealId, 0);
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 2);
    const publicClient = await viem.getPublicClient();
    await networkHelpers.mine(Number(deadline - (await publicClient.getBlockNumber())) + 1);
    await viem.assertions.emit(market.write.expireChallenge([dealId, 0n, watcher.account.address], { account: watcher.account }), market, "ChallengeExpired");
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Failed);
    // A's own challenge of the failed filling is void: its bond returns, no second slash.
    await viem.assertions.emit(market.write.expireChallenge([dealId, 0n, lessorA.account.address], { account: lessorA.account }), market, "ChallengeVoided");
    assert.equal((await market.read.getReplica([dealId, 0n])).openChallenges, 0);
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
