import { hashInto } from "@chainsafe/hashtree";

/**
 * Hot loops shared by the main thread and the hash workers (hash-worker.ts). This file must import nothing
 * but npm packages: workers load it as plain TypeScript (Node's type stripping or tsx), where relative
 * `.js` specifiers of the rest of the engine would not resolve.
 */

/** Z[h] for h <= 64, computed here so this file stays import-free. */
const ZERO = (() => {
  const zeros: Uint8Array[] = [new Uint8Array(32)];
  const input = new Uint8Array(64);
  for (let h = 1; h <= 64; h++) {
    input.set(zeros[h - 1], 0);
    input.set(zeros[h - 1], 32);
    const out = new Uint8Array(32);
    hashInto(input, out);
    zeros.push(out);
  }
  return zeros;
})();

/**
 * Roots of the consecutive subtrees of `height` over `segments` (whole 32-byte words; the last subtree is
 * padded with zero leaves). Hashes level by level with one hashtree batch call per level.
 */
export function subtreeRoots(segments: Uint8Array, height: number): Uint8Array {
  const leafCount = segments.length >>> 5;
  const span = 2 ** height;
  const rootCount = Math.max(1, Math.ceil(leafCount / span));
  if (height === 0) {
    const out = new Uint8Array(rootCount * 32);
    out.set(segments.subarray(0, rootCount * 32));
    return out;
  }
  let level = segments;
  let count = leafCount;
  for (let h = 0; h < height; h++) {
    const parentCount = Math.max(1, Math.ceil(count / 2));
    let input = level.subarray(0, count * 32);
    if (count % 2 === 1 || count === 0) {
      const padded = new Uint8Array(parentCount * 64);
      padded.set(input, 0);
      padded.set(ZERO[h], count * 32);
      input = padded;
    }
    const parents = new Uint8Array(parentCount * 32);
    hashInto(input, parents);
    level = parents;
    count = parentCount;
  }
  return level;
}

let scratch: { inputs: Uint8Array; in32: Uint32Array; keys: Uint8Array; key32: Uint32Array } | undefined;

/** Hash input/output buffers for `count` segments, reused between batches (views of exactly that size). */
function scratchFor(count: number): { inputs: Uint8Array; in32: Uint32Array; keys: Uint8Array; key32: Uint32Array } {
  if (!scratch || scratch.keys.length < count * 32) {
    const inputs = new Uint8Array(count * 64);
    const keys = new Uint8Array(count * 32);
    scratch = { inputs, in32: new Uint32Array(inputs.buffer), keys, key32: new Uint32Array(keys.buffer) };
  }
  const inputs = scratch.inputs.subarray(0, count * 64);
  const keys = scratch.keys.subarray(0, count * 32);
  return { inputs, in32: scratch.in32.subarray(0, count * 16), keys, key32: scratch.key32.subarray(0, count * 8) };
}

/** First 6 bytes of the segment at byte offset `offset`, big-endian (docs/protocol.md §4.2 `u48`). */
function u48(bytes: Uint8Array, offset: number): number {
  return (
    bytes[offset] * 2 ** 40 +
    bytes[offset + 1] * 2 ** 32 +
    ((bytes[offset + 2] << 24) >>> 0) +
    (bytes[offset + 3] << 16) +
    (bytes[offset + 4] << 8) +
    bytes[offset + 5]
  );
}

/**
 * back(i) = u48(S[i-1][0..6]) mod min(i, window) for the segment at byte offset `offset`. When the modulus is
 * the full power-of-two window only the low bits of the last two bytes matter (no float modulo: it would
 * cost more than the hash); for the first `window` segments the general form is used.
 */
export function backEdge(bytes: Uint8Array, offset: number, i: number, window: number): number {
  if (i >= window && window <= 65536 && (window & (window - 1)) === 0) {
    return ((bytes[offset + 4] << 8) | bytes[offset + 5]) & (window - 1);
  }
  return u48(bytes, offset) % Math.min(i, window);
}

/**
 * Decodes sealed segments (docs/protocol.md §4.3) in one batch: `sealed` holds `prefix` earlier sealed
 * segments (the window before `firstIndex`, at most `window` of them, all of them when firstIndex < window)
 * followed by the segments to decode. Returns the data segments D[firstIndex...] — decoded IN PLACE: the
 * result is a view into `sealed` (after its prefix), whose content is consumed.
 */
