import { open } from "node:fs/promises";
import { isAddress, type Address } from "viem";
import { spotChallenges } from "./challenges.js";
import { COMMIT_BLOCK_SIZE } from "./commit.js";
import type { SegmentSource } from "./committed-file.js";
import { SEGMENT_SIZE } from "./constants.js";
import { DrawBeyondProvingSetError, MalformedProofError, SectorLayoutError, throwIfAborted, TruncatedFileError } from "./errors.js";
import { readFully, writeFileAtomically } from "./files.js";
import { hashPair, sha256Words } from "./hash.js";
import { fileLayout } from "./layout.js";
import { proofsLogger } from "./logger.js";
import { ZERO_HASHES } from "./merkle.js";
import { flattenOpenings, proofWords, verifyOpeningWords } from "./openings.js";
import type { LongOperationOptions } from "./types.js";
import { asWord, type Hex } from "./words.js";

/**
 * Sectors (docs/protocol.md §12): a lessor packs pieces (replicas of deals) into a sector of 2^s segments,
 * seals it once with replicaId = sectorId, and proves all its sectors with one PoSt per period. Twins of
 * ProofMath.sectorId / postDraw / postLocate, SectorTree and ProofVerifier.verifyChallenge.
 */

/** Largest sector handled here: 2^48 segments (8 EiB) keeps every segment count a safe integer (the market allows ≤ 45). */
export const MAX_SECTOR_LOG = 48;
/** Size classes in a lessor's proving counts word: 16 counts of 16 bits (StorageMarket.SIZE_CLASSES). */
export const SECTOR_SIZE_CLASSES = 16;
const COUNT_BITS = 16n;
const COUNT_MASK = (1n << COUNT_BITS) - 1n;

// ------------------------------------------------------------------ identity

/** sectorId = H(abi(address lessor, uint256 sectorNumber)): the sector's id and the replicaId it is sealed with. Mirrors ProofMath.sectorId. */
export function sectorId(lessor: Address, sectorNumber: number | bigint): Uint8Array {
  const number = BigInt(sectorNumber);
  if (number < 0n) throw new SectorLayoutError("invalid", `sector number must be non-negative, got ${number}`);
  return sha256Words(addressBytes(lessor), number);
}

function addressBytes(lessor: Address): Uint8Array {
  if (!isAddress(lessor, { strict: false })) throw new MalformedProofError(`lessor must be an address, got ${lessor}`);
  return Uint8Array.from(Buffer.from(lessor.slice(2), "hex"));
}

// ------------------------------------------------------------------ layout and commD

/** A piece's depth: ceil(log2(its data segments)), as the market stores it per deal (ProofMath.depthOf(segmentCount(size))). */
export function pieceDepth(sizeBytes: number): number {
  return fileLayout(sizeBytes).depth;
}

function checkLog2(log2Segments: number, what = "log2Segments"): void {
  if (!Number.isSafeInteger(log2Segments) || log2Segments < 0 || log2Segments > MAX_SECTOR_LOG) {
    throw new SectorLayoutError("invalid", `${what} must be an integer in [0, ${MAX_SECTOR_LOG}], got ${log2Segments}`);
  }
}

function checkDepth(depth: number, i: number): void {
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > MAX_SECTOR_LOG) {
    throw new SectorLayoutError("invalid", `piece ${i}'s depth must be an integer in [0, ${MAX_SECTOR_LOG}], got ${depth}`);
  }
}

/**
 * The first segment of each piece in a sector of 2^log2Segments segments, pieces in the given order at the
 * running cursor. Throws SectorLayoutError as StorageMarket.commitSector reverts: "out-of-order" when a depth
 * exceeds the previous one (or the sector's), "overfull" when the pieces pass the sector's end.
 */
