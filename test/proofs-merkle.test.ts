import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { MerkleTree } from "merkletreejs";
import { recordingUnhandledRejections } from "./helpers/unhandled-rejections.js";
import {
  CHUNK_SIZE,
  CommittedFile,
  CorruptFileError,
  CorruptTreeCacheError,
  InMemoryTree,
  IndexOutOfRangeError,
  StreamingTreeBuilder,
  TruncatedFileError,
  WrongRootError,
  assertChunk,
  chunkProof,
  chunkRoot,
  closeHashWorkers,
  commitBytes,
  commitFile,
  equalBytes,
  fileLayout,
  readChunk,
  toHex,
  toSegments,
  verifyChunk,
  verifySegmentProof,
  flattenOpening,
} from "../node/proofs/index.js";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest();

/** The independent reference: merkletreejs over the zero-padded power-of-two leaf list. */
function referenceTree(data: Uint8Array): { tree: MerkleTree; leaves: Buffer[] } {
  const layout = fileLayout(data.length);
  const segments = toSegments(data);
  const leaves: Buffer[] = [];
  for (let i = 0; i < 2 ** layout.depth; i++) {
    leaves.push(i < layout.segmentCount ? Buffer.from(segments.subarray(i * 32, i * 32 + 32)) : Buffer.alloc(32));
  }
  return { tree: new MerkleTree(leaves, sha256, { hashLeaves: false, sortPairs: false }), leaves };
}

