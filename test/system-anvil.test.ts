/**
 * The world users live in: Foundry's anvil (a real chain binary from the @foundry-rs/anvil-linux-amd64 npm
 * package, blocks every BLOCK_TIME s, no automine), the contracts deployed by the real deploy script
 * (scripts/deploy.ts), and two lessors, a watcher and a user as separate `coffer start` processes talking
 * libp2p over TCP on 127.0.0.1 and JSON-RPC through a TCP relay (so the test can take the chain away and swap
 * it for a fresh one, as a user restarting `npm run chain` does). A deal of 2 replicas is proven for several
 * periods, one lessor loses its replica and is slashed, the file comes back byte-identical with PoD. Then the
 * CLI messages of a busy data dir, a taken port, an unknown deal and `put` on a role node; the served bytes
 * surviving a restart; a chain outage logged once per state change; a chain reset stopping every node.
 * Everything it starts is stopped in `after` (also on failure) and nothing is left on disk.
 *
 * Sizes: 3 MiB, 64 MiB and 256 MiB (the PoD stream's credit window keeps the lessor within 2 MiB of its reader,
 * docs/protocol.md §11; before it, gets above 4 MiB failed with a libp2p read-buffer overflow).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { createServer as createTcpServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createPublicClient, http, type Address, type Hex } from "viem";
import { lessorRegistryAbi } from "../node/chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { readDeployment } from "../node/chain/deployments.js";
import { NODE_V8_FLAGS } from "../node/cli/v8-flags.js";
import { ReplicaState } from "../node/chain/states.js";
import { freePort } from "./helpers/ports.js";

const MIB = 1 << 20;
const BIG_SIZES = [64 * MIB, 256 * MIB];
const BLOCK_TIME = Number(process.env.COFFER_E2E_BLOCK_TIME ?? 1);
const PERIOD = 12;
const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "..", "..");
const ANVIL = join(REPO_ROOT, "node_modules", ".bin", "anvil");


/** A TCP relay 127.0.0.1:port -> 127.0.0.1:target; `stop()` takes the endpoint away (connections refused). */
class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  constructor(readonly port: number, public target: number) {}
  async start(): Promise<void> {
    this.server = createTcpServer((client) => {
      const upstream = connect(this.target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

describe("anvil end to end: separate coffer processes, the real deploy script, a chain that goes away", function () {
  this.timeout(600_000);
  const children: ChildProcess[] = [];
  const relay = { current: undefined as Relay | undefined };
  let root = "";
  let ignitionDirs: string[] = [];
  let rpcUrl = "";
  let deploymentFile = "";
  let chainArgs: string[] = [];
  let publicClient: ReturnType<typeof createPublicClient>;
  const dirs = { lessor1: "", lessor2: "", watcher: "", user: "" };
  const ports = { lessor1: 0, lessor2: 0, watcher: 0, user: 0 };
  const nodes: Record<string, Proc> = {};
  const peerIds: Record<string, string> = {};
  const addresses: Record<string, Address> = {};
  let market: { address: Address; abi: typeof storageMarketAbi };
  let dealOfThreeMiB: { dealId: Hex; file: string; size: number } | undefined;
  const started = Date.now();

  function spawnProc(command: string, args: string[], env: Record<string, string> = {}, input?: string): Proc {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], env: { ...process.env, COFFER_LOG: "info", ...env } });
    if (input !== undefined) child.stdin!.end(input);
    children.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c) => (stdout += c));
    child.stderr!.on("data", (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    return { child, stdout: () => stdout, stderr: () => stderr, exited };
  }

  /** `coffer <args>` to completion. */
  async function coffer(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
    const t = Date.now();
    const p = spawnProc(process.execPath, [...NODE_V8_FLAGS, "--import", "tsx", "node/cli/coffer.ts", ...args], {}, input);
    const code = await p.exited;
    return { code, stdout: p.stdout(), stderr: p.stderr(), ms: Date.now() - t };
  }

  async function startNode(name: keyof typeof dirs, extra: string[]): Promise<Proc> {
    const p = spawnProc(process.execPath, [...NODE_V8_FLAGS, "--import", "tsx", "node/cli/coffer.ts", "-d", dirs[name], "start", ...chainArgs, ...extra]);
    const deadline = Date.now() + 90_000;
    while (!p.stdout().includes("listening on")) {
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start (exit ${p.child.exitCode}):\n${p.stderr().slice(-4000)}`);
      await sleep(100);
    }
    nodes[name] = p;
    return p;
  }

  async function stopNode(name: string): Promise<void> {
    const p = nodes[name]!;
    p.child.kill("SIGTERM");
    assert.equal(await p.exited, 0, `${name} stops cleanly on SIGTERM`);
  }

  async function startAnvil(port: number): Promise<Proc> {
    const p = spawnProc(ANVIL, ["--host", "127.0.0.1", "--port", String(port), "--block-time", String(BLOCK_TIME)]);
    const deadline = Date.now() + 30_000;
    while (!p.stdout().includes("Listening on")) {
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`anvil did not start:\n${p.stdout()}${p.stderr()}`);
      await sleep(50);
    }
    return p;
  }

  async function ignitionDirFor(url: string): Promise<string> {
    const client = createPublicClient({ transport: http(url) });
    return join(REPO_ROOT, "ignition", "deployments", `local-31337-${(await client.getBlock({ blockNumber: 0n })).hash.slice(2, 14)}`);
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) {
        const logs = Object.entries(nodes).map(([n, p]) => `--- ${n}:\n${p.stderr().slice(-2500)}`).join("\n");
        throw new Error(`timed out waiting for ${what}\n${logs}`);
      }
      await sleep(250);
    }
  }

  let anvil: Proc;
  let userPhrase = "";

  before(async function () {
    root = await mkdtemp(join(tmpdir(), "coffer-anvil-"));
    const anvilPort = await freePort();
    anvil = await startAnvil(anvilPort);
    const anvilUrl = `http://127.0.0.1:${anvilPort}`;
    ignitionDirs.push(await ignitionDirFor(anvilUrl));
    relay.current = new Relay(await freePort(), anvilPort);
    await relay.current.start();
    rpcUrl = `http://127.0.0.1:${relay.current.port}`;
    publicClient = createPublicClient({ transport: http(anvilUrl), pollingInterval: 250 });

    // The real deploy script, as a user runs it (npm run deploy = hardhat build + this).
    const t = Date.now();
    const deploy = spawnProc(process.execPath, ["--import", "tsx", "scripts/deploy.ts", "--network", "localhost", "--rpc-url", anvilUrl, "--deployments-dir", join(root, "deployments"), "--period-length", String(PERIOD), "--dispute-window", "6", "--min-stake", "1"]);
    assert.equal(await deploy.exited, 0, `deploy: ${deploy.stdout()}${deploy.stderr()}`);
    console.log(`      (deploy on anvil: ${((Date.now() - t) / 1000).toFixed(1)} s)`);
    deploymentFile = join(root, "deployments", "localhost.json");
    chainArgs = ["--rpc", rpcUrl, "--network", "localhost", "--deployment", deploymentFile];
    const deployment = await readDeployment("localhost", { dir: join(root, "deployments") });
    market = { address: deployment.contracts.StorageMarket!.address, abi: storageMarketAbi };

    for (const name of Object.keys(dirs) as (keyof typeof dirs)[]) {
      dirs[name] = join(root, name);
      ports[name] = await freePort();
    }
    await Promise.all((Object.keys(dirs) as (keyof typeof dirs)[]).map(async (name) => {
      const role = name.startsWith("lessor") ? "lessor" : name;
      const init = await coffer(["-d", dirs[name], "--json", "init", "--role", role, "--listen", `/ip4/127.0.0.1/tcp/${ports[name]}`]);
      assert.equal(init.code, 0, init.stderr);
      const info = JSON.parse(init.stdout) as { peerId: string; chainAddress: Address; phrase?: string };
      if (name === "user") userPhrase = info.phrase!;
      peerIds[name] = info.peerId;
      addresses[name] = info.chainAddress;
    }));
    console.log(`      (init of 4 data dirs: ${((Date.now() - started) / 1000).toFixed(1)} s since the start)`);
    const lessorTerms = ["--price", "1", "--capacity", "4GiB"];
    const setup = await Promise.all([
      coffer(["-d", dirs.lessor1, "register", ...chainArgs, "--stake", "100", ...lessorTerms]),
      coffer(["-d", dirs.lessor2, "register", ...chainArgs, "--stake", "100", ...lessorTerms]),
      coffer(["-d", dirs.watcher, "fund", "--rpc", rpcUrl, "--deployment", deploymentFile, "--cfr", "100"]),
      coffer(["-d", dirs.user, "fund", "--rpc", rpcUrl, "--deployment", deploymentFile, "--cfr", "100000"]),
    ]);
    for (const r of setup) assert.equal(r.code, 0, r.stderr);
    console.log(`      (register 2 lessors, fund watcher + user: ${Math.max(...setup.map((r) => r.ms)) / 1000} s)`);
    const boot = ["--bootstrap", `/ip4/127.0.0.1/tcp/${ports.lessor1}/p2p/${peerIds.lessor1}`];
    await Promise.all([
      startNode("lessor1", ["--role", "lessor", ...lessorTerms]),
      startNode("lessor2", ["--role", "lessor", ...lessorTerms, ...boot]),
      startNode("watcher", ["--role", "watcher", ...boot]),
      startNode("user", ["--role", "user", ...boot]),
    ]);
    console.log(`      (anvil, deploy, 4 nodes up: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });

  after(async function () {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : undefined)));
    await relay.current?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    for (const dir of ignitionDirs) await rm(dir, { recursive: true, force: true });
    await rmdir(join(REPO_ROOT, "ignition", "deployments")).catch(() => undefined); // only if empty (no other journal)
    console.log(`      (anvil end to end: ${((Date.now() - started) / 1000).toFixed(1)} s in all)`);
    // Nothing left behind: every process we started has exited, no temp dir, no Ignition journal.
    for (const child of children) assert.ok(child.exitCode !== null || child.signalCode !== null, `process ${child.pid} still running`);
    assert.ok(!existsSync(root), `${root} removed`);
    for (const dir of ignitionDirs) assert.ok(!existsSync(dir), `${dir} removed`);
  });

  it("the deploy script records the chain's identity: chain id, genesis hash, deploy block and its hash", async function () {
    const written = JSON.parse(await readFile(deploymentFile, "utf8")) as { chainId: number; genesisHash: Hex; deployedAtBlock: number; deployedAtBlockHash: Hex };
    assert.equal(written.chainId, 31337);
    assert.equal(written.genesisHash, (await publicClient.getBlock({ blockNumber: 0n })).hash);
    assert.equal(written.deployedAtBlockHash, (await publicClient.getBlock({ blockNumber: BigInt(written.deployedAtBlock) })).hash);
  });

  it("a second node on a running node's data dir exits 6 and names the running pid", async function () {
    const second = await coffer(["-d", dirs.user, "start", ...chainArgs, "--role", "user"]);
    assert.equal(second.code, 6, second.stderr);
    assert.match(second.stderr, new RegExp(`already running on data dir .*\\(pid ${nodes.user!.child.pid}\\)`));
    assert.doesNotMatch(second.stderr, /Database failed to open/);
  });

  it("a listen port in use exits 7, says which port and which flag to change", async function () {
    const dir = join(root, "intruder");
    assert.equal((await coffer(["-d", dir, "init", "--role", "user", "--listen", `/ip4/127.0.0.1/tcp/${ports.lessor1}`])).code, 0);
    const run = await coffer(["-d", dir, "start", ...chainArgs, "--role", "user"]);
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, new RegExp(`port ${ports.lessor1} is already in use .*--listen`));
    assert.doesNotMatch(run.stderr, /faultTolerance|    at /, "no libp2p advice, no stack trace");
    assert.ok(!existsSync(join(dir, "node.pid")), "the failed start released its data dir");
  });

  it("get of an unknown deal id answers 'no such deal' from the chain at once (exit 4)", async function () {
    const unknown = `0x${randomBytes(32).toString("hex")}`;
    const get = await coffer(["-d", dirs.user, "get", unknown, join(root, "unknown.out")]);
    assert.equal(get.code, 4, get.stderr);
    assert.match(get.stderr, /no such deal/);
    assert.ok(get.ms < 8_000, `answered in ${get.ms} ms (the CLI's own start-up included), not after a provider search`);
    assert.ok(!existsSync(join(root, "unknown.out")));
  });

  it("put on a lessor is refused (exit 2); on the user node it packs a folder into one encrypted deal; ls and get <path|folder> bring it back", async function () {
    const file = join(root, "put.bin");
    await writeFile(file, randomBytes(1000));
    const refused = await coffer(["-d", dirs.lessor1, "put", file]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /buys no deals.*user node/);
    assert.doesNotMatch(refused.stderr, /remote rejected|\{"/);
    const noTerms = await coffer(["-d", dirs.user, "put", file]);
    assert.equal(noTerms.code, 2, noTerms.stderr);
    assert.match(noTerms.stderr, /--replicas <n> --periods <n> --max-price/);
    const docs = join(root, "my docs");
    await mkdir(join(docs, "sub dir"), { recursive: true });
    await mkdir(join(docs, "empty"), { recursive: true });
    await writeFile(join(docs, "a b.txt"), "hello\n");
    await writeFile(join(docs, "sub dir", "ü.bin"), randomBytes(300_000));
    const put = await coffer(["-d", dirs.user, "--json", "put", docs, "--replicas", "1", "--periods", "40", "--max-price", "2"]);
    assert.equal(put.code, 0, `${put.stderr}\n${nodes.user!.stderr().slice(-3000)}`);
    const deal = JSON.parse(put.stdout) as { dealId: Hex; files: number; folders: number };
    assert.deepEqual([deal.files, deal.folders], [2, 3]);
    type Ls = { volumes: { dealId: Hex; replicas: { state: string }[] }[]; entries: { path: string; size: number }[] };
    const ls = async () => JSON.parse((await coffer(["-d", dirs.user, "--json", "ls"])).stdout) as Ls;
    await waitFor("the folder's replica proving", async () => (await ls()).volumes.find((v) => v.dealId === deal.dealId)?.replicas[0]?.state === "Proving", 60_000);
    const listed = await ls();
    assert.ok(listed.entries.some((e) => e.path === "my docs/sub dir/ü.bin" && e.size === 300_000));
    const human = await coffer(["-d", dirs.user, "ls"]);
    assert.match(human.stdout, /my docs\/sub dir\/ü\.bin/);
    const one = join(root, "one");
    const gotOne = await coffer(["-d", dirs.user, "get", "my docs/sub dir/ü.bin", one]);
    assert.equal(gotOne.code, 0, gotOne.stderr);
    assert.ok((await readFile(join(one, "ü.bin"))).equals(await readFile(join(docs, "sub dir", "ü.bin"))));
    const all = join(root, "all");
    const gotAll = await coffer(["-d", dirs.user, "get", "my docs", all]);
    assert.equal(gotAll.code, 0, gotAll.stderr);
    assert.equal(await readFile(join(all, "my docs", "a b.txt"), "utf8"), "hello\n");
    assert.ok((await readFile(join(all, "my docs", "sub dir", "ü.bin"))).equals(await readFile(join(docs, "sub dir", "ü.bin"))));
    assert.ok(existsSync(join(all, "my docs", "empty")));
    const missing = await coffer(["-d", dirs.user, "get", "no such/path", all]);
    assert.equal(missing.code, 4, missing.stderr);
  });

  it("init --recover derives the user's chain address from the phrase shown at init (a wrong phrase exits 2); started, it recovers the folder from the chain and gets it back", async function () {
    assert.equal(userPhrase.split(" ").length, 24, "init --role user showed a 24-word phrase");
    const recovered = await coffer(["-d", join(root, "recovered-user"), "--json", "init", "--recover", "--listen", "/ip4/127.0.0.1/tcp/0"], `${userPhrase}\n`);
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.equal((JSON.parse(recovered.stdout) as { chainAddress: Address }).chainAddress, addresses.user);
    const wrong = await coffer(["-d", join(root, "wrong-user"), "init", "--recover"], "abandon abandon abandon\n");
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /not a valid BIP-39 phrase/);

    // The recovered data dir, started as a user node, finds the folder's deal on-chain and gets the folder back.
    const recoveredDir = join(root, "recovered-user");
    const p = spawnProc(process.execPath, [...NODE_V8_FLAGS, "--import", "tsx", "node/cli/coffer.ts", "-d", recoveredDir, "start", ...chainArgs, "--role", "user", "--bootstrap", `/ip4/127.0.0.1/tcp/${ports.lessor1}/p2p/${peerIds.lessor1}`]);
    nodes.recovered = p;
    await waitFor("the recovered user node to listen", () => p.stdout().includes("listening on"), 90_000);
    assert.match((await coffer(["-d", recoveredDir, "ls"])).stdout, /no files/);
    const rec = await coffer(["-d", recoveredDir, "--json", "recover"]);
    assert.equal(rec.code, 0, `${rec.stderr}\n${p.stderr().slice(-3000)}`);
    assert.equal((JSON.parse(rec.stdout) as { recovered: number }).recovered, 1);
    const ls = JSON.parse((await coffer(["-d", recoveredDir, "--json", "ls"])).stdout) as { entries: { path: string }[] };
    assert.ok(ls.entries.some((e) => e.path === "my docs/sub dir/ü.bin"), JSON.stringify(ls.entries));
    const back = join(root, "recovered-get");
    const got = await coffer(["-d", recoveredDir, "get", "my docs", back]);
    assert.equal(got.code, 0, got.stderr);
    assert.ok((await readFile(join(back, "my docs", "sub dir", "ü.bin"))).equals(await readFile(join(root, "my docs", "sub dir", "ü.bin"))));
    assert.equal(await readFile(join(back, "my docs", "a b.txt"), "utf8"), "hello\n");
    await stopNode("recovered");
    delete nodes.recovered;
  });

  async function dealRound(size: number, replicas: number) {
    const file = join(root, `file-${size}.bin`);
    await writeFile(file, randomBytes(size));
    const bought = await coffer(["-d", dirs.user, "--json", "buy-deal", file, "--replicas", String(replicas), "--periods", "40", "--max-price", "2", "--wait"]);
    assert.equal(bought.code, 0, `${bought.stderr}\n${nodes.user!.stderr().slice(-3000)}`);
    const deal = JSON.parse(bought.stdout) as { dealId: Hex; replicas: { replicaIndex: number; lessor: Address }[] };
    return { ...deal, file, size };
  }

  async function getAndCompare(dealId: Hex, file: string): Promise<void> {
    const out = join(root, `${dealId.slice(2, 10)}.out`);
    const got = await coffer(["-d", dirs.user, "--json", "get", dealId, out]);
    assert.equal(got.code, 0, `${got.stderr}\n${nodes.user!.stderr().slice(-3000)}`);
    assert.ok((await readFile(out)).equals(await readFile(file)), "the file comes back byte-identical");
    await rm(out);
  }

  it("3 MiB: a 2-replica deal proven for several periods, a lessor that lost its replica slashed, get byte-identical", async function () {
    const t = Date.now();
    const deal = await dealRound(3 * MIB, 2);
    dealOfThreeMiB = { dealId: deal.dealId, file: deal.file, size: deal.size };
    const holders = await Promise.all([0n, 1n].map(async (i) => (await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, i] })).lessor));
    const proven = (i: number, p: bigint) => publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [holders[i]!, p] });
    const startTime = await publicClient.readContract({ ...market, functionName: "startTime" });
    const period = async () => ((await publicClient.getBlock({ blockTag: "latest" })).timestamp - startTime) / BigInt(PERIOD);
    const slot0 = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, 0n] });
    const first = BigInt((await publicClient.readContract({ ...market, functionName: "getSector", args: [slot0.sector] })).firstPeriod);
    const p0 = (await period()) > first ? await period() : first;
    for (const p of [p0, p0 + 1n, p0 + 2n]) await waitFor(`both replicas proven in period ${p}`, async () => (await proven(0, p)) && (await proven(1, p)), (PERIOD * 3 + 10) * 1000);

    // lessor2 loses its replica (the disk copy is gone, as after a disk failure or a cheat), then comes back.
    const bad = deal.replicas.find((r) => r.lessor.toLowerCase() === addresses.lessor2!.toLowerCase())!;
    assert.ok(bad, "lessor2 holds a replica");
    await stopNode("lessor2");
    const replicaDir = join(dirs.lessor2, "sectors");
    for (const f of await readdir(replicaDir)) await rm(join(replicaDir, f), { force: true });
    await startNode("lessor2", ["--role", "lessor", "--price", "1", "--capacity", "4GiB"]);
    // Failed, or already settled by the user node (Open again, its old filling's block kept).
    const failedOrSettled = async () => {
      const state = await publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(bad.replicaIndex)] });
      const slot = await publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, BigInt(bad.replicaIndex)] });
      return state === ReplicaState.Failed || (state === ReplicaState.Open && slot.fillBlock > 0n);
    };
    await waitFor("the replica of lessor2 failed", failedOrSettled, (PERIOD * 6 + 20) * 1000);
    const deployment = await readDeployment("localhost", { dir: join(root, "deployments") });
    // The failure is derived from time (or from lessor2 declaring its lost sector); the money moves when the
    // piece is settled, which the user node does before it re-places the replica (§12.5).
    const settledFailure = async () =>
      (await publicClient.getContractEvents({ ...market, eventName: "ReplicaSettled", args: { dealId: deal.dealId }, fromBlock: BigInt(deployment.deployedAtBlock) })).some(
        (e) => e.args.failed && e.args.lessor?.toLowerCase() === addresses.lessor2!.toLowerCase(),
      );
    await waitFor("the failed piece of lessor2 settled", settledFailure, (PERIOD * 4 + 20) * 1000);
    const slashed = await publicClient.getContractEvents({ address: deployment.contracts.LessorRegistry.address, abi: lessorRegistryAbi, eventName: "StakeSlashed", fromBlock: BigInt(deployment.deployedAtBlock) });
    assert.ok(slashed.some((e) => e.args.lessor?.toLowerCase() === addresses.lessor2!.toLowerCase() && (e.args.amount ?? 0n) > 0n), "lessor2's stake was slashed");
    assert.ok(!slashed.some((e) => e.args.lessor?.toLowerCase() === addresses.lessor1!.toLowerCase()), "the honest lessor was not slashed");
    const good = deal.replicas.find((r) => r.replicaIndex !== bad.replicaIndex)!;
    assert.equal(await publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(good.replicaIndex)] }), ReplicaState.Proving);

    await getAndCompare(deal.dealId, deal.file);
    console.log(`      (3 MiB round: ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  });

  for (const size of BIG_SIZES) {
    it(`${size / MIB} MiB: deal, proven, get byte-identical`, async function () {
      const deal = await dealRound(size, 1);
      await getAndCompare(deal.dealId, deal.file);
    });
  }

  it("a lessor's served bytes survive its restart", async function () {
    assert.ok(dealOfThreeMiB, "the 3 MiB round ran");
    const statsOf = async () => ((JSON.parse((await coffer(["-d", dirs.lessor1, "--json", "status"])).stdout) as { stats: { bytesServed: number; postSubmissions: number } }).stats);
    const before = await statsOf();
    assert.ok(before.bytesServed > 0, `lessor1 served the download (${before.bytesServed} bytes)`);
    await sleep(1000); // one loop pass persists the counters
    await stopNode("lessor1");
    await startNode("lessor1", ["--role", "lessor", "--price", "1", "--capacity", "4GiB"]);
    const after = await statsOf();
    assert.equal(after.bytesServed, before.bytesServed);
    assert.ok(after.postSubmissions >= before.postSubmissions);
  });

  it("the chain going away is logged once per node, not once per failed call; its return once", async function () {
    const mark = Object.fromEntries(Object.entries(nodes).map(([n, p]) => [n, p.stderr().length]));
    const since = (n: string) => nodes[n]!.stderr().slice(mark[n]);
    await relay.current!.stop();
    await sleep(10_000);
    for (const n of Object.keys(nodes)) {
      const lines = since(n).split("\n").filter((l) => l.length > 0);
      const warnings = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
      assert.equal(warnings.filter((l) => l.includes("chain unreachable")).length, 1, `${n}: one "chain unreachable" line:\n${since(n).slice(0, 3000)}`);
      assert.deepEqual(warnings.filter((l) => !l.includes("chain unreachable")).map((l) => l.slice(0, 300)), [], `${n}: no other warning while the chain is down`);
      assert.ok(since(n).length < 4000, `${n}: ${since(n).length} bytes of log in 10 s`);
    }
    await relay.current!.start();
    for (const n of Object.keys(nodes)) await waitFor(`${n} logs that the chain is back`, () => since(n).includes("chain back after"), 40_000);
    for (const n of Object.keys(nodes)) assert.equal(nodes[n]!.child.exitCode, null, `${n} still running`);
  });

  it("a chain restarted empty under the nodes stops each of them with exit 8 and says what to do", async function () {
    anvil.child.kill("SIGTERM");
    await anvil.exited;
    const port = await freePort();
    anvil = await startAnvil(port); // a fresh chain: same chain id, nothing deployed
    ignitionDirs.push(await ignitionDirFor(`http://127.0.0.1:${port}`));
    relay.current!.target = port;
    for (const [n, p] of Object.entries(nodes)) {
      const code = await Promise.race([p.exited, sleep(40_000).then(() => "timeout" as const)]);
      assert.equal(code, 8, `${n} exits 8:\n${p.stderr().slice(-3000)}`);
      assert.match(p.stderr(), /coffer: the chain at .* is not the one the "localhost" deployment was made on: .*restarted empty.*Redeploy/);
      assert.ok(!existsSync(join(dirs[n as keyof typeof dirs], "node.pid")), `${n} released its data dir`);
    }
    // And a node started against it now refuses at once, with the same message and exit code.
    const late = await coffer(["-d", dirs.user, "start", ...chainArgs, "--role", "user"]);
    assert.equal(late.code, 8, late.stderr);
    assert.match(late.stderr, /not the one the "localhost" deployment was made on/);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