export function pieceOffsets(log2Segments: number, depths: readonly number[]): number[] {
  checkLog2(log2Segments);
  const capacity = 2 ** log2Segments;
  let cursor = 0;
  let lastDepth = log2Segments;
  return depths.map((depth, i) => {
    checkDepth(depth, i);
    if (depth > lastDepth) {
      throw new SectorLayoutError(
        "out-of-order",
        depth > log2Segments
          ? `piece ${i} has depth ${depth}, more than the sector's ${log2Segments}`
          : `piece ${i} has depth ${depth} after a piece of depth ${lastDepth}: pieces go in non-increasing depth`,
      );
    }
    const end = cursor + 2 ** depth;
    if (end > capacity) throw new SectorLayoutError("overfull", `piece ${i} (depth ${depth}) ends at segment ${end}, past the sector's ${capacity}`);
    const offset = cursor;
    cursor = end;
    lastDepth = depth;
    return offset;
  });
}

/**
 * The unsealed sector's root from its pieces' commDs (SectorTree): each piece is the node at its own height
 * at its (aligned) offset, the rest of the sector zero subtrees. O(pieces + log2Segments) hashes. Equals the
 * Merkle root of the file writeUnsealedSector writes for the same pieces. Throws SectorLayoutError on
 * pieces out of order or past the sector's end.
 */
export function sectorCommD(log2Segments: number, pieces: readonly { commD: Uint8Array | Hex; depth: number }[]): Uint8Array {
  pieceOffsets(log2Segments, pieces.map((piece) => piece.depth));
  const nodes: Uint8Array[] = [];
  const heights: number[] = [];
  const push = (root: Uint8Array, height: number) => {
    while (nodes.length > 0 && heights[heights.length - 1] === height) {
      root = hashPair(nodes.pop()!, root);
      heights.pop();
      height++;
    }
    nodes.push(root);
    heights.push(height);
  };
  let cursor = 0;
  pieces.forEach((piece, i) => {
    push(asWord(piece.commD, `piece ${i}'s commD`), piece.depth);
    cursor += 2 ** piece.depth;
  });
  const end = 2 ** log2Segments;
  while (cursor < end) {
    // The largest aligned block at the cursor: its lowest set bit (the whole sector when the cursor is 0).
    let block = 1;
    if (cursor === 0) block = end;
    else while ((cursor / block) % 2 === 0) block *= 2;
    let height = 0;
    while (2 ** height < block) height++;
    push(ZERO_HASHES[height], height);
    cursor += block;
  }
  return nodes[0];
}

/** The order and size of one sector for a list of pieces. */
export interface SectorPlan {
  log2Segments: number;
  /** Indices into the caller's list of pieces, in sector order (depth descending, stable). */
  order: number[];
  /** First segment of each piece, in `order`'s order. */
  offsets: number[];
}

export interface SectorBounds {
  minSectorLog: number;
  maxSectorLog: number;
}

function checkBounds(bounds: SectorBounds): void {
  checkLog2(bounds.minSectorLog, "minSectorLog");
  checkLog2(bounds.maxSectorLog, "maxSectorLog");
  if (bounds.minSectorLog > bounds.maxSectorLog) {
    throw new SectorLayoutError("invalid", `minSectorLog ${bounds.minSectorLog} is above maxSectorLog ${bounds.maxSectorLog}`);
  }
}

/** Piece indices sorted by depth, deepest first, ties in input order. */
function depthOrder(depths: readonly number[]): number[] {
  depths.forEach(checkDepth);
  return depths.map((_, i) => i).sort((a, b) => depths[b] - depths[a] || a - b);
}

/** log2 of the smallest power of two ≥ segments (0 for 0 or 1). */
function ceilLog2(segments: number): number {
  let log2 = 0;
  while (2 ** log2 < segments) log2++;
  return log2;
}

/**
 * The smallest sector (≥ minSectorLog) holding every piece, pieces sorted by depth descending (stable).
 * Sorted that way the pieces pack without gaps (each cursor is a multiple of the next piece's size), so the
 * sector needs only ceil(log2(Σ 2^depth)). No pieces: a capacity sector of minSectorLog. Throws
 * SectorLayoutError "too-large" when even maxSectorLog cannot hold them (split them with packSectors).
 */
