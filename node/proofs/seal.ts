import { hashInto } from "@chainsafe/hashtree";
import { open } from "node:fs/promises";
import { isAddress, type Address } from "viem";
import { commitBytes, StreamingTreeBuilder } from "./commit.js";
import { SEAL_WINDOW, SEGMENT_SIZE } from "./constants.js";
import { CorruptReplicaError, IndexOutOfRangeError, MalformedProofError, throwIfAborted, TruncatedFileError } from "./errors.js";
import { readFully, writeFileAtomically } from "./files.js";
import { hashPair, sha256Words } from "./hash.js";
import { backEdge, unsealBatch } from "./kernels.js";
import { fileLayout, type FileLayout } from "./layout.js";
import { proofsLogger } from "./logger.js";
import { equalBytes, toSegments } from "./merkle.js";
import { writeTreeCache, type KeptTree } from "./tree-cache.js";
import { hashWorkerPool } from "./worker-pool.js";
import type { LongOperationOptions, PlaintextBlock } from "./types.js";
import { asWord, toHex, xorWords, type Hex } from "./words.js";

/**
 * Replica identity and sealing (docs/protocol.md §4): a sequential, data-dependent chain of SHA-256 calls
 * whose keys depend only on sealed segments, so decoding is parallel and streams chunk by chunk.
 */

/** replicaId = H(abi(address lessor, bytes32 dealId, uint256 replicaIndex)) (§4.1). */
export function replicaId(lessor: Address, dealId: Uint8Array | Hex, replicaIndex: number | bigint): Uint8Array {
  if (!isAddress(lessor, { strict: false })) throw new MalformedProofError(`lessor must be an address, got ${lessor}`);
  if (BigInt(replicaIndex) < 0n) throw new IndexOutOfRangeError("replica index", replicaIndex, 0);
  const address = Uint8Array.from(Buffer.from(lessor.slice(2), "hex"));
  return sha256Words(address, asWord(dealId, "dealId"), BigInt(replicaIndex));
}

/** d(i) for i >= 1: the earlier sealed segment that S[i] depends on, from S[i-1] (§4.2). Mirrors ProofMath.sealDependency. */
export function sealDependency(previousSealed: Uint8Array, i: number): number {
  if (!Number.isSafeInteger(i) || i < 1) throw new RangeError(`sealDependency needs i >= 1, got ${i}`);
  return i - 1 - (u48(previousSealed, 0) % Math.min(i, SEAL_WINDOW));
}

/**
 * K = H((S[i-1] ⊕ replicaId) ‖ S[d(i)]), strengthened rounds - 1 times as K = H(K ‖ S[d(i)]) (§4.2). For
 * i = 0 pass previousSealed = 0 and dependencySealed = replicaId. The replicaId in EVERY key is what stops
 * another identity's sealed chain from satisfying this replica's sealing relation (Sybil, §4.4).
 * Mirrors ProofMath.sealKey.
 */
export function sealKey(replicaId: Uint8Array, previousSealed: Uint8Array, dependencySealed: Uint8Array, rounds: number): Uint8Array {
  checkRounds(rounds);
  let key = hashPair(xorWords(previousSealed, replicaId), dependencySealed);
  for (let r = 1; r < rounds; r++) key = hashPair(key, dependencySealed);
  return key;
}

function u48(bytes: Uint8Array, offset: number): number {
  return bytes[offset] * 2 ** 40 + bytes[offset + 1] * 2 ** 32 + ((bytes[offset + 2] << 24) >>> 0) + (bytes[offset + 3] << 16) + (bytes[offset + 4] << 8) + bytes[offset + 5];
}

function checkRounds(rounds: number): void {
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`sealRounds must be a positive integer, got ${rounds}`);
}

/**
 * The sequential encoder: feed data segments in order, get sealed segments back. Keeps the last W sealed
 * segments (one chunk) for the back edges, nothing more.
 */
