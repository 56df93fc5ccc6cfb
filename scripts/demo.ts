/**
 * `npm run demo`: the whole system on one machine. An in-process chain (Hardhat EDR) with 10 s proving
 * periods; 5 lessors (lessor-0 dishonest: it deletes its replica after the PoRep), 1 user and 1 watcher as
 * real libp2p nodes on 127.0.0.1. The user buys a 3-replica deal for a 3 MiB file; the lessors seal, fill,
 * prove; the watcher catches the dishonest lessor (timed challenges escalated to an on-chain challenge, or
 * reported misses), its replica fails and its collateral is slashed; the user re-places the
 * replica on another lessor; then downloads with PoD and checks the bytes. Then it stores a small folder as one
 * encrypted volume, lists it, gets one file and the whole folder back byte-identical. Prints a summary table.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { network } from "hardhat";
import { formatEther, parseEther, type Hex } from "viem";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { marketVaultAbi } from "../node/chain/abi/marketVault.js";
import { ReplicaState } from "../node/chain/states.js";
import { prettyStream } from "../node/cli/log-output.js";
import { startSystem, WATCHER_BOND_FUNDS } from "./lib/system-harness.js";

const PERIOD = 10;
const FILE_BYTES = 3 * 1024 * 1024;
const started = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

// Blocks may share a timestamp: chain time then follows the wall clock (the harness mines a block every second)
// instead of racing ahead by a second per transaction, which could skip a whole short period in a burst.
const connection = await network.create({ network: "hardhat", override: { allowBlocksWithSameTimestamp: true } });
// Every node's log lines (info and up, JSON) go to a file; warnings also reach the terminal, one readable line each.
const logFile = join(tmpdir(), `coffer-demo-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
const logger = pino(
  { level: "info" },
  pino.multistream([
    { level: "info", stream: pino.destination({ dest: logFile, sync: false }) },
    { level: "warn", stream: prettyStream(1, { colorize: process.stdout.isTTY }) },
  ]),
);
say(`node logs (JSON, every role): ${logFile}`);
// Lessors let a ready piece wait 2 s for others, so deals bought together share one sector (§12.7).
const system = await startSystem(connection, { periodLength: PERIOD, lessors: 5, dishonest: [0], logger, sealDelayMs: 2_000 });
let exitCode = 0;
try {
  const { user, lessors, watcher, deployment } = system;
  const publicClient = await connection.viem.getPublicClient();
  const market = { address: deployment.contracts.StorageMarket!.address, abi: storageMarketAbi } as const;
  say(`chain: in-process Hardhat EDR, ${PERIOD} s periods; the harness mines a block every second and blocks may share a timestamp, so chain time follows the wall clock`);
  say(`nodes: user, watcher, ${lessors.length} lessors on 127.0.0.1 (lessor-0 is dishonest: it deletes its replica after its PoRep)`);

  const file = join(system.root, "demo-file.bin");
  await writeFile(file, randomBytes(FILE_BYTES));
  const deal = await user.buyDeal({
    file,
    replicas: 3,
    durationPeriods: 14,
    maxPricePerGiBPerPeriod: parseEther("2"),
    lessors: lessors.slice(0, 3).map((l) => l.node.peerId),
    onProgress: (line) => say(`user: ${line}`),
  });
  await user.waitUntilProving(deal.dealId);
  say("all 3 replicas are Proving (sealed, filled, PoRep accepted)");

  const dishonest = lessors[0]!.address;
  const slot = deal.replicas.find((r) => r.lessor.toLowerCase() === dishonest.toLowerCase())!.replicaIndex;
  let lastReports = 0;
  const announced = new Set<string>();
  let lastSettled = 0;
  const deadline = Date.now() + 150_000;
  for (;;) {
    if (watcher.reports.length !== lastReports) {
      lastReports = watcher.reports.length;
      const r = watcher.reports.at(-1)!;
      say(`watcher: lessor ${r.lessor.slice(0, 10)}… missed period ${r.period} (its pieces count the miss at settlement)`);
    }
    for (const c of watcher.onChain.openChallenges()) {
      if (announced.has(`${c.dealId}:${c.replicaIndex}:${c.openedBlock}`)) continue;
      announced.add(`${c.dealId}:${c.replicaIndex}:${c.openedBlock}`);
      say(`watcher: timed challenges of replica ${c.replicaIndex} failed; challenged it on-chain (answer due by block ${c.deadlineBlock})`);
    }
    if (watcher.onChain.settled.length !== lastSettled) {
      lastSettled = watcher.onChain.settled.length;
      const c = watcher.onChain.settled.at(-1)!;
      say(`watcher: on-chain challenge of replica ${c.replicaIndex} ${c.result === "slashed" ? `expired unanswered — replica failed, ${formatEther(c.slashed)} CFR slashed` : c.result === "voided" ? "voided: the replica had already failed by missed proofs (bond returned)" : "answered in time"}`);
    }
    const state = await publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(slot)] });
    const replica = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, BigInt(slot)] });
    if (state === ReplicaState.Proving && replica.lessor.toLowerCase() !== dishonest.toLowerCase()) {
      const sector = await publicClient.readContract({ ...market, functionName: "getSector", args: [replica.sector] });
      say(`replica ${slot} repaired by ${replica.lessor.slice(0, 10)}… (its sector's PoRep accepted, proving from period ${sector.firstPeriod})`);
      break;
    }
    if (Date.now() > deadline) throw new Error(`replica ${slot} was not repaired in time (state ${state})`);
    await new Promise((r) => setTimeout(r, 500));
  }

  const out = join(system.root, "downloaded.bin");
  const honestSlot = deal.replicas.find((r) => r.replicaIndex !== slot)!.replicaIndex;
  const got = await user.get(deal.dealId, out, { replicaIndex: honestSlot });
  const same = Buffer.compare(await readFile(file), await readFile(out)) === 0;
  say(`user: PoD download ${got.downloadId.slice(0, 10)}… of ${got.bytes} bytes from ${got.lessor.slice(0, 10)}… — byte-identical: ${same}`);
  if (!same) throw new Error("downloaded file differs");

  // A small folder, encrypted on the user's side: one volume, one deal (docs/protocol.md §13).
  const folder = join(system.root, "my notes");
  await mkdir(join(folder, "2026", "empty folder"), { recursive: true });
  await writeFile(join(folder, "todo.txt"), "buy milk\n");
  await writeFile(join(folder, "2026", "résumé.pdf"), randomBytes(120_000));
  await writeFile(join(folder, "2026", "photo 1.jpg"), randomBytes(700_000));
  const put = await user.putFiles({ paths: [folder], replicas: 2, durationPeriods: 14, maxPricePerGiBPerPeriod: parseEther("2"), lessors: lessors.slice(1, 3).map((l) => l.node.peerId), onProgress: (line) => say(`user: ${line}`) });
  await user.waitUntilProving(put.dealId);
  const listing = await user.listFiles();
  say(`user: coffer ls —`);
  for (const e of listing.entries.filter((x) => x.dealId === put.dealId)) say(`    ${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(8)}  ${e.path}${e.type === "dir" ? "/" : ""}`);
  const one = join(system.root, "one file");
  await user.getFiles("my notes/2026/résumé.pdf", one);
  const oneSame = Buffer.compare(await readFile(join(folder, "2026", "résumé.pdf")), await readFile(join(one, "résumé.pdf"))) === 0;
  say(`user: got one file (my notes/2026/résumé.pdf) — byte-identical: ${oneSame}`);
  const whole = join(system.root, "whole folder");
  const gotAll = await user.getFiles("my notes", whole);
  const names = ["todo.txt", "2026/résumé.pdf", "2026/photo 1.jpg"];
  const allSame = (await Promise.all(names.map(async (n) => Buffer.compare(await readFile(join(folder, n)), await readFile(join(whole, "my notes", n))) === 0))).every(Boolean);
  const emptyKept = (await readdir(join(whole, "my notes", "2026", "empty folder"))).length === 0;
  say(`user: got the whole folder (${gotAll.files} files) — byte-identical: ${allSame}, empty folder restored: ${emptyKept}`);
  if (!oneSame || !allSame || !emptyKept) throw new Error("the folder did not come back identical");
  // Two deals bought at once on the same lessor share one sector: one seal, one PoRep, and the lessor's one
  // PoSt per period covers them with all its other sectors (§12).
  const packer = lessors[3]!;
  const twins = await Promise.all(
    ["invoice.pdf", "scan.png"].map(async (name, i) => {
      const path = join(system.root, name);
      await writeFile(path, randomBytes(200_000 + i * 150_000));
      return user.buyDeal({ file: path, replicas: 1, durationPeriods: 12, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [packer.node.peerId] });
    }),
  );
  await Promise.all(twins.map((d) => user.waitUntilProving(d.dealId)));
  const shared = packer.sectors().find((x) => twins.every((d) => x.pieces.some((k) => k.startsWith(d.dealId))));
  say(`lessor-3: ${twins.length} deals bought together are pieces of one sector (${shared ? `${2 ** shared.log2Segments * 32} bytes, ${shared.pieces.length} pieces, one seal, one PoRep` : "not shared: sealed apart"}); its PoSt each period covers all its sectors in one transaction`);
  // Let one more period pass so the new lessor proves and the PoD payment is claimed after its dispute window.
  await new Promise((r) => setTimeout(r, (PERIOD + 2) * 1000));

  const vault = { address: deployment.contracts.MarketVault!.address, abi: marketVaultAbi } as const;
  const token = deployment.contracts.CofferToken.address;
  const rows: string[][] = [];
  for (const [i, lessor] of lessors.entries()) {
    const replicas = lessor.pieces().filter((r) => r.dealId === deal.dealId);
    const info = await publicClient.readContract({ address: deployment.contracts.LessorRegistry.address, abi: (await import("../node/chain/abi/lessorRegistry.js")).lessorRegistryAbi, functionName: "getLessor", args: [lessor.address] });
    const balance = await publicClient.readContract({ address: token, abi: (await import("../node/chain/abi/cofferToken.js")).cofferTokenAbi, functionName: "balanceOf", args: [lessor.address] });
    const owed = await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [lessor.address] });
    const stake = info.freeStake + info.lockedStake;
    rows.push([
      `lessor-${i}${i === 0 ? " (dishonest)" : ""}`,
      replicas.map((r) => `#${r.replicaIndex}:${r.stage}`).join(" ") || "-",
      `${lessor.stats.postSubmissions} (${lessor.stats.lastPoStGas ?? "-"} gas)`,
      formatEther(balance + owed),
      formatEther(parseEther("10000") - stake),
      String(lessor.stats.bytesServed),
    ]);
  }
  const watcherEarned = await publicClient.readContract({ address: token, abi: (await import("../node/chain/abi/cofferToken.js")).cofferTokenAbi, functionName: "balanceOf", args: [watcher.chain.address] });
  rows.push(["watcher", `${watcher.reports.length} reports, ${watcher.onChain.settled.filter((c) => c.result === "slashed").length} on-chain challenges won`, "-", formatEther(watcherEarned + (await publicClient.readContract({ ...vault, functionName: "withdrawableOf", args: [watcher.chain.address] })) - WATCHER_BOND_FUNDS), "-", "-"]);
  const header = ["node", "replicas of the deal", "PoSt proofs", "earned CFR", "slashed CFR", "bytes served (PoD)"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join("  ");
  console.log(`\nDeal ${deal.dealId}: ${deal.size} bytes, 3 replicas, commD ${deal.commD.slice(0, 18)}…, repairs ${user.repairsDone.length}`);
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) console.log(line(row));
  const suspects = watcher.suspects().map((s) => `${s.lessor.slice(0, 10)}… (misses ${s.misses}, failures ${s.failures})`);
  console.log(`\nwatcher suspects (on-chain misses): ${suspects.join(", ") || "none"}`);
  const timed = (watcher.timed?.allStats() ?? []).map((t) => `${t.lessor.slice(0, 10)}… ok ${t.ok}, late ${t.late}, wrong ${t.wrong}, unanswered ${t.unanswered}${t.medianLatencyMs === undefined ? "" : `, median ${t.medianLatencyMs.toFixed(0)} ms`}`);
  console.log(`watcher timed challenges (signed, 1 s deadline): ${timed.join("; ") || "none"}`);
  console.log(`timed-challenge suspects: ${(watcher.timed?.suspects() ?? []).map((a) => `${a.slice(0, 10)}…`).join(", ") || "none"}`);
  console.log(`demo finished in ${((Date.now() - started) / 1000).toFixed(0)} s; node logs in ${logFile}`);
} catch (error) {
  exitCode = 1;
  console.error("demo failed:", error);
} finally {
  await system.stopAll();
  await connection.close();
  const { closeHashWorkers } = await import("../node/proofs/index.js");
  await closeHashWorkers();
}
process.exit(exitCode);