export function planSector(depths: readonly number[], bounds: SectorBounds): SectorPlan {
  checkBounds(bounds);
  const order = depthOrder(depths);
  const used = order.reduce((sum, i) => sum + 2 ** depths[i], 0);
  const log2Segments = Math.max(bounds.minSectorLog, ceilLog2(used));
  if (log2Segments > bounds.maxSectorLog) {
    throw new SectorLayoutError("too-large", `${depths.length} pieces need ${used} segments, more than the largest sector (2^${bounds.maxSectorLog})`);
  }
  return { log2Segments, order, offsets: pieceOffsets(log2Segments, order.map((i) => depths[i])) };
}

/**
 * Splits pieces into as few sectors as first-fit decreasing finds: pieces by depth descending (stable), each
 * into the first sector with room left (sectors of up to 2^maxSectorLog segments), a new sector when none
 * has; each sector is then shrunk to the smallest size holding its pieces (≥ minSectorLog). With power-of-two
 * pieces in decreasing order, first-fit never leaves a gap a later piece could use, so the sectors are as
 * full as their pieces allow. Throws SectorLayoutError "too-large" for a piece deeper than maxSectorLog.
 */
export function packSectors(depths: readonly number[], bounds: SectorBounds): SectorPlan[] {
  checkBounds(bounds);
  const capacity = 2 ** bounds.maxSectorLog;
  const bins: { used: number; order: number[] }[] = [];
  for (const i of depthOrder(depths)) {
    if (depths[i] > bounds.maxSectorLog) {
      throw new SectorLayoutError("too-large", `piece ${i} has depth ${depths[i]}, more than the largest sector (2^${bounds.maxSectorLog})`);
    }
    const size = 2 ** depths[i];
    let bin = bins.find((b) => b.used + size <= capacity);
    if (!bin) bins.push((bin = { used: 0, order: [] }));
    bin.used += size;
    bin.order.push(i);
  }
  return bins.map(({ used, order }) => {
    const log2Segments = Math.max(bounds.minSectorLog, ceilLog2(used));
    return { log2Segments, order, offsets: pieceOffsets(log2Segments, order.map((i) => depths[i])) };
  });
}

// ------------------------------------------------------------------ the unsealed sector file

export interface UnsealedPiece {
  /** The piece's data file (exactly `size` bytes). */
  path: string;
  /** First segment of the piece in the sector. */
  offset: number;
  /** The piece's length in bytes (the deal's size). */
  size: number;
}

/**
 * Writes the unsealed sector: exactly 2^log2Segments·32 bytes, each piece's bytes at offset·32, zeros
 * everywhere else. The file is sparse (ftruncate, then only the pieces' bytes are written, streamed in 4 MiB
 * blocks: sectors can be GiBs), through a temporary file renamed at the end (an abort or a failure leaves
 * nothing). Pieces may be in any order but must not overlap nor pass the sector's end.
 */
export async function writeUnsealedSector(outPath: string, log2Segments: number, pieces: readonly UnsealedPiece[], options: LongOperationOptions = {}): Promise<void> {
  checkLog2(log2Segments);
  const logger = options.logger ?? proofsLogger;
  const sectorBytes = 2 ** log2Segments * SEGMENT_SIZE;
  const ranges = pieces
    .map((piece, i) => {
      if (!Number.isSafeInteger(piece.offset) || piece.offset < 0) throw new SectorLayoutError("invalid", `piece ${i}'s offset must be a non-negative integer, got ${piece.offset}`);
      if (!Number.isSafeInteger(piece.size) || piece.size < 0) throw new SectorLayoutError("invalid", `piece ${i}'s size must be a non-negative integer, got ${piece.size}`);
      return { i, start: piece.offset * SEGMENT_SIZE, end: piece.offset * SEGMENT_SIZE + piece.size };
    })
    .sort((a, b) => a.start - b.start);
  ranges.forEach((range, k) => {
    if (range.end > sectorBytes) throw new SectorLayoutError("overfull", `piece ${range.i} ends at byte ${range.end}, past the sector's ${sectorBytes}`);
    const next = ranges[k + 1];
    if (next && next.start < range.end) throw new SectorLayoutError("invalid", `pieces ${range.i} and ${next.i} overlap`);
  });
  const bytesTotal = pieces.reduce((sum, piece) => sum + piece.size, 0);
  let bytesDone = 0;
  const started = performance.now();
  await writeFileAtomically(outPath, async (output) => {
    await output.truncate(sectorBytes);
    const block = new Uint8Array(Math.min(COMMIT_BLOCK_SIZE, pieces.reduce((most, piece) => Math.max(most, piece.size), SEGMENT_SIZE)));
    for (const piece of pieces) {
      throwIfAborted(options.signal, `writeUnsealedSector(${outPath})`);
      const input = await open(piece.path, "r");
      try {
        const { size: actual } = await input.stat();
        if (actual !== piece.size) throw new TruncatedFileError(piece.path, piece.size, actual);
        for (let position = 0; position < piece.size; position += block.length) {
          throwIfAborted(options.signal, `writeUnsealedSector(${outPath})`);
          const length = Math.min(block.length, piece.size - position);
          await readFully(input, block, length, position, piece.path, piece.size);
          let written = 0;
          while (written < length) {
            const { bytesWritten } = await output.write(block, written, length - written, piece.offset * SEGMENT_SIZE + position + written);
            written += bytesWritten;
          }
          bytesDone += length;
          options.onProgress?.({ phase: "sector", bytesDone, bytesTotal });
        }
      } finally {
        await input.close();
      }
    }
  });
  logger.debug({ outPath, log2Segments, pieces: pieces.length, bytesTotal, ms: performance.now() - started }, "wrote unsealed sector");
}

