/**
 * The encrypted volume layout (docs/protocol.md §13.2). A volume is one deal's data: a plaintext *stream*
 * (header ‖ files ‖ manifest) cut into AEAD units that coincide with the deal's 256 KiB chunks, so each chunk
 * decrypts alone:
 *
 *   chunk 0 = volumeId (32 B, clear) ‖ AES-256-GCM(stream[0, CAP0))          ‖ tag (16 B)
 *   chunk c = AES-256-GCM(stream[CAP0 + (c−1)·CAP, CAP0 + c·CAP))            ‖ tag (16 B)     (c ≥ 1)
 *
 * key = HKDF-SHA256(ikm = files secret, salt = volumeId, info = "coffer/volume-key/1"), nonce = be96(c),
 * AAD = volumeId. The stream is zero-filled up to the end of its last chunk (inside the encryption), so every
 * chunk is exactly 256 KiB; zero padding to the market's minimum size (§2.1) may follow and is not part of it.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from "node:crypto";
import { CHUNK_SIZE } from "../proofs/constants.js";
import { VolumeFormatError } from "./errors.js";

export const VOLUME_ID_BYTES = 32;
export const TAG_BYTES = 16;
/** Stream bytes in chunk 0 (after the clear volume id) and in every later chunk. */
export const CAP0 = CHUNK_SIZE - VOLUME_ID_BYTES - TAG_BYTES;
export const CAP = CHUNK_SIZE - TAG_BYTES;
export const HEADER_BYTES = 64;
const MAGIC = Buffer.from("COFFVOL1", "ascii");

export interface VolumeHeader {
  streamLength: number;
  manifestOffset: number;
  manifestLength: number;
}

export function streamStartOf(chunk: number): number {
  return chunk === 0 ? 0 : CAP0 + (chunk - 1) * CAP;
}

export function capacityOf(chunk: number): number {
  return chunk === 0 ? CAP0 : CAP;
}

/** The chunk holding stream byte `offset`. */
export function chunkAt(offset: number): number {
  return offset < CAP0 ? 0 : 1 + Math.floor((offset - CAP0) / CAP);
}

/** Chunks (first, last inclusive) that hold stream bytes [offset, offset + length); an empty range holds none. */
export function chunksOf(offset: number, length: number): [number, number] | undefined {
  return length === 0 ? undefined : [chunkAt(offset), chunkAt(offset + length - 1)];
}

export function chunkCountOf(streamLength: number): number {
  return chunkAt(streamLength - 1) + 1;
}

/** The volume's length in bytes (what commD covers before any zero padding): whole chunks. */
export function physicalLengthOf(streamLength: number): number {
  return chunkCountOf(streamLength) * CHUNK_SIZE;
}

export function volumeKey(secret: Buffer, volumeId: Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, volumeId, "coffer/volume-key/1", 32));
}

/**
 * The volume id: an HMAC of the volume's plaintext (its manifest, which holds every file's hash). Equal contents
 * give the same ciphertext (so a retried put continues the same deal); different contents give another key, so a
 * (key, nonce) pair never encrypts two different chunks.
 */
export function volumeIdOf(secret: Buffer, manifestDigest: Buffer): Buffer {
  return createHmac("sha256", secret).update("coffer/volume-id/1").update(manifestDigest).digest();
}

function nonceOf(chunk: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(chunk), 4);
  return nonce;
}

export function sealChunk(key: Buffer, volumeId: Buffer, chunk: number, plain: Buffer): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, nonceOf(chunk));
  cipher.setAAD(volumeId);
  const parts = [cipher.update(plain), cipher.final(), cipher.getAuthTag()];
  return Buffer.concat(chunk === 0 ? [volumeId, ...parts] : parts);
}

export function openChunk(key: Buffer, volumeId: Buffer, chunk: number, sealed: Buffer): Buffer {
  const body = chunk === 0 ? sealed.subarray(VOLUME_ID_BYTES) : sealed;
  if (body.length < TAG_BYTES) throw new VolumeFormatError(`chunk ${chunk} is too short`);
  const decipher = createDecipheriv("aes-256-gcm", key, nonceOf(chunk));
  decipher.setAAD(volumeId);
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch (cause) {
    throw new VolumeFormatError(`chunk ${chunk} does not decrypt with this user's key (not this user's volume, or altered)`, cause);
  }
}

export function encodeHeader(h: VolumeHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32BE(1, 8);
  b.writeBigUInt64BE(BigInt(h.streamLength), 16);
  b.writeBigUInt64BE(BigInt(h.manifestOffset), 24);
  b.writeBigUInt64BE(BigInt(h.manifestLength), 32);
  return b;
}

export function decodeHeader(b: Buffer): VolumeHeader {
  if (b.length < HEADER_BYTES || !b.subarray(0, 8).equals(MAGIC) || b.readUInt32BE(8) !== 1) throw new VolumeFormatError("not a Coffer volume (bad header)");
  const h = { streamLength: Number(b.readBigUInt64BE(16)), manifestOffset: Number(b.readBigUInt64BE(24)), manifestLength: Number(b.readBigUInt64BE(32)) };
  if (h.manifestOffset < HEADER_BYTES || h.manifestOffset + h.manifestLength !== h.streamLength) throw new VolumeFormatError("malformed volume header");
  return h;
}
