/**
 * The pieces as separate processes against a JSON-RPC chain: a Hardhat JSON-RPC server started here, a lessor
 * run by the `coffer` CLI as a CHILD PROCESS (init, register, start --role lessor --rpc), a user and a watcher
 * in-process over HTTP JSON-RPC. The lessor is killed with SIGKILL between two periods and restarted from the
 * same data dir: it must prove the next period in time, from its persisted state, without a duplicate proof.
 * Only this test mines blocks (one per second, so chain time follows the wall clock).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { peerIdFromString } from "@libp2p/peer-id";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { createPublicClient, http, parseEther, type Address, type Hex } from "viem";
import { pino } from "pino";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { ControlClient } from "../node/cli/control.js";
import { clientsForDataDir, fundLocally } from "../node/cli/role-runner.js";
import { ReplicaState } from "../node/chain/states.js";
import { UserRole } from "../node/roles/user.js";
import { WatcherRole } from "../node/roles/watcher.js";
import { deployCoffer } from "../scripts/lib/deploy-coffer.js";
import { freePort } from "./helpers/ports.js";

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "..", "..");
const PERIOD = 12;


/** `coffer <args>` in a child process; resolves with its exit code and output. */
function coffer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "node/cli/coffer.ts", ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** `coffer start ...` as a long-running child; resolves once it printed its banner. */
function startCoffer(args: string[], children: ChildProcess[]): Promise<{ child: ChildProcess; output: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "node/cli/coffer.ts", ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, COFFER_LOG: "info" } });
    children.push(child);
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`coffer start did not come up in 60 s:\n${stderr}`)), 60_000);
    child.stdout!.on("data", (c) => {
      stdout += c;
      if (stdout.includes("listening on")) {
        clearTimeout(timer);
        resolvePromise({ child, output: () => stderr });
      }
    });
    child.stderr!.on("data", (c) => (stderr += c));
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!stdout.includes("listening on")) reject(new Error(`coffer start exited with ${code}:\n${stderr}`));
    });
  });
}