// ------------------------------------------------------------------ PoSt: one proof per lessor (§12.4)

function u256(word: Uint8Array): bigint {
  let n = 0n;
  for (const byte of word) n = (n << 8n) | BigInt(byte);
  return n;
}

/** A lessor's PoSt challenge j of a period as a draw over its `total` proving segments: u256(H(abi(seed, lessor, j))) mod total. Mirrors ProofMath.postDraw. */
export function postDraw(seed: Uint8Array | Hex, lessor: Address, j: number | bigint, total: number | bigint): bigint {
  const modulus = BigInt(total);
  if (modulus <= 0n) throw new RangeError(`a PoSt draw needs proving segments, got a total of ${modulus}`);
  return u256(sha256Words(asWord(seed, "seed"), addressBytes(lessor), BigInt(j))) % modulus;
}

function checkCounts(counts: bigint, minSectorLog: number): void {
  if (typeof counts !== "bigint" || counts < 0n || counts >> 256n !== 0n) throw new RangeError(`counts must be a uint256 bigint, got ${String(counts)}`);
  checkLog2(minSectorLog, "minSectorLog");
}

/** Proving sectors of size class c (log2Segments = minSectorLog + c) in a counts word. */
function classCount(counts: bigint, c: number): bigint {
  return (counts >> (BigInt(c) * COUNT_BITS)) & COUNT_MASK;
}

/** Σ count·2^log2 over a counts word's size classes: the lessor's proving segments (StorageMarket._totals). */
export function provingTotal(counts: bigint, minSectorLog: number): bigint {
  checkCounts(counts, minSectorLog);
  let total = 0n;
  for (let c = 0; c < SECTOR_SIZE_CLASSES; c++) total += classCount(counts, c) << BigInt(minSectorLog + c);
  return total;
}

/** The counts word of a lessor's proving sectors (16 bits per size class c = log2Segments − minSectorLog), as StorageMarket.provingCounts returns it. */
export function provingCounts(log2Sizes: readonly number[], minSectorLog: number): bigint {
  checkLog2(minSectorLog, "minSectorLog");
  const perClass = new Array<bigint>(SECTOR_SIZE_CLASSES).fill(0n);
  for (const log2 of log2Sizes) {
    const c = log2 - minSectorLog;
    if (!Number.isSafeInteger(c) || c < 0 || c >= SECTOR_SIZE_CLASSES) throw new SectorLayoutError("invalid", `sector size 2^${log2} is outside the classes from 2^${minSectorLog}`);
    if (++perClass[c] > COUNT_MASK) throw new SectorLayoutError("invalid", `more than ${COUNT_MASK} sectors of size 2^${log2}`);
  }
  return perClass.reduce((word, n, c) => word | (n << (BigInt(c) * COUNT_BITS)), 0n);
}

