import { encodeAbiParameters, keccak256, recoverMessageAddress, toHex, zeroAddress, type Address, type Hex, type LocalAccount } from "viem";
import type { SegmentOpening } from "../protocols/challenge/index.js";

/**
 * Signed timed challenges (docs/protocol.md §7.1). Both sides sign a 32-byte digest with EIP-191
 * (`personal_sign`: "\x19Ethereum Signed Message:\n32" ‖ digest) using their chain key, so anyone — a contract
 * with `ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(digest), sig)` included — can recover who said it.
 */

export const CHALLENGE_REQUEST_TAG = keccak256(toHex("coffer/timed-challenge/request/1"));
export const CHALLENGE_ANSWER_TAG = keccak256(toHex("coffer/timed-challenge/answer/1"));
export const ZERO_NONCE: Hex = `0x${"00".repeat(32)}`;

export interface ChallengeTerms {
  /** The replica's commR. */
  commR: Hex;
  indices: readonly number[];
  deadlineMs: number;
  /** A fresh random 32-byte nonce per challenge. */
  nonce: Hex;
  /** The watcher's clock (ms since the epoch) when it sent the challenge. */
  issuedAt: number;
  /** The watcher's chain address. */
  watcher: Address;
}

export interface AnswerTerms extends Omit<ChallengeTerms, "deadlineMs"> {
  /** keccak256 of the answer body: count × (segment ‖ depth siblings), exactly as on the wire. */
  openingsHash: Hex;
  /** The lessor's clock (ms since the epoch) when it signed. */
  answeredAt: number;
}

/** keccak256(abi.encode(uint256[] indices)). */
export function indicesHash(indices: readonly number[]): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256[]" }], [indices.map(BigInt)]));
}

/** keccak256(abi.encode(REQUEST_TAG, commR, indicesHash, deadlineMs, nonce, issuedAt, watcher)). */
export function challengeDigest(terms: ChallengeTerms): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "bytes32" }, { type: "uint256" }, { type: "address" }],
      [CHALLENGE_REQUEST_TAG, terms.commR, indicesHash(terms.indices), BigInt(terms.deadlineMs), terms.nonce, BigInt(terms.issuedAt), terms.watcher],
    ),
  );
}

/** keccak256(abi.encode(ANSWER_TAG, commR, indicesHash, openingsHash, nonce, issuedAt, answeredAt, watcher)). */
export function answerDigest(terms: AnswerTerms): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "uint256" }, { type: "address" }],
      [CHALLENGE_ANSWER_TAG, terms.commR, indicesHash(terms.indices), terms.openingsHash, terms.nonce, BigInt(terms.issuedAt), BigInt(terms.answeredAt), terms.watcher],
    ),
  );
}

/** The wire body of an answer: count × (segment ‖ depth siblings), 32 bytes each, in the order asked. */
export function encodeOpenings(openings: readonly SegmentOpening[], depth: number): Uint8Array {
  const wordsPer = 1 + depth;
  const body = new Uint8Array(openings.length * wordsPer * 32);
  openings.forEach((opening, k) => {
    body.set(opening.segment, k * wordsPer * 32);
    opening.siblings.forEach((sibling, j) => body.set(sibling, (k * wordsPer + 1 + j) * 32));
  });
  return body;
}

export function openingsHash(openings: readonly SegmentOpening[], depth: number): Hex {
  return keccak256(encodeOpenings(openings, depth));
}

export async function signDigest(account: LocalAccount, digest: Hex): Promise<Hex> {
  return account.signMessage({ message: { raw: digest } });
}

/** The address that signed `digest` (EIP-191), or undefined when the signature is malformed. */
export async function recoverSigner(digest: Hex, signature: string): Promise<Address | undefined> {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return undefined;
  try {
    return await recoverMessageAddress({ message: { raw: digest }, signature: signature as Hex });
  } catch {
    return undefined;
  }
}

/** Request fields of an unsigned challenge read as zero (§7.1): the answer is still bound to root and indices. */
export const UNSIGNED_CHALLENGE = { nonce: ZERO_NONCE, issuedAt: 0, watcher: zeroAddress } as const;
