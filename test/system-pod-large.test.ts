import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { parseEther } from "viem";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";

const connection = await network.create("hardhat");

describe("exp", function () {
  this.timeout(300_000);
  let system: RunningSystem | undefined;
  after(async () => {
    await system?.stopAll();
    await connection.close();
  });
  it("24 MiB get", async function () {
    system = await startSystem(connection, { periodLength: 20, lessors: 1 });
    const { user, lessors } = system;
    const file = join(system.root, "file.bin");
    await writeFile(file, randomBytes(24 << 20));
    let t = performance.now();
    const deal = await user.buyDeal({ file, replicas: 1, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessors[0]!.node.peerId] });
    await user.waitUntilProving(deal.dealId);
    console.log("buy+prove", performance.now() - t);
    for (let i = 0; i < 3; i++) {
      t = performance.now();
      const out = join(system.root, `out${i}.bin`);
      try { await user.get(deal.dealId, out); console.log("get ok", performance.now() - t); } catch (e) { console.log("get failed", (e as Error).message, performance.now() - t); }
    }
  });
});
