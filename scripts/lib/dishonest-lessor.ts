import { rm } from "node:fs/promises";
import type { PlaintextBlock } from "../../node/proofs/types.js";
import { honestLessor, type LessorBehaviour } from "../../node/roles/lessor.js";

/**
 * Dishonest lessors for the demo and the attack tests, injected as a LessorOptions.behaviour: the production
 * lessor holds no cheating code, only the hook (LessorBehaviour) and its honest default.
 */
export interface DishonestOptions {
  /** Delete the sealed sector right after its PoRep passed (a lessor that loses the data of all its pieces). */
  deleteReplicaAfterPoRep?: boolean;
  /** Flip the byte in the middle of the plaintext of every PoD download (a lessor serving wrong bytes). */
  serveWrongBytes?: boolean;
}

export function dishonestLessor(options: DishonestOptions): LessorBehaviour {
  return {
    afterPoRep: async (sector) => {
      await honestLessor.afterPoRep(sector);
      if (!options.deleteReplicaAfterPoRep) return;
      await sector.stopServing();
      await rm(sector.sectorPath, { force: true });
      sector.logger.warn({ sector: sector.sector, pieces: sector.pieces }, "lessor (dishonest): deleted its sealed sector");
    },
    downloadPlaintext: (plaintext, size) => (options.serveWrongBytes ? corruptOneByte(plaintext, size) : honestLessor.downloadPlaintext(plaintext, size)),
  };
}

/** Flips the byte in the middle of the plaintext before it is encrypted. */
async function* corruptOneByte(blocks: AsyncIterable<PlaintextBlock>, size: number): AsyncGenerator<PlaintextBlock> {
  const at = Math.floor(size / 2);
  for await (const block of blocks) {
    if (at >= block.offset && at < block.offset + block.bytes.length) {
      const bytes = new Uint8Array(block.bytes);
      bytes[at - block.offset] ^= 0xff;
      yield { offset: block.offset, bytes };
    } else {
      yield block;
    }
  }
}