export function unsealBatch(
  sealed: Uint8Array,
  prefix: number,
  firstIndex: number,
  replicaId: Uint8Array,
  rounds: number,
  window: number,
): Uint8Array {
  const total = sealed.length >>> 5;
  const count = total - prefix;
  if (count <= 0) return new Uint8Array(0);
  if (prefix < Math.min(firstIndex, window)) throw new RangeError(`unsealBatch needs ${Math.min(firstIndex, window)} prefix segments, got ${prefix}`);
  // Word views for 8-word copies: per-segment subarray()/set() calls would dominate the hashing cost.
  const source = sealed.byteOffset % 4 === 0 ? sealed : new Uint8Array(sealed); // Buffer.slice() would be a view
  const s32 = new Uint32Array(source.buffer, source.byteOffset, total * 8);
  const rid32 = new Uint32Array(new Uint8Array(replicaId).buffer, 0, 8);
  const { inputs, in32, keys, key32 } = scratchFor(count);
  // Word offset (in `source`) of S[d(i)] per segment; -1 means "replicaId" (segment 0).
  const dependency = new Int32Array(count);
  const [r0, r1, r2, r3, r4, r5, r6, r7] = rid32;
  // Segments past the first `window` take the power-of-two fast path of backEdge inline: the low 13 bits of
  // bytes 4..5 of S[i-1], i.e. of the little-endian word previous + 1 (no per-segment call or byte reads).
  const fastMask = window <= 65536 && (window & (window - 1)) === 0 ? window - 1 : -1;
  for (let k = 0; k < count; k++) {
    const i = firstIndex + k;
    const position = prefix + k;
    const out = k * 16;
    if (i === 0) {
      for (let w = 0; w < 8; w++) in32[out + w] = in32[out + 8 + w] = rid32[w];
      dependency[k] = -1;
      continue;
    }
    const previous = (position - 1) * 8;
    let back: number;
    if (fastMask >= 0 && i >= window) {
      const word = s32[previous + 1];
      back = (((word & 0xff) << 8) | ((word >>> 8) & 0xff)) & fastMask;
    } else {
      back = backEdge(source, previous * 4, i, window);
    }
    const dep = (position - 1 - back) * 8;
    dependency[k] = dep;
    in32[out] = s32[previous] ^ r0;
    in32[out + 1] = s32[previous + 1] ^ r1;
    in32[out + 2] = s32[previous + 2] ^ r2;
    in32[out + 3] = s32[previous + 3] ^ r3;
    in32[out + 4] = s32[previous + 4] ^ r4;
    in32[out + 5] = s32[previous + 5] ^ r5;
    in32[out + 6] = s32[previous + 6] ^ r6;
    in32[out + 7] = s32[previous + 7] ^ r7;
    in32[out + 8] = s32[dep];
    in32[out + 9] = s32[dep + 1];
    in32[out + 10] = s32[dep + 2];
    in32[out + 11] = s32[dep + 3];
    in32[out + 12] = s32[dep + 4];
    in32[out + 13] = s32[dep + 5];
    in32[out + 14] = s32[dep + 6];
    in32[out + 15] = s32[dep + 7];
  }
  hashInto(inputs, keys);
  for (let r = 1; r < rounds; r++) {
    for (let k = 0; k < count; k++) {
      const out = k * 16;
      const dep = dependency[k];
      for (let w = 0; w < 8; w++) {
        in32[out + w] = key32[k * 8 + w];
        in32[out + 8 + w] = dep < 0 ? rid32[w] : s32[dep + w];
      }
    }
    hashInto(inputs, keys);
  }
  // Decode in place over the (consumed) sealed buffer: no 4 MiB allocation per batch. The window prefix is
  // read above before any of it is overwritten, and decoded words are never read again.
  const base = prefix * 8;
  for (let w = 0; w < count * 8; w++) s32[base + w] ^= key32[w];
  return source.subarray(prefix * 32);
}

/**
 * {@link unsealBatch}, then the roots of the subtrees of `height` over the decoded segments with every byte
 * from `dataBytes` on zeroed first (commD hashes the data zero-padded to whole segments, docs/protocol.md §2,
 * whatever a replica's padding decodes to). One worker trip instead of a second one with a copy of the block:
 * the decoded bytes are handed to the caller too, so they cannot be transferred to a second task.
 */
