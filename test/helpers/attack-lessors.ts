/**
 * Dishonest lessors for the attack scenarios: segment sources that do NOT keep the sealed replica and
 * rebuild what a challenge asks for on demand. Plugged into the real ReplicaChallengeResponder, so their
 * answers are signed exactly like an honest lessor's (the attack is in the timing, not the format).
 */
import { open } from "node:fs/promises";
import { SEGMENT_SIZE } from "../../node/proofs/constants.js";
import type { SegmentOpening, SegmentSource } from "../../node/proofs/committed-file.js";
import { checkSegmentIndex } from "../../node/proofs/committed-file.js";
import type { FileLayout } from "../../node/proofs/layout.js";
import { buildLevels, siblingsFromLevels } from "../../node/proofs/merkle.js";
import { Sealer } from "../../node/proofs/seal.js";
import { keptSiblings, type KeptTree } from "../../node/proofs/tree-cache.js";

/** 4 MiB of segments per read while regenerating. */
const BLOCK_SEGMENTS = 131072;

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
 * the chain cannot be skipped — then takes the upper siblings from the kept tree.
 */
export class RegeneratingReplica implements SegmentSource {
  lastTiming: RegenerationTiming | undefined;

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
    const wantedPages = new Set(indices.map((i) => Math.floor(i / pageSegments)));
    const n = this.layout.segmentCount;
    const end = Math.min(n, (Math.max(...wantedPages) + 1) * pageSegments);
    const pages = new Map<number, Uint8Array>();
    const sealer = new Sealer(this.replicaId, this.sealRounds);
    const started = performance.now();
    const input = await open(this.dataPath, "r");
    try {
      const { size } = await input.stat();
      for (let start = 0; start < end; start += BLOCK_SEGMENTS) {
        const count = Math.min(BLOCK_SEGMENTS, end - start);
        const block = new Uint8Array(count * SEGMENT_SIZE);
        const available = Math.max(0, Math.min(block.length, size - start * SEGMENT_SIZE));
        if (available > 0) await input.read(block, 0, available, start * SEGMENT_SIZE);
        const sealed = sealer.sealBlock(block);
        for (const page of wantedPages) {
          const from = page * pageSegments;
          if (from >= start && from < start + count) {
            const to = Math.min(from + pageSegments, n, start + count);
            pages.set(page, sealed.slice((from - start) * SEGMENT_SIZE, (to - start) * SEGMENT_SIZE));
          }
        }
      }
    } finally {
      await input.close();
    }
    this.lastTiming = { segmentsSealed: end, sealMs: performance.now() - started, fetchMs };
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
