/**
 * Worker for RegeneratingReplica (attack-lessors.ts): re-seals S[0 .. end) from the unsealed data on its own
 * thread, as an attacker's machine would, and returns the pages a challenge needs. Running it off the main
 * thread keeps the test's chain miner and the honest lessor running while the attacker works.
 */
import { parentPort } from "node:worker_threads";
import { open } from "node:fs/promises";
import { SEGMENT_SIZE } from "../../node/proofs/constants.js";
import { Sealer } from "../../node/proofs/seal.js";

/** 4 MiB of segments per read. */
const BLOCK_SEGMENTS = 131072;

export interface ResealTask {
  dataPath: string;
  replicaId: Uint8Array;
  sealRounds: number;
  /** Segments to re-seal: S[0 .. end). */
  end: number;
  segmentCount: number;
  pageSegments: number;
  pages: number[];
}

export interface ResealResult {
  pages: [number, Uint8Array][];
  sealMs: number;
}

async function reseal(task: ResealTask): Promise<ResealResult> {
  const { end, pageSegments, segmentCount } = task;
  const pages = new Map<number, Uint8Array>();
  const sealer = new Sealer(task.replicaId, task.sealRounds);
  const started = performance.now();
  if (end === 0) return { pages: [], sealMs: 0 }; // warm-up: nothing to read
  const input = await open(task.dataPath, "r");
  try {
    const { size } = await input.stat();
    for (let start = 0; start < end; start += BLOCK_SEGMENTS) {
      const count = Math.min(BLOCK_SEGMENTS, end - start);
      const block = new Uint8Array(count * SEGMENT_SIZE);
      const available = Math.max(0, Math.min(block.length, size - start * SEGMENT_SIZE));
      if (available > 0) await input.read(block, 0, available, start * SEGMENT_SIZE);
      const sealed = sealer.sealBlock(block);
      for (const page of task.pages) {
        const from = page * pageSegments;
        if (from >= start && from < start + count) {
          const to = Math.min(from + pageSegments, segmentCount, start + count);
          pages.set(page, sealed.slice((from - start) * SEGMENT_SIZE, (to - start) * SEGMENT_SIZE));
        }
      }
    }
  } finally {
    await input.close();
  }
  return { pages: [...pages.entries()], sealMs: performance.now() - started };
}

// Mocha also loads every file under test/; only a worker thread has a parentPort.
parentPort?.on("message", (task: ResealTask) => {
  reseal(task).then(
    (result) => parentPort!.postMessage({ result }, result.pages.map(([, bytes]) => bytes.buffer as ArrayBuffer)),
    (error: Error) => parentPort!.postMessage({ error: error.message }),
  );
});
