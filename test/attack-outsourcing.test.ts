/**
 * Outsourcing attack (docs/protocol.md §4.4, §7): a lessor keeps no data (only commR's kept tree, 0.78 % of
 * the replica). When a timed challenge comes it downloads the unsealed file from another node over libp2p
 * and re-seals up to the largest challenged index before answering. Its signed answers are correct — and
 * late: the watcher flags it, while the honest lessor answers within the 1 s deadline.
 *
 * Size: 128 MiB. The download (loopback, same process) plus re-sealing ≥ 0.75·n segments (~0.37–0.9 µs each
 * measured) takes several seconds; over a real network the download alone would take longer still.
 *
 * On-chain (§7.2): the same outsourcing lessor, challenged through StorageMarket.challengeReplica, cannot fetch
 * 256 MiB over libp2p and re-seal ≥ 4/5 of it within the 3-block window (500 ms blocks here): the challenge
 * expires, its replica fails and its collateral is slashed; the honest lessor answers in time.
 */
import { toHex as hexOf } from "viem";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Harness, mesh } from "./helpers/p2p-harness.js";
import { RegeneratingReplica } from "./helpers/attack-lessors.js";
import { bigRandomFile, newAccount, randomDealId, sealFor } from "./helpers/attack-setup.js";
import { TimedChallengeResponder } from "../node/roles/timed-challenge-responder.js";
import { TimedChallenger, type WatchedReplica } from "../node/roles/timed-challenger.js";
import { ReplicaState } from "../node/chain/states.js";
import { fromHex } from "../node/proofs/words.js";
import { getAddress } from "viem";
import { network } from "hardhat";
import { pino } from "pino";
import { onChainChallengeSetup, rebuildFinished, settled, startChallengeRoles } from "./helpers/onchain-challenge-setup.js";

const connection = await network.create();

const SIZE = 128 * 1024 * 1024;
const SEAL_ROUNDS = 1;
const DEADLINE_MS = 1_000;

