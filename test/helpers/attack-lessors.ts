/**
 * Dishonest lessors for the attack scenarios: segment sources that do NOT keep the sealed replica and
 * rebuild what a challenge asks for on demand. Plugged into the real TimedChallengeResponder, so their
 * answers are signed exactly like an honest lessor's (the attack is in the timing, not the format).
 */
import { Worker } from "node:worker_threads";
import type { SegmentOpening, SegmentSource } from "../../node/proofs/committed-file.js";
import { checkSegmentIndex } from "../../node/proofs/committed-file.js";
import type { FileLayout } from "../../node/proofs/layout.js";
import { buildLevels, siblingsFromLevels } from "../../node/proofs/merkle.js";
import { keptSiblings, type KeptTree } from "../../node/proofs/tree-cache.js";

import type { ResealResult, ResealTask } from "./reseal-worker.js";

export interface RegenerationTiming {
  /** Segments re-sealed for the last answer (max challenged page end). */
  segmentsSealed: number;
  sealMs: number;
  /** Time spent obtaining the data (outsourcing: the download). */
  fetchMs: number;
}

/**
 * The generation attacker (§4.4): keeps the UNSEALED data, the replicaId and commR's kept tree (0.78 % of the
 * replica, cheap), but not the sealed replica. To open S[i] it re-seals S[0 .. end of i's page] in order —
 * the chain cannot be skipped — then takes the upper siblings from the kept tree. The re-seal runs on a worker
 * thread (its own core, like an attacker's machine), so the rest of the test keeps running meanwhile.
 */
export class RegeneratingReplica implements SegmentSource {
  lastTiming: RegenerationTiming | undefined;
  private readonly worker = new ResealWorker();

  constructor(
    /** Where the unsealed data is (or will be, once `obtainData` ran). */
    private readonly dataPath: string,
    private readonly replicaId: Uint8Array,
    private readonly sealRounds: number,
    /** commR's kept tree (heights ≥ 8), kept by the attacker. */
    private readonly tree: KeptTree,
    /** Outsourcing: fetch the data from elsewhere before re-sealing (called on every challenge). */
    private readonly obtainData?: () => Promise<void>,
  ) {}

  /** Starts the worker ahead of the first challenge, as a prepared attacker would. */
  async warmUp(): Promise<void> {
    await this.worker.run({ dataPath: this.dataPath, replicaId: this.replicaId, sealRounds: this.sealRounds, end: 0, segmentCount: 1, pageSegments: 1, pages: [] });
  }

  async close(): Promise<void> {
    await this.worker.close();
  }

  get layout(): FileLayout {
    return this.tree.layout;
  }

  get root(): Uint8Array {
    return this.tree.root;
  }

  async openSegment(index: number): Promise<SegmentOpening> {
    return (await this.openSegments([index]))[0];
  }

  async openSegments(indices: readonly number[]): Promise<SegmentOpening[]> {
    for (const index of indices) checkSegmentIndex(index, this.layout);
    const fetchStarted = performance.now();
    if (this.obtainData) await this.obtainData();
    const fetchMs = performance.now() - fetchStarted;
    const pageSegments = 2 ** this.tree.baseHeight;
    const wantedPages = [...new Set(indices.map((i) => Math.floor(i / pageSegments)))];
    const n = this.layout.segmentCount;
    const end = Math.min(n, (Math.max(...wantedPages) + 1) * pageSegments);
    const { pages: pageList, sealMs } = await this.worker.run({ dataPath: this.dataPath, replicaId: this.replicaId, sealRounds: this.sealRounds, end, segmentCount: n, pageSegments, pages: wantedPages });
    const pages = new Map(pageList);
    this.lastTiming = { segmentsSealed: end, sealMs, fetchMs };
    return indices.map((index) => {
      const page = Math.floor(index / pageSegments);
      const levels = buildLevels(pages.get(page)!, this.tree.baseHeight);
      const inPage = index % pageSegments;
      return {
        index,
        segment: levels[0].slice(inPage * 32, inPage * 32 + 32),
        siblings: [...siblingsFromLevels(levels, inPage), ...keptSiblings(this.tree, this.tree.baseHeight, page)],
      };
    });
  }
}

/** A warm worker thread for re-seals (tsx loads the TypeScript sealer there); unref'd so it never holds the process. */
class ResealWorker {
  private worker?: Worker;

  run(task: ResealTask): Promise<ResealResult> {
    this.worker ??= new Worker(new URL("./reseal-worker.ts", import.meta.url), { execArgv: ["--import", "tsx"] });
    const worker = this.worker;
    worker.ref();
    return new Promise<ResealResult>((resolve, reject) => {
      const onError = (error: Error) => {
        this.worker = undefined;
        reject(error);
      };
      worker.once("error", onError);
      worker.once("message", (message: { result?: ResealResult; error?: string }) => {
        worker.off("error", onError);
        worker.unref();
        if (message.error !== undefined) reject(new Error(message.error));
        else resolve(message.result!);
      });
      worker.postMessage(task);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
