/**
 * The PoD serve path (docs/protocol.md §8) against an independent reference: a lessor streams its replica
 * through unsealStream (checked against commD) into encryptBlocksForDownload. Its ciphertext and commE must
 * equal, bit for bit, E[i] = D[i] ⊕ H(key ‖ be256(i)) over the zero-padded data and the plain Merkle tree of
 * test/helpers/proofs.ts (per-segment hashPair and buildLevels: no shared kernel, worker or builder).
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hex } from "viem";
import {
  CorruptReplicaError,
  StreamingTreeBuilder,
  closeHashWorkers,
  commitBytes,
  decryptBytes,
  decryptDownload,
  encryptBlocksForDownload,
  encryptBytes,
  encryptForDownload,
  fileLayout,
  sectorId,
  sealFile,
  toHex,
  unsealStream,
} from "../node/proofs/index.js";
import { PodKeystream } from "../node/proofs/kernels.js";
import { dataTree, encryptForDownload as referenceCipher, pseudoRandomBytes } from "./helpers/proofs.js";

const LESSOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const DEAL = `0x${"24".repeat(32)}` as Hex;
const MiB = 1024 * 1024;

/** Asserts equal bytes, naming the first differing offset (hex dumps of megabytes are slow and unreadable). */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const length = Math.min(actual.length, expected.length);
  let at = 0;
  while (at < length && actual[at] === expected[at]) at++;
  assert.ok(at === length && actual.length === expected.length, `${what}: ${actual.length} vs ${expected.length} bytes, first difference at ${at}`);
}