export class Sealer {
  private ring: Uint8Array;
  private ring32: Uint32Array;
  /** Sealed segments kept at the front of `ring` (the window before the next block). */
  private kept = 0;
  private nextIndex = 0;
  private readonly input = new Uint8Array(64);
  private readonly input32 = new Uint32Array(this.input.buffer);
  private readonly key = new Uint8Array(32);
  private readonly key32 = new Uint32Array(this.key.buffer);
  private readonly replica32: Uint32Array;

  constructor(readonly replicaId: Uint8Array, readonly rounds: number) {
    checkRounds(rounds);
    this.replica32 = new Uint32Array(new Uint8Array(asWord(replicaId, "replicaId")).buffer);
    this.ring = new Uint8Array(SEAL_WINDOW * 32);
    this.ring32 = new Uint32Array(this.ring.buffer);
  }

  /** Index of the next segment to seal. */
  get position(): number {
    return this.nextIndex;
  }

  /** Seals the next segments (`data`: whole 32-byte segments) and returns their sealed form (a new array). */
  sealBlock(data: Uint8Array): Uint8Array {
    if (data.length % SEGMENT_SIZE !== 0) throw new RangeError("sealBlock takes whole segments");
    const count = data.length / SEGMENT_SIZE;
    if (this.ring.length < (SEAL_WINDOW + count) * 32) {
      const bigger = new Uint8Array((SEAL_WINDOW + count) * 32);
      bigger.set(this.ring.subarray(0, this.kept * 32));
      this.ring = bigger;
      this.ring32 = new Uint32Array(bigger.buffer);
    }
    const aligned = data.byteOffset % 4 === 0 ? data : new Uint8Array(data); // copies (Buffer.slice would not)
    const data32 = new Uint32Array(aligned.buffer, aligned.byteOffset, count * 8);
    const { ring, ring32, input, input32, key, key32, replica32, rounds } = this;
    for (let k = 0; k < count; k++) {
      const i = this.nextIndex + k;
      const position = this.kept + k;
      let dependency = -1; // word offset of S[d(i)] in the ring; -1 reads as replicaId
      if (i === 0) {
        for (let w = 0; w < 8; w++) input32[w] = input32[8 + w] = replica32[w];
      } else {
        const previous = (position - 1) * 8;
        const back = backEdge(ring, previous * 4, i, SEAL_WINDOW);
        dependency = (position - 1 - back) * 8;
        for (let w = 0; w < 8; w++) {
          input32[w] = ring32[previous + w] ^ replica32[w];
          input32[8 + w] = ring32[dependency + w];
        }
      }
      hashInto(input, key);
      for (let r = 1; r < rounds; r++) {
        for (let w = 0; w < 8; w++) {
          input32[w] = key32[w];
          input32[8 + w] = dependency < 0 ? replica32[w] : ring32[dependency + w];
        }
        hashInto(input, key);
      }
      const out = position * 8;
      for (let w = 0; w < 8; w++) ring32[out + w] = data32[k * 8 + w] ^ key32[w];
    }
    const sealed = ring.slice(this.kept * 32, (this.kept + count) * 32);
    // Keep only the window for the next block's back edges.
    const total = this.kept + count;
    const keep = Math.min(SEAL_WINDOW, total);
    ring.copyWithin(0, (total - keep) * 32, total * 32);
    this.kept = keep;
    this.nextIndex += count;
    return sealed;
  }
}

/** Seals bytes held in memory; returns the n sealed segments (n·32 bytes). */
export function sealBytes(data: Uint8Array, replica: Uint8Array | Hex, sealRounds = 1): Uint8Array {
  return new Sealer(asWord(replica, "replicaId"), sealRounds).sealBlock(toSegments(data));
}

/** Unseals bytes held in memory back to the original `size` bytes. */
export function unsealBytes(sealed: Uint8Array, replica: Uint8Array | Hex, size: number, sealRounds = 1): Uint8Array {
  const layout = fileLayout(size);
  if (sealed.length !== layout.segmentCount * 32) throw new TruncatedFileError("<memory replica>", layout.segmentCount * 32, sealed.length);
  checkRounds(sealRounds);
  // unsealBatch decodes in place: work on a copy, never on the caller's bytes.
  return unsealBatch(new Uint8Array(sealed), 0, 0, asWord(replica, "replicaId"), sealRounds, SEAL_WINDOW).subarray(0, size);
}

