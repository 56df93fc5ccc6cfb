import { CofferError } from "../../errors.js";
import { SEGMENTS_PER_CHUNK, SEGMENT_SIZE } from "../../proofs/constants.js";
import { buildLevels, siblingsFromLevels, toSegments } from "../../proofs/merkle.js";
import type { ChunkStore } from "../../store/chunk-store.js";
import type { ChallengeResponder, SegmentOpening } from "./index.js";

/**
 * A plain {@link ChallengeResponder} that opens segments of a stored (unsealed) file against its commD:
 * siblings inside the chunk from the chunk's subtree, then the chunk's position proof. The proof engine
 * replaces it with openings of sealed replicas against commR.
 */
export function storeSegmentResponder(store: ChunkStore): ChallengeResponder {
  return async ({ root, indices }, signal) => {
    const info = store.info(root);
    if (info === undefined || !info.complete) throw new CofferError("root not stored", { code: "unknown-root" });
    const layout = store.layout(root);
    const openings: SegmentOpening[] = [];
    for (const index of indices) {
      signal.throwIfAborted();
      if (index >= layout.segmentCount) throw new CofferError(`segment ${index} is beyond the data (${layout.segmentCount} segments)`, { code: "bad-index" });
      const chunk = Math.floor(index / SEGMENTS_PER_CHUNK);
      const levels = buildLevels(toSegments(await store.readChunk(root, chunk)), layout.chunkHeight);
      const within = index % SEGMENTS_PER_CHUNK;
      openings.push({
        index,
        segment: levels[0].length >= (within + 1) * SEGMENT_SIZE ? levels[0].slice(within * 32, within * 32 + 32) : new Uint8Array(32),
        siblings: [...siblingsFromLevels(levels, within, 0), ...store.proof(root, chunk)],
      });
    }
    return { depth: layout.depth, openings };
  };
}