describe("separate processes over JSON-RPC: a lessor killed with SIGKILL resumes and proves in time", function () {
  this.timeout(180_000);
  const children: ChildProcess[] = [];
  let server: Awaited<ReturnType<typeof network.createServer>> | undefined;
  let connection: NetworkConnection | undefined;
  let miner: NodeJS.Timeout | undefined;
  let root: string;
  let ignitionDir: string | undefined;
  let user: UserRole | undefined;
  let watcher: WatcherRole | undefined;

  after(async () => {
    clearInterval(miner);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await user?.stop().catch(() => undefined);
    await watcher?.stop().catch(() => undefined);
    await connection?.close();
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
    if (ignitionDir) await rm(ignitionDir, { recursive: true, force: true });
    const { closeHashWorkers } = await import("../node/proofs/index.js");
    await closeHashWorkers();
  });

  it("init + register + start --role lessor (child), kill -9 between periods, restart: no missed period, no duplicate proof", async function () {
    server = await network.createServer("hardhat", "127.0.0.1", 0);
    const { port: rpcPort } = await server.listen();
    const rpcUrl = `http://127.0.0.1:${rpcPort}`;
    root = await mkdtemp(join(tmpdir(), "coffer-restart-"));
    connection = await network.create({ network: "localhost", override: { url: rpcUrl } });
    const publicClient = createPublicClient({ transport: http(rpcUrl), pollingInterval: 250 });
    ignitionDir = join(REPO_ROOT, "ignition", "deployments", `local-31337-${(await publicClient.getBlock({ blockNumber: 0n })).hash.slice(2, 14)}`);
    const { deployment, file: deploymentFile } = await deployCoffer(connection, {
      location: { dir: root },
      parameters: { minStake: parseEther("1") },
      marketParameters: { periodLength: BigInt(PERIOD), kPoRep: 4, kPoSt: 3, sealRounds: 1, porepTimeout: 120n, maxMisses: 2, collateralPerGiB: parseEther("100"), disputeWindow: 6n },
    });
    const testClient = await connection.viem.getTestClient();
    miner = setInterval(() => void testClient.mine({ blocks: 1 }).catch(() => undefined), 1000);
    const chainArgs = ["--rpc", rpcUrl, "--network", "localhost", "--deployment", deploymentFile!];

    // Bad input: a missing deployment file is a clear error with a non-zero exit code.
    const lessorDir = join(root, "lessor");
    const missing = await coffer(["-d", lessorDir, "register", "--rpc", rpcUrl, "--deployment", join(root, "nope.json"), "--announce", "/ip4/127.0.0.1/tcp/1"]);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /cannot read the deployment file/);

    const lessorPort = await freePort();
    const init = await coffer(["-d", lessorDir, "--json", "init", "--role", "lessor", "--listen", `/ip4/127.0.0.1/tcp/${lessorPort}`]);
    assert.equal(init.code, 0, init.stderr);
    const { peerId, chainAddress } = JSON.parse(init.stdout) as { peerId: string; chainAddress: Address };
    const key = (await readFile(join(lessorDir, "chain-key"), "utf8")).trim();
    assert.ok(!init.stdout.includes(key.slice(2)), "the chain key is never printed");
    const registered = await coffer(["-d", lessorDir, "--json", "register", ...chainArgs, "--stake", "10000", "--price", "1", "--capacity", "16GiB"]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.equal((JSON.parse(registered.stdout) as { lessor: Address }).lessor.toLowerCase(), chainAddress.toLowerCase());
    const again = await coffer(["-d", lessorDir, "register", ...chainArgs]);
    assert.equal(again.code, 1, "a second registration is refused");
    assert.match(again.stderr, /already registered/);

    const startArgs = ["-d", lessorDir, "start", "--role", "lessor", ...chainArgs, "--price", "1", "--capacity", "16GiB"];
    let lessor = await startCoffer(startArgs, children);

    const logger = pino({ level: "warn" });
    const lessorAddr = `/ip4/127.0.0.1/tcp/${lessorPort}/p2p/${peerId}`;
    const userDir = join(root, "user");
    const watcherDir = join(root, "watcher");
    await fundLocally(await clientsForDataDir(userDir, rpcUrl), deployment, parseEther("100000"));
    await fundLocally(await clientsForDataDir(watcherDir, rpcUrl), deployment, 0n);
    user = await UserRole.create({ dataDir: userDir, chain: { deployment, rpcUrl }, logger, bootstrap: [lessorAddr] });
    await user.start();
    watcher = await WatcherRole.create({ dataDir: watcherDir, chain: { deployment, rpcUrl }, logger, bootstrap: [lessorAddr] });
    await watcher.start();

    const file = join(root, "file.bin");
    await writeFile(file, randomBytes(150_000));
    const deal = await user.buyDeal({ file, replicas: 1, durationPeriods: 20, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [peerIdFromString(peerId)] });
    await user.waitUntilProving(deal.dealId, 90_000);

    const market = { address: deployment.contracts.StorageMarket!.address, abi: storageMarketAbi } as const;
    const startTime = await publicClient.readContract({ ...market, functionName: "startTime" });
    async function currentPeriod(): Promise<bigint> {
      return ((await publicClient.getBlock({ blockTag: "latest" })).timestamp - startTime) / BigInt(PERIOD);
    }
    const holder = (await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, 0n] })).lessor;
    const proven = (p: bigint) => publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [holder, p] });
    const waitFor = async (what: string, check: () => Promise<boolean>, ms: number) => {
      const deadline = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nlessor log:\n${lessor.output().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    // The lessor proves the current period; right after, SIGKILL (no shutdown hook runs).
    const slot = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, 0n] });
    const replica = await publicClient.readContract({ ...market, functionName: "getSector", args: [slot.sector] });
    let p = await currentPeriod();
    if (p < BigInt(replica.firstPeriod)) p = BigInt(replica.firstPeriod);
    await waitFor(`a proof of period ${p}`, () => proven(p), (PERIOD + 10) * 1000);
    lessor.child.kill("SIGKILL");
    await new Promise((r) => lessor.child.once("exit", r));
    assert.equal(lessor.child.signalCode, "SIGKILL");

    // Restarted from the same data dir: the same identity, its replica from the persisted role state.
    lessor = await startCoffer(startArgs, children);
    const status = (await (await ControlClient.connect(lessorDir)).call("GET", "/status")) as { peerId: string; chainAddress: string; pieces: { dealId: Hex; stage: string }[] };
    assert.equal(status.peerId, peerId);
    assert.equal(status.chainAddress.toLowerCase(), chainAddress.toLowerCase());
    assert.deepEqual(status.pieces.map((r) => [r.dealId, r.stage]), [[deal.dealId, "proving"]]);

    await waitFor(`a proof of period ${p + 1n} after the restart`, () => proven(p + 1n), (2 * PERIOD + 10) * 1000);
    // Let period p + 1 close and the watcher look at it.
    await waitFor(`period ${p + 2n}`, async () => (await currentPeriod()) >= p + 2n, (PERIOD + 10) * 1000);
    await new Promise((r) => setTimeout(r, 2000));

    assert.equal(await publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, 0n] }), ReplicaState.Proving);
    for (let q = BigInt(replica.firstPeriod); q <= p + 1n; q++) assert.equal(await proven(q), true, `period ${q} proven`);
    assert.deepEqual(watcher.reports, [], "the watcher reported no missed period");
    const settled = await publicClient.getContractEvents({ ...market, eventName: "ReplicaSettled", fromBlock: BigInt(deployment.deployedAtBlock) });
    assert.equal(settled.filter((e) => e.args.failed).length, 0, "no piece failed");
    const posts = await publicClient.getContractEvents({ ...market, eventName: "PoStSubmitted", fromBlock: BigInt(deployment.deployedAtBlock) });
    const periods = posts.map((e) => e.args.period!);
    assert.equal(new Set(periods).size, periods.length, `one proof per period, no duplicate (${periods.join(",")})`);
    assert.ok(periods.includes(p) && periods.includes(p + 1n));
  });
});