/** Where a PoSt draw falls in a lessor's proving sectors. */
export interface PoStLocation {
  /** The hit sector's size. */
  log2Segments: number;
  /** Its position in the lessor's array of that size (StorageMarket.provingSectorAt). */
  index: number;
  /** The challenged segment in it. */
  offset: number;
}

/**
 * Where draw `x` falls: sizes from the largest class down, each size's sectors in their array order.
 * Mirrors ProofMath.postLocate; DrawBeyondProvingSetError when x ≥ provingTotal (its revert).
 */
export function postLocate(counts: bigint, minSectorLog: number, x: bigint): PoStLocation {
  checkCounts(counts, minSectorLog);
  let rest = BigInt(x);
  if (rest < 0n) throw new RangeError(`a PoSt draw is non-negative, got ${rest}`);
  for (let c = SECTOR_SIZE_CLASSES - 1; c >= 0; c--) {
    const n = classCount(counts, c);
    if (n === 0n) continue;
    const log2Segments = minSectorLog + c;
    const span = n << BigInt(log2Segments);
    if (rest < span) {
      return { log2Segments, index: Number(rest >> BigInt(log2Segments)), offset: Number(rest & ((1n << BigInt(log2Segments)) - 1n)) };
    }
    rest -= span;
  }
  throw new DrawBeyondProvingSetError(rest);
}

export interface LessorPoStChallenge extends PoStLocation {
  j: number;
  /** The draw x_j over the lessor's proving segments. */
  draw: bigint;
}

/** The k challenges of a lessor's PoSt for a period (StorageMarket.submitPoSt's loop), in proof order. */
export function lessorPoStChallenges(seed: Uint8Array | Hex, lessor: Address, k: number, counts: bigint, minSectorLog: number): LessorPoStChallenge[] {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`challenge count must be a non-negative integer, got ${k}`);
  const total = provingTotal(counts, minSectorLog);
  if (total === 0n) throw new RangeError("the lessor has no proving sectors (StorageMarket: MarketNothingToProve)");
  return Array.from({ length: k }, (_, j) => {
    const draw = postDraw(seed, lessor, j, total);
    return { j, draw, ...postLocate(counts, minSectorLog, draw) };
  });
}

// ------------------------------------------------------------------ openings of a sealed sector

/**
 * The flat proof words of `indices` in a sealed sector's tree: for each index in order, the segment then its
 * depth siblings, bottom-up (what Sha256Merkle.verifyOpening reads, stride depth + 1). A CommittedFile
 * must be a "replica" (the sealed tree): openings of the unsealed data would never verify against commR.
 */
export async function proveSegments(sector: SegmentSource, indices: readonly number[]): Promise<Hex[]> {
  const kind = (sector as { kind?: unknown }).kind;
  if (kind !== undefined && kind !== "replica") throw new MalformedProofError(`openings for commR need the sealed sector, got a ${String(kind)} file`);
  return flattenOpenings(await sector.openSegments(indices));
}

function checkSector(sector: SegmentSource, log2Segments: number, what: string): void {
  if (sector.layout.segmentCount !== 2 ** log2Segments) {
    throw new MalformedProofError(`${what} has ${sector.layout.segmentCount} segments, not a sector of 2^${log2Segments}`);
  }
}

export interface ProveLessorPoStParams {
  /** The period's seed (StorageMarket.periodSeed). */
  seed: Uint8Array | Hex;
  lessor: Address;
  /** kPoSt. */
  challenges: number;
  /** StorageMarket.provingCounts(lessor) when the proof is submitted. */
  counts: bigint;
  minSectorLog: number;
  /** The sealed sector at (size, index) of the lessor's proving arrays (StorageMarket.provingSectorAt). */
  sector: (log2Segments: number, index: number) => SegmentSource | Promise<SegmentSource>;
}

/** A lessor's whole PoSt for a period (StorageMarket.submitPoSt's proof): k openings, each in its sector's tree. */
export async function proveLessorPoSt(params: ProveLessorPoStParams): Promise<Hex[]> {
  const challenges = lessorPoStChallenges(params.seed, params.lessor, params.challenges, params.counts, params.minSectorLog);
  const parts = await Promise.all(
    challenges.map(async ({ log2Segments, index, offset }) => {
      const sector = await params.sector(log2Segments, index);
      checkSector(sector, log2Segments, `proving sector (2^${log2Segments}, #${index})`);
      return proveSegments(sector, [offset]);
    }),
  );
  return parts.flat();
}

