// The libsodium binding Coffer uses (sodium-native ships no type declarations).
declare module "sodium-native" {
  /** Verifies `mac` over `c`, then writes the plaintext into `m` (same length; may be `c` itself); throws if the tag is wrong. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt_detached(m: Uint8Array, nsec: null, c: Uint8Array, mac: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): void;
}
