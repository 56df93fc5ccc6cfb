import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ChunkTree, chunkLength, chunkProof, chunkRoot, verifyChunk, verifyManifest } from "../node/proofs/chunks.js";
import { commitBytes } from "../node/proofs/commit.js";
import { CHUNK_SIZE } from "../node/proofs/constants.js";
import { fileLayout } from "../node/proofs/layout.js";
import { equalBytes, merkleRoot, toSegments } from "../node/proofs/merkle.js";

/**
 * The manifest tree the p2p side builds over chunk roots (ChunkTree) agrees with the proof engine's kept tree
 * (chunkProof) and with commD (docs/protocol.md §2–3.2).
 */
describe("chunk proofs: the manifest tree agrees with the proof engine", () => {
  for (const size of [0, 1, 33, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 77, 5 * CHUNK_SIZE, 9 * CHUNK_SIZE + 5]) {
    it(`${size} bytes`, () => {
      const data = new Uint8Array(randomBytes(size));
      const layout = fileLayout(size);
      const commD = merkleRoot(toSegments(data), layout.depth);
      const commitment = commitBytes(data);
      assert.ok(equalBytes(commitment.root, commD));
      const roots = new Uint8Array(layout.chunkCount * 32);
      const chunks = Array.from({ length: layout.chunkCount }, (_, c) => data.subarray(c * CHUNK_SIZE, (c + 1) * CHUNK_SIZE));
      chunks.forEach((chunk, c) => {
        assert.equal(chunk.length, chunkLength(layout, c));
        roots.set(chunkRoot(chunk, layout, c), c * 32);
      });
      const tree = new ChunkTree(layout, roots);
      assert.ok(equalBytes(tree.root, commD), "manifest tree root is commD");
      assert.ok(verifyManifest(commD, layout, roots));
      chunks.forEach((chunk, c) => {
        const proof = tree.proof(c);
        const kept = chunkProof(commitment.tree, c);
        assert.equal(proof.length, kept.length);
        proof.forEach((sibling, i) => assert.ok(equalBytes(sibling, kept[i]), `sibling ${i} of chunk ${c}`));
        assert.ok(verifyChunk(commD, layout, c, chunk, proof), `chunk ${c} verifies`);
      });
      if (layout.chunkCount > 1) assert.ok(!verifyChunk(commD, layout, 0, chunks[1], tree.proof(0)), "a swapped chunk fails");
    });
  }
});
