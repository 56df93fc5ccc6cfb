/**
 * Child-process entry of `npm run bench:p2p` (bench/p2p.ts): one end of a stream test, or one Coffer node of
 * the distribution test, so that two nodes are two programs (own event loop, own core) as in production.
 *
 * Usage: <node + tsx> bench/p2p-peer.ts <role> '<json config>'
 *   raw-recv | p2p-recv   listen, print {"listening": addr}; after `bytes` arrived, ack 1 byte to the sender
 *   raw-send | p2p-send   connect to `addr`, send `bytes`, print {"seconds": start→ack}
 *   node                  a CofferNode driven by JSON lines on stdin (connect / add / mark / get / cpu / stop)
 * Every child prints JSON lines on stdout and exits when its stdin closes (the parent died or is done).
 */
import { generateKeyPair } from "@libp2p/crypto/keys";
import type { ICryptoInterface } from "@chainsafe/libp2p-noise";
import { defaultCrypto } from "@chainsafe/libp2p-noise/crypto";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { pino } from "pino";
import { createHost, type HostOptions } from "../node/p2p/host.js";
import { CofferNode } from "../node/assembly/coffer-node.js";
import { nativeNoiseCrypto, nullCipherNoiseCryptoForBench, opensslNoiseCrypto } from "../node/p2p/noise-crypto.js";

const [role, configJson = "{}"] = process.argv.slice(2);
const config = JSON.parse(configJson) as Record<string, unknown>;
const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
// The parent owns our lifetime: when it goes away (or closes stdin), we go too.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
if (role !== "node") process.stdin.resume(); // (the node role reads commands from stdin)

/** CPU seconds (user + system) this process used since `since`. */
function cpuSeconds(since: NodeJS.CpuUsage): { user: number; system: number } {
  const d = process.cpuUsage(since);
  return { user: d.user / 1e6, system: d.system / 1e6 };
}

/**
 * CPU seconds per kind of thread of this process (Linux /proc): the JS thread ("main"), libuv's
 * threadpool (file I/O), V8's helpers (GC, compiler) and the rest. Empty where /proc is missing.
 */
function threadCpu(): Record<string, number> {
  const byKind: Record<string, number> = {};
  let tasks: string[];
  try { tasks = readdirSync("/proc/self/task"); } catch { return byKind; }
  const tick = 100; // USER_HZ on Linux
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const seconds = (Number(fields[11]) + Number(fields[12])) / tick; // utime + stime
      const kind = Number(tid) === process.pid ? "main" : name.startsWith("libuv-worker") ? "libuv" : name.startsWith("V8") ? "v8" : "other";
      byKind[kind] = (byKind[kind] ?? 0) + seconds;
    } catch { /* the thread ended */ }
  }
  return byKind;
}

function threadCpuSince(since: Record<string, number>): Record<string, number> {
  const now = threadCpu();
  return Object.fromEntries(Object.entries(now).map(([kind, seconds]) => [kind, Number((seconds - (since[kind] ?? 0)).toFixed(2))]));
}

/** Garbage collections seen by this process, by kind (count and main-thread pause ms). */
const gcKinds: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weakcb" };
let gcStats: Record<string, { count: number; ms: number }> = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = gcKinds[(entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "other";
    const stat = (gcStats[kind] ??= { count: 0, ms: 0 });
    stat.count++;
    stat.ms = Number((stat.ms + entry.duration).toFixed(1));
  }
}).observe({ entryTypes: ["gc"] });

const CRYPTO: Record<string, ICryptoInterface | undefined> = { default: defaultCrypto, native: nativeNoiseCrypto, openssl: opensslNoiseCrypto, null: nullCipherNoiseCryptoForBench };
const BENCH_PROTOCOL = "/bench/1.0.0";

async function rawRecv(bytes: number): Promise<void> {
  const server = createServer((socket: Socket) => {
    let received = 0;
    let cpu: NodeJS.CpuUsage | undefined;
    socket.on("data", (d) => {
      cpu ??= process.cpuUsage();
      received += d.length;
      if (received >= bytes) {
        socket.end(Buffer.from([1]));
        say({ receiverCpu: cpuSeconds(cpu) });
      }
    });
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1", () => say({ listening: String((server.address() as { port: number }).port) }));
}

async function rawSend(port: number, bytes: number, writeSize: number): Promise<void> {
  const buf = Buffer.alloc(writeSize, 7);
  const client = connect({ port, host: "127.0.0.1", noDelay: true }, () => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    client.once("data", () => {
      say({ seconds: (performance.now() - started) / 1000, senderCpu: cpuSeconds(cpu) });
      client.destroy();
    });
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += buf.length;
        if (!client.write(buf)) return void client.once("drain", pump);
      }
    };
    pump();
  });
  client.on("error", (err) => say({ error: err.message }));
}

function hostOptions(): Omit<HostOptions, "privateKey"> {
  return {
    role: "user",
    listen: ["/ip4/127.0.0.1/tcp/0"],
    allowPrivateAddresses: true,
    noiseCrypto: CRYPTO[String(config.crypto ?? "native")],
    yamux: config.yamux as HostOptions["yamux"],
  };
}

