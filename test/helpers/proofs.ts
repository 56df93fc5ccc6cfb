/**
 * Builders of the flat bytes32[] proofs the market contracts verify (docs/protocol.md §5, §7.2, §8, §12), from
 * the TypeScript engine in node/proofs. Everything is in memory: a sector is at most 2^maxSectorLog segments in
 * the tests, so its unsealed and sealed trees are kept whole.
 */
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";
import { fileLayout } from "../../node/proofs/layout.js";
import { hashPair, sha256Words, toWord, wordMod } from "../../node/proofs/hash.js";
import { buildLevels, merkleRoot, siblingsFromLevels, toSegments } from "../../node/proofs/merkle.js";
import { sealBytes, sealDependency } from "../../node/proofs/seal.js";
import { porepChallenges } from "../../node/proofs/challenges.js";
import { pieceChallenges, pieceOffsets, sectorCommD, sectorId } from "../../node/proofs/sectors.js";

export interface Tree {
  readonly leaves: Uint8Array;
  readonly levels: Uint8Array[];
  readonly root: Hex;
  readonly depth: number;
  readonly n: number;
}

export function buildTree(segments: Uint8Array, depth: number): Tree {
  const levels = depth === 0 ? [segments] : buildLevels(segments, depth);
  return { leaves: segments, levels, root: bytesToHex(merkleRoot(segments, depth)), depth, n: segments.length / 32 };
}

export function segmentAt(tree: Tree, i: number): Uint8Array {
  return tree.leaves.subarray(32 * i, 32 * i + 32);
}

/** Opening of segment i: the segment then `depth` siblings bottom-up. */
export function opening(tree: Tree, i: number): Hex[] {
  const siblings = tree.depth === 0 ? [] : siblingsFromLevels(tree.levels, i);
  return [bytesToHex(segmentAt(tree, i)), ...siblings.map((s) => bytesToHex(s))];
}

/** A file's tree as its deal commits it (commD: depth ceil(log2 n), zero leaves past its end). */
export function dataTree(bytes: Uint8Array): Tree {
  const { depth } = fileLayout(bytes.length);
  return buildTree(toSegments(bytes), depth);
}

/** One slot of a deal to put in a sector: the deal's bytes, as its client committed them. */
export interface PieceInput {
  readonly dealId: Hex;
  readonly index: number;
  readonly bytes: Uint8Array;
}

/** A piece placed in a sector. */
export interface SectorPiece extends PieceInput {
  /** The deal's data tree (commD = data.root). */
  readonly data: Tree;
  /** The deal's segments n (what an on-chain challenge of the piece is stratified over). */
  readonly segments: number;
  readonly depth: number;
  /** Its first segment in the sector. */
  readonly offset: number;
}

/** A sector as its lessor keeps it: the unsealed and the sealed tree, both over all 2^log2Segments segments. */
export interface SealedSector {
  readonly lessor: Address;
  readonly sectorNumber: bigint;
  /** sectorId = H(abi(lessor, sectorNumber)). */
  readonly id: Hex;
  /** The sealing replicaId: the sector id's bytes. */
  readonly replicaId: Uint8Array;
  readonly log2Segments: number;
  /** In sector order (non-increasing depth). */
  readonly pieces: readonly SectorPiece[];
  readonly unsealed: Tree;
  readonly sealed: Tree;
  readonly commD: Hex;
  readonly commR: Hex;
}

/** Stable sort by non-increasing depth: the order commitSector takes pieces in. */
export function sectorOrder<T extends PieceInput>(pieces: readonly T[]): T[] {
  return pieces
    .map((p, i) => ({ p, i, depth: fileLayout(p.bytes.length).depth }))
    .sort((x, y) => y.depth - x.depth || x.i - y.i)
    .map((x) => x.p);
}

/** Smallest sector (at least 2^minSectorLog) holding pieces of these depths packed in sector order. */
export function sectorLog2For(depths: readonly number[], minSectorLog: number): number {
  const needed = depths.reduce((sum, d) => sum + 2 ** d, 0);
  let log2 = minSectorLog;
  while (2 ** log2 < needed) log2++;
  return log2;
}