describe("proofs: Merkle commitments", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "coffer-proofs-merkle-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
    await closeHashWorkers();
  });

  it("matches merkletreejs (SHA-256, positional) on roots and openings of random data", function () {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 33, maxLength: 20_000 }), fc.nat(), (data, pick) => {
        const { tree, leaves } = referenceTree(data);
        const ours = new InMemoryTree(data);
        assert.equal(toHex(ours.root), `0x${tree.getRoot().toString("hex")}`);
        const index = pick % ours.layout.segmentCount;
        const opening = ours.openSegmentSync(index);
        const reference = tree.getProof(leaves[index], index).map((step) => `0x${step.data.toString("hex")}`);
        assert.deepEqual(opening.siblings.map(toHex), reference);
        assert.ok(verifySegmentProof(ours.root, index, ours.layout.depth, flattenOpening(opening)));
      }),
      { numRuns: 60 },
    );
  });

  it("commits a file on disk to the same root as in memory, for random sizes, and keeps a usable tree cache", async function () {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 100 }), fc.nat(), async (size, pick) => {
        const data = randomBytes(size);
        const path = join(dir, "random.bin");
        await writeFile(path, data);
        const committed = await commitFile(path, { treeCachePath: `${path}.tree` });
        const memory = commitBytes(data);
        assert.ok(equalBytes(committed.root, memory.root));
        assert.ok(equalBytes(committed.root, new InMemoryTree(data).root));
        const file = await CommittedFile.open(path, `${path}.tree`, { expectedRoot: memory.root });
        try {
          const index = pick % committed.layout.segmentCount;
          const opening = await file.openSegment(index);
          assert.deepEqual(opening, new InMemoryTree(data).openSegmentSync(index));
        } finally {
          await file.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("handles the edge sizes: empty, 1 byte, chunk boundary, one byte over", async function () {
    const empty = commitBytes(new Uint8Array(0));
    assert.equal(toHex(empty.root), `0x${"00".repeat(32)}`);
    assert.equal(empty.layout.depth, 0);
    const one = commitBytes(Uint8Array.of(0xab));
    assert.equal(toHex(one.root), `0x${"ab".padEnd(64, "0")}`);
    for (const size of [0, 1, 31, 32, 33, CHUNK_SIZE, CHUNK_SIZE + 1]) {
      const data = randomBytes(size);
      const path = join(dir, `edge-${size}.bin`);
      await writeFile(path, data);
      const committed = await commitFile(path);
      assert.ok(equalBytes(committed.root, referenceRoot(data)), `size ${size}`);
    }
    assert.equal(fileLayout(CHUNK_SIZE).chunkCount, 1);
    assert.equal(fileLayout(CHUNK_SIZE + 1).chunkCount, 2);
    assert.equal(fileLayout(CHUNK_SIZE + 1).depth, 14);
  });

  it("verifies chunks and rejects any corrupted byte, sibling or index", async function () {
    const size = 5 * CHUNK_SIZE + 12_345;
    const data = randomBytes(size);
    const path = join(dir, "chunks.bin");
    await writeFile(path, data);
    const committed = await commitFile(path, { treeCachePath: `${path}.tree` });
    const file = await CommittedFile.open(path, `${path}.tree`);
    try {
      for (let c = 0; c < committed.layout.chunkCount; c++) {
        const bytes = await readChunk(file, c);
        const siblings = chunkProof(file, c);
        assert.ok(verifyChunk(committed.root, committed.layout, c, bytes, siblings));
        assert.equal(siblings.length, committed.layout.depth - committed.layout.chunkHeight);
      }
      const c = 5; // the short last chunk
      const bytes = await readChunk(file, c);
      assert.equal(bytes.length, 12_345);
      const siblings = chunkProof(file, c);
      fc.assert(
        fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
          const corrupted = bytes.slice();
          corrupted[at] ^= flip;
          assert.equal(verifyChunk(committed.root, committed.layout, c, corrupted, siblings), false);
        }),
        { numRuns: 50 },
      );
      for (let s = 0; s < siblings.length; s++) {
        const bad = siblings.map((sibling) => sibling.slice());
        bad[s][7] ^= 1;
        assert.equal(verifyChunk(committed.root, committed.layout, c, bytes, bad), false);
      }
      assert.equal(verifyChunk(committed.root, committed.layout, 4, bytes, siblings), false, "wrong index");
      assert.equal(verifyChunk(committed.root, committed.layout, c, bytes, siblings.slice(1)), false, "truncated path");
      assert.equal(verifyChunk(committed.root, committed.layout, c, bytes.subarray(1), siblings), false, "short chunk");
      assert.throws(() => assertChunk(randomBytes(32), committed.layout, c, bytes, siblings), WrongRootError);
      assert.throws(() => chunkRoot(bytes, committed.layout, 6), IndexOutOfRangeError);
      // A one-chunk file has an empty chunk proof; the empty file's only chunk is empty.
      const empty = commitBytes(new Uint8Array(0));
      assert.ok(verifyChunk(empty.root, empty.layout, 0, new Uint8Array(0), []));
    } finally {
      await file.close();
    }
  });

  it("reports a truncated file, a damaged page, a damaged tree cache and a wrong root with typed errors", async function () {
    const data = randomBytes(100_000);
    const path = join(dir, "damaged.bin");
    await writeFile(path, data);
    const committed = await commitFile(path, { treeCachePath: `${path}.tree` });

    await assert.rejects(CommittedFile.open(path, `${path}.tree`, { expectedRoot: randomBytes(32) }), WrongRootError);

    const damaged = Buffer.from(data);
    damaged[50_000] ^= 0xff;
    await writeFile(path, damaged);
    const file = await CommittedFile.open(path, committed.tree);
    try {
      await file.openSegment(0); // other pages are fine
      await assert.rejects(file.openSegment(Math.floor(50_000 / 32)), (error: unknown) => {
        assert.ok(error instanceof CorruptFileError);
        assert.match(error.shortMessage, /segment 1562/);
        return true;
      });
      await assert.rejects(file.openSegment(committed.layout.segmentCount), IndexOutOfRangeError);
    } finally {
      await file.close();
    }

    await truncate(path, 99_999);
    await assert.rejects(CommittedFile.open(path, committed.tree), TruncatedFileError);

    const cache = await readFile(`${path}.tree`);
    cache[cache.length - 40] ^= 1;
    await writeFile(`${path}.tree`, cache);
    await assert.rejects(CommittedFile.open(path, `${path}.tree`), CorruptTreeCacheError);
  });

  it("stops a commit through its AbortSignal and reports progress", async function () {
    const path = join(dir, "abort.bin");
    await writeFile(path, randomBytes(9 * 1024 * 1024));
    const seen: number[] = [];
    await commitFile(path, { onProgress: (progress) => seen.push(progress.bytesDone) });
    assert.deepEqual(seen.at(-1), 9 * 1024 * 1024);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(commitFile(path, { signal: controller.signal, treeCachePath: `${path}.tree` }), { name: "ProofAbortedError" });
    await assert.rejects(readFile(`${path}.tree`), { code: "ENOENT" });
  });

  it("a streaming commit given up while a hash is in flight leaves no unhandled rejection when the workers close", async function () {
    await recordingUnhandledRejections(async (unhandled) => {
      const builder = new StreamingTreeBuilder(fileLayout(8 * 1024 * 1024));
      await builder.push(new Uint8Array(4 * 1024 * 1024).fill(1)); // to a worker (not awaited: one in flight)
      await closeHashWorkers(); // the worker is terminated under the hash: its task rejects
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(unhandled, []);
      await assert.rejects(builder.finish(), /hash worker exited/);
    });
    // The pool starts new workers on the next use.
    const data = randomBytes(4 * 1024 * 1024 + 5);
    const path = join(dir, "after-close.bin");
    await writeFile(path, data);
    assert.deepEqual(toHex((await commitFile(path)).root), toHex(commitBytes(data).root));
  });
});

function referenceRoot(data: Uint8Array): Uint8Array {
  return new Uint8Array(referenceTree(data).tree.getRoot());
}
