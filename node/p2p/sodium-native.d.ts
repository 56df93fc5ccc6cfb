// The few libsodium bindings Coffer uses (sodium-native ships no type declarations).
declare module "sodium-native" {
  /** Writes ciphertext ‖ 16-byte tag into `c` (length m + 16); `c` and `m` may start at the same address. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  /** Verifies the tag, then writes the plaintext into `m` (length c − 16); throws if the tag is wrong. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
  /** Verifies `mac` over `c`, then writes the plaintext into `m` (same length; may be `c` itself); throws if the tag is wrong. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt_detached(m: Uint8Array, nsec: null, c: Uint8Array, mac: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): void;
}
