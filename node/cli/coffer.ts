#!/usr/bin/env -S npx tsx --min-semi-space-size=16
import { multiaddr } from "@multiformats/multiaddr";
import { SingleBar } from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { createNodeLogger } from "./log-output.js";
import { CofferError } from "../errors.js";
import { parseRoot } from "../p2p/hex.js";
import type { Role } from "../p2p/host.js";
import { loadOrCreatePeerKey } from "../p2p/identity.js";
import { CofferNode, DEFAULT_LISTEN } from "../assembly/coffer-node.js";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { formatEther, parseEther } from "viem";
import { DEFAULT_RPC_URL, loadOrCreateChainAccount } from "../chain/client.js";
import { ControlClient, startControlServer } from "./control.js";
import { lockDataDir } from "./data-dir-lock.js";
import { explainStartError } from "./start-errors.js";
import { ChainMismatchError, findChainLinkError } from "../chain/chain-health.js";
import { FILES_SECRET_FILE, keysFromPhrase, newPhrase, writeUserKeys } from "../files/secret.js";
import { CHAIN_KEY_FILE } from "../chain/client.js";
import { clientsForDataDir, fundLocally, loadDeploymentFor, registerFromDataDir, startRole, type ChainTarget } from "./role-runner.js";

/** Exit codes: what the caller (a script) can branch on. */
const EXIT = { ok: 0, error: 1, usage: 2, notRunning: 3, notFound: 4, diskFull: 5, alreadyRunning: 6, portInUse: 7, chainMismatch: 8 } as const;
const CODE_TO_EXIT: Record<string, number> = {
  "not-running": EXIT.notRunning,
  "unknown-root": EXIT.notFound,
  "remote:unknown-root": EXIT.notFound,
  "no-providers": EXIT.notFound,
  "not-found": EXIT.notFound,
  "disk-full": EXIT.diskFull,
  "bad-root": EXIT.usage,
  "bad-multiaddr": EXIT.usage,
  "bad-request": EXIT.usage,
  "no-lessors": EXIT.notFound,
  "output-folder-missing": EXIT.notFound,
  "output-is-directory": EXIT.usage,
  "output-exists": EXIT.error,
  "output-not-writable": EXIT.error,
  refused: EXIT.error,
  chain: EXIT.error,
  "chain-unreachable": EXIT.error,
  "no-such-deal": EXIT.notFound,
  "wrong-command": EXIT.usage,
  "already-running": EXIT.alreadyRunning,
  "port-in-use": EXIT.portInUse,
  "chain-mismatch": EXIT.chainMismatch,
  "bad-phrase": EXIT.usage,
  "key-mismatch": EXIT.error,
  "path-escapes": EXIT.error,
  "file-changed": EXIT.error,
  "volume-too-large": EXIT.error,
  "bad-volume": EXIT.error,
  "hash-mismatch": EXIT.error,
  "no-secret": EXIT.error,
};

interface Config {
  role: Role;
  listen: string[];
  bootstrap: string[];
  uploadLimit?: number;
}

const program = new Command()
  .name("coffer")
  .description("Coffer p2p node: store files on lessors, fetch them from many peers at once")
  .option("-d, --data-dir <dir>", "node data directory", process.env.COFFER_DATA_DIR ?? join(homedir(), ".coffer"))
  .option("--json", "machine-readable output (one JSON document)")
  .exitOverride(); // inherited by the subcommands below: usage errors reach our exit-code mapping

const opts = () => program.opts<{ dataDir: string; json?: boolean }>();

function print(value: unknown, human: () => string): void {
  process.stdout.write((opts().json ? JSON.stringify(value, null, 2) : human()) + "\n");
}

function parseMultiaddr(value: string, previous: string[] = []): string[] {
  try {
    multiaddr(value);
  } catch {
    throw new InvalidArgumentError(`not a multiaddr: ${value} (example: /ip4/1.2.3.4/tcp/4001/p2p/12D3Koo...)`);
  }
  return [...previous, value];
}

