/**
 * The watcher's on-chain challenger (node/roles/onchain-challenger.ts, docs/protocol.md §7.2) learns how its
 * challenges closed from the market's events, fed by an event follower as in WatcherRole: answered (the lessor
 * opened its replica in time), slashed (expired unanswered, by anyone) or voided (the lessor lost the slot
 * otherwise). Settling reads nothing per challenge: it only expires, itself, an open challenge past its window
 * that no event closed. A restarted challenger classifies closings that happened while it was down.
 */
import assert from "node:assert/strict";
import { network } from "hardhat";
import { pino } from "pino";
import { encodeAbiParameters, encodeEventTopics, getAddress, type Hex, type Log, type PublicClient } from "viem";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { storedCheckpoint, type KeyValueStore } from "../node/chain/chain-state.js";
import { EventFollower } from "../node/chain/event-follower.js";
import { ReplicaState } from "../node/chain/states.js";
import { OnChainChallenger, type OnChainChallengerOptions, type OpenOnChainChallenge } from "../node/roles/onchain-challenger.js";
import { challengeAnswerFor, createDeal, failByMissedPeriods, fillAndProve } from "./helpers/market-actions.js";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, fund, type MarketSystem } from "./helpers/market-fixture.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";

const { viem, networkHelpers } = await network.create();
const logger = pino({ level: process.env.COFFER_LOG ?? "silent" });

const FILE = pseudoRandomBytes(5000, "onchain-challenger-file");
const COLLATERAL = 10_000_000n;
const WINDOW = TEST_MARKET_PARAMS.challengeWindow;
/** Blocks from a challenge's own block to its deadline: the seed block, then the window (§7.2). */
const TO_DEADLINE = WINDOW + 1;
const BOUNTY = (COLLATERAL * BigInt(TEST_MARKET_PARAMS.bountyBps)) / 10_000n;

/** A deal with two Proving replicas: slot 0 held by lessor A, slot 1 by lessor B; the watcher has bond tokens. */
async function provenDealFixture() {
  const system = await deployMarketSystem(viem);
  await fund(system.token, system.watcher.account.address, 1_000n * TOKEN);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 2, duration: 4, pricePerGiB: GIB, collateral: COLLATERAL });
  await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  await fillAndProve(system, system.lessorB, dealId, 1, FILE);
  return { ...system, dealId };
}

/** The public client with a count of its reads by name (readContract by function name, log queries by method). */
function countingReads(client: PublicClient) {
  const reads = new Map<string, number>();
  const count = (name: string) => reads.set(name, (reads.get(name) ?? 0) + 1);
  const counted = new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "readContract") return (args: { functionName: string }) => (count(args.functionName), value.call(target, args));
      if (property === "getLogs" || property === "getContractEvents" || property === "getFilterLogs") return (...args: unknown[]) => (count(property), value.apply(target, args));
      return value;
    },
  });
  return { counted, reads };
}

function memoryStore(): KeyValueStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: async (k) => map.get(k), put: async (k, v) => void map.set(k, v) };
}

/**
 * A watcher's challenger as WatcherRole runs it: an event follower (its cursor in `cursor`) feeds the market's
 * events to `observe`, then `pass()` settles. The challenger's chain reads go through the counting client.
 */
