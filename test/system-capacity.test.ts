/**
 * Proven capacity (docs/protocol.md §12.3, PPIO's LPoC): a lessor seals empty sectors and proves them with the
 * same one PoSt per period as its deal sectors; the chain counts them as proven capacity, users prefer the
 * lessor that proves disk over one that only declares it, and a capacity sector is given up for free when
 * pieces need its room.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { parseEther } from "viem";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { getProvenCapacity } from "../node/chain/actions/getProvenCapacity.js";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";

const connection = await network.create("hardhat");

describe("proven capacity: empty sectors sealed and proven, preferred by users, given up for room", function () {
  this.timeout(180_000);
  let system: RunningSystem;
  after(async () => {
    await system?.stopAll();
    await connection.close();
  });

  it("counts a capacity sector as proven capacity, chooses its lessor first, and drops it without penalty", async function () {
    // Lessor 2 asks the highest price of the three but keeps one capacity sector proven.
    system = await startSystem(connection, { periodLength: 6, lessors: 3, capacitySectors: [0, 0, 1] });
    const { user, lessors, deployment } = system;
    const publicClient = await connection.viem.getPublicClient();
    const market = { address: deployment.contracts.StorageMarket!.address, abi: storageMarketAbi } as const;
    const ctx = { publicClient, addresses: { market: market.address } } as never;
    const { minSectorLog } = await publicClient.readContract({ ...market, functionName: "params" });
    const capacityLessor = lessors[2]!;
    const deadline = Date.now() + 90_000;
    let proven = 0n;
    while (proven === 0n && Date.now() < deadline) {
      proven = await getProvenCapacity(ctx, { lessor: capacityLessor.address, minSectorLog });
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(proven, 32n << BigInt(minSectorLog), "one capacity sector of the smallest size, proven");
    assert.equal(await getProvenCapacity(ctx, { lessor: lessors[0]!.address, minSectorLog }), 0n, "declared only");
    const capacity = capacityLessor.sectors().find((x) => x.capacity)!;
    assert.equal(capacity.pieces.length, 0);
    const committed = await publicClient.getContractEvents({ ...market, eventName: "SectorCommitted", args: { sector: capacity.id }, fromBlock: 0n });
    assert.equal(committed[0]?.args.pieces, 0n, "committed with no pieces");

    // A user with no preference: the lessor with proven capacity is chosen first, although it is the dearest.
    const file = join(system.root, "file.bin");
    await writeFile(file, randomBytes(300_000));
    const deal = await user.buyDeal({ file, replicas: 1, durationPeriods: 10, maxPricePerGiBPerPeriod: parseEther("2") });
    assert.equal(deal.replicas[0]!.lessor.toLowerCase(), capacityLessor.address.toLowerCase(), "proven capacity first");
    await user.waitUntilProving(deal.dealId, 90_000);

    // Giving up a capacity sector is free: no stake is slashed, it leaves the proving set.
    const stakeBefore = await publicClient.readContract({ address: deployment.contracts.LessorRegistry.address, abi: (await import("../node/chain/abi/lessorRegistry.js")).lessorRegistryAbi, functionName: "getLessor", args: [capacityLessor.address] });
    (capacity as { release?: boolean }).release = true;
    const dropDeadline = Date.now() + 60_000;
    while (capacityLessor.sectors().find((x) => x.id === capacity.id)?.stage !== "gone" && Date.now() < dropDeadline) await new Promise((r) => setTimeout(r, 500));
    const dropped = await publicClient.getContractEvents({ ...market, eventName: "SectorDropped", args: { sector: capacity.id }, fromBlock: 0n });
    assert.equal(dropped.length, 1, "the capacity sector was dropped");
    assert.equal(dropped[0]!.args.livePieces, 0n);
    const stakeAfter = await publicClient.readContract({ address: deployment.contracts.LessorRegistry.address, abi: (await import("../node/chain/abi/lessorRegistry.js")).lessorRegistryAbi, functionName: "getLessor", args: [capacityLessor.address] });
    assert.equal(stakeAfter.freeStake + stakeAfter.lockedStake, stakeBefore.freeStake + stakeBefore.lockedStake, "nothing slashed");
  });
});
