/**
 * bench:proofs — throughput of the proof engine against plain streaming SHA-256 of the same file, in one run.
 *   npm run bench:proofs                 1 GiB random file
 *   npm run bench:proofs -- --size 64MiB
 * Prints a table, then as its last line one JSON object of the figures.
 */
import { hashInto } from "@chainsafe/hashtree";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CommittedFile,
  closeHashWorkers,
  commitFile,
  encryptBlocksForDownload,
  hashWorkerPool,
  proveLessorPoSt,
  provingCounts,
  sectorId,
  sealFile,
  toHex,
  unsealFile,
  unsealStream,
  verifyLessorPoSt,
} from "../node/proofs/index.js";
import { parseSize, streamingSha256 } from "./file-baseline.js";

const MiB = 1024 * 1024;

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  if (index >= 0) return process.argv[index + 1];
  const inline = process.argv.find((arg) => arg.startsWith(`${name}=`));
  return inline?.slice(name.length + 1);
}

const size = parseSize(argument("--size") ?? "1GiB");
const sealRounds = Number(argument("--seal-rounds") ?? "1");
/** kPoSt at the deploy defaults (ignition/market-defaults.ts): one PoSt per lessor per period. */
const postChallengeCount = 33;

/** Samples RSS and heap every 10 ms while `run` is in flight; returns the peaks above the starting values. */
async function withMemoryPeak<T>(run: () => Promise<T>): Promise<{ result: T; rssPeakDelta: number; heapPeakDelta: number; rssPeak: number }> {
  const start = process.memoryUsage();
  let rssPeak = start.rss;
  let heapPeak = start.heapUsed;
  const sample = () => {
    const now = process.memoryUsage();
    rssPeak = Math.max(rssPeak, now.rss);
    heapPeak = Math.max(heapPeak, now.heapUsed);
  };
  const timer = setInterval(sample, 10);
  try {
    const result = await run();
    sample();
    return { result, rssPeakDelta: rssPeak - start.rss, heapPeakDelta: heapPeak - start.heapUsed, rssPeak };
  } finally {
    clearInterval(timer);
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const started = performance.now();
  const result = await run();
  return { result, seconds: (performance.now() - started) / 1000 };
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, "w");
  const block = new Uint8Array(16 * MiB);
  try {
    for (let position = 0; position < bytes; position += block.length) {
      const length = Math.min(block.length, bytes - position);
      randomFillSync(block, 0, length);
      await handle.write(block, 0, length, position);
    }
  } finally {
    await handle.close();
  }
}

/** t_seq: time per step of a dependent chain of 64-byte SHA-256 calls (each input is the previous output). */
function sequentialStepSeconds(steps: number): number {
  const input = new Uint8Array(64);
  const output = new Uint8Array(32);
  const started = performance.now();
  for (let i = 0; i < steps; i++) {
    hashInto(input, output);
    input.set(output, 0);
  }
  return (performance.now() - started) / 1000 / steps;
}

function mbps(bytes: number, seconds: number): number {
  return bytes / MiB / seconds;
}