function parseRole(value: string): Role {
  if (value !== "user" && value !== "lessor" && value !== "watcher") throw new InvalidArgumentError("role must be user, lessor or watcher");
  return value;
}

function parseRate(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?(?:\/s)?$/.exec(value);
  if (!match) throw new InvalidArgumentError(`not a rate: ${value} (example: 10MiB/s)`);
  return Number(match[1]) * ({ "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[match[2].toLowerCase()];
}

function parseCfrAmount(value: string): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(value.trim())) throw new InvalidArgumentError(`not a CFR amount: ${value} (example: 1000 or 0.25)`);
  return parseEther(value.trim());
}

function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`not a positive integer: ${value}`);
  return n;
}

function parseNonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${value}`);
  return n;
}

const SIZE_UNITS: Record<string, bigint> = { "": 1n, b: 1n, kib: 1n << 10n, mib: 1n << 20n, gib: 1n << 30n, tib: 1n << 40n };

function parseSize(value: string): bigint {
  const match = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new InvalidArgumentError(`not a size: ${value} (example: 500GiB)`);
  return BigInt(match[1]!) * unit;
}

async function loadConfig(dataDir: string): Promise<Config | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, "config.json"), "utf8"));
  } catch {
    return undefined;
  }
}

function bar(label: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} MiB | {rate} MiB/s | ETA {eta_formatted}`,
    barCompleteChar: "█",
    barIncompleteChar: "░",
    hideCursor: true,
    etaBuffer: 20,
  });
}

const mib = (n: number) => Number((n / 1048576).toFixed(1));

program.command("init")
  .description("create the data directory, the node identity and a config")
  .option("--role <role>", "user | lessor | watcher", parseRole, "user")
  .option("--listen <multiaddr>", "address to listen on (repeatable)", parseMultiaddr)
  .option("--bootstrap <multiaddr>", "bootstrap peer (repeatable)", parseMultiaddr)
  .option("--recover", "user: take the recovery phrase from stdin (the chain key and files secret are derived from it); then start the node and run `coffer recover`")
  .action(async (o: { role: Role; listen?: string[]; bootstrap?: string[]; recover?: boolean }) => {
    const { dataDir } = opts();
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const role: Role = o.recover ? "user" : o.role;
    // The phrase comes first: the chain key is derived from it, so it must be written before one is generated.
    let phrase: string | undefined;
    let phraseNote = "";
    if (o.recover) {
      if (process.stdin.isTTY) process.stderr.write("recovery phrase (the words shown at `coffer init --role user`), then Enter:\n");
      const text = await readStdin();
      await writeUserKeys(dataDir, keysFromPhrase(text));
      phraseNote = "keys recovered from the phrase: start the node (coffer start --role user --rpc ...) and run `coffer recover` to find this user's files";
    } else if (role === "user") {
      const hasSecret = await stat(join(dataDir, FILES_SECRET_FILE)).then(() => true, () => false);
      const hasChainKey = await stat(join(dataDir, CHAIN_KEY_FILE)).then(() => true, () => false);
      if (!hasSecret && !hasChainKey) {
        phrase = newPhrase();
        await writeUserKeys(dataDir, keysFromPhrase(phrase));
      } else if (!hasSecret) {
        phraseNote = "this data dir's chain key predates recovery phrases: no phrase can recover it (init a new data dir for a recoverable user)";
      }
    }
    const key = await loadOrCreatePeerKey(dataDir);
    const existing = await loadConfig(dataDir);
    const config: Config = { role, listen: o.listen ?? existing?.listen ?? [...DEFAULT_LISTEN], bootstrap: o.bootstrap ?? existing?.bootstrap ?? [] };
    await writeFile(join(dataDir, "config.json"), JSON.stringify(config, null, 2));
    const peerId = peerIdFromPrivateKey(key).toString();
    const chainAddress = (await loadOrCreateChainAccount(dataDir)).address;
    print({ dataDir, peerId, chainAddress, ...config, ...(phrase ? { phrase } : {}), ...(phraseNote ? { note: phraseNote } : {}) }, () => [
      `initialised ${dataDir}\npeer id: ${peerId}\nchain address: ${chainAddress} (key in ${join(dataDir, "chain-key")}, never printed)\nrole: ${config.role}`,
      ...(phrase ? [`\nrecovery phrase (shown once, never stored; write it down: it recovers this user's chain account and files):\n\n  ${phrase}\n`] : []),
      ...(phraseNote ? [phraseNote] : []),
    ].join("\n"));
  });

