import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { network } from "hardhat";
import type { Hex } from "viem";
import {
  CHUNK_SIZE,
  InMemoryTree,
  SEAL_WINDOW,
  closeHashWorkers,
  commitBytes,
  encryptBytes,
  fileLayout,
  hashPair,
  podDisputeProof,
  podKeystream,
  podTileProof,
  lessorPoStChallenges,
  porepChallenges,
  postDraw,
  postLocate,
  provePoRep,
  proveLessorPoSt,
  provingCounts,
  provingTotal,
  sealBytes,
  sealDependency,
  sealKey,
  sectorId,
  toHex,
  verifyLessorPoSt,
  verifyPoRep,
  verifyPodDispute,
  verifySegmentProof,
} from "../node/proofs/index.js";

const { viem } = await network.create();

const LESSOR = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const hex = (bytes: Uint8Array) => toHex(bytes);
const random32 = () => hex(randomBytes(32));

function corruptWord(proof: readonly Hex[], at: number): Hex[] {
  const copy = [...proof];
  const bytes = Buffer.from(copy[at].slice(2), "hex");
  bytes[0] ^= 0x80;
  copy[at] = `0x${bytes.toString("hex")}`;
  return copy;
}

/** A sealed replica (a sector's sealing: replicaId = sectorId) held in memory, with the trees of its data and sealed bytes. */
function sealedFixture(size: number, sectorNumber: number, rounds: number) {
  const data = randomBytes(size);
  const id = sectorId(LESSOR, sectorNumber);
  const sealed = sealBytes(data, id, rounds);
  return { id, data: new InMemoryTree(data), replica: new InMemoryTree(sealed), n: fileLayout(size).segmentCount };
}

