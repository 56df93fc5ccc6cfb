/**
 * TEMPORARY stand-in, to be deleted: the engine's TypeScript twins of sector layout and PoSt derivation are
 * being written as node/proofs/sectors.ts (branch h-engine). Until that is merged, the tests use these tiny
 * versions under the same names and signatures; once merged, test/helpers imports node/proofs/sectors.ts and
 * this file goes (no duplicate twin may remain).
 */
import { isAddress, type Address, type Hex } from "viem";
import { hashPair, sha256Words, wordMod } from "../../node/proofs/hash.js";
import { ZERO_HASHES } from "../../node/proofs/merkle.js";
import { spotChallenges } from "../../node/proofs/challenges.js";
import { asWord } from "../../node/proofs/words.js";

/** sectorId = H(abi(lessor, uint256 sectorNumber)), also the sealing replicaId (ProofMath.sectorId). */
export function sectorId(lessor: Address, sectorNumber: number | bigint): Uint8Array {
  if (!isAddress(lessor, { strict: false })) throw new RangeError(`lessor must be an address, got ${lessor}`);
  return sha256Words(Uint8Array.from(Buffer.from(lessor.slice(2), "hex")), BigInt(sectorNumber));
}

/** Offsets of pieces of the given depths (non-increasing) packed from 0, each aligned to its size. */
export function pieceOffsets(log2Segments: number, depths: readonly number[]): number[] {
  let cursor = 0;
  let last = log2Segments;
  return depths.map((depth, i) => {
    if (depth > last) throw new RangeError(`piece ${i} (depth ${depth}) is larger than the one before it`);
    const offset = cursor;
    cursor += 2 ** depth;
    if (cursor > 2 ** log2Segments) throw new RangeError(`pieces need ${cursor} segments, the sector has ${2 ** log2Segments}`);
    last = depth;
    return offset;
  });
}

/** The sector's unsealed root from its pieces' commDs (SectorTree.sol): pieces at pieceOffsets, zeros elsewhere. */
export function sectorCommD(log2Segments: number, pieces: readonly { commD: Uint8Array | Hex; depth: number }[]): Uint8Array {
  const offsets = pieceOffsets(log2Segments, pieces.map((p) => p.depth));
  const node = (height: number, start: number): Uint8Array => {
    const inside = pieces.findIndex((p, i) => offsets[i] >= start && offsets[i] < start + 2 ** height);
    if (inside < 0) return ZERO_HASHES[height];
    if (offsets[inside] === start && pieces[inside].depth === height) return asWord(pieces[inside].commD, "commD");
    return hashPair(node(height - 1, start), node(height - 1, start + 2 ** (height - 1)));
  };
  return node(log2Segments, 0);
}

/** Total proving segments of a counts word (16 bits per size class, class c = log2Segments - minSectorLog). */
export function provingTotal(counts: bigint, minSectorLog: number): number {
  let total = 0n;
  for (let c = 0; c < 16; c++) total += ((counts >> BigInt(16 * c)) & 0xffffn) << BigInt(minSectorLog + c);
  return Number(total);
}

/** PoSt draw j of a period: u256(H(abi(seed, lessor, uint256 j))) mod total (ProofMath.postDraw). */
export function postDraw(seed: Uint8Array | Hex, lessor: Address, j: number, total: number): number {
  return wordMod(sha256Words(asWord(seed, "seed"), Uint8Array.from(Buffer.from(lessor.slice(2), "hex")), BigInt(j)), total);
}

export interface PoStLocation {
  readonly log2Segments: number;
  readonly index: number;
  readonly offset: number;
}

/** Where draw x falls: sizes from the largest down, each size's sectors in array order (ProofMath.postLocate). */
export function postLocate(counts: bigint, minSectorLog: number, x: number): PoStLocation {
  let rest = BigInt(x);
  for (let k = 16; k > 0; k--) {
    const n = (counts >> BigInt((k - 1) * 16)) & 0xffffn;
    if (n === 0n) continue;
    const log2Segments = minSectorLog + k - 1;
    const span = n << BigInt(log2Segments);
    if (rest < span) return { log2Segments, index: Number(rest >> BigInt(log2Segments)), offset: Number(rest & ((1n << BigInt(log2Segments)) - 1n)) };
    rest -= span;
  }
  throw new RangeError(`draw ${x} lies beyond the proving set`);
}

/** The kPoSt challenges of a lessor's period, located in its proving sectors. */
export function lessorPoStChallenges(seed: Uint8Array | Hex, lessor: Address, k: number, counts: bigint, minSectorLog: number): PoStLocation[] {
  const total = provingTotal(counts, minSectorLog);
  return Array.from({ length: k }, (_, j) => postLocate(counts, minSectorLog, postDraw(seed, lessor, j, total)));
}

/** An on-chain challenge's segments of a piece, in its sector's tree: offset + spotChallenge(seed, sectorId, j, k, segments). */
export function pieceChallenges(seed: Uint8Array | Hex, sector: Uint8Array | Hex, k: number, pieceSegments: number, offset: number): number[] {
  return spotChallenges(seed, sector, k, pieceSegments).map((i) => offset + i);
}
