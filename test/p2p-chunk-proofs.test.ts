import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ChunkTree, chunkRoot, verifyChunk } from "../node/content/chunk-proofs.js";
import { chunkRoot as engineChunkRoot, verifyChunk as engineVerifyChunk } from "../node/proofs/chunks.js";
import { CHUNK_SIZE } from "../node/proofs/constants.js";
import { fileLayout } from "../node/proofs/layout.js";
import { equalBytes, merkleRoot, toSegments } from "../node/proofs/merkle.js";

/** The p2p side's chunk commitments must agree with the proof engine's (docs/protocol.md §2–3.2). */
describe("p2p chunk proofs agree with the proof engine", () => {
  for (const size of [0, 1, 33, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 77, 5 * CHUNK_SIZE, 9 * CHUNK_SIZE + 5]) {
    it(`${size} bytes`, () => {
      const data = new Uint8Array(randomBytes(size));
      const layout = fileLayout(size);
      const commD = merkleRoot(toSegments(data), layout.depth);
      const roots = new Uint8Array(layout.chunkCount * 32);
      const chunks = Array.from({ length: layout.chunkCount }, (_, c) => data.subarray(c * CHUNK_SIZE, (c + 1) * CHUNK_SIZE));
      chunks.forEach((chunk, c) => {
        const mine = chunkRoot(chunk, layout);
        assert.ok(equalBytes(mine, engineChunkRoot(chunk, layout, c)));
        roots.set(mine, c * 32);
      });
      const tree = new ChunkTree(layout, roots);
      assert.ok(equalBytes(tree.root, commD), "manifest tree root is commD");
      chunks.forEach((chunk, c) => {
        const proof = tree.proof(c);
        assert.ok(verifyChunk(commD, layout, c, chunk, proof));
        assert.ok(engineVerifyChunk(commD, layout, c, chunk, proof), `engine accepts our proof of chunk ${c}`);
      });
      if (layout.chunkCount > 1) assert.ok(!verifyChunk(commD, layout, 0, chunks[1], tree.proof(0)), "a swapped chunk fails");
    });
  }
});