program.command("start")
  .description("run the node in the foreground (Ctrl-C stops it); with --rpc/--network it runs the ROLE against that chain")
  .option("--role <role>", "user | lessor | watcher", parseRole)
  .option("--listen <multiaddr>", "address to listen on (repeatable)", parseMultiaddr)
  .option("--bootstrap <multiaddr>", "bootstrap peer (repeatable)", parseMultiaddr)
  .option("--upload-limit <rate>", "cap upload bandwidth, e.g. 10MiB/s", parseRate)
  .option("--lan", "keep private/loopback addresses in the DHT (LAN, local testing; the default with --rpc)")
  .option("--no-lan", "drop private/loopback addresses from the DHT (public networks)")
  .option("--rpc <url>", "JSON-RPC endpoint of the chain: runs the role (lessor proves, user buys/downloads, watcher reports)")
  .option("--network <name>", "network name: reads deployments/<name>.json (default localhost with --rpc)")
  .option("--deployment <file>", "deployment JSON to use instead of deployments/<network>.json")
  .addOption(new Option("--price <CFR>", "lessor: asking price in CFR per GiB per period").argParser(parseCfrAmount).default(parseEther("1"), "1"))
  .addOption(new Option("--capacity <bytes>", "lessor: disk offered, e.g. 100GiB").argParser(parseSize).default(100n << 30n, "100GiB"))
  .option("--capacity-sectors <n>", "lessor: empty sectors (of the smallest sector size) to seal and prove as proven capacity; given up when pieces need the room", parseNonNegativeInteger)
  .option("--no-onchain-challenges", "watcher: never escalate failed timed challenges to on-chain challenges (no bonds needed)")
  .action(async (o: { role?: Role; listen?: string[]; bootstrap?: string[]; uploadLimit?: number; lan?: boolean; rpc?: string; network?: string; deployment?: string; price: bigint | string; capacity: bigint; capacitySectors?: number; onchainChallenges?: boolean }) => {
    const { dataDir } = opts();
    const config = await loadConfig(dataDir);
    const logger = createNodeLogger("info");
    const role = o.role ?? config?.role ?? "user";
    const listen = o.listen ?? config?.listen ?? [...DEFAULT_LISTEN];
    const bootstrap = o.bootstrap ?? config?.bootstrap ?? [];
    const withChain = o.rpc !== undefined || o.network !== undefined || o.deployment !== undefined;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const unlock = await lockDataDir(dataDir);
    let stopping = false;
    let shutdown = async (code: number = EXIT.ok): Promise<void> => {
      await unlock();
      process.exit(code);
    };
    // The chain found reset (or another chain) under a running node: say so, stop, exit 8.
    const onFatal = (error: ChainMismatchError) => {
      process.stderr.write(`coffer: ${error.shortMessage}\n`);
      void shutdown(EXIT.chainMismatch);
    };
    let node: CofferNode;
    let stopRole: (() => Promise<void>) | undefined;
    let control: Awaited<ReturnType<typeof startControlServer>>;
    let chainAddress: string | undefined;
    try {
      if (withChain) {
        const running = await startRole({
          role,
          dataDir,
          listen,
          bootstrap,
          logger,
          rpcUrl: o.rpc ?? DEFAULT_RPC_URL,
          network: o.network ?? "localhost",
          deploymentFile: o.deployment,
          allowPrivateAddresses: o.lan ?? true,
          uploadLimit: o.uploadLimit ?? config?.uploadLimit,
          pricePerGiBPerPeriod: typeof o.price === "bigint" ? o.price : parseCfrAmount(o.price),
          capacityBytes: o.capacity,
          capacitySectors: o.capacitySectors,
          onChainChallenges: o.onchainChallenges,
          onFatal,
        });
        node = running.node;
        stopRole = running.stop;
        chainAddress = running.address;
        control = await startControlServer(node, dataDir, logger, running.control);
      } else {
        node = await CofferNode.create({
          dataDir,
          role,
          listen,
          bootstrap,
          uploadLimit: o.uploadLimit ?? config?.uploadLimit,
          allowPrivateAddresses: o.lan ?? false,
          overlay: { enabled: true },
          resumeIncomplete: true,
          logger,
        });
        await node.start();
        control = await startControlServer(node, dataDir, logger);
      }
    } catch (error) {
      await unlock();
      throw explainStartError(error, dataDir);
    }
    print({ peerId: node.peerId.toString(), role: node.role, addresses: node.addresses(), chainAddress }, () =>
      [`coffer ${node.role} ${node.peerId}`, ...(chainAddress ? [`  chain address ${chainAddress}`] : []), ...node.addresses().map((a) => `  listening on ${a}`)].join("\n"));
    shutdown = async (code: number = EXIT.ok) => {
      if (stopping) return;
      stopping = true;
      setTimeout(() => process.exit(code), 15_000).unref(); // a stop that hangs must not keep the lock
      await control.close().catch(() => undefined);
      if (stopRole) await stopRole().catch(() => undefined);
      else await node.stop().catch(() => undefined);
      await unlock();
      process.exit(code);
    };
    process.on("SIGINT", () => void shutdown());
    process.on("SIGTERM", () => void shutdown());
  });