const dir = await mkdtemp(join(tmpdir(), "coffer-bench-proofs-"));
try {
  const dataPath = join(dir, "data.bin");
  const replicaPath = join(dir, "replica.bin");
  const unsealedPath = join(dir, "unsealed.bin");
  await writeRandomFile(dataPath, size);
  process.stderr.write(`bench:proofs: ${size} bytes in ${dir}, ${hashWorkerPool().size} hash worker(s)\n`);

  // Warm-up (page cache, JIT, hash-worker start-up: a node keeps its workers) so neither side pays it.
  await streamingSha256(dataPath);
  const warmPath = join(dir, "warm.bin");
  await writeRandomFile(warmPath, Math.min(size, 32 * MiB));
  await commitFile(warmPath);
  await sealFile(warmPath, `${warmPath}.sealed`, new Uint8Array(32));
  await unsealFile(`${warmPath}.sealed`, `${warmPath}.unsealed`, new Uint8Array(32), { size: Math.min(size, 32 * MiB) });
  await Promise.all([rm(warmPath), rm(`${warmPath}.sealed`), rm(`${warmPath}.unsealed`)]);
  const baseline = await timed(() => streamingSha256(dataPath));
  const commit = await withMemoryPeak(() => timed(() => commitFile(dataPath, { treeCachePath: join(dir, "data.tree") })));
  const keptTreeBytes = commit.result.result.tree.levels.reduce((sum, level) => sum + level.length, 0);

  const id = sectorId("0x000000000000000000000000000000000000c0ff", 0n);
  const seal = await timed(() => sealFile(dataPath, replicaPath, id, { sealRounds, treeCachePath: join(dir, "replica.tree") }));
  // Unseal as a lessor serving a download does it (decoded blocks streamed in order to the consumer), then
  // unseal to a file on disk (adds writing the whole file through the page cache); the file's bytes are
  // compared with the original below, the stream's count here.
  let streamedBytes = 0;
  const unseal = await timed(async () => {
    for await (const block of unsealStream(replicaPath, id, { size, sealRounds })) streamedBytes += block.bytes.length;
  });
  const unsealToDisk = await timed(() => unsealFile(replicaPath, unsealedPath, id, { size, sealRounds }));
  // The PoD serve path (docs/protocol.md §8): unseal + commD check + encrypt + write E + commE.
  // (bench/pod-serve.ts runs this path alone, with --engine <checkout> for A/B runs.)
  const podServe = await timed(() =>
    encryptBlocksForDownload(unsealStream(replicaPath, id, { size, sealRounds, expectedCommD: commit.result.result.root }), size, new Uint8Array(32).fill(9), { ciphertextPath: join(dir, "download.cipher") }),
  );
  await rm(join(dir, "download.cipher"));
  const dataDigest = await streamingSha256(dataPath);
  const roundTrip = (await streamingSha256(unsealedPath)) === dataDigest && streamedBytes === size;
  await rm(unsealedPath);

  // A lessor's PoSt for a period (§12.4): open the sealed sector once (reads the kept tree), then prove for
  // several periods, with this one sector and as a lessor of 1,024 sectors of this size (every one the same
  // file here: the prover's work per challenge is one opening whatever sector it lands in).
  const open = await timed(() => CommittedFile.open(replicaPath, join(dir, "replica.tree"), { kind: "replica" }));
  const replica = open.result;
  const log2 = Math.log2(replica.layout.segmentCount);
  const lessor = "0x000000000000000000000000000000000000c0ff" as const;
  const proveTimes: number[] = [];
  const proveTimesMany: number[] = [];
  let postValid = Number.isInteger(log2);
  for (let period = 0; postValid && period < 21; period++) {
    const seed = createHash("sha256").update(`period ${period}`).digest();
    for (const sectors of [1, 1024]) {
      const counts = provingCounts(Array(sectors).fill(log2), log2);
      const proof = await timed(() => proveLessorPoSt({ seed, lessor, challenges: postChallengeCount, counts, minSectorLog: log2, sector: () => replica }));
      if (period > 0) (sectors === 1 ? proveTimes : proveTimesMany).push(proof.seconds); // the first one warms the JIT
      postValid &&= verifyLessorPoSt({ seed, lessor, challenges: postChallengeCount, counts, minSectorLog: log2, commR: () => seal.result.commR }, proof.result);
    }
  }
  await replica.close();
  proveTimesMany.sort((a, b) => a - b);
  proveTimes.sort((a, b) => a - b);
  const postMedianMs = proveTimes[Math.floor(proveTimes.length / 2)] * 1000;
  const postMaxMs = proveTimes[proveTimes.length - 1] * 1000;
  const tSeq = sequentialStepSeconds(2_000_000);

  const baselineMBps = mbps(size, baseline.seconds);
  const commitMBps = mbps(size, commit.result.seconds);
  const sealMBps = mbps(size, seal.seconds);
  const unsealMBps = mbps(size, unseal.seconds);
  const unsealToDiskMBps = mbps(size, unsealToDisk.seconds);
  const podServeMBps = mbps(size, podServe.seconds);
  const segments = replica.layout.segmentCount;
  const figures = {
    sizeBytes: size,
    hashWorkers: hashWorkerPool().size,
    sealRounds,
    baselineSha256MBps: round(baselineMBps),
    commDMBps: round(commitMBps),
    commDRatio: round(commitMBps / baselineMBps, 3),
    sealMBps: round(sealMBps),
    sealRatio: round(sealMBps / baselineMBps, 3),
    unsealMBps: round(unsealMBps),
    unsealRatio: round(unsealMBps / baselineMBps, 3),
    unsealToDiskMBps: round(unsealToDiskMBps),
    unsealToDiskRatio: round(unsealToDiskMBps / baselineMBps, 3),
    podServeMBps: round(podServeMBps),
    podServeRatio: round(podServeMBps / baselineMBps, 3),
    roundTrip,
    postK: postChallengeCount,
    postProveMedianMs: round(postMedianMs, 3),
    postProveMedianMs1024Sectors: round(proveTimesMany[Math.floor(proveTimesMany.length / 2)] * 1000, 3),
    postProveMaxMs: round(postMaxMs, 3),
    replicaOpenMs: round(open.seconds * 1000, 2),
    postValid,
    commitRssPeakDeltaMiB: round(commit.rssPeakDelta / MiB),
    commitHeapPeakDeltaMiB: round(commit.heapPeakDelta / MiB),
    keptTreeMiB: round(keptTreeBytes / MiB, 3),
    tSeqMicros: round(tSeq * 1e6, 4),
    sealStepMicros: round(seal.result.secondsPerSegment * 1e6, 4),
    generationAttackFullReplicaSeconds: round(segments * tSeq * sealRounds, 3),
  };

  const rows: [string, string, string][] = [
    ["baseline: streaming SHA-256 (node:crypto)", `${figures.baselineSha256MBps} MiB/s`, "1.00"],
    ["commD (streaming tree, kept heights >= 8)", `${figures.commDMBps} MiB/s`, `${figures.commDRatio} (target >= 0.5)`],
    [`seal (sealRounds ${sealRounds}, sequential)`, `${figures.sealMBps} MiB/s`, `${figures.sealRatio} (slow by design)`],
    ["unseal, streamed (serving; parallel, batched)", `${figures.unsealMBps} MiB/s`, `${figures.unsealRatio} (target >= 0.3)`],
    ["unseal to a file on disk", `${figures.unsealToDiskMBps} MiB/s`, `${figures.unsealToDiskRatio}`],
    ["PoD serve: unseal + commD check + encrypt + commE", `${figures.podServeMBps} MiB/s`, `${figures.podServeRatio}`],
    [`PoSt prove k=${postChallengeCount} (median / max)`, `${figures.postProveMedianMs} / ${figures.postProveMaxMs} ms`, "target < 50 ms"],
    [`PoSt prove k=${postChallengeCount}, lessor of 1,024 sectors (median)`, `${figures.postProveMedianMs1024Sectors} ms`, "one period, all sectors"],
    ["replica open (read + check kept tree)", `${figures.replicaOpenMs} ms`, ""],
    ["commit peak RSS / heap above start", `${figures.commitRssPeakDeltaMiB} / ${figures.commitHeapPeakDeltaMiB} MiB`, `kept tree ${figures.keptTreeMiB} MiB`],
    ["t_seq: dependent SHA-256 step", `${figures.tSeqMicros} µs`, `seal step ${figures.sealStepMicros} µs`],
    ["regenerating the whole replica", `${figures.generationAttackFullReplicaSeconds} s`, `${segments} segments × t_seq × r`],
    ["seal → unseal round trip", roundTrip ? "identical" : "DIFFERENT", postValid ? "PoSt proofs verify" : "PoSt INVALID"],
  ];
  const width = Math.max(...rows.map((row) => row[0].length));
  const valueWidth = Math.max(...rows.map((row) => row[1].length));
  process.stdout.write(`\nbench:proofs — ${(size / MiB).toFixed(1)} MiB file, ${figures.hashWorkers} hash workers\n\n`);
  for (const [name, value, note] of rows) process.stdout.write(`${name.padEnd(width)}  ${value.padStart(valueWidth)}  ${note}\n`);
  process.stdout.write(`\n${JSON.stringify(figures)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
  await closeHashWorkers();
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