async function p2pRecv(bytes: number): Promise<void> {
  const host = await createHost({ ...hostOptions(), privateKey: await generateKeyPair("Ed25519") });
  await host.start();
  await host.handle(BENCH_PROTOCOL, async (stream) => {
    let received = 0;
    let cpu: NodeJS.CpuUsage | undefined;
    for await (const chunk of stream) {
      cpu ??= process.cpuUsage();
      received += chunk.byteLength;
      if (received >= bytes) break;
    }
    stream.send(new Uint8Array([1]));
    say({ receiverCpu: cpuSeconds(cpu!) });
    await stream.close().catch(() => undefined);
  });
  say({ listening: host.getMultiaddrs()[0].toString() });
}

async function p2pSend(addr: string, bytes: number, writeSize: number): Promise<void> {
  const host = await createHost({ ...hostOptions(), privateKey: await generateKeyPair("Ed25519") });
  await host.start();
  const stream = await host.dialProtocol(multiaddr(addr), BENCH_PROTOCOL);
  const buf = new Uint8Array(writeSize).fill(7);
  const acked = (async () => { for await (const _ of stream) return; })();
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let sent = 0; sent < bytes; sent += buf.length) {
    if (!stream.send(buf)) await stream.onDrain();
  }
  await acked;
  say({ seconds: (performance.now() - started) / 1000, senderCpu: cpuSeconds(cpu) });
  await host.stop();
}

/** One Coffer node. Commands (stdin JSON lines): connect {addrs}, add {path}, get {root, peers}, stop. */
async function coffer(): Promise<void> {
  const node = await CofferNode.create({
    dataDir: String(config.dataDir),
    role: config.seed ? "lessor" : "user",
    listen: ["/ip4/127.0.0.1/tcp/0"],
    allowPrivateAddresses: true,
    uploadLimit: Number(config.uploadLimit),
    logger: pino({ level: "silent" }),
    overlay: { enabled: false },
    choking: false,
    verifyOnOpen: false,
    superSeed: Boolean(config.superSeed),
  });
  await node.start();
  say({ ready: true, peerId: node.peerId.toString(), addr: node.addresses()[0] });
  let mark = process.cpuUsage();
  let threadMark = threadCpu();
  let uniqueDoneSeconds: number | undefined;
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as { cmd: string; addrs?: string[]; path?: string; root?: string; peers?: string[]; haveRefreshMs?: number };
    if (cmd.cmd === "connect") {
      for (const addr of cmd.addrs ?? []) await node.connect(addr);
      say({ connected: true });
    } else if (cmd.cmd === "add") {
      const info = await node.add(cmd.path!);
      say({ root: info.root });
    } else if (cmd.cmd === "get") {
      const root = new Uint8Array(Buffer.from(cmd.root!.slice(2), "hex"));
      const cpu = process.cpuUsage();
      const started = performance.now();
      let lastReport = 0;
      const onProgress = process.env.BENCH_PROGRESS ? (p: { completeChunks: number }) => {
        const now = performance.now();
        if (now - lastReport > 500) { lastReport = now; process.stderr.write(`${((now - started) / 1000).toFixed(1)}s ${node.peerId.toString().slice(-4)} ${p.completeChunks}\n`); }
      } : undefined;
      const result = await node.get(root, undefined, { peers: (cmd.peers ?? []).map((p) => peerIdFromString(p)), haveRefreshMs: cmd.haveRefreshMs, onProgress });
      if (!node.store.info(root)?.complete) throw new Error("download returned but the file is not complete");
      say({ done: true, seconds: (performance.now() - started) / 1000, cpu: cpuSeconds(cpu), bytesFrom: result.stats.bytesFrom, badChunks: result.stats.badChunks, timeouts: result.stats.timeouts });
    } else if (cmd.cmd === "mark") {
      mark = process.cpuUsage();
      threadMark = threadCpu();
      // A super-seed notes when every chunk of its file went out once (the end of its unique phase).
      const markedAt = performance.now();
      const seeder = node.superSeeder;
      const root = node.store.roots().at(-1);
      uniqueDoneSeconds = undefined;
      if (seeder && root) {
        const chunkCount = node.store.info(root)!.chunkCount;
        const timer = setInterval(() => {
          if (seeder.unsentCount(root, chunkCount) > 0) return;
          uniqueDoneSeconds = (performance.now() - markedAt) / 1000;
          clearInterval(timer);
        }, 20);
      }
      gcStats = {};
    } else if (cmd.cmd === "cpu") {
      say({ cpu: cpuSeconds(mark), threads: threadCpuSince(threadMark), gc: gcStats, uniqueDoneSeconds, heapMiB: Math.round(process.memoryUsage().heapUsed / 1048576), externalMiB: Math.round(process.memoryUsage().external / 1048576) });
    } else if (cmd.cmd === "stop") {
      await node.stop();
      process.exit(0);
    }
  }
}

try {
  const bytes = Number(config.bytes ?? 0);
  const writeSize = Number(config.writeSize ?? 64 * 1024);
  if (role === "raw-recv") await rawRecv(bytes);
  else if (role === "raw-send") await rawSend(Number(config.addr), bytes, writeSize);
  else if (role === "p2p-recv") await p2pRecv(bytes);
  else if (role === "p2p-send") await p2pSend(String(config.addr), bytes, writeSize);
  else if (role === "node") await coffer();
  else throw new Error(`unknown role ${role}`);
} catch (error) {
  say({ error: (error as Error).stack ?? String(error) });
  process.exit(1);
}
