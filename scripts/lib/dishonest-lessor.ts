import { rm } from "node:fs/promises";
import type { PlaintextBlock } from "../../node/proofs/types.js";
import { honestLessor, type LessorBehaviour } from "../../node/roles/lessor.js";

/**
 * Dishonest lessors for the demo and the attack tests, injected as a LessorOptions.behaviour: the production
 * lessor holds no cheating code, only the hook (LessorBehaviour) and its honest default.
 */
export interface DishonestOptions {
  /** Delete the sealed replica right after its PoRep passed (a lessor that loses the data). */
  deleteReplicaAfterPoRep?: boolean;
  /** Flip the byte in the middle of the plaintext of every PoD download (a lessor serving wrong bytes). */
  serveWrongBytes?: boolean;
}

export function dishonestLessor(options: DishonestOptions): LessorBehaviour {
  return {
    afterPoRep: async (replica) => {
      await honestLessor.afterPoRep(replica);
      if (!options.deleteReplicaAfterPoRep) return;
      await replica.stopServing();
      await rm(replica.replicaPath, { force: true });
      replica.logger.warn({ dealId: replica.dealId, replicaIndex: replica.replicaIndex }, "lessor (dishonest): deleted its replica");
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
