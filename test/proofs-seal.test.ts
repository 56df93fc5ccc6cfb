import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { encodeAbiParameters, sha256 as viemSha256, type Hex } from "viem";
import {
  CHUNK_SIZE,
  CommittedFile,
  CorruptReplicaError,
  InMemoryTree,
  IndexOutOfRangeError,
  InvalidProofError,
  SEAL_WINDOW,
  TruncatedFileError,
  closeHashWorkers,
  commitBytes,
  commitFile,
  decryptBytes,
  decryptDownload,
  encryptBytes,
  encryptForDownload,
  encryptBlocksForDownload,
  equalBytes,
  podDisputeProof,
  podTileProof,
  porepChallenges,
  postChallenges,
  provePoRep,
  provePoSt,
  provePoStBatch,
  sectorId,
  sealBytes,
  sealFile,
  toHex,
  unsealBytes,
  unsealFile,
  unsealRange,
  unsealStream,
  verifyPoRep,
  verifyPoSt,
  verifyPoStAt,
  verifyPodDispute,
  verifyPodTile,
  verifySegmentProof,
  keyMatchesHash,
  podKeyHash,
} from "../node/proofs/index.js";
import { recordingUnhandledRejections } from "./helpers/unhandled-rejections.js";

const LESSOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const DEAL = `0x${"42".repeat(32)}` as Hex;

/** Flips one bit of word `at` of a hex proof. */
function corruptWord(proof: readonly Hex[], at: number): Hex[] {
  const copy = [...proof];
  const bytes = Buffer.from(copy[at].slice(2), "hex");
  bytes[31] ^= 1;
  copy[at] = `0x${bytes.toString("hex")}`;
  return copy;
}

