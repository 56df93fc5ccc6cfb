/**
 * DDoS (docs/protocol.md §11 limits, domain: "a node under load still meets its proof deadlines"): an
 * attacker floods a lessor over libp2p with challenge, have and chunk requests while the lessor must build
 * and land its PoSt. Per-peer rate limits and stream caps refuse most of the flood cheaply; the lessor's PoSt
 * lands in the period, a watcher's timed challenge is answered in time and another peer downloads the file.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { getAddress, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, deployMarketSystem, type MarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve, goToPeriod, seedCurrentPeriod } from "./helpers/market-actions.js";
import { Harness, mesh } from "./helpers/p2p-harness.js";
import { newAccount } from "./helpers/attack-setup.js";
import { CommittedFile, commitFile, proveLessorPoSt } from "../node/proofs/index.js";
import { fromHex } from "../node/proofs/words.js";
import { TimedChallengeResponder } from "../node/roles/timed-challenge-responder.js";
import { TimedChallenger } from "../node/roles/timed-challenger.js";

const { viem, networkHelpers } = await network.create();

const SIZE = 2 * 1024 * 1024;
const COLLATERAL = 3_000_000_000n;
const FLOOD_MS = 4_000;
const FLOOD_CONCURRENCY = 48;


describe("attack: request flood while a proof is due", function () {
  this.timeout(120_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("the flooded lessor lands its PoSt in the period, answers the watcher in time and serves another peer", async function () {
    const s = await deployMarketSystem(viem);
    const { market, lessorA, watcher } = s;
    const bytes = new Uint8Array(randomBytes(SIZE));
    const dataPath = join(await harness.dir("coffer-flood-"), "file.bin");
    await writeFile(dataPath, bytes);
    const dealId = await createDeal(s, { bytes, replicas: 1, duration: 5, pricePerGiB: GIB, collateral: COLLATERAL });
    const sealed = await fillAndProve(s, lessorA, dealId, 0, bytes);
    const replicaPath = join(await harness.dir("coffer-flood-replica-"), "replica.bin");
    await writeFile(replicaPath, sealed.sealed.leaves);
    const commitment = await commitFile(replicaPath);
    const replica = await CommittedFile.open(replicaPath, commitment.tree, { kind: "replica" });

    const lessorKey = newAccount(); // the lessor's signing key for timed answers (its chain key in production)
    const responder = new TimedChallengeResponder({ account: lessorKey });
    responder.add({ source: replica });
    const lessorNode = await harness.node({ role: "lessor", challengeResponder: responder.responder });
    const attackerNode = await harness.node({ role: "user" });
    const honestPeer = await harness.node({ role: "user" });
    const watcherNode = await harness.node({ role: "watcher" });
    await mesh([lessorNode, attackerNode, honestPeer, watcherNode]);
    const info = await lessorNode.add(dataPath);
    const commD = fromHex(info.root);

    // The flood: FLOOD_CONCURRENCY loops of challenge / have / chunk requests for FLOOD_MS.
    const counts = { sent: 0, answered: 0, refused: 0 };
    const floodUntil = performance.now() + FLOOD_MS;
    const commR = fromHex(sealed.commR);
    const floodLoop = async (k: number) => {
      while (performance.now() < floodUntil) {
        counts.sent += 1;
        try {
          const signal = AbortSignal.timeout(2_000);
          if (k % 3 === 0) await attackerNode.challenge.challenge(lessorNode.peerId, commR, [k % 100, 7, 4000], 1_000);
          else if (k % 3 === 1) await attackerNode.have.query(lessorNode.peerId, commD, signal);
          else {
            const session = await attackerNode.fetch.open(lessorNode.peerId, signal);
            try {
              await session.chunk(commD, k % 8, signal);
            } finally {
              session.close();
            }
          }
          counts.answered += 1;
        } catch {
          counts.refused += 1;
        }
      }
    };
    const flood = Promise.all(Array.from({ length: FLOOD_CONCURRENCY }, (_, k) => floodLoop(k)));

    // Meanwhile: the period starts, the lessor builds and lands its PoSt.
    const period = BigInt((await market.read.getSector([sealed.id])).firstPeriod);
    await goToPeriod(s, period);
    await seedCurrentPeriod(s);
    const proveStarted = performance.now();
    const seed = await market.read.periodSeed([period]);
    const a = getAddress(lessorA.account.address);
    const { kPoSt, minSectorLog } = await market.read.params();
    const proving = await market.read.provingCounts([a]);
    const proof = await proveLessorPoSt({ seed, lessor: a, challenges: kPoSt, counts: proving, minSectorLog, sector: () => replica });
    await market.write.submitPoSt([period, proof as Hex[]], { account: lessorA.account });
    const proveMs = performance.now() - proveStarted;
    assert.equal(await market.read.currentPeriod(), period);
    assert.equal(await market.read.isPeriodProven([a, period]), true);

    // A watcher's timed challenge and another peer's download, during the flood.
    const challenger = new TimedChallenger({ challenges: watcherNode.challenge, account: newAccount(), deadlineMs: 1_000 });
    const outcomes = await challenger.round([
      { lessor: lessorKey.address, peer: lessorNode.peerId, commR, size: SIZE },
      { lessor: lessorKey.address, peer: lessorNode.peerId, commR, size: SIZE },
    ]);
    const outPath = join(await harness.dir("coffer-flood-out-"), "file.bin");
    await honestPeer.get(commD, outPath, { peers: [lessorNode.peerId], discoveryTimeoutMs: 5_000 });
    const servedDuringFlood = performance.now() < floodUntil;
    await flood;

    for (const o of outcomes) assert.equal(o.status, "ok", `watcher: ${o.status} ${o.reason}`);
    assert.deepEqual(new Uint8Array(await readFile(outPath)), bytes);
    assert.ok(servedDuringFlood, "the honest download finished while the flood was still running");
    // The limits did the work: most of the flood was refused (rate-limited, stream caps), not served.
    assert.ok(counts.refused > counts.answered, `refused ${counts.refused}, answered ${counts.answered}`);
    await replica.close();
    console.log(`      flood: ${JSON.stringify({ ...counts, floodMs: FLOOD_MS, concurrency: FLOOD_CONCURRENCY, proveAndSubmitMs: Math.round(proveMs), watcherMedianMs: Math.round(challenger.statsOf(lessorKey.address).medianLatencyMs!) })}`);
  });
});
