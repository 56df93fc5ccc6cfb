import { open, type FileHandle } from "node:fs/promises";
import { StreamingTreeBuilder } from "./commit.js";
import type { SegmentSource } from "./committed-file.js";
import { SEGMENT_SIZE } from "./constants.js";
import { MalformedProofError, throwIfAborted, TruncatedFileError, WrongRootError } from "./errors.js";
import { readFully, writeFileAtomically } from "./files.js";
import { hashPair, sha256, toWord } from "./hash.js";
import { PodKeystream } from "./kernels.js";
import { depthOf, fileLayout, type FileLayout } from "./layout.js";
import { equalBytes } from "./merkle.js";
import { flattenOpening, proofWords, verifyOpeningWords } from "./openings.js";
import { writeTreeCache, type KeptTree } from "./tree-cache.js";
import type { LongOperationOptions, PlaintextBlock } from "./types.js";
import { asWord, toHex, xorWords, type Hex } from "./words.js";

/**
 * PoD material (docs/protocol.md §8): the download cipher E[i] = D[i] ⊕ H(key ‖ be256(i)) over the n data
 * segments, its root commE, tile openings of E and dispute proofs (E[i] in commE + D[i] in commD).
 */

/** H(key ‖ be256(i)), as ProofMath.podKeystream. */
export function podKeystream(key: Uint8Array | Hex, index: number | bigint): Uint8Array {
  return hashPair(asWord(key, "key"), toWord(BigInt(index)));
}

/** keyHash = H(key): what the lessor commits to before releasing the key. */
export function podKeyHash(key: Uint8Array | Hex): Uint8Array {
  return sha256(asWord(key, "key"));
}

/** Encrypts bytes in memory: n·32 bytes of E. */
export function encryptBytes(data: Uint8Array, key: Uint8Array | Hex): Uint8Array {
  // E is written into a new array straight from `data` (which is only read; the padding reads as zeros).
  const cipher = new Uint8Array(fileLayout(data.length).segmentCount * SEGMENT_SIZE);
  new PodKeystream(asWord(key, "key")).xorInto(data, cipher, 0);
  return cipher;
}

/** Decrypts E back to the original `size` bytes. */
export function decryptBytes(ciphertext: Uint8Array, key: Uint8Array | Hex, size: number): Uint8Array {
  const layout = fileLayout(size);
  if (ciphertext.length !== layout.segmentCount * SEGMENT_SIZE) throw new TruncatedFileError("<memory ciphertext>", layout.segmentCount * SEGMENT_SIZE, ciphertext.length);
  const plain = new Uint8Array(ciphertext.length);
  new PodKeystream(asWord(key, "key")).xorInto(ciphertext, plain, 0);
  return plain.subarray(0, size);
}

export interface EncryptForDownloadOptions extends LongOperationOptions {
  /** Where to write E (n·32 bytes). Default: `${dataPath}.pod-<keyHash prefix>`. */
  ciphertextPath?: string;
  /** Where to keep commE's tree nodes at heights >= 8. */
  treeCachePath?: string;
}

export interface DownloadCipher {
  commE: Uint8Array;
  keyHash: Uint8Array;
  ciphertextPath: string;
  /** Layout of the ciphertext (n·32 bytes; same n and depth as the data). */
  layout: FileLayout;
  tree: KeptTree;
}

const BLOCK_BYTES = 4 * 1024 * 1024;

/** Streams `dataPath` into its download cipher and computes commE on the way. */
export async function encryptForDownload(dataPath: string, key: Uint8Array | Hex, options: EncryptForDownloadOptions = {}): Promise<DownloadCipher> {
  const ciphertextPath = options.ciphertextPath ?? `${dataPath}.pod-${toHex(podKeyHash(asWord(key, "key"))).slice(2, 18)}`;
  const input = await open(dataPath, "r");
  try {
    const { size } = await input.stat();
    return await encryptBlocksForDownload(fileBlocks(input, dataPath, size), size, key, { ...options, ciphertextPath });
  } finally {
    await input.close();
  }
}

/**
 * The file's bytes in BLOCK_BYTES blocks, in order (the plaintext source of {@link encryptForDownload}). Every
 * block is read into the same buffer: its only consumer reads a block before asking for the next one.
 */