describe("attack: outsourcing (fetch and seal when challenged)", function () {
  this.timeout(180_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("the lessor that fetches the data over libp2p when challenged is late and flagged; the honest one is not", async function () {
    const honestKey = newAccount();
    const attackerKey = newAccount();
    const dealId = randomDealId();
    const dataPath = await bigRandomFile(harness, SIZE);
    const honestReplica = await sealFor(harness, dataPath, honestKey.address, dealId, 0, SEAL_ROUNDS);
    const attackerReplica = await sealFor(harness, dataPath, attackerKey.address, dealId, 1, SEAL_ROUNDS);
    await rm(attackerReplica.replicaPath); // it keeps nothing but the kept tree

    // The user's node still holds the unsealed file: the attacker's outside source.
    const userNode = await harness.node({ role: "user" });
    const info = await userNode.add(dataPath);
    const commD = fromHex(info.root);

    const honest = new TimedChallengeResponder({ account: honestKey });
    await honest.addSealedFile(honestReplica.replicaPath, honestReplica.treePath, honestReplica.sealed.commR);
    const attacker = new TimedChallengeResponder({ account: attackerKey });
    const honestNode = await harness.node({ role: "lessor", challengeResponder: honest.responder });
    const attackerNode = await harness.node({ role: "lessor", challengeResponder: attacker.responder });
    const watcherNode = await harness.node({ role: "watcher" });
    await mesh([watcherNode, honestNode, attackerNode, userNode]);

    const fetchedPath = join(await harness.dir("coffer-outsourced-"), "fetched.bin");
    let fetches = 0;
    const outsourced = new RegeneratingReplica(fetchedPath, attackerReplica.replicaId, SEAL_ROUNDS, attackerReplica.sealed.tree, async () => {
      // Fetch the whole file from the user over /coffer/fetch, then forget it again (nothing stays stored).
      await attackerNode.get(commD, fetchedPath, { peers: [userNode.peerId], discoveryTimeoutMs: 5_000 });
      await attackerNode.store.remove(commD);
      fetches += 1;
    });
    attacker.add({ source: outsourced, sector: hexOf(attackerReplica.replicaId) });

    const challenger = new TimedChallenger({ challenges: watcherNode.challenge, account: newAccount(), deadlineMs: DEADLINE_MS, graceMs: 60_000 });
    const replicas: WatchedReplica[] = [
      { lessor: honestKey.address, peer: honestNode.peerId, commR: honestReplica.sealed.commR, size: SIZE },
      { lessor: attackerKey.address, peer: attackerNode.peerId, commR: attackerReplica.sealed.commR, size: SIZE },
    ];
    const outcomes = await challenger.round([...replicas, ...replicas]);
    await honest.close();

    assert.equal(fetches, 2, "the attacker fetched the data for each challenge");
    for (const o of outcomes) {
      if (o.lessor === honestKey.address) assert.equal(o.status, "ok", `honest: ${o.reason}`);
      else assert.equal(o.status, "late", `attacker: ${o.status} ${o.reason}`);
    }
    assert.deepEqual(challenger.suspects(), [attackerKey.address]);
    const attackerStats = challenger.statsOf(attackerKey.address);
    assert.equal(attackerStats.late, 2);
    assert.equal(challenger.evidence(attackerKey.address).length, 2);
    assert.ok(attackerStats.medianLatencyMs! > DEADLINE_MS);
    assert.ok(challenger.statsOf(honestKey.address).medianLatencyMs! < DEADLINE_MS);
    await outsourced.close();
    const timing = outsourced.lastTiming!;
    console.log(
      `      outsourcing: ${JSON.stringify({
        replicaMiB: SIZE / 2 ** 20,
        honestMedianMs: Math.round(challenger.statsOf(honestKey.address).medianLatencyMs!),
        attackerMedianMs: Math.round(attackerStats.medianLatencyMs!),
        lastFetchMs: Math.round(timing.fetchMs),
        lastResealMs: Math.round(timing.sealMs),
        deadlineMs: DEADLINE_MS,
      })}`,
    );
  });
});

describe("attack: outsourcing, challenged on-chain (§7.2)", function () {
  this.timeout(300_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("the lessor that fetches and seals when challenged misses the on-chain window and loses its collateral; the honest one answers", async function () {
    const SIZE_ONCHAIN = 256 * 1024 * 1024;
    const logger = pino({ level: process.env.COFFER_LOG ?? "error" });
    const dataPath = await bigRandomFile(harness, SIZE_ONCHAIN, "onchain.bin");
    const setup = await onChainChallengeSetup(connection, harness, dataPath, { size: SIZE_ONCHAIN, challengeWindow: 3, blockMs: 500 });
    const { system, dealId } = setup;
    await rm(setup.attacker.replicaPath);
    const userNode = await harness.node({ role: "user" });
    const commD = fromHex((await userNode.add(dataPath)).root);
    const attackerNode = await harness.node({ role: "lessor" });
    await mesh([attackerNode, userNode]);
    const fetchedPath = join(await harness.dir("coffer-outsourced-"), "fetched.bin");
    const outsourced = new RegeneratingReplica(fetchedPath, setup.attacker.replicaId, 1, setup.attacker.sealed.tree, async () => {
      await attackerNode.get(commD, fetchedPath, { peers: [userNode.peerId], discoveryTimeoutMs: 5_000 });
      await attackerNode.store.remove(commD);
    });
    await outsourced.warmUp();
    const { honest, attacker, watcher, watcherPass, stop } = await startChallengeRoles(setup, outsourced, logger);
    try {
      const lessorA = getAddress(system.lessorA.account.address);
      const lessorB = getAddress(system.lessorB.account.address);
      const openedHonest = await watcher.challenge(dealId, 0, lessorA);
      assert.equal((await settled(watcherPass, 0)).result, "answered");
      // The answer the lessor recorded is the one the chain accepted, within the window it was given.
      const answeredBlock = honest.answered[0].answeredBlock;
      const [accepted] = await system.market.getEvents.ChallengeAnswered({ dealId }, { fromBlock: answeredBlock, toBlock: answeredBlock });
      assert.deepEqual([accepted?.args.replicaIndex, accepted?.args.lessor], [0n, lessorA]);
      assert.ok(answeredBlock > BigInt(openedHonest.openedBlock) && answeredBlock <= BigInt(openedHonest.deadlineBlock));

      await watcher.challenge(dealId, 1, lessorB);
      const result = await settled(watcherPass, 1);
      assert.equal(result.result, "slashed");
      assert.equal(result.slashed, setup.collateral);
      // The expired challenge failed and settled the piece at once: the slot is open for repair (§12.5).
      assert.equal(await system.market.read.replicaState([dealId, 1n]), ReplicaState.Open);
      assert.equal(attacker.answered.length, 0);
      const timing = await rebuildFinished(outsourced);
      console.log(
        `      outsourcing on-chain: ${JSON.stringify({
          replicaMiB: SIZE_ONCHAIN / 2 ** 20,
          windowBlocks: 3,
          blockMs: 500,
          honestAnswerMs: Math.round(honest.answered[0].ms),
          attackerFetchMs: Math.round(timing.fetchMs),
          attackerResealMs: Math.round(timing.sealMs),
          slashed: result.slashed.toString(),
        })}`,
      );
    } finally {
      await stop();
    }
  });
});
