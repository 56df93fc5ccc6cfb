#!/usr/bin/env -S npx tsx
import { multiaddr } from "@multiformats/multiaddr";
import { SingleBar } from "cli-progress";
import { Command, InvalidArgumentError } from "commander";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { BaseError } from "../p2p/errors.js";
import { parseRoot } from "../p2p/hex.js";
import type { Role } from "../p2p/host.js";
import { loadOrCreatePeerKey } from "../p2p/identity.js";
import { CofferNode } from "../p2p/node.js";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { ControlClient, startControlServer } from "./control.js";

/** Exit codes: what the caller (a script) can branch on. */
const EXIT = { ok: 0, error: 1, usage: 2, notRunning: 3, notFound: 4, diskFull: 5 } as const;
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
  .action(async (o: { role: Role; listen?: string[]; bootstrap?: string[] }) => {
    const { dataDir } = opts();
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const key = await loadOrCreatePeerKey(dataDir);
    const existing = await loadConfig(dataDir);
    const config: Config = { role: o.role, listen: o.listen ?? existing?.listen ?? ["/ip4/0.0.0.0/tcp/4001"], bootstrap: o.bootstrap ?? existing?.bootstrap ?? [] };
    await writeFile(join(dataDir, "config.json"), JSON.stringify(config, null, 2));
    const peerId = peerIdFromPrivateKey(key).toString();
    print({ dataDir, peerId, ...config }, () => `initialised ${dataDir}\npeer id: ${peerId}\nrole: ${config.role}`);
  });

program.command("start")
  .description("run the node in the foreground (Ctrl-C stops it)")
  .option("--role <role>", "user | lessor | watcher", parseRole)
  .option("--listen <multiaddr>", "address to listen on (repeatable)", parseMultiaddr)
  .option("--bootstrap <multiaddr>", "bootstrap peer (repeatable)", parseMultiaddr)
  .option("--upload-limit <rate>", "cap upload bandwidth, e.g. 10MiB/s", parseRate)
  .option("--lan", "keep private/loopback addresses in the DHT (LAN, local testing)")
  .action(async (o: { role?: Role; listen?: string[]; bootstrap?: string[]; uploadLimit?: number; lan?: boolean }) => {
    const { dataDir } = opts();
    const config = await loadConfig(dataDir);
    const logger = pino({ level: process.env.COFFER_LOG ?? "info" }, pino.destination(2));
    const node = await CofferNode.create({
      dataDir,
      role: o.role ?? config?.role ?? "user",
      listen: o.listen ?? config?.listen ?? ["/ip4/0.0.0.0/tcp/4001"],
      bootstrap: o.bootstrap ?? config?.bootstrap ?? [],
      uploadLimit: o.uploadLimit ?? config?.uploadLimit,
      allowPrivateAddresses: o.lan ?? false,
      overlay: { enabled: true },
      resumeIncomplete: true,
      logger,
    });
    await node.start();
    const control = await startControlServer(node, dataDir, logger);
    print({ peerId: node.peerId.toString(), role: node.role, addresses: node.addresses() }, () => `coffer ${node.role} ${node.peerId}\n${node.addresses().map((a) => `  listening on ${a}`).join("\n")}`);
    let stopping = false;
    const shutdown = async () => {
      if (stopping) return;
      stopping = true;
      await control.close();
      await node.stop();
      process.exit(EXIT.ok);
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });

program.command("status").description("identity, addresses, connections and stored files of the running node").action(async () => {
  const status = (await (await ControlClient.connect(opts().dataDir)).call("GET", "/status")) as { peerId: string; role: string; addresses: string[]; connections: number; dhtMode: string; files: { root: string; size: number; completeChunks: number; chunkCount: number }[] };
  print(status, () => [
    `peer id: ${status.peerId} (${status.role}, DHT ${status.dhtMode})`,
    ...status.addresses.map((a) => `  ${a}`),
    `connections: ${status.connections}`,
    `files: ${status.files.length}`,
    ...status.files.map((f) => `  ${f.root}  ${mib(f.size)} MiB  ${f.completeChunks}/${f.chunkCount} chunks`),
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

program.command("put <file>")
  .description("store a file on lessors; prints its root")
  .option("--copies <n>", "number of lessors", (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("copies must be a positive integer"); return n; }, 1)
  .action(async (file: string, o: { copies: number }) => {
    const path = resolve(file);
    const size = (await stat(path).catch(() => { throw new BaseError(`no such file: ${file}`, { code: "not-found" }); })).size;
    const client = await ControlClient.connect(opts().dataDir);
    const progress = opts().json || !process.stderr.isTTY ? undefined : bar("put");
    progress?.start(mib(size * o.copies), 0, { rate: "0" });
    const started = performance.now();
    const perPeer = new Map<string, number>();
    const result = (await client.call("POST", "/put", { path, copies: o.copies }, (line) => {
      const p = line.progress as { peer: string; bytes: number } | undefined;
      if (!p || !progress) return;
      perPeer.set(p.peer, p.bytes);
      const done = [...perPeer.values()].reduce((a, b) => a + b, 0);
      progress.update(mib(done), { rate: (done / 1048576 / ((performance.now() - started) / 1000)).toFixed(1) });
    })) as { result: { root: string; storedOn: string[] } };
    progress?.stop();
    print(result.result, () => `${result.result.root}\nstored on ${result.result.storedOn.length} lessor(s)`);
  });

program.command("get <root> <out>")
  .description("fetch a file by root from every peer that has it")
  .action(async (rootArg: string, out: string) => {
    if (parseRoot(rootArg) === undefined) throw new BaseError(`not a root: ${rootArg} (expected 0x + 64 hex digits)`, { code: "bad-root" });
    const client = await ControlClient.connect(opts().dataDir);
    const progress = opts().json || !process.stderr.isTTY ? undefined : bar("get");
    let startedBar = false;
    const started = performance.now();
    const result = (await client.call("POST", "/get", { root: rootArg, out: resolve(out) }, (line) => {
      const p = line.progress as { done: number; total: number; sources: number } | undefined;
      if (!p || !progress) return;
      if (!startedBar) { progress.start(mib(p.total), 0, { rate: "0" }); startedBar = true; }
      progress.update(mib(p.done), { rate: (p.done / 1048576 / ((performance.now() - started) / 1000)).toFixed(1) });
    })) as { result: { root: string; size: number; out: string; sources: number } };
    progress?.stop();
    print(result.result, () => `saved ${mib(result.result.size)} MiB to ${result.result.out} from ${result.result.sources} source(s)`);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const cliCode = (error as { code?: string }).code;
  if (cliCode === "commander.helpDisplayed" || cliCode === "commander.version" || cliCode === "commander.help") process.exit(EXIT.ok);
  if (typeof cliCode === "string" && cliCode.startsWith("commander.")) process.exit(EXIT.usage); // commander already printed the message
  const code = error instanceof BaseError ? error.code : (error as NodeJS.ErrnoException)?.code === "ENOSPC" ? "disk-full" : "internal";
  const message = error instanceof BaseError ? error.message : (error as Error)?.message ?? String(error);
  if (opts().json) process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n");
  else process.stderr.write(`coffer: ${message}\n`);
  process.exit(CODE_TO_EXIT[code] ?? EXIT.error);
}