describe("proofs: PoD serve path (unsealStream → encryptBlocksForDownload) against the reference", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "coffer-pod-serve-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
    await closeHashWorkers();
  });

  // 0: the one all-padding segment; 33: two segments, 31 padding bytes, everything hashed inline; 5 MiB + 5:
  // two 4 MiB blocks, the last one (1 MiB + 5) big enough for the hash workers, 27 padding bytes.
  for (const size of [0, 33, 5 * MiB + 5]) {
    it(`serves a ${size}-byte file: the same ciphertext, commE and commD as the one-shot reference, even when the replica's padding is damaged`, async function () {
      const data = pseudoRandomBytes(size, `pod-serve-${size}`);
      const key = pseudoRandomBytes(32, `pod-serve-key-${size}`);
      const reference = dataTree(data);
      const expected = referenceCipher(reference, key);
      const id = sectorId(LESSOR, 0);
      const dataPath = join(dir, `data-${size}.bin`);
      const replicaPath = `${dataPath}.replica`;
      await writeFile(dataPath, data);
      await sealFile(dataPath, replicaPath, id);
      const commD = reference.root;
      assert.equal(toHex(commitBytes(data).root), commD);

      // One-shot, in memory: E is n·32 bytes (the padding of the last segment encrypted as zeros); data untouched.
      const original = new Uint8Array(data);
      const inMemory = encryptBytes(data, key);
      assertSameBytes(inMemory, expected.leaves, "encryptBytes");
      assert.equal(toHex(commitBytes(inMemory).root), expected.root);
      assertSameBytes(data, original, "encryptBytes must not write into its input");
      assertSameBytes(decryptBytes(inMemory, key, size), data, "decryptBytes");

      const serve = async (path: string) => {
        const cipher = await encryptBlocksForDownload(unsealStream(replicaPath, id, { size, expectedCommD: commD }), size, key, { ciphertextPath: path });
        assert.equal(toHex(cipher.commE), expected.root, "commE");
        assert.equal(cipher.layout.size, fileLayout(size).segmentCount * 32);
        assertSameBytes(await readFile(path), expected.leaves, "served ciphertext");
      };
      await serve(join(dir, `e-${size}.bin`));
      // The stream itself yields exactly the data: no padding byte leaks into a block.
      const parts: Uint8Array[] = [];
      for await (const block of unsealStream(replicaPath, id, { size, expectedCommD: commD })) parts.push(new Uint8Array(block.bytes));
      assertSameBytes(Buffer.concat(parts), data, "unsealStream blocks");
      // From the file (the reused read buffer) and back.
      const fromFile = await encryptForDownload(dataPath, key, { ciphertextPath: join(dir, `f-${size}.bin`) });
      assert.equal(toHex(fromFile.commE), expected.root);
      assertSameBytes(await readFile(fromFile.ciphertextPath), expected.leaves, "encryptForDownload");
      await decryptDownload(fromFile.ciphertextPath, key, join(dir, `d-${size}.bin`), { size });
      assertSameBytes(await readFile(join(dir, `d-${size}.bin`)), data, "decryptDownload");

      // Damage the first padding byte of the replica's last segment: it decodes to a nonzero byte past the
      // data, which commD and the cipher must still read as zero (§2) — the lessor serves the same E.
      const replica = await readFile(replicaPath);
      replica[size] ^= 0x5a;
      await writeFile(replicaPath, replica);
      await serve(join(dir, `p-${size}.bin`));

      // Damage the last data byte instead: the commD check (whose last page roots come with the block) fails.
      if (size > 0) {
        replica[size - 1] ^= 0x01;
        await writeFile(replicaPath, replica);
        await assert.rejects(
          encryptBlocksForDownload(unsealStream(replicaPath, id, { size, expectedCommD: commD }), size, key, { ciphertextPath: join(dir, `x-${size}.bin`) }),
          CorruptReplicaError,
        );
        await assert.rejects(readFile(join(dir, `x-${size}.bin`)), { code: "ENOENT" });
      }
    });
  }

  it("encrypts a long stream exactly as encryptBytes, leaving the source's bytes alone", async function () {
    // 6 blocks of 4 MiB and a short one: more than the commE hashes in flight. The plaintext sits at an odd
    // byte offset (no word access) and is compared after the run.
    const size = 6 * 4 * MiB + 1000;
    const key = pseudoRandomBytes(32, "pod-long-key");
    const backing = new Uint8Array(size + 1);
    for (let b = 0; b < size; b++) backing[b + 1] = (b * 2654435761) >>> 24;
    const data = backing.subarray(1);
    const original = new Uint8Array(data);
    async function* blocks() {
      for (let offset = 0; offset < size; offset += 4 * MiB) yield { offset, bytes: data.subarray(offset, Math.min(size, offset + 4 * MiB)) };
    }
    const path = join(dir, "long.cipher");
    const cipher = await encryptBlocksForDownload(blocks(), size, key, { ciphertextPath: path });
    const expected = encryptBytes(original, key);
    assertSameBytes(await readFile(path), expected, "streamed ciphertext");
    assert.equal(toHex(cipher.commE), toHex(commitBytes(expected).root));
    assertSameBytes(data, original, "the source's blocks");
  });

  it("refuses page roots of the wrong count and a keystream written over its own plaintext", function () {
    const builder = new StreamingTreeBuilder(fileLayout(3 * 8192));
    assert.throws(() => builder.pushPageRoots(8192, new Uint8Array(64)), /8192 bytes have 1 page roots, got 2/);
    assert.throws(() => builder.pushPageRoots(40, new Uint8Array(32)), /whole segments/);
    const keystream = new PodKeystream(new Uint8Array(32).fill(1));
    const block = new Uint8Array(128);
    assert.throws(() => keystream.xorInto(block.subarray(0, 64), block.subarray(32), 0), /separate plaintext and output/);
    assert.throws(() => keystream.xorInto(new Uint8Array(65), new Uint8Array(64), 0), /longer than its cipher/);
    assert.throws(() => keystream.xorInto(new Uint8Array(0), new Uint8Array(33), 0), /whole segments/);
    assert.throws(() => new PodKeystream(new Uint8Array(31)), /32 bytes/);
  });
});