describe("proofs on-chain: the TypeScript engine against ProofVerifierHarness", function () {
  let harness: Awaited<ReturnType<typeof deployHarness>>;
  async function deployHarness() {
    return viem.deployContract("ProofVerifierHarness");
  }
  before(async function () {
    harness = await deployHarness();
  });
  after(async function () {
    await closeHashWorkers();
  });

  it("computes the same hashes, layouts, sectorIds, challenges, PoSt draws, seal dependencies, seal keys and PoD keystream", async function () {
    const left = randomBytes(32);
    const right = randomBytes(32);
    assert.equal(await harness.read.hashPair([hex(left), hex(right)]), hex(hashPair(left, right)));
    for (const size of [0, 1, 32, 33, CHUNK_SIZE, CHUNK_SIZE + 1, 1 << 30]) {
      const layout = fileLayout(size);
      assert.equal(await harness.read.segmentCount([BigInt(size)]), BigInt(layout.segmentCount));
      assert.equal(await harness.read.depthOf([BigInt(layout.segmentCount)]), BigInt(layout.depth));
    }
    for (const number of [0n, 1n, 9n]) {
      assert.equal(await harness.read.sectorId([LESSOR, number]), hex(sectorId(LESSOR, number)));
    }
    const seed = random32();
    const id = random32();
    const commR = random32();
    const n = 1_234_567;
    const porep = porepChallenges(seed, id, commR, 16, n);
    for (let j = 0; j < 16; j++) assert.equal(await harness.read.porepChallenge([seed, id, commR, BigInt(j), BigInt(n)]), BigInt(porep[j]));
    // A lessor's PoSt draws over 3 sectors of 2^20 and 5 of 2^25 segments (minSectorLog 20).
    const counts = provingCounts([20, 25, 25, 20, 25, 25, 20, 25], 20);
    const total = provingTotal(counts, 20);
    for (let j = 0; j < 5; j++) {
      const x = postDraw(seed, LESSOR, j, total);
      assert.equal(await harness.read.postDraw([seed, LESSOR, BigInt(j), total]), x);
      const { log2Segments, index, offset } = postLocate(counts, 20, x);
      assert.deepEqual(await harness.read.postLocate([counts, 20n, x]), [BigInt(log2Segments), BigInt(index), BigInt(offset)]);
    }
    for (const i of [1, 2, 3, SEAL_WINDOW - 1, SEAL_WINDOW, SEAL_WINDOW + 1, 33_554_431]) {
      for (let trial = 0; trial < 3; trial++) {
        const previous = randomBytes(32);
        assert.equal(await harness.read.sealDependency([hex(previous), BigInt(i)]), BigInt(sealDependency(previous, i)), `d(${i})`);
      }
    }
    for (const rounds of [1, 2, 3]) {
      const previous = randomBytes(32);
      const dependency = randomBytes(32);
      const replica = randomBytes(32);
      assert.equal(await harness.read.sealKey([hex(replica), hex(previous), hex(dependency), BigInt(rounds)]), hex(sealKey(replica, previous, dependency, rounds)));
    }
    const key = randomBytes(32);
    for (const i of [0n, 1n, 12_345_678n]) assert.equal(await harness.read.podKeystream([hex(key), i]), hex(podKeystream(key, i)));
  });

  it("accepts a lessor's PoSt opening by opening (as submitPoSt checks it) and rejects a wrong sibling, a wrong segment, a truncated path, and replays", async function () {
    // One sector of 2^14 segments (a real sealing of data plus zeros): every draw lands in it.
    const data = new Uint8Array(2 ** 14 * 32);
    data.set(randomBytes(300_000));
    const id = sectorId(LESSOR, 0);
    const replica = new InMemoryTree(sealBytes(data, id, 1));
    const seed = random32();
    const counts = provingCounts([14], 14);
    const claim = { seed, lessor: LESSOR, challenges: 5, counts, minSectorLog: 14, commR: () => replica.root } as const;
    const proof = await proveLessorPoSt({ ...claim, sector: () => replica });
    const depth = 14;
    const openings = lessorPoStChallenges(seed, LESSOR, 5, counts, 14);
    const verify = async (p: Hex[]) => {
      if (p.length !== 5 * (depth + 1)) return false;
      for (const [j, { offset }] of openings.entries()) {
        if (!(await harness.read.verifyOpening([hex(replica.root), BigInt(offset), BigInt(depth), p.slice(j * (depth + 1), (j + 1) * (depth + 1))]))) return false;
      }
      return true;
    };
    assert.equal(await verify(proof), true);
    assert.equal(verifyLessorPoSt(claim, proof), true);
    for (const [what, bad] of [
      ["wrong sibling", corruptWord(proof, 1)],
      ["wrong segment of the 2nd opening", corruptWord(proof, depth + 1)],
    ] as const) {
      assert.equal(await verify(bad), false, what);
      assert.equal(verifyLessorPoSt(claim, bad), false, what);
    }
    assert.equal(verifyLessorPoSt(claim, proof.slice(0, -1)), false, "truncated path");
    assert.equal(verifyLessorPoSt(claim, [...proof, proof[0]]), false, "extra word");
    assert.equal(verifyLessorPoSt({ ...claim, seed: random32() }, proof), false, "replay from another period");
    assert.equal(verifyLessorPoSt({ ...claim, lessor: "0x90F79bf6EB2c4f870365E785982E1f101E93b906" }, proof), false, "replay by another lessor");
    const other = new InMemoryTree(sealBytes(data, sectorId(LESSOR, 1), 1));
    assert.equal(verifyLessorPoSt({ ...claim, commR: () => other.root }, proof), false, "replay for another sector");
    // A one-segment sector: openings without siblings.
    const tiny = new InMemoryTree(sealBytes(randomBytes(5), sectorId(LESSOR, 2), 1));
    const tinyClaim = { seed, lessor: LESSOR, challenges: 5, counts: provingCounts([0], 0), minSectorLog: 0, commR: () => tiny.root } as const;
    const tinyProof = await proveLessorPoSt({ ...tinyClaim, sector: () => tiny });
    assert.equal(tinyProof.length, 5);
    assert.equal(verifyLessorPoSt(tinyClaim, tinyProof), true);
    for (const word of tinyProof) assert.equal(await harness.read.verifyOpening([hex(tiny.root), 0n, 0n, [word]]), true);
  });

  for (const rounds of [1, 2]) {
    it(`accepts PoRep answers with sealRounds ${rounds} and rejects every corruption`, async function () {
      const { id, data, replica, n } = sealedFixture(3 * CHUNK_SIZE + 1000, 0, rounds);
      const seed = random32();
      const proof = await provePoRep({ replica, data, replicaId: id, seed, challenges: 16, sealRounds: rounds });
      const verify = (p: Hex[], r = rounds, s: Hex = seed) =>
        harness.read.verifyPoRep([hex(replica.root), hex(data.root), s, hex(id), BigInt(n), 16n, BigInt(r), p]);
      assert.equal(await verify(proof), true);
      assert.equal(
        verifyPoRep({ commR: replica.root, commD: data.root, seed, replicaId: id, segments: n, challenges: 16, sealRounds: rounds }, proof),
        true,
      );
      const stride = replica.layout.depth + 1;
      assert.equal(await verify(corruptWord(proof, stride)), false, "wrong data segment D[i]");
      assert.equal(await verify(corruptWord(proof, 0)), false, "wrong sealed segment S[i]");
      assert.equal(await verify(corruptWord(proof, 2)), false, "wrong sibling");
      assert.equal(await verify(corruptWord(proof, 2 * stride)), false, "wrong S[i-1]");
      assert.equal(await verify(corruptWord(proof, 3 * stride)), false, "wrong S[d(i)]");
      assert.equal(await verify(proof.slice(0, -1)), false, "truncated");
      assert.equal(await verify([...proof, proof[0]]), false, "extra word");
      assert.equal(await verify(proof, rounds + 1), false, "other sealRounds");
      assert.equal(await verify(proof, rounds, random32()), false, "other seed");
    });
  }

  it("PoRep for a replica of one segment (challenge 0 keys from the replicaId)", async function () {
    const { id, data, replica, n } = sealedFixture(7, 3, 2);
    const seed = random32();
    const proof = await provePoRep({ replica, data, replicaId: id, seed, challenges: 4, sealRounds: 2 });
    assert.equal(proof.length, 4 * 2);
    assert.equal(await harness.read.verifyPoRep([hex(replica.root), hex(data.root), seed, hex(id), BigInt(n), 4n, 2n, proof]), true);
    assert.equal(await harness.read.verifyPoRep([hex(replica.root), hex(data.root), seed, hex(sectorId(LESSOR, 4)), BigInt(n), 4n, 2n, proof]), false);
  });

  it("accepts PoD tile openings and dispute proofs exactly where the TypeScript verifier does", async function () {
    const key = randomBytes(32);
    const plain = randomBytes(100_000);
    const data = new InMemoryTree(plain);
    const n = data.layout.segmentCount;
    const depth = BigInt(data.layout.depth);
    const cipher = new InMemoryTree(encryptBytes(plain, key));
    assert.equal(hex(cipher.root), hex(commitBytes(encryptBytes(plain, key)).root));
    const tile = await podTileProof(cipher, 1234);
    assert.equal(await harness.read.verifyOpening([hex(cipher.root), 1234n, depth, tile]), true);
    assert.equal(await harness.read.verifyOpening([hex(cipher.root), 1235n, depth, tile]), false, "wrong index");
    assert.equal(await harness.read.verifyOpening([hex(cipher.root), 1234n + (1n << depth), depth, tile]), false, "aliased index");
    assert.equal(verifySegmentProof(cipher.root, 1234 + 2 ** data.layout.depth, data.layout.depth, tile), false);
    assert.equal(await harness.read.verifyOpening([hex(cipher.root), 1234n, depth, tile.slice(0, -1)]), false, "truncated path");

    const honest = await podDisputeProof(cipher, data, 1234);
    assert.equal(await harness.read.verifyPoDDispute([hex(cipher.root), hex(data.root), hex(key), 1234n, BigInt(n), honest]), false);
    const wrongPlain = Buffer.from(plain);
    wrongPlain[1234 * 32] ^= 1;
    const cheating = new InMemoryTree(encryptBytes(wrongPlain, key));
    const dispute = await podDisputeProof(cheating, data, 1234);
    const claim = { commE: cheating.root, commD: data.root, key, index: 1234, segments: n };
    assert.equal(verifyPodDispute(claim, dispute), true);
    assert.equal(await harness.read.verifyPoDDispute([hex(cheating.root), hex(data.root), hex(key), 1234n, BigInt(n), dispute]), true);
    assert.equal(await harness.read.verifyPoDDispute([hex(cheating.root), hex(data.root), hex(key), 1235n, BigInt(n), dispute]), false);
    assert.equal(await harness.read.verifyPoDDispute([hex(cheating.root), hex(data.root), hex(key), 1234n, BigInt(n), corruptWord(dispute, 3)]), false);
    assert.equal(await harness.read.verifyPoDDispute([hex(cheating.root), hex(data.root), random32(), 1234n, BigInt(n), dispute]), true, "any wrong key also mismatches");
  });
});
