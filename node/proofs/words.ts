import { bytesToHex, hexToBytes, isHex, type Hex } from "viem";
import { MalformedProofError } from "./errors.js";

/**
 * Proofs travel as flat lists of bytes32 words (`Hex[]`): the form viem passes to the contracts'
 * `bytes32[] calldata` parameters and a JSON-safe form for the p2p protocols.
 */
export type { Hex };

/** A bytes32 word as `0x…` hex. */
export function toHex(word: Uint8Array): Hex {
  return bytesToHex(word);
}

/** Parses a `0x…` word, requiring exactly 32 bytes. */
export function fromHex(word: Hex | string, what = "proof word"): Uint8Array {
  if (typeof word !== "string" || !isHex(word, { strict: true }) || word.length !== 66) {
    throw new MalformedProofError(`${what} must be a 0x-prefixed 32-byte hex string, got ${String(word).slice(0, 80)}`);
  }
  return hexToBytes(word);
}

/** Accepts a word as bytes or hex; returns 32 bytes. */
export function asWord(word: Uint8Array | Hex | string, what = "word"): Uint8Array {
  if (word instanceof Uint8Array) {
    if (word.length !== 32) throw new MalformedProofError(`${what} must be 32 bytes, got ${word.length}`);
    return word;
  }
  return fromHex(word, what);
}

/** a ⊕ b over 32-byte words. */
export function xorWords(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = a[i] ^ b[i];
  return out;
}
