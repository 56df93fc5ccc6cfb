import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { access, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { encodeAbiParameters, sha256 as viemSha256, type Address, type Hex } from "viem";
import {
  CHUNK_SIZE,
  CommittedFile,
  CorruptReplicaError,
  DrawBeyondProvingSetError,
  InMemoryTree,
  MalformedProofError,
  ProofAbortedError,
  SEGMENTS_PER_CHUNK,
  SectorLayoutError,
  TruncatedFileError,
  ZERO_HASHES,
  closeHashWorkers,
  commitBytes,
  commitFile,
  equalBytes,
  lessorPoStChallenges,
  packSectors,
  pieceChallenges,
  pieceDepth,
  pieceOffsets,
  planSector,
  postDraw,
  postLocate,
  provePieceChallenge,
  provePoRep,
  proveLessorPoSt,
  proveSegments,
  provingCounts,
  provingTotal,
  sealBytes,
  sealFile,
  sectorCommD,
  sectorId,
  spotChallenges,
  toHex,
  unsealFile,
  unsealStream,
  verifyLessorPoSt,
  verifyPieceChallenge,
  verifyPoRep,
  writeUnsealedSector,
  type SealResult,
  type SectorBounds,
} from "../node/proofs/index.js";

const { viem } = await network.create();

const LESSOR: Address = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const hex = (bytes: Uint8Array) => toHex(bytes);
const random32 = () => hex(randomBytes(32));

function corruptWord(proof: readonly Hex[], at: number): Hex[] {
  const copy = [...proof];
  const bytes = Buffer.from(copy[at].slice(2), "hex");
  bytes[5] ^= 0x10;
  copy[at] = `0x${bytes.toString("hex")}`;
  return copy;
}

interface Piece {
  path: string;
  size: number;
  depth: number;
  offset: number;
  commD: Uint8Array;
  bytes: Uint8Array;
}

interface Sector {
  log2: number;
  id: Uint8Array;
  pieces: Piece[];
  /** SectorTree's root from the pieces' commDs. */
  commD: Uint8Array;
  unsealedPath: string;
}

interface SealedSector extends Sector {
  sealedPath: string;
  seal: SealResult;
  rounds: number;
}

/** Bytes read by this process so far (Linux: /proc/self/io rchar counts every read/pread, cached or not). */
async function bytesReadByProcess(): Promise<number | undefined> {
  try {
    const io = await readFile("/proc/self/io", "utf8");
    const match = /^rchar:\s*(\d+)/m.exec(io);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function collect(stream: AsyncIterable<{ offset: number; bytes: Uint8Array }>): Promise<Buffer> {
  const parts: Buffer[] = [];
  let expected = 0;
  for await (const block of stream) {
    assert.equal(block.offset, expected, "blocks come in order at their offsets");
    expected += block.bytes.length;
    parts.push(Buffer.from(block.bytes));
  }
  return Buffer.concat(parts);
}

describe("proofs: sectors (layout, commD, unsealed file, PoSt draws, piece challenges, piece unsealing)", function () {
  let dir: string;
  let harness: Awaited<ReturnType<typeof deployHarness>>;
  let counter = 0;
  async function deployHarness() {
    return viem.deployContract("ProofVerifierHarness");
  }

  /** Writes random pieces of `sizes` bytes, plans the sector (pieces sorted by depth) and writes its unsealed file. */
  async function buildSector(sizes: readonly number[], bounds: SectorBounds = { minSectorLog: 0, maxSectorLog: 30 }, sectorNumber = counter): Promise<Sector> {
    const name = `sector-${counter++}`;
    const inputs = await Promise.all(
      sizes.map(async (size, i) => {
        const bytes = randomBytes(size);
        const path = join(dir, `${name}-piece-${i}.bin`);
        await writeFile(path, bytes);
        return { path, size, bytes: new Uint8Array(bytes), depth: pieceDepth(size), commD: commitBytes(bytes).root };
      }),
    );
    const plan = planSector(
      inputs.map((p) => p.depth),
      bounds,
    );
    const pieces: Piece[] = plan.order.map((i, k) => ({ ...inputs[i], offset: plan.offsets[k] }));
    const unsealedPath = join(dir, `${name}.unsealed`);
    await writeUnsealedSector(unsealedPath, plan.log2Segments, pieces);
    return { log2: plan.log2Segments, id: sectorId(LESSOR, sectorNumber), pieces, commD: sectorCommD(plan.log2Segments, pieces), unsealedPath };
  }

  async function sealSector(sector: Sector, rounds: number): Promise<SealedSector> {
    const sealedPath = `${sector.unsealedPath}.sealed`;
    const seal = await sealFile(sector.unsealedPath, sealedPath, sector.id, { sealRounds: rounds });
    return { ...sector, sealedPath, seal, rounds };
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "coffer-proofs-sectors-"));
    harness = await deployHarness();
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
    await closeHashWorkers();
  });

  describe("layout and commD", function () {
    it("sectorId is H(abi.encode(address, uint256)) and matches ProofMath.sectorId", async function () {
      for (const number of [0n, 1n, 7n, 2n ** 64n + 3n]) {
        const expected = viemSha256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [LESSOR, number]));
        assert.equal(hex(sectorId(LESSOR, number)), expected);
        assert.equal(await harness.read.sectorId([LESSOR, number]), expected);
      }
      assert.equal(hex(sectorId(LESSOR, 5)), hex(sectorId(LESSOR, 5n)));
      assert.notEqual(hex(sectorId(LESSOR, 5)), hex(sectorId("0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", 5)));
      assert.throws(() => sectorId(LESSOR, -1), SectorLayoutError);
      assert.throws(() => sectorId("0x1234" as Address, 1), MalformedProofError);
    });

    it("sectorCommD equals the Merkle root of the unsealed sector file for full, multi-piece, capacity and random layouts", async function () {
      const layouts: { what: string; sizes: number[]; bounds?: SectorBounds }[] = [
        { what: "one piece filling the sector exactly", sizes: [CHUNK_SIZE], bounds: { minSectorLog: 13, maxSectorLog: 20 } },
        { what: "one odd-sized piece filling its depth", sizes: [200_001], bounds: { minSectorLog: 10, maxSectorLog: 20 } },
        { what: "three pieces of different depths, given smallest first", sizes: [33, 20_000, 100_000], bounds: { minSectorLog: 10, maxSectorLog: 20 } },
        { what: "three pieces in a sector larger than they need", sizes: [100_000, 33, 20_000], bounds: { minSectorLog: 16, maxSectorLog: 20 } },
        { what: "equal depths that merge, and depth-0 pieces", sizes: [5000, 4097, 4500, 1, 32, 0], bounds: { minSectorLog: 4, maxSectorLog: 20 } },
        { what: "a capacity sector (no pieces: the zero tree)", sizes: [], bounds: { minSectorLog: 13, maxSectorLog: 20 } },
      ];
      for (let trial = 0; trial < 6; trial++) {
        const count = 1 + Math.floor(Math.random() * 6);
        layouts.push({ what: `random #${trial}`, sizes: Array.from({ length: count }, () => Math.floor(Math.random() * 70_000)), bounds: { minSectorLog: Math.floor(Math.random() * 14), maxSectorLog: 20 } });
      }
      for (const { what, sizes, bounds } of layouts) {
        const sector = await buildSector(sizes, bounds);
        const { size } = await stat(sector.unsealedPath);
        assert.equal(size, 2 ** sector.log2 * 32, `${what}: file length`);
        const file = await readFile(sector.unsealedPath);
        for (const piece of sector.pieces) {
          assert.equal(piece.offset % 2 ** piece.depth, 0, `${what}: piece aligned to its size`);
          assert.ok(equalBytes(file.subarray(piece.offset * 32, piece.offset * 32 + piece.size), piece.bytes), `${what}: piece bytes at its offset`);
        }
        const commit = await commitFile(sector.unsealedPath);
        assert.equal(hex(sector.commD), hex(commit.root), what);
        if (sizes.length === 0) assert.equal(hex(sector.commD), hex(ZERO_HASHES[sector.log2]), `${what}: zero tree`);
        const onChain = await harness.read.sectorCommD([BigInt(sector.log2), sector.pieces.map((p) => hex(p.commD)), sector.pieces.map((p) => BigInt(p.depth))]);
        assert.equal(onChain, hex(sector.commD), `${what}: SectorTree`);
      }
      assert.equal(layouts[0].sizes.length, 1);
    });

    it("sectorCommD and pieceOffsets refuse pieces out of order, deeper than the sector or past its end", function () {
      const commD = new Uint8Array(32);
      const layoutProblem = (problem: string) => (error: unknown) => error instanceof SectorLayoutError && error.problem === problem;
      assert.deepEqual(pieceOffsets(10, [8, 8, 7, 7, 3, 0]), [0, 256, 512, 640, 768, 776]);
      assert.deepEqual(pieceOffsets(10, []), []);
      assert.throws(() => sectorCommD(10, [{ commD, depth: 7 }, { commD, depth: 8 }]), layoutProblem("out-of-order"));
      assert.throws(() => pieceOffsets(10, [11]), layoutProblem("out-of-order"));
      assert.throws(() => sectorCommD(10, [{ commD, depth: 10 }, { commD, depth: 0 }]), layoutProblem("overfull"));
      assert.throws(() => sectorCommD(10, [{ commD, depth: 9 }, { commD, depth: 9 }, { commD, depth: 0 }]), layoutProblem("overfull"));
      assert.throws(() => sectorCommD(10, [{ commD, depth: 1.5 }]), layoutProblem("invalid"));
      assert.throws(() => sectorCommD(-1, []), layoutProblem("invalid"));
      assert.throws(() => sectorCommD(10, [{ commD: new Uint8Array(31), depth: 1 }]), MalformedProofError);
      // A full sector is fine.
      assert.equal(hex(sectorCommD(1, [{ commD, depth: 0 }, { commD, depth: 0 }])), hex(ZERO_HASHES[1]));
    });

    it("planSector picks the smallest sector that holds the pieces sorted by depth (stable) and refuses what no sector holds", function () {
      const bounds = { minSectorLog: 10, maxSectorLog: 20 };
      assert.deepEqual(planSector([3, 12, 5, 12, 0], bounds), { log2Segments: 14, order: [1, 3, 2, 0, 4], offsets: [0, 4096, 8192, 8224, 8232] });
      assert.deepEqual(planSector([12, 12, 12, 12], bounds).log2Segments, 14, "exactly full");
      assert.deepEqual(planSector([12, 12, 12, 12, 0], bounds).log2Segments, 15, "one segment more");
      assert.deepEqual(planSector([2], bounds), { log2Segments: 10, order: [0], offsets: [0] }, "at least minSectorLog");
      assert.deepEqual(planSector([], bounds), { log2Segments: 10, order: [], offsets: [] }, "capacity sector");
      assert.throws(() => planSector([20, 0], bounds), (e: unknown) => e instanceof SectorLayoutError && e.problem === "too-large");
      assert.throws(() => planSector([21], bounds), (e: unknown) => e instanceof SectorLayoutError && e.problem === "too-large");
      assert.throws(() => planSector([1], { minSectorLog: 12, maxSectorLog: 11 }), SectorLayoutError);
    });

    it("packSectors splits pieces first-fit decreasing into full sectors, every piece once", function () {
      const bounds = { minSectorLog: 4, maxSectorLog: 10 };
      const plans = packSectors([9, 9, 8, 8, 8, 2, 7, 10, 3], bounds);
      assert.deepEqual(
        plans.map((p) => ({ log2: p.log2Segments, order: p.order })),
        [
          { log2: 10, order: [7] },
          { log2: 10, order: [0, 1] },
          { log2: 10, order: [2, 3, 4, 6, 8, 5] },
        ],
      );
      for (const plan of plans) assert.deepEqual(plan.offsets, pieceOffsets(plan.log2Segments, plan.order.map((i) => [9, 9, 8, 8, 8, 2, 7, 10, 3][i])));
      for (let trial = 0; trial < 50; trial++) {
        const depths = Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => Math.floor(Math.random() * 11));
        const packed = packSectors(depths, bounds);
        assert.deepEqual(packed.flatMap((p) => p.order).sort((a, b) => a - b), depths.map((_, i) => i));
        const total = depths.reduce((sum, d) => sum + 2 ** d, 0);
        // Power-of-two pieces in decreasing order: first-fit leaves no sector but the last one short.
        assert.equal(packed.length, Math.ceil(total / 2 ** 10), `sectors for ${total} segments`);
        for (const plan of packed) pieceOffsets(plan.log2Segments, plan.order.map((i) => depths[i]));
      }
      // The last sector shrinks to what its pieces need (at least minSectorLog).
      assert.deepEqual(packSectors([3, 10, 6, 9], bounds), [
        { log2Segments: 10, order: [1], offsets: [0] },
        { log2Segments: 10, order: [3, 2, 0], offsets: [0, 512, 576] },
      ]);
      assert.deepEqual(packSectors([10, 3, 2], bounds), [
        { log2Segments: 10, order: [0], offsets: [0] },
        { log2Segments: 4, order: [1, 2], offsets: [0, 8] },
      ]);
      assert.deepEqual(packSectors([10, 6, 6, 6], bounds)[1], { log2Segments: 8, order: [1, 2, 3], offsets: [0, 64, 128] });
      assert.deepEqual(packSectors([], bounds), []);
      assert.throws(() => packSectors([11], bounds), (e: unknown) => e instanceof SectorLayoutError && e.problem === "too-large");
    });

    it("writeUnsealedSector writes a sparse file, refuses overlaps, overflows and wrong piece files, and leaves nothing when aborted", async function () {
      const piecePath = join(dir, "w-piece.bin");
      await writeFile(piecePath, randomBytes(10_000));
      const out = join(dir, "w-sector.unsealed");
      await writeUnsealedSector(out, 21, [{ path: piecePath, offset: 2 ** 20, size: 10_000 }]);
      const info = await stat(out);
      assert.equal(info.size, 2 ** 21 * 32);
      assert.ok(info.blocks * 512 < 1024 * 1024, `sparse: ${info.blocks * 512} bytes allocated for a 64 MiB sector`);
      const bytes = await readFile(out);
      assert.ok(equalBytes(bytes.subarray(2 ** 25, 2 ** 25 + 10_000), await readFile(piecePath)));
      assert.equal(bytes.subarray(0, 2 ** 25).some((b) => b !== 0), false);
      assert.equal(bytes.subarray(2 ** 25 + 10_000).some((b) => b !== 0), false);

      const other = join(dir, "w-none.unsealed");
      await assert.rejects(writeUnsealedSector(other, 10, [{ path: piecePath, offset: 1024 - 312, size: 10_000 }]), (e: unknown) => e instanceof SectorLayoutError && e.problem === "overfull");
      await assert.rejects(
        writeUnsealedSector(other, 12, [
          { path: piecePath, offset: 0, size: 10_000 },
          { path: piecePath, offset: 312, size: 10_000 },
        ]),
        (e: unknown) => e instanceof SectorLayoutError && e.problem === "invalid",
      );
      await assert.rejects(writeUnsealedSector(other, 12, [{ path: piecePath, offset: 0, size: 9_999 }]), TruncatedFileError);
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(writeUnsealedSector(other, 12, [{ path: piecePath, offset: 0, size: 10_000 }], { signal: controller.signal }), ProofAbortedError);
      await assert.rejects(access(other), "no partial output");
    });
  });

  describe("PoSt draws over a lessor's sectors", function () {
    it("postDraw, provingTotal and postLocate match ProofMath for random counts and draws (largest size first)", async function () {
      for (let trial = 0; trial < 12; trial++) {
        const minSectorLog = Math.floor(Math.random() * 25);
        const sizes: number[] = [];
        for (let c = 0; c < 16; c++) {
          const n = Math.random() < 0.5 ? 0 : Math.random() < 0.2 ? 65535 : Math.floor(Math.random() * 5);
          for (let s = 0; s < n; s++) sizes.push(minSectorLog + c);
        }
        if (sizes.length === 0) sizes.push(minSectorLog + 15);
        const counts = provingCounts(sizes, minSectorLog);
        const total = provingTotal(counts, minSectorLog);
        assert.equal(total, sizes.reduce((sum, log2) => sum + (1n << BigInt(log2)), 0n));
        const seed = random32();
        const draws = [0n, total - 1n, ...Array.from({ length: 5 }, (_, j) => postDraw(seed, LESSOR, j, total))];
        for (let j = 0; j < 5; j++) assert.equal(await harness.read.postDraw([seed, LESSOR, BigInt(j), total]), draws[2 + j], `postDraw ${j}`);
        for (const x of draws) {
          const ts = postLocate(counts, minSectorLog, x);
          const [log2, index, offset] = await harness.read.postLocate([counts, BigInt(minSectorLog), x]);
          assert.deepEqual([BigInt(ts.log2Segments), BigInt(ts.index), BigInt(ts.offset)], [log2, index, offset], `postLocate(${counts}, ${minSectorLog}, ${x})`);
        }
        assert.throws(() => postLocate(counts, minSectorLog, total), (e: unknown) => e instanceof DrawBeyondProvingSetError && e.remainder === 0n);
        await assert.rejects(harness.read.postLocate([counts, BigInt(minSectorLog), total]), /ProofMathDrawBeyondProvingSet/);
      }
      // Largest size first: with one 2^20 and one 2^10 sector, draw 0 is in the 2^20 one.
      const counts = provingCounts([10, 20], 10);
      assert.deepEqual(postLocate(counts, 10, 0n), { log2Segments: 20, index: 0, offset: 0 });
      assert.deepEqual(postLocate(counts, 10, 2n ** 20n + 5n), { log2Segments: 10, index: 0, offset: 5 });
      const twoOfAKind = provingCounts([12, 12, 12], 12);
      assert.deepEqual(postLocate(twoOfAKind, 12, 2n * 4096n + 7n), { log2Segments: 12, index: 2, offset: 7 });
      assert.equal(lessorPoStChallenges(random32(), LESSOR, 33, twoOfAKind, 12).length, 33);
      assert.throws(() => lessorPoStChallenges(random32(), LESSOR, 3, 0n, 12), RangeError);
      assert.throws(() => provingCounts([9], 10), SectorLayoutError);
    });

    it("a lessor's PoSt over sealed sectors of two sizes opens each challenge where the contract looks (verifyOpening) and fails when tampered or replayed", async function () {
      // Three small sealed sectors in memory: two of 2^12 segments and one of 2^9, in the lessor's array order.
      const minSectorLog = 9;
      const sizes = [12, 9, 12];
      const sectors = sizes.map((log2, number) => {
        const id = sectorId(LESSOR, 1000 + number);
        const unsealed = new Uint8Array(2 ** log2 * 32);
        unsealed.set(randomBytes(2 ** log2 * 16));
        return { log2, id, replica: new InMemoryTree(sealBytes(unsealed, id, 1)) };
      });
      const byClass = new Map<number, typeof sectors>();
      for (const sector of sectors) byClass.set(sector.log2, [...(byClass.get(sector.log2) ?? []), sector]);
      const at = (log2: number, index: number) => byClass.get(log2)![index];
      const counts = provingCounts(sizes, minSectorLog);
      const seed = random32();
      const k = 12;
      const proof = await proveLessorPoSt({ seed, lessor: LESSOR, challenges: k, counts, minSectorLog, sector: (log2, index) => at(log2, index).replica });
      const claim = { seed, lessor: LESSOR, challenges: k, counts, minSectorLog, commR: (log2: number, index: number) => at(log2, index).replica.root };
      assert.equal(verifyLessorPoSt(claim, proof), true);
      let cursor = 0;
      const hit = new Set<number>();
      for (const { log2Segments, index, offset } of lessorPoStChallenges(seed, LESSOR, k, counts, minSectorLog)) {
        const opening = proof.slice(cursor, cursor + log2Segments + 1);
        hit.add(log2Segments);
        assert.equal(await harness.read.verifyOpening([hex(at(log2Segments, index).replica.root), BigInt(offset), BigInt(log2Segments), opening]), true);
        cursor += log2Segments + 1;
      }
      assert.equal(cursor, proof.length);
      assert.equal(verifyLessorPoSt(claim, corruptWord(proof, 1)), false, "wrong sibling");
      assert.equal(verifyLessorPoSt(claim, corruptWord(proof, proof.length - 1)), false, "wrong last word");
      assert.equal(verifyLessorPoSt(claim, proof.slice(0, -1)), false, "truncated");
      assert.equal(verifyLessorPoSt(claim, [...proof, proof[0]]), false, "extra word");
      assert.equal(verifyLessorPoSt({ ...claim, seed: random32() }, proof), false, "another period");
      assert.equal(verifyLessorPoSt({ ...claim, lessor: "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" }, proof), false, "another lessor");
      // A lessor whose array order differs from the chain's fails when the two 2^12 sectors are challenged.
      const swapped = { ...claim, commR: (log2: number, index: number) => at(log2, log2 === 12 ? 1 - index : index).replica.root };
      const twelves = lessorPoStChallenges(seed, LESSOR, k, counts, minSectorLog).filter((c) => c.log2Segments === 12).length;
      if (twelves > 0) assert.equal(verifyLessorPoSt(swapped, proof), false, "wrong sector order");
      // Openings of an unsealed (data) file would never verify against a commR: refused.
      const dataPath = join(dir, "post-data.bin");
      const data = randomBytes(5000);
      await writeFile(dataPath, data);
      const dataFile = await CommittedFile.open(dataPath, commitBytes(data).tree, { kind: "data" });
      await assert.rejects(proveSegments(dataFile, [0]), MalformedProofError);
      await dataFile.close();
    });
  });

  describe("a sealed multi-piece sector", function () {
    let sealed: SealedSector;
    const rounds = 2;
    before(async function () {
      this.timeout(60_000);
      // Pieces (sorted): 512 KiB at 0 (chunk multiple, aligned), 256 KiB at 16384 (chunk multiple, aligned),
      // 100,001 B at 24576 (odd, chunk-aligned), 5,000 B at 28672 (odd, mid-chunk), 40 B at 28928 (mid-chunk).
      const built = await buildSector([5_000, 2 * CHUNK_SIZE, 40, 100_001, CHUNK_SIZE], { minSectorLog: 13, maxSectorLog: 20 }, 77);
      sealed = await sealSector(built, rounds);
    });

    it("seals all 2^log2 segments of the unsealed sector file (sealFile): same bytes and commR as sealing in memory", async function () {
      assert.equal(sealed.log2, 15);
      assert.deepEqual(
        sealed.pieces.map((p) => [p.size, p.offset]),
        [
          [2 * CHUNK_SIZE, 0],
          [CHUNK_SIZE, 16384],
          [100_001, 24576],
          [5_000, 28672],
          [40, 28928],
        ],
      );
      assert.equal(sealed.seal.replicaLayout.segmentCount, 2 ** 15);
      assert.equal(sealed.seal.replicaLayout.depth, 15);
      const bytes = await readFile(sealed.sealedPath);
      assert.equal(bytes.length, 2 ** 15 * 32);
      assert.ok(equalBytes(bytes, sealBytes(await readFile(sealed.unsealedPath), sealed.id, rounds)));
      assert.equal(hex(sealed.seal.commR), hex(commitBytes(bytes).root));
      // The zeros after the pieces are sealed too (their sealed form is the keystream, never zero).
      assert.ok(bytes.subarray(2 ** 15 * 32 - 64).some((b) => b !== 0));
    });

    it("verifyChallenge accepts a TypeScript piece-challenge proof for every piece and rejects tampered, shifted and replayed ones", async function () {
      const sector = await CommittedFile.open(sealed.sealedPath, sealed.seal.tree, { kind: "replica" });
      try {
        const k = 5;
        for (const piece of sealed.pieces) {
          const pieceSegments = Math.max(1, Math.ceil(piece.size / 32));
          const seed = random32();
          const proof = await provePieceChallenge({ sector, sectorId: sealed.id, seed, k, pieceSegments, offset: piece.offset });
          assert.equal(proof.length, k * (sealed.log2 + 1));
          const indices = pieceChallenges(seed, sealed.id, k, pieceSegments, piece.offset);
          assert.deepEqual(indices, spotChallenges(seed, sealed.id, k, pieceSegments).map((i) => piece.offset + i));
          for (const i of indices) assert.ok(i >= piece.offset && i < piece.offset + pieceSegments, "inside the piece's data");
          const verify = (p: Hex[], claim: { seed?: Hex; offset?: number; id?: Uint8Array } = {}) =>
            harness.read.verifyChallenge([hex(sealed.seal.commR), claim.seed ?? seed, hex(claim.id ?? sealed.id), BigInt(claim.offset ?? piece.offset), BigInt(pieceSegments), BigInt(sealed.log2), BigInt(k), p]);
          const tsClaim = { commR: sealed.seal.commR, sectorId: sealed.id, seed, k, pieceSegments, offset: piece.offset, log2Segments: sealed.log2 };
          assert.equal(await verify(proof), true, `piece at ${piece.offset}`);
          assert.equal(verifyPieceChallenge(tsClaim, proof), true);
          for (const at of [0, 3, proof.length - 1]) {
            assert.equal(await verify(corruptWord(proof, at)), false, `tampered word ${at}`);
            assert.equal(verifyPieceChallenge(tsClaim, corruptWord(proof, at)), false);
          }
          assert.equal(await verify(proof.slice(0, -1)), false, "truncated");
          assert.equal(verifyPieceChallenge(tsClaim, proof.slice(0, -1)), false);
          assert.equal(await verify([...proof, proof[0]]), false, "extra word");
          assert.equal(verifyPieceChallenge(tsClaim, [...proof, proof[0]]), false);
          assert.equal(await verify(proof, { offset: piece.offset + 1 }), false, "another offset");
          assert.equal(verifyPieceChallenge({ ...tsClaim, offset: piece.offset + 1 }, proof), false);
          // A replay for another seed or sector fails unless it happens to challenge the same segments (a
          // 2-segment piece has only a few index sets): then both sides accept it, as they must.
          for (const [what, replay] of [
            ["another seed", { seed: random32() }],
            ["another sector", { id: sectorId(LESSOR, 78) }],
          ] as const) {
            const same = pieceChallenges(replay.seed ?? seed, replay.id ?? sealed.id, k, pieceSegments, piece.offset).every((i, j) => i === indices[j]);
            assert.equal(await verify(proof, replay), same, `${what} (same indices: ${same})`);
            assert.equal(verifyPieceChallenge({ ...tsClaim, seed: replay.seed ?? seed, sectorId: replay.id ?? sealed.id }, proof), same);
            if (pieceSegments > 100) assert.equal(same, false);
          }
        }
        const last = sealed.pieces.at(-1)!;
        await assert.rejects(provePieceChallenge({ sector, sectorId: sealed.id, seed: random32(), k, pieceSegments: 2 ** 15, offset: last.offset }), SectorLayoutError);
        const data = await CommittedFile.open(sealed.unsealedPath, (await commitFile(sealed.unsealedPath)).tree, { kind: "data" });
        await assert.rejects(provePieceChallenge({ sector: data, sectorId: sealed.id, seed: random32(), k, pieceSegments: 10, offset: 0 }), MalformedProofError, "openings of the unsealed file");
        await data.close();
      } finally {
        await sector.close();
      }
    });

    it("the PoRep prover answers for the sealed sector (commD = sectorCommD) and verifyPoRep accepts it", async function () {
      const dataCommit = await commitFile(sealed.unsealedPath);
      assert.equal(hex(dataCommit.root), hex(sealed.commD));
      const replica = await CommittedFile.open(sealed.sealedPath, sealed.seal.tree, { kind: "replica" });
      const data = await CommittedFile.open(sealed.unsealedPath, dataCommit.tree);
      try {
        const seed = random32();
        const proof = await provePoRep({ replica, data, replicaId: sealed.id, seed, challenges: 16, sealRounds: rounds });
        const n = BigInt(2 ** sealed.log2);
        const verify = (p: Hex[], id = sealed.id, commD = sealed.commD) => harness.read.verifyPoRep([hex(sealed.seal.commR), hex(commD), seed, hex(id), n, 16n, BigInt(rounds), p]);
        assert.equal(await verify(proof), true);
        assert.equal(verifyPoRep({ commR: sealed.seal.commR, commD: sealed.commD, seed, replicaId: sealed.id, segments: 2 ** sealed.log2, challenges: 16, sealRounds: rounds }, proof), true);
        assert.equal(await verify(proof, sectorId(LESSOR, 78)), false, "another sector's id");
        assert.equal(await verify(corruptWord(proof, sealed.log2 + 1)), false, "wrong data segment");
        // The commD of the same sector without its last piece is another root: the PoRep binds the pieces.
        const fewer = sectorCommD(sealed.log2, sealed.pieces.slice(0, -1));
        assert.notEqual(hex(fewer), hex(sealed.commD));
        assert.equal(await verify(proof, sealed.id, fewer), false, "another layout's commD");
      } finally {
        await replica.close();
        await data.close();
      }
    });

    it("unseals each piece exactly from its offset (chunk-aligned or not, chunk-multiple or odd sizes), checking the piece's own commD", async function () {
      for (const piece of sealed.pieces) {
        const what = `piece of ${piece.size} B at ${piece.offset} (${piece.offset % SEGMENTS_PER_CHUNK === 0 ? "chunk-aligned" : "mid-chunk"})`;
        const bytes = await collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, offset: piece.offset, sealRounds: rounds, expectedCommD: piece.commD }));
        assert.ok(equalBytes(bytes, piece.bytes), what);
        const unchecked = await collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, offset: piece.offset, sealRounds: rounds }));
        assert.ok(equalBytes(unchecked, piece.bytes), `${what}, without commD check`);
        await assert.rejects(
          collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, offset: piece.offset, sealRounds: rounds, expectedCommD: random32() })),
          CorruptReplicaError,
          `${what}: wrong commD`,
        );
      }
      assert.ok(sealed.pieces.some((p) => p.offset % SEGMENTS_PER_CHUNK !== 0));
      assert.ok(sealed.pieces.some((p) => p.size % CHUNK_SIZE === 0) && sealed.pieces.some((p) => p.size % 32 !== 0));
      // unsealFile writes one piece; a wrong sealRounds or offset decodes garbage, caught by commD.
      const piece = sealed.pieces[3];
      const out = join(dir, "piece.out");
      await unsealFile(sealed.sealedPath, out, sealed.id, { size: piece.size, offset: piece.offset, sealRounds: rounds, expectedCommD: piece.commD });
      assert.ok(equalBytes(await readFile(out), piece.bytes));
      await assert.rejects(collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, offset: piece.offset, sealRounds: 1, expectedCommD: piece.commD })), CorruptReplicaError);
      await assert.rejects(collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, offset: piece.offset + 1, sealRounds: rounds, expectedCommD: piece.commD })), CorruptReplicaError);
      // Past the sector's end, and without an offset (the file is then read as one exact replica): refused.
      await assert.rejects(
        collect(unsealStream(sealed.sealedPath, sealed.id, { size: 64, offset: 2 ** 15 - 1, sealRounds: rounds })),
        (e: unknown) => e instanceof TruncatedFileError && e.expectedBytes === (2 ** 15 + 1) * 32 && e.actualBytes === 2 ** 15 * 32,
      );
      await assert.rejects(collect(unsealStream(sealed.sealedPath, sealed.id, { size: piece.size, sealRounds: rounds })), TruncatedFileError);
      // The whole sector decodes back to the unsealed file, as before (offset 0).
      const whole = await collect(unsealStream(sealed.sealedPath, sealed.id, { size: 2 ** 15 * 32, sealRounds: rounds, expectedCommD: sealed.commD }));
      assert.ok(equalBytes(whole, await readFile(sealed.unsealedPath)));
    });
  });

  describe("a large sector", function () {
    it("a 64 MiB sector (log2 21): seal, then unseal a piece from the middle reading only around it", async function () {
      this.timeout(300_000);
      const started = performance.now();
      // 20 MiB + 12,345 B (depth 20) at 0, 9 MiB + 7 B (depth 19) at 2^20, 3 MiB + 1 B (depth 17), 1,000 B.
      const MiB = 1024 * 1024;
      const sector = await buildSector([3 * MiB + 1, 20 * MiB + 12_345, 1_000, 9 * MiB + 7], { minSectorLog: 21, maxSectorLog: 25 }, 4242);
      assert.equal(sector.log2, 21);
      const built = performance.now();
      const sealedSector = await sealSector(sector, 1);
      const sealSeconds = (performance.now() - built) / 1000;
      const commit = await commitFile(sector.unsealedPath);
      assert.equal(hex(commit.root), hex(sector.commD));
      const middle = sector.pieces[1];
      assert.equal(middle.offset, 2 ** 20);
      assert.equal(middle.size, 9 * MiB + 7);

      const readBefore = await bytesReadByProcess();
      const unsealStarted = performance.now();
      const bytes = await collect(unsealStream(sealedSector.sealedPath, sector.id, { size: middle.size, offset: middle.offset, expectedCommD: middle.commD }));
      const unsealMs = performance.now() - unsealStarted;
      const readAfter = await bytesReadByProcess();
      assert.ok(equalBytes(bytes, middle.bytes));

      const wholeStarted = performance.now();
      let wholeBytes = 0;
      for await (const block of unsealStream(sealedSector.sealedPath, sector.id, { size: 2 ** 21 * 32 })) wholeBytes += block.bytes.length;
      const wholeMs = performance.now() - wholeStarted;
      assert.equal(wholeBytes, 64 * MiB);

      const read = readBefore !== undefined && readAfter !== undefined ? readAfter - readBefore : undefined;
      console.log(
        `      64 MiB sector: built ${((built - started) / 1000).toFixed(2)} s, sealed ${sealSeconds.toFixed(2)} s; unseal of the 9 MiB piece at 32 MiB ` +
          `${unsealMs.toFixed(0)} ms reading ${read === undefined ? "?" : (read / MiB).toFixed(2)} MiB; whole-sector decode ${wholeMs.toFixed(0)} ms`,
      );
      if (read !== undefined) {
        // The piece (9 MiB) plus, per 4 MiB block decoded in parallel, the window of 256 KiB before it; far from
        // the sector's 64 MiB, and nothing of the 32 MiB before the piece.
        const blocks = Math.ceil(middle.size / (4 * MiB));
        assert.ok(read >= middle.size, `read ${read} bytes, less than the piece`);
        assert.ok(read <= middle.size + blocks * CHUNK_SIZE + 64 * 1024, `read ${read} bytes for a ${middle.size}-byte piece`);
      }
    });
  });
});