/**
 * Lays `pieces` (already in sector order) at their aligned offsets in a sector of 2^log2Segments segments, zeros
 * elsewhere, and seals all of it with the sector's id as replicaId (§12.2). Checks the unsealed root against
 * the engine's sectorCommD, the value the contract recomputes.
 */
export function sealSector(lessor: Address, sectorNumber: bigint, log2Segments: number, pieces: readonly PieceInput[], rounds: number): SealedSector {
  const datas = pieces.map((p) => dataTree(p.bytes));
  const offsets = pieceOffsets(log2Segments, datas.map((d) => d.depth));
  const size = 2 ** log2Segments;
  const leaves = new Uint8Array(size * 32);
  datas.forEach((d, i) => leaves.set(d.leaves, offsets[i] * 32));
  const unsealed = buildTree(leaves, log2Segments);
  const expected = bytesToHex(sectorCommD(log2Segments, datas.map((d) => ({ commD: d.root, depth: d.depth }))));
  if (expected !== unsealed.root) throw new Error(`sector commD ${unsealed.root} differs from sectorCommD ${expected}`);
  const replicaId = sectorId(lessor, sectorNumber);
  const sealed = buildTree(sealBytes(leaves, replicaId, rounds), log2Segments);
  return {
    lessor,
    sectorNumber,
    id: bytesToHex(replicaId),
    replicaId,
    log2Segments,
    pieces: pieces.map((p, i) => ({ ...p, data: datas[i], segments: datas[i].n, depth: datas[i].depth, offset: offsets[i] })),
    unsealed,
    sealed,
    commD: unsealed.root,
    commR: sealed.root,
  };
}

/** The sector's PoRep answer (§5) for `seed`: per challenge S[i], D[i], and for i >= 1 S[i-1], S[d(i)]. */
export function porepProof(seed: Hex, sector: SealedSector, k: number): Hex[] {
  const proof: Hex[] = [];
  for (const i of porepChallenges(seed, sector.replicaId, sector.commR, k, sector.sealed.n)) {
    proof.push(...opening(sector.sealed, i), ...opening(sector.unsealed, i));
    if (i >= 1) {
      const d = sealDependency(segmentAt(sector.sealed, i - 1), i);
      proof.push(...opening(sector.sealed, i - 1), ...opening(sector.sealed, d));
    }
  }
  return proof;
}

/** The answer to an on-chain challenge of `piece` (§7.2, §12.5): kPoSt openings in the sector's sealed tree. */
export function pieceChallengeProof(seed: Hex, sector: SealedSector, piece: Pick<SectorPiece, "segments" | "offset">, k: number): Hex[] {
  return pieceChallenges(seed, sector.replicaId, k, piece.segments, piece.offset).flatMap((i) => opening(sector.sealed, i));
}

/** PoD ciphertext (§8): E[i] = D[i] xor H(key ‖ be256(i)). `corruptIndex` flips a byte of one segment. */
export function encryptForDownload(data: Tree, key: Uint8Array, corruptIndex?: number): Tree {
  const out = new Uint8Array(data.leaves.length);
  for (let i = 0; i < data.n; i++) {
    const stream = hashPair(key, toWord(BigInt(i)));
    for (let b = 0; b < 32; b++) out[32 * i + b] = data.leaves[32 * i + b] ^ stream[b];
  }
  if (corruptIndex !== undefined) out[32 * corruptIndex] ^= 0xff;
  return buildTree(out, data.depth);
}

export function receiptChallenge(blockHash: Hex, downloadId: Hex, n: number): number {
  return wordMod(sha256Words(hexToBytes(blockHash), hexToBytes(downloadId)), n);
}

/** Deterministic pseudo-random bytes (tests must be reproducible). */
export function pseudoRandomBytes(length: number, label: string): Uint8Array {
  const out = new Uint8Array(length);
  let block = sha256Words(new TextEncoder().encode(label.padEnd(32, "\0").slice(0, 32)));
  for (let offset = 0; offset < length; offset += 32) {
    out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    block = hashPair(block, block);
  }
  return out;
}

/** A copy of `proof` with word `at` changed (one bit flipped). */
export function flipWord(proof: readonly Hex[], at: number): Hex[] {
  const out = [...proof];
  out[at] = `0x${(BigInt(out[at]) ^ 1n).toString(16).padStart(64, "0")}` as Hex;
  return out;
}
