import { pureJsCrypto, type ICryptoInterface } from "@chainsafe/libp2p-noise";
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import sodium from "sodium-native";
import { Uint8ArrayList } from "uint8arraylist";

const CIPHER = "chacha20-poly1305";
const TAG_LENGTH = 16;
type Bytes = Uint8Array | Uint8ArrayList;

function sha256(data: Bytes): Uint8Array {
  const hash = createHash("sha256");
  if (data instanceof Uint8Array) hash.update(data);
  else for (const part of data) hash.update(part);
  return hash.digest();
}

/** OpenSSL: ciphertext ‖ tag in one buffer (a separate tag would cost the socket one more write per message). */
function opensslEncrypt(plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array {
  const cipher = createCipheriv(CIPHER, k, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength });
  const out = Buffer.allocUnsafe(plaintext.byteLength + TAG_LENGTH);
  let at = 0;
  if (plaintext instanceof Uint8Array) at += cipher.update(plaintext).copy(out, at);
  else for (const part of plaintext) at += cipher.update(part).copy(out, at);
  cipher.final();
  cipher.getAuthTag().copy(out, at);
  return out;
}

/**
 * True when `dst` is the ciphertext's own bytes (a view at the same place) or, for a message split across
 * reads, a copy of them (checked on its first 16 bytes: a fresh buffer from a future library version is
 * then decrypted from a copy instead of failing every message).
 */
function holdsCiphertext(dst: Uint8Array, ciphertext: Bytes): boolean {
  if (ciphertext instanceof Uint8Array) return dst.buffer === ciphertext.buffer && dst.byteOffset === ciphertext.byteOffset;
  const head = Math.min(16, dst.byteLength);
  return Buffer.compare(Buffer.from(dst.buffer, dst.byteOffset, head), Buffer.from(ciphertext.subarray(0, head))) === 0;
}

/** A copy (never a view: the handshake hashes the ciphertext after decrypting it). */
function copyOf(data: Bytes, length: number): Uint8Array {
  return Buffer.from(data.subarray(0, length));
}

/**
 * The node's Noise crypto. Received messages are decrypted in place by libsodium (sodium-native), in the
 * `dst` the Noise stream passes (the ciphertext's own bytes, which nothing else holds): Node's OpenSSL
 * API returns a new buffer per call, and with two or three 64 KiB buffers per message V8's "external
 * memory pressure" started a full mark-compact every ~70 ms of a transfer (bench/p2p.ts BENCH_TRACE_GC).
 * Sent messages are encrypted by OpenSSL, which is faster here (AVX-512: 1.47 GB/s against libsodium's
 * 1.13 GB/s on 64 KiB), into one buffer, ciphertext ‖ tag. SHA-256 is Node's; handshake-only primitives
 * (X25519, HKDF) stay on the library's. All of it is the standard ChaCha20-Poly1305 every libp2p peer
 * speaks (test/p2p-noise-crypto.test.ts checks it byte for byte).
 */
// (cast: the noise package pins Uint8ArrayList<ArrayBuffer>, our copy is generic over ArrayBufferLike)
export const nativeNoiseCrypto = {
  ...pureJsCrypto,
  hashSHA256: sha256,
  chaCha20Poly1305Encrypt(plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
    return opensslEncrypt(plaintext, nonce, ad, k);
  },
  chaCha20Poly1305Decrypt(ciphertext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array) {
    if (ciphertext.byteLength < TAG_LENGTH) throw new Error("ciphertext shorter than its tag");
    const length = ciphertext.byteLength - TAG_LENGTH;
    const tag = ciphertext.subarray(length); // (16 bytes: a view, or a tiny copy from a list)
    // The Noise stream passes `dst` = the ciphertext's first `length` bytes, as a view of a contiguous
    // message or as the one copy it makes of a message split across socket reads: decrypt there, in
    // place. (The tag is checked over exactly those bytes, so a `dst` holding anything else fails.)
    const text = dst !== undefined && dst.byteLength === length && holdsCiphertext(dst, ciphertext) ? dst : copyOf(ciphertext, length);
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(text, null, text, tag, ad, nonce, k);
    } catch (cause) {
      throw new Error("noise message failed authentication", { cause });
    }
    return text;
  },
} as unknown as ICryptoInterface;

/**
 * Noise crypto on Node's OpenSSL ChaCha20-Poly1305 both ways (decryption returns a new buffer per
 * message): the former default, kept to compare against (tests, bench).
 */
export const opensslNoiseCrypto = {
  ...pureJsCrypto,
  hashSHA256: sha256,
  chaCha20Poly1305Encrypt: opensslEncrypt,
  chaCha20Poly1305Decrypt(ciphertext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
    const decipher = createDecipheriv(CIPHER, k, nonce, { authTagLength: TAG_LENGTH });
    const end = ciphertext.byteLength - TAG_LENGTH;
    const text = ciphertext instanceof Uint8Array ? ciphertext.subarray(0, end) : ciphertext.sublist(0, end);
    decipher.setAAD(ad, { plaintextLength: end });
    decipher.setAuthTag(ciphertext.subarray(end));
    if (text instanceof Uint8Array) {
      const output = decipher.update(text);
      decipher.final();
      return output;
    }
    const output = new Uint8ArrayList();
    for (const part of text) output.append(decipher.update(part));
    decipher.final();
    return output;
  },
} as unknown as ICryptoInterface;

/**
 * BENCHMARK ONLY — a null cipher (copies plaintext, zero tag, no authentication) to measure what Noise
 * framing + Yamux + libp2p cost without any cryptography. Never use it on a network.
 */
export const nullCipherNoiseCryptoForBench = {
  ...opensslNoiseCrypto,
  chaCha20Poly1305Encrypt(plaintext: Bytes) {
    return new Uint8ArrayList(plaintext instanceof Uint8Array ? plaintext : plaintext.subarray(), new Uint8Array(16));
  },
  chaCha20Poly1305Decrypt(ciphertext: Bytes) {
    return ciphertext.subarray(0, ciphertext.byteLength - 16);
  },
} as unknown as ICryptoInterface;
