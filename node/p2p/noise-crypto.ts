import { pureJsCrypto, type ICryptoInterface } from "@chainsafe/libp2p-noise";
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { Uint8ArrayList } from "uint8arraylist";

/**
 * Noise crypto backed by Node's native (OpenSSL) ChaCha20-Poly1305 and SHA-256 for every message size.
 * Handshake-only primitives (X25519, HKDF) stay on the library's implementation.
 */
const CIPHER = "chacha20-poly1305";
type Bytes = Uint8Array | Uint8ArrayList;

// (cast: the noise package pins Uint8ArrayList<ArrayBuffer>, our copy is generic over ArrayBufferLike)
export const nativeNoiseCrypto = {
  ...pureJsCrypto,
  hashSHA256(data: Bytes) {
    const hash = createHash("sha256");
    if (data instanceof Uint8Array) hash.update(data);
    else for (const part of data) hash.update(part);
    return hash.digest();
  },
  chaCha20Poly1305Encrypt(plaintext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
    const cipher = createCipheriv(CIPHER, k, nonce, { authTagLength: 16 });
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength });
    // One contiguous ciphertext ‖ tag: the Noise stream hands every part to its own socket.write(), so a
    // separate 16-byte tag costs one more socket write (and a tiny TCP segment) per frame.
    const out = Buffer.allocUnsafe(plaintext.byteLength + 16);
    let at = 0;
    if (plaintext instanceof Uint8Array) at += cipher.update(plaintext).copy(out, at);
    else for (const part of plaintext) at += cipher.update(part).copy(out, at);
    cipher.final();
    cipher.getAuthTag().copy(out, at);
    return out;
  },
  chaCha20Poly1305Decrypt(ciphertext: Bytes, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array) {
    const decipher = createDecipheriv(CIPHER, k, nonce, { authTagLength: 16 });
    const end = ciphertext.byteLength - 16;
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
  ...nativeNoiseCrypto,
  chaCha20Poly1305Encrypt(plaintext: Bytes) {
    return new Uint8ArrayList(plaintext instanceof Uint8Array ? plaintext : plaintext.subarray(), new Uint8Array(16));
  },
  chaCha20Poly1305Decrypt(ciphertext: Bytes) {
    return ciphertext.subarray(0, ciphertext.byteLength - 16);
  },
} as unknown as ICryptoInterface;