export interface SealFileOptions extends LongOperationOptions {
  /** Key strengthening rounds r (§4.2); the market's deploy parameter. Default 1. */
  sealRounds?: number;
  /** Where to keep commR's tree nodes at heights >= 8. */
  treeCachePath?: string;
}

export interface SealResult {
  commR: Uint8Array;
  /** Layout of the original data (its `size` is the deal's length L). */
  dataLayout: FileLayout;
  /** Layout of the replica file (n·32 bytes). */
  replicaLayout: FileLayout;
  /** commR's kept tree (written to treeCachePath when given). */
  tree: KeptTree;
  /** Wall time of the sequential chain per segment (seconds), i.e. the measured t_seq · sealRounds. */
  secondsPerSegment: number;
}

/** Segments per block while sealing/unsealing: 4 MiB. */
const BLOCK_SEGMENTS = 131072;

/**
 * Seals `dataPath` into `replicaPath` (n·32 bytes) streaming, and computes commR on the way. The replica is
 * written to a temporary file renamed at the end: an aborted or failed seal leaves nothing behind. An unsealed
 * sector (sectors.writeUnsealedSector: 2^s·32 bytes, zeros between and after its pieces) is sealed whole:
 * all its 2^s segments, with the sectorId as the replicaId (docs/protocol.md §12.2).
 */
export async function sealFile(dataPath: string, replicaPath: string, replica: Uint8Array | Hex, options: SealFileOptions = {}): Promise<SealResult> {
  const logger = options.logger ?? proofsLogger;
  const rounds = options.sealRounds ?? 1;
  const sealer = new Sealer(asWord(replica, "replicaId"), rounds);
  const input = await open(dataPath, "r");
  try {
    const { size } = await input.stat();
    const dataLayout = fileLayout(size);
    const replicaLayout = fileLayout(dataLayout.segmentCount * SEGMENT_SIZE);
    const builder = new StreamingTreeBuilder(replicaLayout);
    let chainSeconds = 0;
    const blockBytes = BLOCK_SEGMENTS * SEGMENT_SIZE;
    const tree = await writeFileAtomically(
      replicaPath,
      async (output) => {
        for (let position = 0; position < replicaLayout.size; position += blockBytes) {
          throwIfAborted(options.signal, `sealFile(${dataPath})`);
          const length = Math.min(blockBytes, replicaLayout.size - position);
          const block = new Uint8Array(length); // the last one is zero-padded past the data's end
          await readFully(input, block, Math.min(length, size - position), position, dataPath, size);
          const started = performance.now();
          const sealed = sealer.sealBlock(block);
          chainSeconds += (performance.now() - started) / 1000;
          await output.write(sealed, 0, sealed.length, position);
          await builder.push(sealed); // transfers `sealed` to a hash worker
          options.onProgress?.({ phase: "seal", bytesDone: Math.min(size, position + length), bytesTotal: size });
        }
        return builder.finish();
      },
      { sync: true },
    );
    if (options.treeCachePath) await writeTreeCache(options.treeCachePath, tree);
    logger.debug({ dataPath, replicaPath, size, rounds, chainSeconds }, "sealed replica");
    return { commR: tree.root, dataLayout, replicaLayout, tree, secondsPerSegment: chainSeconds / dataLayout.segmentCount };
  } finally {
    await input.close();
  }
}

export interface UnsealOptions extends LongOperationOptions {
  sealRounds?: number;
}

export interface UnsealFileOptions extends UnsealOptions {
  /** The original data length L (from the deal metadata). */
  size: number;
  /**
   * The data's first segment in the sealed file: a piece's offset in its sector (docs/protocol.md §12.2).
   * Omitted, the file is one replica of exactly the data's n segments (its length must be n·32). Given (even
   * 0), the file is a sealed sector: a whole number of segments covering [offset, offset + n); only those
   * segments and the window of up to W = 8192 before them (§4.3) are read, so a piece that starts mid-chunk
   * decodes like any other.
   */
  offset?: number;
  /** When given, the unsealed data must hash to this commD (a piece's own commD), else CorruptReplicaError and no output file. */
  expectedCommD?: Uint8Array | Hex;
}

