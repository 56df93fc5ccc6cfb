/**
 * The lessor's PoD serve path alone, for A/B runs (`npm run bench:proofs` has it as one row) (docs/protocol.md §8): unsealStream(replica, { expectedCommD }) piped
 * into encryptBlocksForDownload, i.e. unseal + commD check + encrypt + write E + commE, against plain streaming
 * SHA-256 of the same data in the same run.
 *   npx tsx bench/pod-serve.ts                          64 MiB file, 5 timed runs
 *   npx tsx bench/pod-serve.ts --size 256MiB --runs 3
 *   npx tsx bench/pod-serve.ts --engine /path/to/other/checkout    the same, with that checkout's node/proofs (A/B)
 * CPU is the process's user + system time (main thread and hash workers). Prints a table, then as its last
 * line one JSON object of the figures (medians).
 */
import { createHash } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseSize, streamingSha256 } from "./file-baseline.js";

type Engine = typeof import("../node/proofs/index.js");

const MiB = 1024 * 1024;

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  if (index >= 0) return process.argv[index + 1];
  return process.argv.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
}

const size = parseSize(argument("--size") ?? "64MiB");
const runs = Number(argument("--runs") ?? "5");
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got "${argument("--runs")}"`);
const engineRoot = argument("--engine");
const proofs: Engine = engineRoot
  ? await import(pathToFileURL(join(resolve(engineRoot), "node/proofs/index.ts")).href)
  : await import("../node/proofs/index.js");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

async function measure<T>(run: () => Promise<T>): Promise<{ result: T; ms: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await run();
  const used = process.cpuUsage(cpu);
  return { result, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

/** xorshift32 words: incompressible enough for a bench and identical between runs. */
function deterministicBytes(length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = 0x9e3779b9;
  for (let w = 0; w < words.length; w++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[w] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, length);
}

const dir = await mkdtemp(join(tmpdir(), "coffer-bench-pod-"));
try {
  const dataPath = join(dir, "data.bin");
  const replicaPath = join(dir, "replica.bin");
  const cipherPath = join(dir, "cipher.bin");
  const data = deterministicBytes(size); // the same file in every run and engine: commE and E compare across them
  const handle = await open(dataPath, "w");
  await handle.write(data, 0, size, 0);
  await handle.close();
  const id = proofs.sectorId("0x000000000000000000000000000000000000c0ff", 0n);
  const key = new Uint8Array(32).fill(9);
  await proofs.sealFile(dataPath, replicaPath, id);
  const commD = proofs.commitBytes(data).root;
  process.stderr.write(`pod-serve: ${size} bytes in ${dir}, ${proofs.hashWorkerPool().size} hash worker(s), engine ${engineRoot ?? "this checkout"}\n`);

  const serve = () => proofs.encryptBlocksForDownload(proofs.unsealStream(replicaPath, id, { size, expectedCommD: commD }), size, key, { ciphertextPath: cipherPath });
  await streamingSha256(dataPath); // warm-up: page cache, JIT, hash workers
  await serve();
  const baseline: number[] = [];
  const wall: number[] = [];
  const cpu: number[] = [];
  let commE = "";
  for (let r = 0; r < runs; r++) {
    baseline.push((await measure(() => streamingSha256(dataPath))).ms);
    const served = await measure(serve);
    wall.push(served.ms);
    cpu.push(served.cpuMs);
    commE = proofs.toHex(served.result.commE);
  }
  const cipherDigest = createHash("sha256").update(await readFile(cipherPath)).digest("hex");
  const per64MiB = (ms: number) => (ms * 64 * MiB) / size;
  const baselineMBps = size / MiB / (median(baseline) / 1000);
  const serveMBps = size / MiB / (median(wall) / 1000);
  const figures = {
    sizeBytes: size,
    runs,
    hashWorkers: proofs.hashWorkerPool().size,
    engine: engineRoot ?? "self",
    baselineSha256MBps: round(baselineMBps),
    podServeMBps: round(serveMBps),
    podServeRatio: round(serveMBps / baselineMBps, 3),
    podServeMsPer64MiB: round(per64MiB(median(wall))),
    podServeCpuMsPer64MiB: round(per64MiB(median(cpu))),
    podServeMsPer64MiBAll: wall.map((ms) => Math.round(per64MiB(ms))),
    podServeCpuMsPer64MiBAll: cpu.map((ms) => Math.round(per64MiB(ms))),
    commE,
    cipherSha256: `0x${cipherDigest}`,
  };
  const rows: [string, string, string][] = [
    ["baseline: streaming SHA-256 (node:crypto)", `${figures.baselineSha256MBps} MiB/s`, "1.00"],
    ["PoD serve: unseal + commD + encrypt + commE", `${figures.podServeMBps} MiB/s`, `${figures.podServeRatio}`],
    ["PoD serve per 64 MiB: wall / CPU (all threads)", `${figures.podServeMsPer64MiB} / ${figures.podServeCpuMsPer64MiB} ms`, `median of ${runs}`],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => row[1].length));
  process.stdout.write(`\npod-serve — ${(size / MiB).toFixed(1)} MiB file, ${figures.hashWorkers} hash workers\n\n`);
  for (const [name, value, note] of rows) process.stdout.write(`${name.padEnd(width)}  ${value.padStart(valueWidth)}  ${note}\n`);
  process.stdout.write(`\n${JSON.stringify(figures)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
  await proofs.closeHashWorkers();
}
