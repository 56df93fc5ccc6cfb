/**
 * npm run bench:p2p — p2p transport and distribution figures (see the final report / docs).
 *
 * A. Single-stream throughput between two libp2p hosts on loopback (TCP + Noise + Yamux) with the default
 *    Noise crypto, with native ChaCha20-Poly1305 everywhere (nativeNoiseCrypto), and with a null cipher
 *    (bench-only: what framing + muxing cost without crypto), against raw TCP loopback in the same run.
 *    Both ends run in this one process (one thread), for every row including raw TCP.
 * B. Distribution of one file from one seed to N nodes with every node's upload capped, against the
 *    lower bound max{F/u_s, F/d_min, N·F/(u_s + Σu_i)} and against client-server N·F/u_s.
 * Prints a table, then as its LAST line one JSON object with the figures.
 */
import { generateKeyPair } from "@libp2p/crypto/keys";
import type { ICryptoInterface } from "@chainsafe/libp2p-noise";
import { defaultCrypto } from "@chainsafe/libp2p-noise/crypto";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createHost, type HostOptions } from "../node/p2p/host.js";
import { CofferNode } from "../node/p2p/node.js";
import { nativeNoiseCrypto, nullCipherNoiseCryptoForBench } from "../node/p2p/noise-crypto.js";

const MiB = 1024 * 1024;
const STREAM_BYTES = Number(process.env.BENCH_STREAM_MIB ?? 512) * MiB;
const FILE_MIB = Number(process.env.BENCH_FILE_MIB ?? 64);
const PEERS = Number(process.env.BENCH_PEERS ?? 8);
const UPLOAD_CAP = Number(process.env.BENCH_CAP_MIB ?? 10) * MiB;