async function watcherChallenger(s: MarketSystem, options: { cursor?: KeyValueStore; persisted?: { value?: OpenOnChainChallenge[] }; fromBlock?: bigint } = {}) {
  const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
  const { counted, reads } = countingReads(publicClient);
  const addresses = { token: s.token.address, registry: s.registry.address, vault: s.vault.address, market: s.market.address, downloads: s.downloads.address };
  const chain = { publicClient: counted, walletClient: s.watcher, addresses, params: { challengeWindow: WINDOW, challengeBond: TEST_MARKET_PARAMS.challengeBond } } as unknown as OnChainChallengerOptions["chain"];
  const persisted = options.persisted;
  const challenger = new OnChainChallenger({
    chain,
    logger,
    load: persisted && (async () => persisted.value),
    save: persisted && (async (open) => void (persisted.value = JSON.parse(JSON.stringify(open)) as OpenOnChainChallenge[])),
  });
  await challenger.load();
  const follower = new EventFollower({
    client: publicClient,
    abi: storageMarketAbi,
    addresses: [s.market.address],
    checkpoint: storedCheckpoint(options.cursor ?? memoryStore(), "events:watcher:lastBlock"),
    startBlock: options.fromBlock ?? (await publicClient.getBlockNumber()),
    onLogs: (logs, range) => challenger.observe(logs, range),
    logger,
  });
  const pass = async () => {
    await follower.catchUp();
    return challenger.settle();
  };
  return { challenger, follower, pass, reads };
}

/** What the classification keeps of a settled challenge. */
const outcome = (s: { replicaIndex: number; lessor: string; result: string; slashed: bigint; bounty: bigint }) => ({ replicaIndex: s.replicaIndex, lessor: getAddress(s.lessor), result: s.result, slashed: s.slashed, bounty: s.bounty });

async function mine(blocks: number) {
  await (await viem.getTestClient()).mine({ blocks });
}