/** Chain flags of the commands that talk to the chain without a running node. */
function chainTarget(o: { rpc?: string; network?: string; deployment?: string }): ChainTarget {
  return { rpcUrl: o.rpc ?? DEFAULT_RPC_URL, network: o.network ?? "localhost", deploymentFile: o.deployment };
}

program.command("register")
  .description("stake and register this data dir's chain key as the lessor of its peer id (funds it first on a local chain)")
  .option("--rpc <url>", "JSON-RPC endpoint", DEFAULT_RPC_URL)
  .option("--network <name>", "reads deployments/<name>.json", "localhost")
  .option("--deployment <file>", "deployment JSON instead of deployments/<network>.json")
  .option("--stake <CFR>", "stake (default: the registry's minimum)", parseCfrAmount)
  .addOption(new Option("--price <CFR>", "asking price in CFR per GiB per period").argParser(parseCfrAmount).default(parseEther("1"), "1"))
  .addOption(new Option("--capacity <bytes>", "disk offered, e.g. 100GiB").argParser(parseSize).default(100n << 30n, "100GiB"))
  .option("--announce <multiaddr>", "public address other nodes dial (repeatable; default: the config's listen addresses on a local chain)", parseMultiaddr)
  .action(async (o: { rpc?: string; network?: string; deployment?: string; stake?: bigint; price: bigint | string; capacity: bigint; announce?: string[] }) => {
    const { dataDir } = opts();
    const config = await loadConfig(dataDir);
    const announce = o.announce ?? (config?.listen ?? []).map((a) => a.replace("/ip4/0.0.0.0/", "/ip4/127.0.0.1/")).filter((a) => !a.endsWith("/tcp/0"));
    if (announce.length === 0) throw new CofferError("give --announce <multiaddr> (or `coffer init --listen` with a fixed port): users must be able to dial the lessor", { code: "bad-request" });
    const result = await registerFromDataDir(dataDir, chainTarget(o), {
      stake: o.stake,
      capacityBytes: o.capacity,
      pricePerGiBPerPeriod: typeof o.price === "bigint" ? o.price : parseCfrAmount(o.price),
      announce,
    });
    print(result, () => `registered lessor ${result.lessor}\npeer id: ${result.peerId}\nmultiaddrs: ${result.multiaddrs.join(" ")}\nstake: ${result.stake} CFR\ntransaction: ${result.transaction}`);
  });