describe("proofs: sealing, PoRep, PoSt, PoD", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "coffer-proofs-seal-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
    await closeHashWorkers();
  });

  it("seals and unseals byte-identically for any length and sealRounds (in memory)", function () {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3 * SEAL_WINDOW * 32 }), fc.integer({ min: 1, max: 3 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (data, rounds, id) => {
        const sealed = sealBytes(data, id, rounds);
        assert.equal(sealed.length, Math.max(1, Math.ceil(data.length / 32)) * 32);
        assert.deepEqual(unsealBytes(sealed, id, data.length, rounds), data);
        if (data.length >= 64) assert.notDeepEqual(sealBytes(data, randomBytes(32), rounds), sealed);
      }),
      { numRuns: 40 },
    );
  });

  it("seals files streaming (same bytes as in memory) and unseals them exactly, including 0 and odd lengths", async function () {
    const id = sectorId(LESSOR, 0);
    for (const size of [0, 1, 31, 33, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 1024 * 1024 + 7]) {
      const data = randomBytes(size);
      const dataPath = join(dir, `seal-${size}.bin`);
      await writeFile(dataPath, data);
      const result = await sealFile(dataPath, `${dataPath}.replica`, id, { sealRounds: 2, treeCachePath: `${dataPath}.rtree` });
      const sealed = await readFile(`${dataPath}.replica`);
      assert.ok(equalBytes(sealed, sealBytes(data, id, 2)), `size ${size}`);
      assert.ok(equalBytes(result.commR, commitBytes(sealed).root));
      const commD = commitBytes(data).root;
      await unsealFile(`${dataPath}.replica`, `${dataPath}.out`, id, { size, sealRounds: 2, expectedCommD: commD });
      assert.ok(equalBytes(await readFile(`${dataPath}.out`), data), `round trip ${size}`);
      const n = result.dataLayout.segmentCount;
      const start = Math.floor(n / 3);
      const part = await unsealRange(`${dataPath}.replica`, { start, end: n }, id, { sealRounds: 2 });
      assert.ok(equalBytes(part.subarray(0, Math.max(0, size - start * 32)), data.subarray(start * 32)));
      await rm(`${dataPath}.out`);
      // Streamed (what serving a download does): the same bytes, in order, at their offsets.
      const parts: Uint8Array[] = [];
      let expectedOffset = 0;
      for await (const block of unsealStream(`${dataPath}.replica`, id, { size, sealRounds: 2 })) {
        assert.equal(block.offset, expectedOffset);
        expectedOffset += block.bytes.length;
        parts.push(new Uint8Array(block.bytes));
      }
      assert.ok(equalBytes(Buffer.concat(parts), data), `streamed round trip ${size}`);
      // A lessor serving a download encrypts straight from the stream: the same commE as from the file.
      const key = randomBytes(32);
      const fromFile = await encryptForDownload(dataPath, key, { ciphertextPath: `${dataPath}.e1` });
      const fromStream = await encryptBlocksForDownload(unsealStream(`${dataPath}.replica`, id, { size, sealRounds: 2, expectedCommD: commD }), size, key, { ciphertextPath: `${dataPath}.e2` });
      assert.ok(equalBytes(fromStream.commE, fromFile.commE), `streamed commE ${size}`);
      assert.ok(equalBytes(await readFile(`${dataPath}.e2`), await readFile(`${dataPath}.e1`)), `streamed ciphertext ${size}`);
    }
  });

  it("a streamed unseal checks commD at the end and can stop early without leaking work", async function () {
    const id = sectorId(LESSOR, 0);
    const size = 9 * 1024 * 1024 + 5;
    const data = randomBytes(size);
    const dataPath = join(dir, "stream.bin");
    await writeFile(dataPath, data);
    await sealFile(dataPath, `${dataPath}.replica`, id);
    const wrongRoot = commitBytes(randomBytes(size)).root;
    await assert.rejects(async () => {
      for await (const _ of unsealStream(`${dataPath}.replica`, id, { size, expectedCommD: wrongRoot })) void _;
    }, CorruptReplicaError);
    // Encrypting from a stream that fails its commD check leaves no ciphertext behind.
    await assert.rejects(
      encryptBlocksForDownload(unsealStream(`${dataPath}.replica`, id, { size, expectedCommD: wrongRoot }), size, randomBytes(32), { ciphertextPath: `${dataPath}.cipher` }),
      CorruptReplicaError,
    );
    await assert.rejects(readFile(`${dataPath}.cipher`), /ENOENT/);
    await assert.rejects(
      encryptBlocksForDownload((async function* () { yield { offset: 32, bytes: new Uint8Array(32) }; })(), size, randomBytes(32), { ciphertextPath: `${dataPath}.cipher` }),
      /contiguous/,
    );
    let blocks = 0;
    for await (const block of unsealStream(`${dataPath}.replica`, id, { size })) {
      assert.ok(equalBytes(block.bytes, data.subarray(block.offset, block.offset + block.bytes.length)));
      if (++blocks === 1) break;
    }
    assert.equal(blocks, 1);
  });

  it("a streamed unseal paused at a yield while its workers go leaves no unhandled rejection, and the next read fails", async function () {
    const id = sectorId(LESSOR, 0);
    const size = 20 * 1024 * 1024;
    const dataPath = join(dir, "paused.bin");
    await writeFile(dataPath, randomBytes(size));
    await sealFile(dataPath, `${dataPath}.replica`, id);
    await recordingUnhandledRejections(async (unhandled) => {
      const blocks = unsealStream(`${dataPath}.replica`, id, { size });
      const first = await blocks.next(); // batches for the next blocks are in flight now
      assert.equal(first.done, false);
      await closeHashWorkers(); // their workers are terminated under them
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(unhandled, []);
      await assert.rejects(async () => {
        for (let r = await blocks.next(); !r.done; r = await blocks.next());
      }, /hash worker exited/);
    });
  });

  it("refuses a truncated or corrupted stored replica with typed errors and leaves no output", async function () {
    const id = sectorId(LESSOR, 1);
    const data = randomBytes(300_000);
    const dataPath = join(dir, "corrupt.bin");
    await writeFile(dataPath, data);
    const replicaPath = `${dataPath}.replica`;
    const sealed = await sealFile(dataPath, replicaPath, id, { treeCachePath: `${replicaPath}.tree` });
    const commD = commitBytes(data).root;

    const bytes = await readFile(replicaPath);
    bytes[123_456] ^= 0x10;
    await writeFile(replicaPath, bytes);
    await assert.rejects(unsealFile(replicaPath, `${dataPath}.out`, id, { size: data.length, expectedCommD: commD }), CorruptReplicaError);
    await assert.rejects(access(`${dataPath}.out`), { code: "ENOENT" });
    const replica = await CommittedFile.open(replicaPath, `${replicaPath}.tree`, { kind: "replica" });
    try {
      await assert.rejects(replica.openSegment(Math.floor(123_456 / 32)), CorruptReplicaError);
    } finally {
      await replica.close();
    }

    await truncate(replicaPath, sealed.replicaLayout.size - 32);
    await assert.rejects(unsealFile(replicaPath, `${dataPath}.out`, id, { size: data.length }), TruncatedFileError);
    await assert.rejects(CommittedFile.open(replicaPath, sealed.tree, { kind: "replica" }), TruncatedFileError);
    await assert.rejects(unsealRange(replicaPath, { start: 0, end: sealed.replicaLayout.segmentCount }, id), IndexOutOfRangeError);
  });

  describe("with a sealed 1 MiB + 5 byte file", function () {
    const id = sectorId(LESSOR, 0);
    const size = 1024 * 1024 + 5;
    let data: Uint8Array;
    let replica: CommittedFile;
    let original: CommittedFile;
    let commR: Uint8Array;
    let commD: Uint8Array;
    let n: number;
    const rounds = 2;

    before(async function () {
      data = randomBytes(size);
      const dataPath = join(dir, "proofs.bin");
      await writeFile(dataPath, data);
      const committed = await commitFile(dataPath, { treeCachePath: `${dataPath}.tree` });
      const sealed = await sealFile(dataPath, `${dataPath}.replica`, id, { sealRounds: rounds, treeCachePath: `${dataPath}.rtree` });
      commD = committed.root;
      commR = sealed.commR;
      n = sealed.dataLayout.segmentCount;
      original = await CommittedFile.open(dataPath, `${dataPath}.tree`);
      replica = await CommittedFile.open(`${dataPath}.replica`, `${dataPath}.rtree`, { kind: "replica" });
    });
    after(async function () {
      await replica.close();
      await original.close();
    });

    it("PoRep: the answer verifies for its sealRounds and fails on any corruption, other rounds or other seed", async function () {
      const seed = randomBytes(32);
      const claim = { commR, commD, seed, replicaId: id, segments: n, challenges: 16, sealRounds: rounds };
      const proof = await provePoRep({ replica, data: original, replicaId: id, seed, challenges: 16, sealRounds: rounds });
      assert.ok(verifyPoRep(claim, proof));
      assert.equal(verifyPoRep({ ...claim, sealRounds: 1 }, proof), false);
      assert.equal(verifyPoRep({ ...claim, seed: randomBytes(32) }, proof), false);
      assert.equal(verifyPoRep(claim, proof.slice(0, -1)), false);
      fc.assert(
        fc.property(fc.nat(proof.length - 1), (at) => assert.equal(verifyPoRep(claim, corruptWord(proof, at)), false)),
        { numRuns: 60 },
      );
      assert.equal(porepChallenges(seed, id, commR, 16, n).length, 16);
    });

    it("PoRep: a replica that is not the sealing of the data cannot produce a valid answer", async function () {
      const seed = randomBytes(32);
      const otherData = new InMemoryTree(randomBytes(size));
      await assert.rejects(
        provePoRep({ replica, data: otherData, replicaId: id, seed, challenges: 16, sealRounds: rounds }),
        InvalidProofError,
      );
    });

    it("rejects a challenged index beyond the data and beyond the tree", async function () {
      await assert.rejects(replica.openSegment(n), IndexOutOfRangeError);
      const opening = await podTileProof(replica, n - 1);
      assert.ok(verifyPodTile(commR, n - 1, n, opening));
      assert.equal(verifyPodTile(commR, n, n, opening), false);
      // Index aliasing: i + 2^depth must not pass for i.
      assert.equal(verifySegmentProof(commR, n - 1 + 2 ** replica.layout.depth, replica.layout.depth, opening), false);
    });
  });

  it("PoD: encrypts/decrypts files exactly, commE matches, tiles verify, disputes prove only a cheating lessor", async function () {
    const key = randomBytes(32);
    for (const size of [0, 1, 100_000]) {
      const data = randomBytes(size);
      const dataPath = join(dir, `pod-${size}.bin`);
      await writeFile(dataPath, data);
      const cipher = await encryptForDownload(dataPath, key, { treeCachePath: `${dataPath}.etree` });
      const ciphertext = await readFile(cipher.ciphertextPath);
      assert.ok(equalBytes(ciphertext, encryptBytes(data, key)));
      assert.ok(equalBytes(cipher.commE, commitBytes(ciphertext).root));
      assert.ok(keyMatchesHash(key, cipher.keyHash));
      assert.equal(keyMatchesHash(randomBytes(32), podKeyHash(key)), false);
      assert.ok(equalBytes(decryptBytes(ciphertext, key, size), data));
      await decryptDownload(cipher.ciphertextPath, key, `${dataPath}.plain`, { size });
      assert.ok(equalBytes(await readFile(`${dataPath}.plain`), data));
    }

    const data = randomBytes(70_000);
    const honest = new InMemoryTree(encryptBytes(data, key));
    const dataTree = new InMemoryTree(data);
    const n = dataTree.layout.segmentCount;
    const tile = await podTileProof(honest, 17);
    assert.ok(verifyPodTile(honest.root, 17, n, tile));
    assert.equal(verifyPodTile(honest.root, 18, n, tile), false);
    const honestDispute = await podDisputeProof(honest, dataTree, 17);
    assert.equal(verifyPodDispute({ commE: honest.root, commD: dataTree.root, key, index: 17, segments: n }, honestDispute), false);

    const wrong = Buffer.from(data);
    wrong[17 * 32 + 3] ^= 1;
    const cheating = new InMemoryTree(encryptBytes(wrong, key));
    const dispute = await podDisputeProof(cheating, dataTree, 17);
    const claim = { commE: cheating.root, commD: dataTree.root, key, index: 17, segments: n };
    assert.ok(verifyPodDispute(claim, dispute));
    assert.equal(verifyPodDispute({ ...claim, index: 18 }, dispute), false);
    assert.equal(verifyPodDispute(claim, corruptWord(dispute, 1)), false);
    assert.equal(verifyPodDispute(claim, dispute.slice(0, -1)), false);
  });
});
