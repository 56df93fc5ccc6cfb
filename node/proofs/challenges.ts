import { sha256Words, wordMod } from "./hash.js";
import { hexToBytes } from "viem";
import { asWord, type Hex } from "./words.js";

/**
 * Challenge derivation exactly as ProofMath.sol (docs/protocol.md §5.3, §6).
 */

/** PoRep challenge indices: i_j = u256(H(abi(seed, replicaId, commR, uint256 j))) mod n, for j < k. */
export function porepChallenges(seed: Uint8Array | Hex, replicaId: Uint8Array | Hex, commR: Uint8Array | Hex, k: number, n: number): number[] {
  const s = asWord(seed, "seed");
  const r = asWord(replicaId, "replicaId");
  const c = asWord(commR, "commR");
  checkCount(k, n);
  return Array.from({ length: k }, (_, j) => wordMod(sha256Words(s, r, c, j), n));
}

/** PoSt challenge indices of a period: i_j = u256(H(abi(periodSeed, replicaId, uint256 j))) mod n, for j < k. */
export function postChallenges(periodSeed: Uint8Array | Hex, replicaId: Uint8Array | Hex, k: number, n: number): number[] {
  const s = asWord(periodSeed, "periodSeed");
  const r = asWord(replicaId, "replicaId");
  checkCount(k, n);
  return Array.from({ length: k }, (_, j) => wordMod(sha256Words(s, r, j), n));
}

/**
 * On-chain challenge indices (§7.2), stratified: challenge j of k lies in [floor(j·n/k), floor((j+1)·n/k)),
 * at lo + h mod (hi − lo) with h = u256(H(abi(seed, replicaId, uint256 j))); h mod n when the stratum is empty
 * (n < k). The last index falls in the final 1/k of the replica, so regenerating it re-seals ≥ (k−1)/k of it.
 */
export function spotChallenges(seed: Uint8Array | Hex, replicaId: Uint8Array | Hex, k: number, n: number): number[] {
  const s = asWord(seed, "seed");
  const r = asWord(replicaId, "replicaId");
  checkCount(k, n);
  return Array.from({ length: k }, (_, j) => {
    const h = sha256Words(s, r, j);
    // BigInt: j·n can pass 2^53 for large replicas.
    const lo = Number((BigInt(j) * BigInt(n)) / BigInt(k));
    const hi = Number((BigInt(j + 1) * BigInt(n)) / BigInt(k));
    return hi === lo ? wordMod(h, n) : lo + wordMod(h, hi - lo);
  });
}

/**
 * A PoSt period's seed (§6.1), as StorageMarket stores it: H(abi(blockhash(seedBlock), uint256 period)), where
 * seedBlock was fixed by the period's first seedPeriod() call. Anyone holding the seed block's hash computes it.
 */
export function periodSeedOf(seedBlockHash: Uint8Array | Hex, period: bigint | number): Uint8Array {
  return sha256Words(asWord(seedBlockHash, "seedBlockHash"), BigInt(period));
}

/**
 * An on-chain challenge's seed (§7.2): H(abi(blockhash(openedBlock + 1), dealId, uint256 replicaIndex,
 * challenger)), readable from block openedBlock + 2 on.
 */
export function challengeSeedOf(seedBlockHash: Uint8Array | Hex, dealId: Uint8Array | Hex, replicaIndex: number, challenger: Uint8Array | Hex): Uint8Array {
  const address = challenger instanceof Uint8Array ? challenger : hexToBytes(challenger);
  if (address.length !== 20) throw new RangeError(`challenger must be a 20-byte address, got ${address.length} bytes`);
  return sha256Words(asWord(seedBlockHash, "seedBlockHash"), asWord(dealId, "dealId"), replicaIndex, address);
}

function checkCount(k: number, n: number): void {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`challenge count must be a non-negative integer, got ${k}`);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`segment count must be a positive integer, got ${n}`);
}

/**
 * The PoD receipt challenge DownloadMarket derives once the lessor committed commE in block b:
 * u256(H(abi(blockhash(b + 1), downloadId))) mod n. The downloader answers with podTileProof at this index.
 */
export function podReceiptChallenge(seed: Uint8Array | Hex, downloadId: Uint8Array | Hex, n: number): number {
  checkCount(1, n);
  return wordMod(sha256Words(asWord(seed, "seed"), asWord(downloadId, "downloadId")), n);
}