/**
 * Decodes a whole replica of a `size`-byte file in order, without writing anything: blocks of 4 MiB decode in
 * parallel in the hash workers (each needs only the window before it) and are yielded in file order, trimmed
 * to the file's length. What a lessor serving a download does; {@link unsealFile} writes the same to disk.
 * With `options.offset` the data is one piece of a sealed sector, decoded from its own segments (plus the
 * window before them) without touching the rest of the sector; yielded offsets are relative to the piece.
 */
export async function* unsealStream(replicaPath: string, replica: Uint8Array | Hex, options: UnsealFileOptions): AsyncGenerator<PlaintextBlock> {
  const rounds = options.sealRounds ?? 1;
  checkRounds(rounds);
  const id = asWord(replica, "replicaId");
  const dataLayout = fileLayout(options.size);
  const base = options.offset ?? 0;
  if (!Number.isSafeInteger(base) || base < 0) throw new IndexOutOfRangeError("piece offset", base, Number.MAX_SAFE_INTEGER);
  const replicaBytes = (base + dataLayout.segmentCount) * SEGMENT_SIZE;
  const input = await open(replicaPath, "r");
  const pool = hashWorkerPool();
  const maxInFlight = Math.max(2, pool.size * 3);
  const queue: { start: number; result: Promise<{ data: Uint8Array; roots?: Uint8Array }> }[] = [];
  try {
    const { size: actual } = await input.stat();
    // A replica must be exactly its data's segments; a sector must be whole segments covering the piece.
    const fits = options.offset === undefined ? actual === replicaBytes : actual >= replicaBytes && actual % SEGMENT_SIZE === 0;
    if (!fits) throw new TruncatedFileError(replicaPath, replicaBytes, actual);
    const builder = options.expectedCommD ? new StreamingTreeBuilder(dataLayout) : undefined;
    const next = async (): Promise<PlaintextBlock> => {
      const { start, result } = queue.shift()!;
      const { data: decoded, roots } = await result;
      const length = Math.max(0, Math.min(decoded.length, options.size - start * SEGMENT_SIZE));
      // commD's page roots came with the block, hashed by its worker over the bytes zero-padded past `length`.
      if (builder) builder.pushPageRoots(decoded.length, roots!);
      options.onProgress?.({ phase: "unseal", bytesDone: Math.min(options.size, start * SEGMENT_SIZE + length), bytesTotal: options.size });
      return { offset: start * SEGMENT_SIZE, bytes: decoded.subarray(0, length) };
    };
    for (let start = 0; start < dataLayout.segmentCount; start += BLOCK_SEGMENTS) {
      throwIfAborted(options.signal, `unseal(${replicaPath})`);
      const end = Math.min(dataLayout.segmentCount, start + BLOCK_SEGMENTS);
      // A new buffer per block, not a reused one: it is transferred to a worker, and the decoded block that
      // comes back in it is yielded to the consumer, which may keep it.
      // Sealed segments base + start … base + end: the piece's own, keyed by their index in the sector.
      const sealed = await readSealedWithWindow(input, replicaPath, actual, base + start, base + end);
      const dataBytes = options.size - start * SEGMENT_SIZE;
      const result = builder
        ? pool.unsealWithRoots(sealed.bytes, sealed.prefix, base + start, id, rounds, SEAL_WINDOW, { height: builder.baseHeight, dataBytes })
        : pool.unseal(sealed.bytes, sealed.prefix, base + start, id, rounds, SEAL_WINDOW).then((data) => ({ data }));
      // Observed at once: while the generator waits at a yield, a failed batch (a worker gone) must not be
      // an unhandled rejection (it would end the process); next() still awaits it and throws.
      result.catch(() => undefined);
      queue.push({ start, result });
      if (queue.length >= maxInFlight) yield await next();
    }
    while (queue.length > 0) yield await next();
    if (builder) {
      const tree = await builder.finish();
      const expected = asWord(options.expectedCommD!, "expectedCommD");
      if (!equalBytes(tree.root, expected)) {
        throw new CorruptReplicaError(replicaPath, undefined, {
          reason: `it unseals to data with root ${toHex(tree.root)}, not the deal's commD ${toHex(expected)}`,
        });
      }
    }
  } finally {
    // Settle batches still in flight (an abort or an early return leaves them unawaited).
    await Promise.allSettled(queue.map((q) => q.result));
    await input.close();
  }
}

