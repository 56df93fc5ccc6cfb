import { multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import type { PeerId } from "@libp2p/interface";
import { bytesToHex, type Hex } from "viem";
import { InvalidLessorTermsError, InvalidMultiaddrError, InvalidPeerIdError } from "./errors.js";

/** Limits LessorRegistry enforces on a lessor's profile (mirrors the contract's constants). */
export const LESSOR_PROFILE_LIMITS = {
  maxPeerIdLength: 64,
  maxMultiaddrs: 4,
  maxMultiaddrLength: 128,
  maxCapacityBytes: 2n ** 64n - 1n,
  maxPricePerGiBPerPeriod: 2n ** 128n - 1n,
} as const;

const MULTIHASH_IDENTITY = 0x00;
const MULTIHASH_SHA2_256 = 0x12;

/**
 * The on-chain form of a libp2p peer id: its multihash bytes, as hex.
 * Accepts a PeerId, its string form (base58btc "12D3KooW..." / "Qm...", or a CID), or raw multihash bytes.
 * @throws InvalidPeerIdError when the value is not a peer id the registry accepts.
 */
export function encodePeerId(peerId: PeerId | string | Uint8Array): Hex {
  let bytes: Uint8Array;
  let shown: string;
  if (typeof peerId === "string") {
    shown = peerId;
    if (peerId.trim() === "") throw new InvalidPeerIdError(peerId, "it is empty");
    try {
      bytes = peerIdFromString(peerId).toMultihash().bytes;
    } catch (error) {
      throw new InvalidPeerIdError(peerId, "it does not parse as a libp2p peer id", { cause: error });
    }
  } else if (peerId instanceof Uint8Array) {
    bytes = peerId;
    shown = bytesToHex(peerId);
  } else {
    bytes = peerId.toMultihash().bytes;
    shown = peerId.toString();
  }
  const problem = peerIdBytesProblem(bytes);
  if (problem !== undefined) throw new InvalidPeerIdError(shown, problem);
  return bytesToHex(bytes);
}

/** Why the registry would refuse these peer id bytes, or undefined if it accepts them. */
export function peerIdBytesProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 3) return `it is ${bytes.length} bytes, a multihash has at least 3`;
  if (bytes.length > LESSOR_PROFILE_LIMITS.maxPeerIdLength) {
    return `it is ${bytes.length} bytes, the registry accepts at most ${LESSOR_PROFILE_LIMITS.maxPeerIdLength}`;
  }
  if (bytes[0] !== MULTIHASH_IDENTITY && bytes[0] !== MULTIHASH_SHA2_256) {
    return `multihash code 0x${bytes[0]!.toString(16)} is neither identity (0x00) nor sha2-256 (0x12)`;
  }
  if (bytes[1] !== bytes.length - 2) return `multihash length byte ${bytes[1]} does not match ${bytes.length - 2} digest bytes`;
  return undefined;
}

/**
 * Checks multiaddrs the way the registry does (count, length, leading "/") and that each parses as
 * a multiaddr. Returns them unchanged.
 * @throws InvalidMultiaddrError naming the first bad one.
 */
export function validateMultiaddrs(multiaddrs: readonly string[]): string[] {
  const { maxMultiaddrs, maxMultiaddrLength } = LESSOR_PROFILE_LIMITS;
  if (multiaddrs.length === 0 || multiaddrs.length > maxMultiaddrs) {
    throw new InvalidMultiaddrError(multiaddrs.join(","), `give between 1 and ${maxMultiaddrs} multiaddrs, not ${multiaddrs.length}`);
  }
  for (const addr of multiaddrs) {
    const length = new TextEncoder().encode(addr).length;
    if (length === 0 || length > maxMultiaddrLength) {
      throw new InvalidMultiaddrError(addr, `it is ${length} bytes, allowed 1 to ${maxMultiaddrLength}`);
    }
    if (!addr.startsWith("/")) throw new InvalidMultiaddrError(addr, `it must start with "/"`);
    try {
      multiaddr(addr);
    } catch (error) {
      throw new InvalidMultiaddrError(addr, "it does not parse as a multiaddr", { cause: error });
    }
  }
  return [...multiaddrs];
}

/**
 * Checks capacity and price against the registry's bounds (1..2^64-1 bytes, 1..2^128-1 wei).
 * @throws InvalidLessorTermsError naming the field.
 */
export function validateLessorTerms(capacityBytes: bigint, pricePerGiBPerPeriod: bigint): void {
  if (capacityBytes < 1n || capacityBytes > LESSOR_PROFILE_LIMITS.maxCapacityBytes) {
    throw new InvalidLessorTermsError("capacityBytes", capacityBytes, LESSOR_PROFILE_LIMITS.maxCapacityBytes);
  }
  if (pricePerGiBPerPeriod < 1n || pricePerGiBPerPeriod > LESSOR_PROFILE_LIMITS.maxPricePerGiBPerPeriod) {
    throw new InvalidLessorTermsError(
      "pricePerGiBPerPeriod",
      pricePerGiBPerPeriod,
      LESSOR_PROFILE_LIMITS.maxPricePerGiBPerPeriod,
    );
  }
}