export interface LessorPoStClaim {
  seed: Uint8Array | Hex;
  lessor: Address;
  challenges: number;
  counts: bigint;
  minSectorLog: number;
  /** commR of the sector at (size, index) of the lessor's proving arrays. */
  commR: (log2Segments: number, index: number) => Uint8Array | Hex;
}

/** Mirrors StorageMarket.submitPoSt's check: exactly k openings, challenge j in its sector's commR at its offset. */
export function verifyLessorPoSt(claim: LessorPoStClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const words = proofWords(proof);
  if (words === null) return false;
  let cursor = 0;
  for (const { log2Segments, index, offset } of lessorPoStChallenges(claim.seed, claim.lessor, claim.challenges, claim.counts, claim.minSectorLog)) {
    const next = cursor + log2Segments + 1;
    if (words.length < next) return false;
    if (!verifyOpeningWords(asWord(claim.commR(log2Segments, index), "commR"), offset, log2Segments, words, cursor)) return false;
    cursor = next;
  }
  return cursor === words.length;
}

// ------------------------------------------------------------------ on-chain / timed challenges of one piece (§7.2, §12.5)

/**
 * The sector segments an on-chain challenge of one piece opens: offset + spotChallenges(seed, sectorId, k,
 * pieceSegments) (index j = offset + ProofMath.spotChallenge(seed, sector, j, k, segments)), stratified over
 * the piece's own data segments.
 */
export function pieceChallenges(seed: Uint8Array | Hex, sector: Uint8Array | Hex, k: number, pieceSegments: number, offset: number): number[] {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`piece offset must be a non-negative integer, got ${offset}`);
  return spotChallenges(seed, sector, k, pieceSegments).map((i) => offset + i);
}

export interface ProvePieceChallengeParams {
  /** The sealed sector with its commR tree (a CommittedFile of kind "replica"). */
  sector: SegmentSource;
  sectorId: Uint8Array | Hex;
  /** The challenge's seed (StorageMarket.getChallenge, challengeSeedOf). */
  seed: Uint8Array | Hex;
  /** kPoSt. */
  k: number;
  /** The piece's data segments (the deal's segmentCount). */
  pieceSegments: number;
  /** The piece's first segment in the sector (the replica's offset). */
  offset: number;
}

/** The answer to an on-chain (or timed) challenge of one piece: k openings in the sector's sealed tree. */
export async function provePieceChallenge(params: ProvePieceChallengeParams): Promise<Hex[]> {
  if (params.offset + params.pieceSegments > params.sector.layout.segmentCount) {
    throw new SectorLayoutError("overfull", `piece [${params.offset}, ${params.offset + params.pieceSegments}) passes the sector's ${params.sector.layout.segmentCount} segments`);
  }
  return proveSegments(params.sector, pieceChallenges(params.seed, params.sectorId, params.k, params.pieceSegments, params.offset));
}

export interface PieceChallengeClaim {
  /** The sector's sealed root. */
  commR: Uint8Array | Hex;
  sectorId: Uint8Array | Hex;
  seed: Uint8Array | Hex;
  k: number;
  pieceSegments: number;
  offset: number;
  /** The sector's depth. */
  log2Segments: number;
}

/**
 * Mirrors ProofVerifier.verifyChallenge: exactly k openings (stride log2Segments + 1) of the piece's challenged
 * sector segments against commR. (It also rejects an index past the sector, which the contract never sees:
 * commitSector keeps every piece inside its sector.)
 */
export function verifyPieceChallenge(claim: PieceChallengeClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const words = proofWords(proof);
  const stride = claim.log2Segments + 1;
  if (words === null || words.length !== claim.k * stride) return false;
  const root = asWord(claim.commR, "commR");
  return pieceChallenges(claim.seed, claim.sectorId, claim.k, claim.pieceSegments, claim.offset).every((index, j) =>
    verifyOpeningWords(root, index, claim.log2Segments, words, j * stride),
  );
}
