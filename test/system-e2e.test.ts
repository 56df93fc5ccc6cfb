import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { parseEther } from "viem";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { marketVaultAbi } from "../node/chain/abi/marketVault.js";
import { ReplicaState } from "../node/chain/states.js";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";

const connection = await network.create("hardhat");

describe("the whole system: buy, prove, slash, repair, download", function () {
  this.timeout(240_000);
  let system: RunningSystem;
  after(async () => {
    await system?.stopAll();
    await connection.close();
  });

  it("runs a 2-replica deal with one dishonest lessor end to end", async function () {
    system = await startSystem(connection, { periodLength: 8, lessors: 3, dishonest: [0] });
    const { user, lessors, watcher, deployment } = system;
    const publicClient = await connection.viem.getPublicClient();
    const market = { address: deployment.contracts.StorageMarket!.address, abi: storageMarketAbi } as const;
    const file = join(system.root, "file.bin");
    await writeFile(file, randomBytes(300_000));

    // Bad input is refused with a clear error and nothing is bought.
    await assert.rejects(user.buyDeal({ file, replicas: 11, durationPeriods: 10, maxPricePerGiBPerPeriod: parseEther("2") }), /replicas must be 1 to 10/);
    await assert.rejects(user.buyDeal({ file, replicas: 2, durationPeriods: 10, maxPricePerGiBPerPeriod: 1n }), /lessors offered/);

    const deal = await user.buyDeal({ file, replicas: 2, durationPeriods: 12, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessors[0]!.node.peerId, lessors[1]!.node.peerId] });
    await user.waitUntilProving(deal.dealId);
    const dishonestSlot = deal.replicas.find((r) => r.lessor.toLowerCase() === lessors[0]!.address.toLowerCase())!.replicaIndex;

    const deadline = Date.now() + 150_000;
    let repaired = false;
    while (!repaired && Date.now() < deadline) {
      const replica = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, BigInt(dishonestSlot)] });
      const state = await publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(dishonestSlot)] });
      repaired = state === ReplicaState.Proving && replica.lessor.toLowerCase() === lessors[2]!.address.toLowerCase();
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(repaired, "the failed replica is repaired by lessor-2");
    // The dishonest replica fails by whichever lands first: maxMisses = 2 missed periods (derived
    // on-chain, recorded by the watcher), or the watcher's failed timed challenges escalated to an on-chain
    // challenge that expires unanswered (§7.2).
    const dishonestAddress = lessors[0]!.address.toLowerCase();
    const reportsOnDishonest = watcher.reports.filter((r) => r.lessor.toLowerCase() === dishonestAddress);
    const wonOnChain = watcher.onChain.settled.filter((c) => c.lessor.toLowerCase() === dishonestAddress && c.result === "slashed");
    // Or the lessor declared its lost sector itself (dropSector: its running piece fails, fully slashed).
    const declared = (await publicClient.getContractEvents({ ...market, eventName: "SectorDropped", args: { lessor: lessors[0]!.address }, fromBlock: 0n })).filter((e) => e.args.livePieces! > 0n);
    assert.ok(reportsOnDishonest.length >= 2 || wonOnChain.length === 1 || declared.length === 1, `failed by misses (${reportsOnDishonest.length}), an on-chain challenge (${wonOnChain.length}) or a declared loss (${declared.length})`);
    const settled = await publicClient.getContractEvents({ ...market, eventName: "ReplicaSettled", args: { dealId: deal.dealId }, fromBlock: 0n });
    const failures = settled.filter((f) => f.args.failed);
    assert.deepEqual(failures.map((f) => f.args.lessor!.toLowerCase()), [dishonestAddress], "only the dishonest replica failed");
    if (wonOnChain.length === 1) assert.equal(wonOnChain[0].slashed, failures[0].args.slashed, "the on-chain challenge slashed the whole remaining collateral");
    assert.ok(watcher.onChain.settled.every((c) => c.result !== "slashed" || c.lessor.toLowerCase() === dishonestAddress), "no honest lessor was slashed");
    assert.ok(watcher.suspects().some((s) => s.lessor.toLowerCase() === dishonestAddress));
    assert.equal(user.repairsDone.length, 1);
    // Off-chain: the watcher's signed timed challenges find the dishonest lessor unable to answer, while the
    // honest one answers every challenge in time.
    const timed = watcher.timed!;
    assert.ok(timed.suspects().some((a) => a.toLowerCase() === lessors[0]!.address.toLowerCase()), "timed challenges flag the dishonest lessor");
    const honestTimed = timed.statsOf(lessors[1]!.address);
    assert.ok(honestTimed.ok > 0, "the honest lessor answered timed challenges");
    assert.equal(honestTimed.late + honestTimed.wrong + honestTimed.unanswered, 0, "the honest lessor never failed one");

    const honestSlot = 1 - dishonestSlot;
    const out = join(system.root, "out.bin");
    const got = await user.get(deal.dealId, out, { replicaIndex: honestSlot });
    assert.deepEqual(await readFile(out), await readFile(file));
    assert.equal(got.lessor.toLowerCase(), lessors[1]!.address.toLowerCase());

    // The honest lessor was paid for proven periods (withdrawn or still withdrawable).
    const vault = { address: deployment.contracts.MarketVault!.address, abi: marketVaultAbi } as const;
    const paid = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, BigInt(honestSlot)] });
    assert.ok(paid.paidPeriods >= 1, "the honest replica was paid at least one period");
    assert.ok(lessors[1]!.stats.sectorsProven >= 1);
    // The watcher earned the bounty of whichever defence failed the dishonest replica, and every token the
    // vault credited it is either withdrawn or still withdrawable.
    const watcherAddress = watcher.chain.address.toLowerCase();
    // Misses are derived on-chain and pay no bounty (§12.5); only an expired on-chain challenge does.
    const missedBounties = 0n;
    void watcherAddress;
    const challengeBounties = (await publicClient.getContractEvents({ ...market, eventName: "ChallengeExpired", args: { challenger: watcher.chain.address }, fromBlock: 0n }))
      .reduce((sum, e) => sum + e.args.bounty!, 0n);
    assert.ok(wonOnChain.length === 0 || challengeBounties > 0n, "the watcher earned the bounty of the challenge it won");
    const credited = (await publicClient.getContractEvents({ ...vault, eventName: "Credited", args: { account: watcher.chain.address }, fromBlock: 0n })).reduce((sum, e) => sum + e.args.amount!, 0n);
    const withdrawn = (await publicClient.getContractEvents({ ...vault, eventName: "Withdrawn", args: { account: watcher.chain.address }, fromBlock: 0n })).reduce((sum, e) => sum + e.args.amount!, 0n);
    assert.ok(credited >= missedBounties + challengeBounties, `credited ${credited} covers the bounties ${missedBounties + challengeBounties}`);
    const watcherOwed = await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [watcher.chain.address] });
    assert.equal(withdrawn + watcherOwed, credited, "credited = withdrawn + still withdrawable");
  });
});