program.command("fund")
  .description("local chains only: give this data dir's chain account gas and CFR from the faucet")
  .option("--rpc <url>", "JSON-RPC endpoint", DEFAULT_RPC_URL)
  .option("--network <name>", "reads deployments/<name>.json", "localhost")
  .option("--deployment <file>", "deployment JSON instead of deployments/<network>.json")
  .addOption(new Option("--cfr <CFR>", "CFR balance to reach").argParser(parseCfrAmount).default(parseEther("10000"), "10000"))
  .action(async (o: { rpc?: string; network?: string; deployment?: string; cfr: bigint | string }) => {
    const { dataDir } = opts();
    const target = chainTarget(o);
    const clients = await clientsForDataDir(dataDir, target.rpcUrl);
    const balances = await fundLocally(clients, await loadDeploymentFor(target), typeof o.cfr === "bigint" ? o.cfr : parseCfrAmount(o.cfr));
    const address = clients.walletClient.account.address;
    print({ address, eth: formatEther(balances.eth), cfr: formatEther(balances.cfr) }, () => `${address}: ${formatEther(balances.eth)} ETH, ${formatEther(balances.cfr)} CFR`);
  });

program.command("buy-deal <file>")
  .description("user node: buy a storage deal for <file> and upload it to the chosen lessors")
  .requiredOption("--replicas <n>", "number of replicas (1-10)", parsePositiveInteger)
  .requiredOption("--periods <n>", "duration in proving periods", parsePositiveInteger)
  .requiredOption("--max-price <CFR>", "highest price accepted, CFR per GiB per period", parseCfrAmount)
  .option("--wait", "return only when every replica is Proving")
  .action(async (file: string, o: { replicas: number; periods: number; maxPrice: bigint; wait?: boolean }) => {
    const path = resolve(file);
    await stat(path).catch(() => { throw new CofferError(`no such file: ${file}`, { code: "not-found" }); });
    const client = await ControlClient.connect(opts().dataDir);
    const result = (await client.call("POST", "/buy-deal", { file: path, replicas: o.replicas, periods: o.periods, maxPrice: o.maxPrice.toString(), wait: o.wait === true }, (line) => {
      const p = line.progress as { message?: string } | undefined;
      if (p?.message && !opts().json) process.stderr.write(`${p.message}\n`);
    })) as { result?: { dealId: string; commD: string; size: number; resumed?: boolean; replicas: { replicaIndex: number; lessor: string; state: string }[] } };
    if (!result?.result) throw new CofferError("this node offers no buy-deal: start it with --role user --rpc <url>", { code: "bad-request" });
    const deal = result.result;
    print(deal, () => `deal ${deal.dealId}${deal.resumed ? " (continued: nothing paid again)" : ""}\ncommD ${deal.commD} (${deal.size} bytes)\n${deal.replicas.map((r) => `  replica ${r.replicaIndex}: ${r.lessor} ${r.state}`).join("\n")}`);
  });

/** `coffer cancel` / `coffer refund`: one user-node route that moves a deal's escrow back, shown in CFR. */
function refundCommand(name: string, route: string, description: string, done: string) {
  program.command(`${name} <dealId>`)
    .description(description)
    .action(async (dealId: string) => {
      if (parseRoot(dealId) === undefined) throw new CofferError(`not a deal id: ${dealId} (expected 0x + 64 hex digits)`, { code: "bad-request" });
      const client = await ControlClient.connect(opts().dataDir);
      const answer = (await client.call("POST", route, { dealId }, () => undefined)) as { result?: { dealId: string; refundCfr: string; withdrawnCfr: string } };
      if (!answer?.result) throw new CofferError(`this node offers no ${name}: start it with --role user --rpc <url>`, { code: "bad-request" });
      const r = answer.result;
      print(r, () => `deal ${r.dealId} ${done}: ${r.refundCfr} CFR refunded, ${r.withdrawnCfr} CFR withdrawn to this node's address`);
    });
}
refundCommand("cancel", "/cancel-deal", "user node: cancel a deal no lessor stores yet; its whole escrow is refunded and withdrawn", "cancelled");
refundCommand("refund", "/claim-refund", "user node: after a deal ended, claim the escrow not paid to lessors and withdraw it", "refunded");

