/**
 * On-chain challenges (docs/protocol.md §7.2): anyone challenges a Proving replica with a bond; its lessor must
 * open kPoSt stratified segments of the sealed replica within challengeWindow blocks. In time: the bond pays the
 * lessor. Not in time: the replica fails and its whole remaining collateral is slashed (bounty to the
 * challenger). Proofs come from the TypeScript engine, so these tests also cross-check the two sides.
 */
import assert from "node:assert/strict";
import { encodeAbiParameters, sha256, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, deployTokenAndRegistry, fund, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, failByMissedPeriods, fillAndProve, postArgs } from "./helpers/market-actions.js";
import { challengeProof, postProof, pseudoRandomBytes } from "./helpers/proofs.js";
import { spotChallenges } from "../node/proofs/challenges.js";
import { verifyChallengeAnswer } from "../node/proofs/post.js";
import { ReplicaState } from "../node/roles/common.js";

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

async function openChallenge(s: MarketSystem, dealId: Hex, index: number) {
  await s.market.write.challengeReplica([dealId, BigInt(index)], { account: s.watcher.account });
  const publicClient = await viem.getPublicClient();
  const opened = await publicClient.getBlockNumber();
  const challenge = await s.market.read.getChallenge([dealId, BigInt(index)]);
  return { opened, challenge };
}