/**
 * Unseals `replicaPath` into `outPath` with exactly `size` bytes ({@link unsealStream} written to a
 * temporary file renamed at the end: a failed or aborted unseal leaves no output). With `options.offset`,
 * writes one piece of a sealed sector.
 */
export async function unsealFile(replicaPath: string, outPath: string, replica: Uint8Array | Hex, options: UnsealFileOptions): Promise<void> {
  // No fsync: the unsealed copy is re-creatable from the replica; durability is the caller's choice.
  await writeFileAtomically(outPath, async (output) => {
    for await (const block of unsealStream(replicaPath, replica, options)) {
      if (block.bytes.length > 0) await output.write(block.bytes, 0, block.bytes.length, block.offset);
    }
  });
}

/**
 * Unseals the data segments [range.start, range.end) of a replica or a sealed sector (n = file size / 32),
 * reading only that range and the window before it. Returns (end - start)·32 bytes (the last segment keeps
 * its zero padding). Ranges are in the file's own segments: a piece at `offset` is [offset, offset + n).
 */
export async function unsealRange(
  replicaPath: string,
  range: { start: number; end: number },
  replica: Uint8Array | Hex,
  options: UnsealOptions = {},
): Promise<Uint8Array> {
  const rounds = options.sealRounds ?? 1;
  checkRounds(rounds);
  const id = asWord(replica, "replicaId");
  const input = await open(replicaPath, "r");
  try {
    const { size } = await input.stat();
    if (size === 0 || size % SEGMENT_SIZE !== 0) throw new TruncatedFileError(replicaPath, Math.max(SEGMENT_SIZE, Math.ceil(size / 32) * 32), size);
    const n = size / SEGMENT_SIZE;
    if (!Number.isSafeInteger(range.start) || range.start < 0 || range.start > range.end) {
      throw new IndexOutOfRangeError("segment range start", range.start, Math.min(n, range.end) + 1);
    }
    if (!Number.isSafeInteger(range.end) || range.end > n) throw new IndexOutOfRangeError("segment range end", range.end, n + 1);
    const pool = hashWorkerPool();
    const parts: Promise<Uint8Array>[] = [];
    for (let start = range.start; start < range.end; start += BLOCK_SEGMENTS) {
      throwIfAborted(options.signal, `unsealRange(${replicaPath})`);
      const end = Math.min(range.end, start + BLOCK_SEGMENTS);
      const sealed = await readSealedWithWindow(input, replicaPath, size, start, end);
      parts.push(pool.unseal(sealed.bytes, sealed.prefix, start, id, rounds, SEAL_WINDOW));
    }
    const out = new Uint8Array((range.end - range.start) * SEGMENT_SIZE);
    let offset = 0;
    for (const part of await Promise.all(parts)) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  } finally {
    await input.close();
  }
}

/** Reads sealed segments [start, end) preceded by the window of up to W segments before `start`. */
async function readSealedWithWindow(
  handle: import("node:fs/promises").FileHandle,
  path: string,
  fileBytes: number,
  start: number,
  end: number,
): Promise<{ bytes: Uint8Array; prefix: number }> {
  const prefix = Math.min(start, SEAL_WINDOW);
  const bytes = new Uint8Array((end - start + prefix) * SEGMENT_SIZE);
  await readFully(handle, bytes, bytes.length, (start - prefix) * SEGMENT_SIZE, path, fileBytes);
  return { bytes, prefix };
}

/** The replica's commR computed from sealed bytes in memory. */
export function commitSealedBytes(sealed: Uint8Array): Uint8Array {
  return commitBytes(sealed).root;
}
