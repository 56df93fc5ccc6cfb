import { hash as hashPairsBatch, hashInto } from "@chainsafe/hashtree";
import { createHash } from "node:crypto";

/**
 * SHA-256 primitives (docs/protocol.md §1). 64-byte inputs go through @chainsafe/hashtree (SHA-NI,
 * ~17 M pairs/s/core); anything else through node:crypto.
 */

/** H(left ‖ right) for two 32-byte words. */
export function hashPair(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(64);
  input.set(left, 0);
  input.set(right, 32);
  return hashPairsBatch(input);
}

/** Hashes `input.length / 64` consecutive 64-byte blocks into `output` (32 bytes each). */
export function hashPairsInto(input: Uint8Array, output: Uint8Array): void {
  hashInto(input, output);
}

/** SHA-256 of arbitrary bytes. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

/** Solidity `abi.encode` of 32-byte words and uint256 values, then SHA-256. */
export function sha256Words(...words: (Uint8Array | bigint | number)[]): Uint8Array {
  const input = new Uint8Array(32 * words.length);
  words.forEach((word, index) => input.set(toWord(word), 32 * index));
  return sha256(input);
}

/** A 32-byte big-endian word from a bigint/number, or a 32-byte (or shorter, left-padded: addresses) array. */
export function toWord(value: Uint8Array | bigint | number): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length > 32) throw new RangeError(`a word is at most 32 bytes, got ${value.length}`);
    const word = new Uint8Array(32);
    word.set(value, 32 - value.length);
    return word;
  }
  let n = BigInt(value);
  if (n < 0n || n >= 1n << 256n) throw new RangeError(`${n} does not fit in uint256`);
  const word = new Uint8Array(32);
  for (let i = 31; i >= 0 && n > 0n; i--) {
    word[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return word;
}

/** u256(word) mod modulus, as a number (modulus must be a safe integer). */
export function wordMod(word: Uint8Array, modulus: number): number {
  let n = 0n;
  for (const byte of word) n = (n << 8n) | BigInt(byte);
  return Number(n % BigInt(modulus));
}