describe("StorageMarket: on-chain challenges (§7.2)", function () {
  it("opens with a bond and a seed from prevrandao and the previous block; the engine's answer passes and pays the bond to the lessor", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, token, watcher, lessorA, dealId, sealedA } = s;
    const escrowBefore = await vault.read.escrowed();
    const balanceBefore = await token.read.balanceOf([watcher.account.address]);

    const tx = market.write.challengeReplica([dealId, 0n], { account: watcher.account });
    await viem.assertions.emit(tx, market, "ReplicaChallenged");
    const publicClient = await viem.getPublicClient();
    const block = await publicClient.getBlock();
    const parent = await publicClient.getBlock({ blockNumber: block.number - 1n });
    const expectedSeed = sha256(encodeAbiParameters([{ type: "uint256" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }], [BigInt(block.mixHash), parent.hash, dealId, 0n]));
    const challenge = await market.read.getChallenge([dealId, 0n]);
    assert.equal(challenge.challenger.toLowerCase(), watcher.account.address.toLowerCase());
    assert.equal(challenge.lessor.toLowerCase(), lessorA.account.address.toLowerCase());
    assert.equal(challenge.openedBlock, block.number);
    assert.equal(challenge.seed, expectedSeed, "seed = sha256(abi(prevrandao, blockhash(B-1), dealId, index)) as in §7.2");
    const [event] = await market.getEvents.ReplicaChallenged({}, { fromBlock: block.number, toBlock: block.number });
    assert.equal(event.args.deadlineBlock, block.number + WINDOW);
    assert.equal(event.args.bond, BOND);
    assert.equal(event.args.seed, expectedSeed);
    assert.equal(await vault.read.escrowed(), escrowBefore + BOND);
    assert.equal(await token.read.balanceOf([watcher.account.address]), balanceBefore - BOND);

    // Stratified: challenge j lies in [j·n/k, (j+1)·n/k).
    const n = sealedA.data.n;
    const indices = spotChallenges(challenge.seed, sealedA.replicaId, K, n);
    indices.forEach((i, j) => assert.ok(i >= Math.floor((j * n) / K) && i < Math.floor(((j + 1) * n) / K), `index ${i} in stratum ${j}`));
    const proof = challengeProof(challenge.seed, sealedA, K);
    assert.ok(verifyChallengeAnswer({ commR: sealedA.sealed.root, seed: challenge.seed, replicaId: sealedA.replicaId, segments: n, challenges: K }, proof));

    const withdrawableBefore = await vault.read.withdrawableOf([lessorA.account.address]);
    await viem.assertions.emitWithArgs(market.write.answerChallenge([dealId, 0n, proof], { account: lessorA.account }), market, "ChallengeAnswered", [dealId, 0n, lessorA.account.address, BOND]);
    assert.equal(await vault.read.withdrawableOf([lessorA.account.address]), withdrawableBefore + BOND);
    assert.equal((await market.read.getChallenge([dealId, 0n])).challenger, "0x0000000000000000000000000000000000000000");
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    // Settled: a new challenge may be opened.
    await market.write.challengeReplica([dealId, 0n], { account: watcher.account });
  });

  it("refuses wrong, truncated, late and duplicate answers with named errors", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, lessorA, stranger, dealId, sealedA } = s;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, []], { account: lessorA.account }), market, "MarketNoChallenge", [dealId, 0n]);
    const { opened, challenge } = await openChallenge(s, dealId, 0);
    const good = challengeProof(challenge.seed, sealedA, K);

    // A PoSt-style answer (unstratified indices) and a truncated one are wrong.
    const postStyle = postProof(challenge.seed, sealedA, K);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, postStyle], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, good.slice(0, -1)], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);
    const flipped = [...good];
    flipped[0] = `0x${(BigInt(flipped[0]) ^ 1n).toString(16).padStart(64, "0")}` as Hex;
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, flipped], { account: lessorA.account }), market, "MarketInvalidChallengeAnswer", [dealId, 0n]);

    // One open challenge per replica.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.challengeReplica([dealId, 0n], { account: stranger.account }), market, "MarketChallengeOpen", [dealId, 0n, opened + WINDOW]);
    // Not expirable inside the window (the three failed answers above were no blocks: reverted calls).
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n], { account: stranger.account }), market, "MarketChallengeNotExpired", [dealId, 0n, opened + WINDOW]);

    const publicClient = await viem.getPublicClient();
    const testClient = await viem.getTestClient();
    await testClient.mine({ blocks: Number(opened + WINDOW - (await publicClient.getBlockNumber())) });
    // Block opened + WINDOW + 1 is the first where the answer is late; the write mines exactly that block.
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.answerChallenge([dealId, 0n, good], { account: lessorA.account }), market, "MarketChallengeLate", [dealId, 0n, opened + WINDOW]);
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

    const bounty = (left * BigInt(TEST_MARKET_PARAMS.bountyBps)) / 10_000n;
    const repair = (left * BigInt(TEST_MARKET_PARAMS.repairBps)) / 10_000n;
    // Anyone may settle; the bounty goes to the challenger, not the caller.
    const tx = market.write.expireChallenge([dealId, 0n], { account: stranger.account });
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
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.expireChallenge([dealId, 0n], { account: stranger.account }), market, "MarketNoChallenge", [dealId, 0n]);
    // The failed slot is open for repair, like a replica failed by misses.
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
    const challenge = await market.read.getChallenge([dealId, 0n]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      market.write.answerChallenge([dealId, 0n, challengeProof(challenge.seed, sealedA, K)], { account: lessorA.account }),
      market,
      "MarketChallengeVoid",
      [dealId, 0n, lessorA.account.address],
    );
    const before = await vault.read.withdrawableOf([watcher.account.address]);
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n], { account: stranger.account }), market, "ChallengeVoided", [dealId, 0n, watcher.account.address, BOND]);
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), before + BOND);
  });

  it("a challenge of a filling that failed never reaches the next filling of the slot, even by the same lessor", async function () {
    const s = await networkHelpers.loadFixture(challengeFixture);
    const { market, vault, watcher, lessorA, stranger, dealId } = s;
    await openChallenge(s, dealId, 0);
    await failByMissedPeriods(s, dealId, 0);
    // A repairs its own failed slot with a fresh collateral, long after the challenge's window.
    await fillAndProve(s, lessorA, dealId, 0, FILE);
    assert.equal(await market.read.replicaState([dealId, 0n]), ReplicaState.Proving);
    const collateralBefore = (await market.read.getReplica([dealId, 0n])).collateralLeft;
    const before = await vault.read.withdrawableOf([watcher.account.address]);
    await viem.assertions.emitWithArgs(market.write.expireChallenge([dealId, 0n], { account: stranger.account }), market, "ChallengeVoided", [dealId, 0n, watcher.account.address, BOND]);
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
      await market.write.seedPeriod();
      await market.write.submitPoSt(await postArgs(s, [{ dealId, index: 0, sealed: sealedA }]), { account: lessorA.account });
    }
    // Last period: challenge it, then go past the end.
    const { opened, challenge } = await openChallenge(s, dealId, 0);
    await networkHelpers.time.increaseTo(start + 6n * periodLength + 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(market.write.finishReplica([dealId, 0n], { account: lessorA.account }), market, "MarketChallengeOpen", [dealId, 0n, opened + WINDOW]);
    await market.write.answerChallenge([dealId, 0n, challengeProof(challenge.seed, sealedA, K)], { account: lessorA.account });
    await viem.assertions.emit(market.write.finishReplica([dealId, 0n], { account: lessorA.account }), market, "ReplicaFinished");
  });

  it("rejects a zero window and bounty + repair shares above 100 %", async function () {
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
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("StorageMarket", [registry.address, vault.address, { ...TEST_MARKET_PARAMS, bountyBps: 6000, repairBps: 5000 }]),
      accepted,
      "MarketInvalidParameter",
      ["bountyBps+repairBps"],
    );
    assert.equal((await accepted.read.params()).challengeWindow, TEST_MARKET_PARAMS.challengeWindow);
  });
});