async function* fileBlocks(input: FileHandle, path: string, size: number): AsyncGenerator<PlaintextBlock> {
  const buffer = new Uint8Array(Math.min(BLOCK_BYTES, size));
  for (let position = 0; position < size; position += BLOCK_BYTES) {
    const bytes = buffer.subarray(0, Math.min(BLOCK_BYTES, size - position));
    await readFully(input, bytes, bytes.length, position, path, size);
    yield { offset: position, bytes };
  }
}

/**
 * Like {@link encryptForDownload}, but the plaintext comes as ordered blocks instead of a file — a lessor
 * encrypts straight from `unsealStream(replica)` and never writes the unsealed data to disk. Blocks must be
 * contiguous from offset 0 and whole segments except the last (which is zero-padded, as is anything missing up
 * to n·32 bytes). If the source throws (e.g. unsealStream's commD check at the end), no ciphertext file is left.
 */
export async function encryptBlocksForDownload(
  blocks: AsyncIterable<PlaintextBlock>,
  size: number,
  key: Uint8Array | Hex,
  options: EncryptForDownloadOptions & { ciphertextPath: string },
): Promise<DownloadCipher> {
  const secret = asWord(key, "key");
  const keyHash = podKeyHash(secret);
  const { ciphertextPath } = options;
  const layout = fileLayout(fileLayout(size).segmentCount * SEGMENT_SIZE);
  const builder = new StreamingTreeBuilder(layout);
  const keystream = new PodKeystream(secret); // one per stream: keeps its hash inputs between blocks
  const tree = await writeFileAtomically(ciphertextPath, async (output) => {
    let position = 0;
    /** Encrypts `plain` (zero-padded to `cipherBytes`) into a new block, writes it and hashes it into commE. */
    const encryptAndWrite = async (plain: Uint8Array, cipherBytes: number) => {
      // A new block each time rather than one reused: push() transfers it to a hash worker (lending it and
      // getting it back with the roots measured no faster). `plain` is the source's buffer and is only read,
      // so no copy of it is needed to pad it or to keep it intact.
      const cipher = new Uint8Array(cipherBytes);
      keystream.xorInto(plain, cipher, position / SEGMENT_SIZE);
      await output.write(cipher, 0, cipherBytes, position);
      await builder.push(cipher);
      position += cipherBytes;
      options.onProgress?.({ phase: "encrypt", bytesDone: Math.min(size, position), bytesTotal: size });
    };
    // (A failure below leaves hashes in flight: push() observes each, so none becomes an unhandled rejection.)
    for await (const { offset, bytes } of blocks) {
      throwIfAborted(options.signal, `encryptBlocksForDownload(${ciphertextPath})`);
      if (offset !== position) throw new RangeError(`plaintext blocks must be contiguous: expected offset ${position}, got ${offset}`);
      if (bytes.length === 0) continue;
      const padded = Math.min(layout.size - offset, Math.ceil(bytes.length / SEGMENT_SIZE) * SEGMENT_SIZE);
      if (padded < bytes.length) throw new RangeError(`plaintext passes ${size} bytes at offset ${offset}`);
      await encryptAndWrite(bytes, padded);
    }
    // A short source (or the empty file's one segment): the rest is zero plaintext.
    const none = new Uint8Array(0);
    for (let rest = layout.size - position; rest > 0; rest = layout.size - position) await encryptAndWrite(none, Math.min(BLOCK_BYTES, rest));
    return builder.finish();
  });
  if (options.treeCachePath) await writeTreeCache(options.treeCachePath, tree);
  return { commE: tree.root, keyHash, ciphertextPath, layout, tree };
}

export interface DecryptDownloadOptions extends LongOperationOptions {
  /** The original data length L. */
  size: number;
}