export function unsealBatchWithRoots(
  sealed: Uint8Array,
  prefix: number,
  firstIndex: number,
  replicaId: Uint8Array,
  rounds: number,
  window: number,
  height: number,
  dataBytes: number,
): { data: Uint8Array; roots: Uint8Array } {
  const data = unsealBatch(sealed, prefix, firstIndex, replicaId, rounds, window);
  data.fill(0, Math.max(0, dataBytes));
  return { data, roots: subtreeRoots(data, height) };
}

/**
 * The PoD keystream H(key ‖ be256(i)) (docs/protocol.md §8) for one key, in batches. One instance per stream:
 * its hash input buffer is kept between batches with the key written once per slot, so a 4 MiB block costs
 * one hashtree call and the 6 index bytes per segment, not an 8 MiB allocation and a key copy per segment.
 */
export class PodKeystream {
  private inputs = new Uint8Array(0);
  private view = new DataView(this.inputs.buffer);
  private stream = new Uint8Array(0);
  private readonly key: Uint8Array;

  // No parameter property: workers load this file with Node's type stripping, which does not support them.
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError(`a PoD key is 32 bytes, got ${key.length}`);
    this.key = key;
  }

  /**
   * out = keystream ⊕ plain over the segments of `out` (whole 32-byte segments), the first being `firstIndex`.
   * `plain` may be shorter than `out`: the rest reads as zero plaintext (the last segment's padding, §2), so
   * there `out` is the keystream itself. `plain` is only read and must not overlap `out` (see xorInPlace).
   */
  xorInto(plain: Uint8Array, out: Uint8Array, firstIndex: number): void {
    if (plain.length > out.length) throw new RangeError(`plaintext (${plain.length} bytes) is longer than its cipher (${out.length})`);
    if (plain.length > 0 && plain.buffer === out.buffer && plain.byteOffset < out.byteOffset + out.length && out.byteOffset < plain.byteOffset + plain.length) {
      throw new RangeError("xorInto needs separate plaintext and output (use xorInPlace)");
    }
    hashInto(this.inputsFor(out.length, firstIndex), out);
    xorBytesInto(out, plain);
  }

  /** segments ⊕= keystream (whole segments, the first being `firstIndex`): decryption, or encryption in place. */
  xorInPlace(segments: Uint8Array, firstIndex: number): void {
    if (this.stream.length < segments.length) this.stream = new Uint8Array(segments.length);
    const stream = this.stream.subarray(0, segments.length);
    hashInto(this.inputsFor(segments.length, firstIndex), stream);
    xorBytesInto(segments, stream);
  }

  /** Hash inputs key ‖ be256(i) for the segments of `bytes` bytes from `firstIndex` (a view of the kept buffer). */
  private inputsFor(bytes: number, firstIndex: number): Uint8Array {
    if (bytes % 32 !== 0) throw new RangeError("the keystream covers whole segments");
    const count = bytes >>> 5;
    if (this.inputs.length < count * 64) {
      this.inputs = new Uint8Array(count * 64);
      this.view = new DataView(this.inputs.buffer);
      for (let k = 0; k < count; k++) this.inputs.set(this.key, k * 64);
    }
    const view = this.view;
    for (let k = 0; k < count; k++) {
      // be256(i): indices are below 2^48 (8 PiB of segments), so the low 6 bytes big-endian; the rest stay 0.
      const i = firstIndex + k;
      view.setUint16(k * 64 + 58, Math.floor(i / 4294967296));
      view.setUint32(k * 64 + 60, i >>> 0);
    }
    return this.inputs.subarray(0, count * 64);
  }
}

/** target[b] ^= source[b] for b < source.length (target at least as long). */
function xorBytesInto(target: Uint8Array, source: Uint8Array): void {
  const length = source.length;
  let b = 0;
  if (target.byteOffset % 4 === 0 && source.byteOffset % 4 === 0) {
    // Word XOR: a byte loop over 4 MiB costs about three times as much.
    const words = length >>> 2;
    const target32 = new Uint32Array(target.buffer, target.byteOffset, words);
    const source32 = new Uint32Array(source.buffer, source.byteOffset, words);
    for (let w = 0; w < words; w++) target32[w] ^= source32[w];
    b = words * 4;
  }
  for (; b < length; b++) target[b] ^= source[b];
}