program.command("status").description("identity, addresses, connections and stored files of the running node").action(async () => {
  const status = (await (await ControlClient.connect(opts().dataDir)).call("GET", "/status")) as {
    peerId: string;
    role: string;
    addresses: string[];
    connections: number;
    dhtMode: string;
    files: { root: string; size: number; completeChunks: number; chunkCount: number }[];
    sectors?: { number: number; bytes: number; pieces: number; stage: string }[];
    provenCapacityBytes?: string;
    stats?: { postSubmissions: number; lastPoStGas?: number };
  };
  const proving = (status.sectors ?? []).filter((x) => x.stage === "proving");
  print(status, () => [
    `peer id: ${status.peerId} (${status.role}, DHT ${status.dhtMode})`,
    ...status.addresses.map((a) => `  ${a}`),
    `connections: ${status.connections}`,
    `files: ${status.files.length}`,
    ...status.files.map((f) => `  ${f.root}  ${mib(f.size)} MiB  ${f.completeChunks}/${f.chunkCount} chunks`),
    ...(status.sectors === undefined
      ? []
      : [
          `sectors: ${proving.length} proving (${mib(proving.reduce((n, x) => n + x.bytes, 0))} MiB), ${status.sectors.length - proving.length} other; proven capacity ${mib(Number(status.provenCapacityBytes ?? 0))} MiB`,
          ...status.sectors.filter((x) => x.stage !== "gone").map((x) => `  sector ${x.number}  ${mib(x.bytes)} MiB  ${x.pieces} piece(s)  ${x.stage}`),
          `PoSt: ${status.stats?.postSubmissions ?? 0} submitted (one per period for all sectors), last ${status.stats?.lastPoStGas ?? "-"} gas`,
        ]),
  ].join("\n"));
});

program.command("peers").description("connected peers").action(async () => {
  const peers = (await (await ControlClient.connect(opts().dataDir)).call("GET", "/peers")) as { peerId: string; address: string; direction: string }[];
  print(peers, () => peers.length === 0 ? "no peers connected" : peers.map((p) => `${p.peerId}  ${p.address}  ${p.direction}`).join("\n"));
});

program.command("neighbours").description("overlay neighbours (fastest first), candidates and history").action(async () => {
  const lists = (await (await ControlClient.connect(opts().dataDir)).call("GET", "/neighbours")) as Record<"neighbours" | "candidates" | "past", { id: string; speed: number }[]>;
  print(lists, () => [
    `neighbours (${lists.neighbours.length}):`, ...lists.neighbours.map((n) => `  ${n.id}  ${mib(n.speed)} MiB/s`),
    `candidates: ${lists.candidates.length}, past neighbours: ${lists.past.length}`,
  ].join("\n"));
});

program.command("reset").description("rebuild the neighbour list from scratch (keeps history)").action(async () => {
  const result = await (await ControlClient.connect(opts().dataDir)).call("POST", "/reset");
  print(result, () => "neighbour list reset");
});