describe("watcher: on-chain challenges settled from the market's events (§7.2)", function () {
  it("classifies answered, expired by someone else (slashed) and voided closings from the events, with no getChallenge or log read of its own", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, lessorA, lessorB, stranger, dealId } = s;
    const A = getAddress(lessorA.account.address);
    const B = getAddress(lessorB.account.address);
    const { challenger, pass, reads } = await watcherChallenger(s);

    // Answered: the lessor opens its replica in time.
    const opened0 = await challenger.challenge(dealId, 0, A);
    assert.deepEqual(await pass(), [], "nothing closed yet");
    assert.ok(challenger.isOpen(dealId, 0));
    const W = s.watcher.account.address;
    await mine(1); // the seed block
    await market.write.answerChallenge([dealId, 0n, W, await challengeAnswerFor(s, dealId, 0, W)], { account: lessorA.account });
    const answered = await pass();
    assert.deepEqual(answered.map(outcome), [{ replicaIndex: 0, lessor: A, result: "answered", slashed: 0n, bounty: 0n }]);
    assert.equal(answered[0].openedBlock, BigInt(opened0.openedBlock));
    assert.equal(challenger.isOpen(dealId, 0), false);

    // Slashed: unanswered, and someone else expires it before our watcher does.
    await challenger.challenge(dealId, 1, B);
    assert.deepEqual(await pass(), []);
    await mine(TO_DEADLINE);
    await market.write.expireChallenge([dealId, 1n, W], { account: stranger.account });
    assert.deepEqual((await pass()).map(outcome), [{ replicaIndex: 1, lessor: B, result: "slashed", slashed: COLLATERAL, bounty: BOUNTY }]);
    assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Open, "failed and settled with the expiry: open for repair");

    // Voided: the challenged lessor's piece fails by missed periods (maxMisses = 2, derived from time), someone
    // else expires the challenge.
    await challenger.challenge(dealId, 0, A);
    await failByMissedPeriods(s, dealId, 0);
    await viem.assertions.emit(market.write.expireChallenge([dealId, 0n, W], { account: stranger.account }), market, "ChallengeVoided");
    assert.deepEqual((await pass()).map(outcome), [{ replicaIndex: 0, lessor: A, result: "voided", slashed: 0n, bounty: 0n }]);

    assert.deepEqual(challenger.settled.map((c) => c.result), ["answered", "slashed", "voided"]);
    assert.deepEqual(challenger.openChallenges(), []);
    assert.equal(reads.get("getChallenge"), undefined, "no getChallenge read");
    assert.equal((reads.get("getLogs") ?? 0) + (reads.get("getContractEvents") ?? 0) + (reads.get("getFilterLogs") ?? 0), 0, "no log query of its own");
  });

  it("expires, itself, an open challenge past its window that no event closed, and counts its own expiry once", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, vault, watcher, lessorB, dealId } = s;
    const B = getAddress(lessorB.account.address);
    const { challenger, pass, reads } = await watcherChallenger(s);
    const opened = await challenger.challenge(dealId, 1, B);
    await mine(TO_DEADLINE);
    assert.equal(await (await viem.getPublicClient()).getBlockNumber(), BigInt(opened.deadlineBlock), "at the deadline");
    assert.deepEqual(await pass(), [], "not before the window has passed");
    assert.ok(challenger.isOpen(dealId, 1));
    assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Proving);

    await mine(1);
    const before = await vault.read.withdrawableOf([watcher.account.address]);
    assert.deepEqual((await pass()).map(outcome), [{ replicaIndex: 1, lessor: B, result: "slashed", slashed: COLLATERAL, bounty: BOUNTY }]);
    assert.equal(await market.read.replicaState([dealId, 1n]), ReplicaState.Open, "failed and settled with the expiry: open for repair");
    assert.equal(await vault.read.withdrawableOf([watcher.account.address]), before + BOUNTY + TEST_MARKET_PARAMS.challengeBond, "bounty and bond to the watcher");
    // The follower now sees our own ChallengeExpired: no second settlement.
    assert.deepEqual(await pass(), []);
    assert.equal(challenger.settled.length, 1);
    assert.equal(reads.get("getChallenge"), undefined, "no getChallenge read");
  });

  it("a challenge someone else closed after the last observed block stays open until the follower brings its event", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, lessorB, stranger, dealId } = s;
    const B = getAddress(lessorB.account.address);
    const { challenger, follower, pass } = await watcherChallenger(s);
    await challenger.challenge(dealId, 1, B);
    await mine(TO_DEADLINE + 1);
    await follower.catchUp(); // observed past the deadline, no closing yet
    await market.write.expireChallenge([dealId, 1n, s.watcher.account.address], { account: stranger.account });
    // Our expiry is refused (MarketNoChallenge): not an error, and not a guess at how it closed.
    assert.deepEqual(await challenger.settle(), []);
    assert.ok(challenger.isOpen(dealId, 1));
    assert.deepEqual((await pass()).map(outcome), [{ replicaIndex: 1, lessor: B, result: "slashed", slashed: COLLATERAL, bounty: BOUNTY }]);
  });

  it("after a restart, classifies the closings that happened while it was down from the follower's persisted block", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, lessorA, lessorB, stranger, dealId } = s;
    const A = getAddress(lessorA.account.address);
    const B = getAddress(lessorB.account.address);
    const cursor = memoryStore();
    const persisted: { value?: OpenOnChainChallenge[] } = {};
    const fromBlock = await (await viem.getPublicClient()).getBlockNumber();
    const before = await watcherChallenger(s, { cursor, persisted, fromBlock });
    await before.challenger.challenge(dealId, 1, B);
    await before.challenger.challenge(dealId, 0, A);
    assert.deepEqual(await before.pass(), []);
    assert.deepEqual(persisted.value?.map((c) => c.replicaIndex), [1, 0]);
    const cursorBefore = BigInt(cursor.map.get("events:watcher:lastBlock")!);

    // The watcher is down: A answers its challenge, B's expires and someone else settles it.
    const W = s.watcher.account.address;
    await mine(1); // slot 0's seed block
    await market.write.answerChallenge([dealId, 0n, W, await challengeAnswerFor(s, dealId, 0, W)], { account: lessorA.account });
    await mine(TO_DEADLINE);
    await market.write.expireChallenge([dealId, 1n, W], { account: stranger.account });
    const [expired] = await market.getEvents.ChallengeExpired({ dealId }, { fromBlock: cursorBefore + 1n });
    assert.ok(expired.blockNumber > cursorBefore, "the closings lie after the persisted cursor");

    const after = await watcherChallenger(s, { cursor, persisted, fromBlock });
    assert.deepEqual(after.challenger.openChallenges().map((c) => c.replicaIndex), [1, 0], "both loaded as open");
    const done = await after.pass();
    assert.deepEqual(
      done.map(outcome).sort((x, y) => x.replicaIndex - y.replicaIndex),
      [
        { replicaIndex: 0, lessor: A, result: "answered", slashed: 0n, bounty: 0n },
        { replicaIndex: 1, lessor: B, result: "slashed", slashed: COLLATERAL, bounty: BOUNTY },
      ],
    );
    assert.deepEqual(persisted.value, [], "nothing left open in the store");
    assert.equal(after.reads.get("getChallenge"), undefined);
  });

  it("a challenge saved as open whose closing is already behind the follower (an older watcher's state) is classified from the logs when its expiry is refused", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, lessorB, stranger, dealId } = s;
    const B = getAddress(lessorB.account.address);
    const persisted: { value?: OpenOnChainChallenge[] } = {};
    const before = await watcherChallenger(s, { persisted });
    await before.challenger.challenge(dealId, 1, B);
    await mine(TO_DEADLINE);
    await market.write.expireChallenge([dealId, 1n, s.watcher.account.address], { account: stranger.account });
    // The closing is never observed: the next watcher's follower starts after it, with the challenge still saved open.
    const publicClient = await viem.getPublicClient();
    const cursor = memoryStore();
    cursor.map.set("events:watcher:lastBlock", String(await publicClient.getBlockNumber()));
    const after = await watcherChallenger(s, { cursor, persisted });
    assert.ok(after.challenger.isOpen(dealId, 1));
    await mine(1);
    assert.deepEqual((await after.pass()).map(outcome), [{ replicaIndex: 1, lessor: B, result: "slashed", slashed: COLLATERAL, bounty: BOUNTY }]);
    assert.equal(after.challenger.isOpen(dealId, 1), false, "not retried forever");
    assert.deepEqual(persisted.value, []);
    assert.equal(after.reads.get("getChallenge"), 1, "one read on the refused expiry");
  });

  it("a closing logged before the opening, even in the same block, belongs to an earlier challenge and is ignored", async function () {
    const s = await networkHelpers.loadFixture(provenDealFixture);
    const { market, lessorA, dealId } = s;
    const A = getAddress(lessorA.account.address);
    const { challenger } = await watcherChallenger(s, { persisted: { value: [{ dealId, replicaIndex: 0, lessor: A, openedBlock: "100", deadlineBlock: "103", openedLogIndex: 2 }] } });
    const answeredLog = (blockNumber: bigint, logIndex: number) =>
      ({
        address: market.address,
        topics: encodeEventTopics({ abi: storageMarketAbi, eventName: "ChallengeAnswered", args: { dealId, lessor: A, challenger: s.watcher.account.address } }),
        data: encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [0n, TEST_MARKET_PARAMS.challengeBond]),
        blockNumber,
        logIndex,
        blockHash: `0x${"00".repeat(32)}` as Hex,
        transactionHash: `0x${"00".repeat(32)}` as Hex,
        transactionIndex: 0,
        removed: false,
      }) as Log;
    await challenger.observe([answeredLog(99n, 5), answeredLog(100n, 1)], { toBlock: 100n });
    assert.ok(challenger.isOpen(dealId, 0), "earlier block, or the same block before the opening log: an earlier challenge");
    assert.deepEqual(await challenger.settle(), []);
    // Another contract's event with the same signature is not the market's.
    await challenger.observe([{ ...answeredLog(101n, 0), address: s.vault.address }], { toBlock: 101n });
    assert.ok(challenger.isOpen(dealId, 0));
    await challenger.observe([answeredLog(100n, 3)], { toBlock: 102n });
    assert.deepEqual((await challenger.settle()).map(outcome), [{ replicaIndex: 0, lessor: A, result: "answered", slashed: 0n, bounty: 0n }]);
  });
});
