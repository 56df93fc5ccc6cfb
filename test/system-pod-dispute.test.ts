import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { parseEther } from "viem";
import { downloadMarketAbi } from "../node/chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../node/chain/abi/lessorRegistry.js";
import { marketVaultAbi } from "../node/chain/abi/marketVault.js";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";

const connection = await network.create("hardhat");
const DISPUTED = 7;

describe("the whole system: a lessor serving wrong bytes loses the PoD dispute", function () {
  this.timeout(180_000);
  let system: RunningSystem | undefined;
  after(async () => {
    await system?.stopAll();
    await connection.close();
  });

  it("the user finds the wrong segment, disputes, is refunded with the lessor's bond and still gets the right file", async function () {
    // 20 s periods: a 10 s dispute window of chain time (the harness mines a block per second).
    system = await startSystem(connection, { periodLength: 20, lessors: 1, serveWrongBytes: [0] });
    const { user, lessors, deployment } = system;
    const lessor = lessors[0]!;
    const publicClient = await connection.viem.getPublicClient();
    const registry = { address: deployment.contracts.LessorRegistry.address, abi: lessorRegistryAbi } as const;
    const vault = { address: deployment.contracts.MarketVault!.address, abi: marketVaultAbi } as const;
    const file = join(system.root, "file.bin");
    await writeFile(file, randomBytes(200_000));

    const deal = await user.buyDeal({ file, replicas: 1, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessor.node.peerId] });
    await user.waitUntilProving(deal.dealId);
    const stakeOf = async () => {
      const info = await publicClient.readContract({ ...registry, functionName: "getLessor", args: [lessor.address] });
      return info.freeStake + info.lockedStake;
    };
    const stakeBefore = await stakeOf();
    const owedBefore = await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [user.address] });

    const out = join(system.root, "out.bin");
    const got = await user.get(deal.dealId, out, { replicaIndex: 0 });

    assert.equal(got.disputed, true, "the wrong bytes were disputed");
    assert.deepEqual(await readFile(out), await readFile(file), "the user hands out its own verified copy");
    const download = await publicClient.readContract({ address: deployment.contracts.DownloadMarket!.address, abi: downloadMarketAbi, functionName: "getDownload", args: [got.downloadId] });
    assert.equal(download.stage, DISPUTED);
    assert.equal(await stakeOf(), stakeBefore - got.price, "the lessor's bond (the price) was slashed");
    const owedAfter = await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [user.address] });
    assert.equal(owedAfter - owedBefore, 2n * got.price, "refund + the slashed bond go to the downloader");
  });
});