program.command("put <paths...>")
  .description("user node: pack files and folders into one encrypted volume and buy one deal for it (--replicas/--periods/--max-price); plain p2p node (no --rpc): store one file on peers (--copies)")
  .option("--replicas <n>", "user node: number of replicas (1-10)", parsePositiveInteger)
  .option("--periods <n>", "user node: duration in proving periods", parsePositiveInteger)
  .option("--max-price <CFR>", "user node: highest price accepted, CFR per GiB per period", parseCfrAmount)
  .option("--copies <n>", "plain p2p node: number of lessors", (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("copies must be a positive integer"); return n; }, 1)
  .action(async (paths: string[], o: { copies: number; replicas?: number; periods?: number; maxPrice?: bigint }) => {
    const resolved = paths.map((p) => resolve(p));
    for (const [i, path] of resolved.entries()) await stat(path).catch(() => { throw new CofferError(`no such file or folder: ${paths[i]}`, { code: "not-found" }); });
    const client = await ControlClient.connect(opts().dataDir);
    const size = (await stat(resolved[0]!)).size;
    const progress = opts().json || !process.stderr.isTTY ? undefined : bar("put");
    let barStarted = false;
    const started = performance.now();
    const perPeer = new Map<string, number>();
    const body = { path: resolved[0], paths: resolved, copies: o.copies, replicas: o.replicas, periods: o.periods, maxPrice: o.maxPrice?.toString() };
    const result = (await client.call("POST", "/put", body, (line) => {
      const p = line.progress as { peer?: string; bytes?: number; message?: string } | undefined;
      if (p?.message && !opts().json) process.stderr.write(`${p.message}\n`);
      if (!p?.peer || !progress) return;
      if (!barStarted) { progress.start(mib(size * o.copies), 0, { rate: "0" }); barStarted = true; }
      perPeer.set(p.peer, p.bytes ?? 0);
      const done = [...perPeer.values()].reduce((a, b) => a + b, 0);
      progress.update(mib(done), { rate: (done / 1048576 / ((performance.now() - started) / 1000)).toFixed(1) });
    })) as { result: { root?: string; storedOn?: string[]; dealId?: string; volumeId?: string; files?: number; folders?: number; bytes?: number; size?: number; resumed?: boolean; replicas?: { replicaIndex: number; lessor: string; state: string }[] } };
    progress?.stop();
    const r = result.result;
    if (r.dealId) {
      print(r, () => `deal ${r.dealId}${r.resumed ? " (continued: nothing paid again)" : ""}: ${r.files} file(s), ${r.folders} folder(s), ${r.bytes} bytes in encrypted volume ${r.volumeId?.slice(0, 16)}… (${r.size} bytes)\n${(r.replicas ?? []).map((x) => `  replica ${x.replicaIndex}: ${x.lessor} ${x.state}`).join("\n")}`);
    } else {
      print(r, () => `${r.root}\nstored on ${r.storedOn?.length ?? 0} lessor(s)`);
    }
  });

program.command("ls")
  .description("user node: the files and folders of this user's volumes, with size, deal, replicas' states and expiry")
  .action(async () => {
    const client = await ControlClient.connect(opts().dataDir);
    const answer = (await client.call("POST", "/ls", {}, () => undefined)) as { result?: { volumes: { volumeId: string; dealId: string; files: number; bytes: number; size: number; endPeriod: number; expiresAt: number; dealState: string; replicas: { replicaIndex: number; state: string }[] }[]; entries: { path: string; type: string; size: number; mtimeMs: number; dealId: string }[] } };
    if (!answer?.result) throw new CofferError("this node offers no ls: start it with --role user --rpc <url>", { code: "bad-request" });
    const { volumes, entries } = answer.result;
    print(answer.result, () => {
      if (volumes.length === 0) return "no files: coffer put <file|folder>...";
      const lines = volumes.map((v) => `volume ${v.volumeId.slice(0, 16)}…  deal ${v.dealId}  ${v.dealState}  ${v.files} file(s), ${v.bytes} bytes  expires ${new Date(v.expiresAt * 1000).toISOString()} (period ${v.endPeriod})  replicas: ${v.replicas.map((r) => `${r.replicaIndex}=${r.state}`).join(" ")}`);
      const short = new Map(volumes.map((v) => [v.dealId, v.dealId.slice(0, 10)]));
      return [...lines, "", ...entries.map((e) => `${e.type === "dir" ? "d" : "-"} ${String(e.size).padStart(12)}  ${new Date(e.mtimeMs).toISOString().slice(0, 19)}  ${short.get(e.dealId)}  ${e.path}${e.type === "dir" ? "/" : ""}`)].join("\n");
    });
  });

program.command("recover")
  .description("user node (after `init --recover`): find this address's deals on-chain, fetch and decrypt each volume's manifest")
  .action(async () => {
    const client = await ControlClient.connect(opts().dataDir);
    const answer = (await client.call("POST", "/recover", {}, (line) => {
      const p = line.progress as { message?: string } | undefined;
      if (p?.message && !opts().json) process.stderr.write(`${p.message}\n`);
    })) as { result?: { recovered: number; skipped: number; files: number } };
    if (!answer?.result) throw new CofferError("this node offers no recover: start it with --role user --rpc <url>", { code: "bad-request" });
    const r = answer.result;
    print(r, () => `recovered ${r.recovered} volume(s) with ${r.files} file(s) (${r.skipped} deal(s) skipped): coffer ls`);
  });

