import assert from "node:assert/strict";
import { defaultCrypto } from "@chainsafe/libp2p-noise/crypto";
import { randomBytes } from "node:crypto";
import { Uint8ArrayList } from "uint8arraylist";
import { nativeNoiseCrypto, opensslNoiseCrypto } from "../node/p2p/noise-crypto.js";

/** The node's Noise cipher must be byte-for-byte the ChaCha20-Poly1305 every other libp2p peer speaks. */
describe("p2p noise crypto (libsodium, in place)", function () {
  const k = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(12));
  const ad = new Uint8Array(randomBytes(32));
  const implementations = { native: nativeNoiseCrypto, openssl: opensslNoiseCrypto, library: defaultCrypto };
  const bytes = (data: unknown) => Buffer.from(data instanceof Uint8Array ? data : (data as Uint8ArrayList).subarray());

  for (const size of [0, 1, 1000, 65_519]) {
    it(`${size}-byte messages: same ciphertext as OpenSSL and the library, and each opens the others'`, () => {
      const plaintext = new Uint8Array(randomBytes(size));
      const sealed = Object.fromEntries(Object.entries(implementations).map(([name, c]) => [name, bytes(c.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))]));
      assert.equal(sealed.native.length, size + 16);
      assert.deepEqual(sealed.native, sealed.openssl);
      assert.deepEqual(sealed.native, sealed.library);
      for (const c of Object.values(implementations)) assert.deepEqual(bytes(c.chaCha20Poly1305Decrypt(sealed.native, nonce, ad, k, undefined)), Buffer.from(plaintext));
      assert.deepEqual(bytes(nativeNoiseCrypto.chaCha20Poly1305Decrypt(sealed.library, nonce, ad, k, undefined)), Buffer.from(plaintext));
    });
  }

  it("encrypts a list of parts, and decrypts in place into the ciphertext's own bytes", () => {
    const parts = [new Uint8Array(randomBytes(12)), new Uint8Array(randomBytes(5000))];
    const sealed = bytes(nativeNoiseCrypto.chaCha20Poly1305Encrypt(new Uint8ArrayList(...parts) as never, nonce, ad, k));
    assert.deepEqual(sealed, bytes(opensslNoiseCrypto.chaCha20Poly1305Encrypt(Buffer.concat(parts), nonce, ad, k)));
    const dst = sealed.subarray(0, sealed.length - 16);
    const opened = nativeNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k, dst);
    assert.equal((opened as Uint8Array).buffer, sealed.buffer, "no new buffer");
    assert.equal((opened as Uint8Array).byteOffset, sealed.byteOffset);
    assert.deepEqual(Buffer.from(opened as Uint8Array), Buffer.concat(parts));

    // A message split across socket reads: a list, and the stream's own copy of its text as `dst`.
    const again = bytes(nativeNoiseCrypto.chaCha20Poly1305Encrypt(Buffer.concat(parts), nonce, ad, k));
    const split = new Uint8ArrayList(again.subarray(0, 777), again.subarray(777));
    const copy = Buffer.from(again.subarray(0, again.length - 16));
    const fromList = nativeNoiseCrypto.chaCha20Poly1305Decrypt(split as never, nonce, ad, k, copy);
    assert.equal((fromList as Uint8Array).buffer, copy.buffer);
    assert.deepEqual(Buffer.from(fromList as Uint8Array), Buffer.concat(parts));
    // Without `dst` (the handshake, which hashes the ciphertext afterwards) the ciphertext is left intact.
    const before = Buffer.from(again);
    nativeNoiseCrypto.chaCha20Poly1305Decrypt(split as never, nonce, ad, k, undefined);
    nativeNoiseCrypto.chaCha20Poly1305Decrypt(again, nonce, ad, k, undefined);
    assert.deepEqual(again, before);
    // A `dst` that does not hold the ciphertext (a fresh buffer) still gets the plaintext, decrypted from a copy.
    const fresh = new Uint8Array(copy.length);
    assert.deepEqual(Buffer.from(nativeNoiseCrypto.chaCha20Poly1305Decrypt(split as never, nonce, ad, k, fresh) as Uint8Array), Buffer.concat(parts));
  });

  it("rejects a flipped ciphertext bit, a wrong tag, the wrong key or nonce, and a message shorter than its tag", () => {
    const plaintext = new Uint8Array(randomBytes(300));
    const sealed = () => bytes(nativeNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k));
    const flipped = sealed(); flipped[10] ^= 1;
    const badTag = sealed(); badTag[badTag.length - 1] ^= 1;
    const otherKey = new Uint8Array(randomBytes(32));
    const otherNonce = new Uint8Array(randomBytes(12));
    for (const [c, n, key] of [[flipped, nonce, k], [badTag, nonce, k], [sealed(), nonce, otherKey], [sealed(), otherNonce, k]] as const) {
      assert.throws(() => nativeNoiseCrypto.chaCha20Poly1305Decrypt(c, n, ad, key, undefined), /failed authentication/);
    }
    assert.throws(() => nativeNoiseCrypto.chaCha20Poly1305Decrypt(new Uint8Array(10), nonce, ad, k, undefined), /shorter than its tag/);
  });
});