/** Decrypts a downloaded cipher file into `outPath` (exactly `size` bytes). */
export async function decryptDownload(ciphertextPath: string, key: Uint8Array | Hex, outPath: string, options: DecryptDownloadOptions): Promise<void> {
  const secret = asWord(key, "key");
  const cipherBytes = fileLayout(options.size).segmentCount * SEGMENT_SIZE;
  const input = await open(ciphertextPath, "r");
  try {
    const { size: actual } = await input.stat();
    if (actual !== cipherBytes) throw new TruncatedFileError(ciphertextPath, cipherBytes, actual);
    const keystream = new PodKeystream(secret);
    // One buffer for the whole file: each block is written (and the write awaited) before the next is read.
    const buffer = new Uint8Array(Math.min(BLOCK_BYTES, cipherBytes));
    await writeFileAtomically(outPath, async (output) => {
      for (let position = 0; position < cipherBytes; position += BLOCK_BYTES) {
        throwIfAborted(options.signal, `decryptDownload(${ciphertextPath})`);
        const block = buffer.subarray(0, Math.min(BLOCK_BYTES, cipherBytes - position));
        await readFully(input, block, block.length, position, ciphertextPath, cipherBytes);
        keystream.xorInPlace(block, position / SEGMENT_SIZE);
        const length = Math.min(block.length, options.size - position);
        if (length > 0) await output.write(block, 0, length, position);
        options.onProgress?.({ phase: "decrypt", bytesDone: Math.min(options.size, position + block.length), bytesTotal: options.size });
      }
    });
  } finally {
    await input.close();
  }
}

/** A tile opening: E[index] and its siblings in commE (flat, verified on-chain by ProofVerifier.verifySegment). */
export async function podTileProof(ciphertext: SegmentSource, index: number): Promise<Hex[]> {
  return flattenOpening(await ciphertext.openSegment(index));
}

/** True when `proof` opens E[index] in commE; index must be below n (the segment count). */
export function verifyPodTile(commE: Uint8Array | Hex, index: number, segments: number, proof: readonly (Hex | Uint8Array)[]): boolean {
  const depth = depthOf(segments);
  const words = proofWords(proof);
  if (words === null || words.length !== depth + 1 || !(index >= 0 && index < segments)) return false;
  return verifyOpeningWords(asWord(commE, "commE"), index, depth, words, 0);
}

/** Dispute proof for segment `index`: the opening of E[index] in commE, then of D[index] in commD. */
export async function podDisputeProof(ciphertext: SegmentSource, data: SegmentSource, index: number): Promise<Hex[]> {
  if (ciphertext.layout.segmentCount !== data.layout.segmentCount) {
    throw new WrongRootError("ciphertext and data segment counts", String(data.layout.segmentCount), String(ciphertext.layout.segmentCount));
  }
  const [e, d] = await Promise.all([ciphertext.openSegment(index), data.openSegment(index)]);
  return [...flattenOpening(e), ...flattenOpening(d)];
}

export interface PodDisputeClaim {
  commE: Uint8Array | Hex;
  commD: Uint8Array | Hex;
  /** The released key. */
  key: Uint8Array | Hex;
  index: number;
  segments: number;
}

/**
 * True when the dispute proof shows the lessor's cipher is wrong at `index`: both openings verify and
 * E[index] ⊕ H(key ‖ be256(index)) ≠ D[index]. False for a malformed proof or an honest cipher.
 */
export function verifyPodDispute(claim: PodDisputeClaim, proof: readonly (Hex | Uint8Array)[]): boolean {
  const depth = depthOf(claim.segments);
  const stride = depth + 1;
  const words = proofWords(proof);
  if (words === null || words.length !== 2 * stride || !(claim.index >= 0 && claim.index < claim.segments)) return false;
  if (!verifyOpeningWords(asWord(claim.commE, "commE"), claim.index, depth, words, 0)) return false;
  if (!verifyOpeningWords(asWord(claim.commD, "commD"), claim.index, depth, words, stride)) return false;
  const decrypted = xorWords(words[0], podKeystream(claim.key, claim.index));
  return !equalBytes(decrypted, words[stride]);
}

/** True when H(key) is the committed keyHash (a released key that does not match is worthless). */
export function keyMatchesHash(key: Uint8Array | Hex, keyHash: Uint8Array | Hex): boolean {
  try {
    return equalBytes(podKeyHash(key), asWord(keyHash, "keyHash"));
  } catch (error) {
    if (error instanceof MalformedProofError) return false;
    throw error;
  }
}