program.command("get <path-or-root> <out>")
  .description("user node: a path or folder as `coffer ls` shows it is restored under the folder <out>; a deal id or commD downloads that deal with PoD to the file <out>; plain node: by root from every peer that has it")
  .option("--force", "overwrite <out> if it exists (else refused before anything is fetched or paid)")
  .action(async (rootArg: string, out: string, o: { force?: boolean }) => {
    if (parseRoot(rootArg) === undefined) {
      if (/^0x[0-9a-fA-F]*$/.test(rootArg)) throw new CofferError(`not a root or deal id: ${rootArg} (expected 0x + 64 hex digits)`, { code: "bad-root" });
      // A path or folder as `coffer ls` shows it: restored under <out> (a folder).
      const client = await ControlClient.connect(opts().dataDir);
      const answer = (await client.call("POST", "/get-files", { path: rootArg, out: resolve(out), force: o.force === true }, (line) => {
        const p = line.progress as { message?: string } | undefined;
        if (p?.message && !opts().json) process.stderr.write(`${p.message}\n`);
      })) as { result?: { files: number; bytes: number; out: string; volumes: { dealId: string }[] } };
      if (!answer?.result) throw new CofferError("this node offers no get by path: start it with --role user --rpc <url>", { code: "bad-request" });
      const r = answer.result;
      print(r, () => `restored ${r.files} file(s), ${r.bytes} bytes under ${r.out} (PoD download of ${r.volumes.length} volume(s), every file's SHA-256 checked)`);
      return;
    }
    const client = await ControlClient.connect(opts().dataDir);
    const progress = opts().json || !process.stderr.isTTY ? undefined : bar("get");
    let startedBar = false;
    const started = performance.now();
    const result = (await client.call("POST", "/get", { root: rootArg, out: resolve(out), force: o.force === true }, (line) => {
      const p = line.progress as { done: number; total: number; sources: number; message?: string } | undefined;
      if (p?.message && !opts().json) process.stderr.write(`${p.message}\n`);
      if (!p || !progress || p.total === undefined) return;
      if (!startedBar) { progress.start(mib(p.total), 0, { rate: "0" }); startedBar = true; }
      progress.update(mib(p.done), { rate: (p.done / 1048576 / ((performance.now() - started) / 1000)).toFixed(1) });
    })) as { result: { root?: string; dealId?: string; size: number; out: string; sources: number; disputed?: boolean } };
    progress?.stop();
    const r = result.result;
    print(r, () => `saved ${mib(r.size)} MiB to ${r.out} from ${r.sources} source(s)${r.dealId ? ` (PoD download of deal ${r.dealId}${r.disputed ? "; the lessor served wrong bytes: dispute won, this is your own verified copy" : ""})` : ""}`);
  });

/** What the CLI prints for a Coffer error: its short message, with its details when they are a short hint. */
function oneMessage(error: CofferError): string {
  return error.details !== undefined && error.details.length <= 400 ? error.message : error.shortMessage;
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const cliCode = (error as { code?: string }).code;
  if (cliCode === "commander.helpDisplayed" || cliCode === "commander.version" || cliCode === "commander.help") process.exit(EXIT.ok);
  if (typeof cliCode === "string" && cliCode.startsWith("commander.")) process.exit(EXIT.usage); // commander already printed the message
  const link = findChainLinkError(error);
  const code = link ? (link instanceof ChainMismatchError ? "chain-mismatch" : "chain-unreachable") : error instanceof CofferError ? error.code : (error as NodeJS.ErrnoException)?.code === "ENOSPC" ? "disk-full" : "internal";
  const message = link ? link.shortMessage : error instanceof CofferError ? oneMessage(error) : (error as Error)?.message ?? String(error);
  if (opts().json) process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n");
  else process.stderr.write(`coffer: ${message}\n`);
  process.exit(CODE_TO_EXIT[code] ?? EXIT.error);
}
