import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
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
    // Bad input: a replica index no lessor serves is refused with the reason, before any download is opened.
    await assert.rejects(user.get(deal.dealId, out, { replicaIndex: 1 }), /replica 1 of deal 0x[0-9a-f]{64} is not served by any lessor/);
    const got = await user.get(deal.dealId, out, { replicaIndex: 0 });

    assert.equal(got.disputed, true, "the wrong bytes were disputed");
    assert.deepEqual(await readFile(out), await readFile(file), "the user hands out its own verified copy");
    const download = await publicClient.readContract({ address: deployment.contracts.DownloadMarket!.address, abi: downloadMarketAbi, functionName: "getDownload", args: [got.downloadId] });
    assert.equal(download.stage, DISPUTED);
    assert.equal(await stakeOf(), stakeBefore - got.price, "the lessor's bond (the price) was slashed");
    const owedAfter = await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [user.address] });
    assert.equal(owedAfter - owedBefore, 2n * got.price, "refund + the slashed bond go to the downloader");
  });

  it("with no copy of its own, the user buys a verified copy from another replica with PoD and still wins the dispute", async function () {
    await system?.stopAll();
    system = await startSystem(connection, { periodLength: 20, lessors: 2, serveWrongBytes: [0] });
    const { user, lessors, deployment } = system;
    const publicClient = await connection.viem.getPublicClient();
    const file = join(system.root, "file.bin");
    const bytes = randomBytes(150_000);
    await writeFile(file, bytes);
    const deal = await user.buyDeal({ file, replicas: 2, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: lessors.map((l) => l.node.peerId) });
    await user.waitUntilProving(deal.dealId);
    // The user keeps nothing: neither the file it bought the deal with nor its store's copy.
    await rm(file);
    // Nor the zero-padded copy a file below the market's minimum size is bought with (§2.1).
    await rm(join(user.options.dataDir, "padded"), { recursive: true, force: true });
    // Nor the encrypted volume the file was packed into (docs/protocol.md §13).
    await rm(join(user.options.dataDir, "volumes"), { recursive: true, force: true });
    await user.node.store.remove(deal.commD).catch(() => undefined);
    const wrongIndex = deal.replicas.find((r) => r.lessor.toLowerCase() === lessors[0]!.address.toLowerCase())!.replicaIndex;

    const out = join(system.root, "out2.bin");
    const got = await user.get(deal.dealId, out, { replicaIndex: wrongIndex });

    assert.equal(got.disputed, true);
    assert.deepEqual(await readFile(out), bytes, "the copy bought from the honest replica is handed out");
    const download = await publicClient.readContract({ address: deployment.contracts.DownloadMarket!.address, abi: downloadMarketAbi, functionName: "getDownload", args: [got.downloadId] });
    assert.equal(download.stage, DISPUTED);
    const opened = await publicClient.getContractEvents({ address: deployment.contracts.DownloadMarket!.address, abi: downloadMarketAbi, eventName: "DownloadOpened", fromBlock: 0n });
    const byUser = opened.filter((e) => (e.args as { downloader?: string }).downloader?.toLowerCase() === user.address.toLowerCase() && (e.args as { dealId?: string }).dealId === deal.dealId);
    assert.equal(byUser.length, 2, "the disputed download and the fallback download from the honest replica");
  });
});