async function rawTcp(bytes: number): Promise<number> {
  const buf = Buffer.alloc(MiB, 7);
  return new Promise((resolve) => {
    let received = 0;
    let started = 0;
    const server = createServer((socket) => {
      socket.on("data", (d) => {
        received += d.length;
        if (received >= bytes) {
          const seconds = (performance.now() - started) / 1000;
          socket.destroy();
          server.close();
          resolve(bytes / seconds);
        }
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const client = connect((server.address() as { port: number }).port, "127.0.0.1", () => {
        started = performance.now();
        let sent = 0;
        const pump = () => {
          while (sent < bytes) {
            sent += buf.length;
            if (!client.write(buf)) return void client.once("drain", pump);
          }
          client.end();
        };
        pump();
      });
      client.on("error", () => undefined);
    });
  });
}

async function libp2pStream(bytes: number, crypto: ICryptoInterface | undefined, yamux?: HostOptions["yamux"], sendSize = 64 * 1024 - 64): Promise<number> {
  const make = async () => createHost({ privateKey: await generateKeyPair("Ed25519"), role: "user", listen: ["/ip4/127.0.0.1/tcp/0"], allowPrivateAddresses: true, noiseCrypto: crypto, yamux });
  const [a, b] = [await make(), await make()];
  await a.start();
  await b.start();
  let done!: (seconds: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let started = 0;
  await b.handle("/bench/1.0.0", async (stream) => {
    let received = 0;
    for await (const chunk of stream) {
      received += chunk.byteLength;
      if (received >= bytes) break;
    }
    done((performance.now() - started) / 1000);
    stream.abort(new Error("done"));
  });
  const stream = await a.dialProtocol(b.getMultiaddrs()[0], "/bench/1.0.0");
  const buf = new Uint8Array(sendSize).fill(7);
  started = performance.now();
  for (let sent = 0; sent < bytes; sent += buf.length) {
    if (!stream.send(buf)) await stream.onDrain().catch(() => undefined);
    if (stream.status !== "open") break;
  }
  const seconds = await finished;
  await a.stop();
  await b.stop();
  return bytes / seconds;
}

/** Native ChaCha20-Poly1305 alone: seal + open 64 KiB frames (the crypto floor of one Noise stream). */
function chachaOnly(bytes: number): number {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const block = Buffer.alloc(64 * 1024 - 16, 7);
  const started = performance.now();
  for (let done = 0; done < bytes; done += block.length) {
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    const sealed = c.update(block);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    d.setAuthTag(tag);
    d.update(sealed);
    d.final();
  }
  return bytes / ((performance.now() - started) / 1000);
}

async function distribution(UPLOAD_CAP: number): Promise<{ seconds: number; bound: number; clientServer: number; fromSeedMiB: number }> {
  const logger = pino({ level: "silent" });
  const dirs: string[] = [];
  const dir = async () => { const d = await mkdtemp(join(tmpdir(), "coffer-bench-")); dirs.push(d); return d; };
  const common = { listen: ["/ip4/127.0.0.1/tcp/0"], allowPrivateAddresses: true, uploadLimit: UPLOAD_CAP, logger, overlay: { enabled: false }, choking: false, verifyOnOpen: false };
  const seed = await CofferNode.create({ ...common, dataDir: await dir(), role: "lessor", superSeed: process.env.BENCH_SUPER_SEED !== "0" });
  const peers = await Promise.all(Array.from({ length: PEERS }, async () => CofferNode.create({ ...common, dataDir: await dir(), role: "user" })));
  const all = [seed, ...peers];
  try {
    for (const n of all) await n.start();
    for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) await all[i].connect(all[j].addresses()[0]);
    const file = join(await dir(), "file.bin");
    await writeFile(file, randomBytes(FILE_MIB * MiB));
    const info = await seed.add(file);
    const root = new Uint8Array(Buffer.from(info.root.slice(2), "hex"));
    const started = performance.now();
    const results = await Promise.all(peers.map((p) => p.get(root, undefined, { peers: all.filter((o) => o !== p).map((o) => o.peerId), haveRefreshMs: 250 })));
    const seconds = (performance.now() - started) / 1000;
    const F = FILE_MIB * MiB;
    const bound = Math.max(F / UPLOAD_CAP, (PEERS * F) / (UPLOAD_CAP + PEERS * UPLOAD_CAP));
    const fromSeed = results.reduce((sum, r) => sum + (r.stats.bytesFrom[seed.peerId.toString()] ?? 0), 0);
    for (const p of peers) if (!p.store.info(root)?.complete) throw new Error("a peer did not complete");
    return { seconds, bound, clientServer: (PEERS * F) / UPLOAD_CAP, fromSeedMiB: fromSeed / MiB };
  } finally {
    for (const n of all) await n.stop().catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

const mbps = (bytesPerSecond: number) => bytesPerSecond / 1e6;
const skipStream = process.env.BENCH_SKIP_STREAM === "1";
const raw = skipStream ? 1 : await rawTcp(STREAM_BYTES * 2);
const chacha = skipStream ? 1 : chachaOnly(STREAM_BYTES / 2);
const noiseDefault = skipStream ? 1 : await libp2pStream(STREAM_BYTES, defaultCrypto);
const noiseNative = skipStream ? 1 : await libp2pStream(STREAM_BYTES, nativeNoiseCrypto);
const noiseNull = skipStream ? 1 : await libp2pStream(STREAM_BYTES, nullCipherNoiseCryptoForBench);
const noiseNativeBig = skipStream ? 1 : await libp2pStream(STREAM_BYTES, nativeNoiseCrypto, { maxMessageSize: MiB, initialStreamWindowSize: 16 * MiB, maxStreamWindowSize: 16 * MiB }, MiB);
const dist = await distribution(UPLOAD_CAP);
// A cap the one-process harness can actually sustain on a small machine (all nodes share one thread).
const LOW_CAP = 2 * MiB;
const distLow = await distribution(LOW_CAP);

const rows: [string, string, string][] = [
  ["raw TCP loopback (1 MiB writes)", `${mbps(raw).toFixed(0)} MB/s`, "1.00"],
  ["ChaCha20-Poly1305 seal+open only (native, 64 KiB)", `${mbps(chacha).toFixed(0)} MB/s`, (chacha / raw).toFixed(2)],
  ["libp2p TCP+Noise(library default crypto)+Yamux", `${mbps(noiseDefault).toFixed(0)} MB/s`, (noiseDefault / raw).toFixed(3)],
  ["libp2p TCP+Noise(nativeNoiseCrypto, the node default)+Yamux", `${mbps(noiseNative).toFixed(0)} MB/s`, (noiseNative / raw).toFixed(3)],
  ["libp2p TCP+Noise(null cipher, bench only)+Yamux", `${mbps(noiseNull).toFixed(0)} MB/s`, (noiseNull / raw).toFixed(3)],
  ["libp2p native Noise + Yamux 1 MiB msgs/16 MiB window", `${mbps(noiseNativeBig).toFixed(0)} MB/s`, (noiseNativeBig / raw).toFixed(3)],
];
console.log("\nA. single stream, loopback, one process (ratio = vs raw TCP)");
for (const [name, value, ratio] of rows) console.log(`  ${name.padEnd(52)} ${value.padStart(12)}   ${ratio}`);
for (const [cap, d] of [[UPLOAD_CAP, dist], [LOW_CAP, distLow]] as const) {
  console.log(`\nB. distribution: ${FILE_MIB} MiB from 1 super-seeding seed to N=${PEERS}, every upload capped at ${cap / MiB} MiB/s (download uncapped), all nodes in this process`);
  console.log(`  measured                            ${d.seconds.toFixed(2)} s`);
  console.log(`  lower bound max{F/us, N·F/(us+Σui)}  ${d.bound.toFixed(2)} s   (ratio ${(d.seconds / d.bound).toFixed(2)}×, goal <= 1.3×)`);
  console.log(`  client-server N·F/us                ${d.clientServer.toFixed(2)} s   (p2p is ${(d.clientServer / d.seconds).toFixed(1)}× faster)`);
  console.log(`  bytes served by the seed            ${d.fromSeedMiB.toFixed(1)} MiB (${(d.fromSeedMiB / FILE_MIB).toFixed(2)} copies of the file)`);
}
console.log(JSON.stringify({
  rawTcpMBps: Math.round(mbps(raw)),
  chachaOnlyMBps: Math.round(mbps(chacha)),
  noiseDefaultMBps: Math.round(mbps(noiseDefault)),
  noiseNativeMBps: Math.round(mbps(noiseNative)),
  noiseNullCipherMBps: Math.round(mbps(noiseNull)),
  noiseNativeVsRawTcp: Number((noiseNative / raw).toFixed(3)),
  noiseDefaultVsRawTcp: Number((noiseDefault / raw).toFixed(3)),
  distFileMiB: FILE_MIB,
  distPeers: PEERS,
  distUploadCapMiBps: UPLOAD_CAP / MiB,
  distSeconds: Number(dist.seconds.toFixed(2)),
  distLowerBoundSeconds: Number(dist.bound.toFixed(2)),
  distVsLowerBound: Number((dist.seconds / dist.bound).toFixed(3)),
  distClientServerSeconds: Number(dist.clientServer.toFixed(2)),
  distSeedCopies: Number((dist.fromSeedMiB / FILE_MIB).toFixed(2)),
  noiseNativeBigMsgMBps: Math.round(mbps(noiseNativeBig)),
  distLowCapMiBps: LOW_CAP / MiB,
  distLowCapSeconds: Number(distLow.seconds.toFixed(2)),
  distLowCapLowerBoundSeconds: Number(distLow.bound.toFixed(2)),
  distLowCapVsLowerBound: Number((distLow.seconds / distLow.bound).toFixed(3)),
  distLowCapSeedCopies: Number((distLow.fromSeedMiB / FILE_MIB).toFixed(2)),
}));
