/**
 * Builders of the flat bytes32[] proofs the market contracts verify (docs/protocol.md §5, §6, §8), from the
 * TypeScript engine in node/proofs (trees and sealing).
 */
import { bytesToHex, hexToBytes, type Hex } from "viem";
import { fileLayout } from "../../node/proofs/layout.js";
import { hashPair, sha256Words, toWord, wordMod } from "../../node/proofs/hash.js";
import { buildLevels, merkleRoot, siblingsFromLevels, toSegments } from "../../node/proofs/merkle.js";
import { sealBytes, sealDependency } from "../../node/proofs/seal.js";
import { spotChallenges } from "../../node/proofs/challenges.js";

export interface Tree {
  readonly leaves: Uint8Array;
  readonly levels: Uint8Array[];
  readonly root: Hex;
  readonly depth: number;
  readonly n: number;
}

export function buildTree(segments: Uint8Array, depth: number): Tree {
  const levels = depth === 0 ? [segments] : buildLevels(segments, depth);
  return { leaves: segments, levels, root: bytesToHex(merkleRoot(segments, depth)), depth, n: segments.length / 32 };
}

export function segmentAt(tree: Tree, i: number): Uint8Array {
  return tree.leaves.subarray(32 * i, 32 * i + 32);
}

/** Opening of segment i: the segment then `depth` siblings bottom-up. */
export function opening(tree: Tree, i: number): Hex[] {
  const siblings = tree.depth === 0 ? [] : siblingsFromLevels(tree.levels, i);
  return [bytesToHex(segmentAt(tree, i)), ...siblings.map((s) => bytesToHex(s))];
}

/** replicaId = H(abi(lessor, dealId, replicaIndex)). */
export function replicaIdOf(lessor: Hex, dealId: Hex, replicaIndex: number): Uint8Array {
  return sha256Words(hexToBytes(lessor), hexToBytes(dealId), BigInt(replicaIndex));
}

/** A file and one sealed replica of it, with both trees. */
export interface SealedFile {
  readonly size: number;
  readonly data: Tree;
  readonly sealed: Tree;
  readonly replicaId: Uint8Array;
}

export function dataTree(bytes: Uint8Array): Tree {
  const { depth } = fileLayout(bytes.length);
  return buildTree(toSegments(bytes), depth);
}

export function sealFile(bytes: Uint8Array, lessor: Hex, dealId: Hex, replicaIndex: number, rounds: number): SealedFile {
  const data = dataTree(bytes);
  const replicaId = replicaIdOf(lessor, dealId, replicaIndex);
  const sealed = buildTree(sealBytes(data.leaves, replicaId, rounds), data.depth);
  return { size: bytes.length, data, sealed, replicaId };
}

export function porepChallenges(seed: Hex, replica: SealedFile, k: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    out.push(wordMod(sha256Words(hexToBytes(seed), replica.replicaId, hexToBytes(replica.sealed.root), BigInt(j)), replica.data.n));
  }
  return out;
}

/** PoRep answer (§5): per challenge S[i], D[i], and for i >= 1 S[i-1], S[d(i)]. */
export function porepProof(seed: Hex, replica: SealedFile, k: number): Hex[] {
  const proof: Hex[] = [];
  for (const i of porepChallenges(seed, replica, k)) {
    proof.push(...opening(replica.sealed, i), ...opening(replica.data, i));
    if (i >= 1) {
      const d = sealDependency(segmentAt(replica.sealed, i - 1), i);
      proof.push(...opening(replica.sealed, i - 1), ...opening(replica.sealed, d));
    }
  }
  return proof;
}

export function postChallenges(seed: Hex, replicaId: Uint8Array, n: number, k: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < k; j++) out.push(wordMod(sha256Words(hexToBytes(seed), replicaId, BigInt(j)), n));
  return out;
}

/** PoSt openings (§6) of one replica for one period seed. */
export function postProof(seed: Hex, replica: SealedFile, k: number): Hex[] {
  return postChallenges(seed, replica.replicaId, replica.data.n, k).flatMap((i) => opening(replica.sealed, i));
}

/** Answer to an on-chain challenge (§7.2): openings of the stratified indices, from the engine's derivation. */
export function challengeProof(seed: Hex, replica: SealedFile, k: number): Hex[] {
  return spotChallenges(seed, replica.replicaId, k, replica.data.n).flatMap((i) => opening(replica.sealed, i));
}

/** PoD ciphertext (§8): E[i] = D[i] xor H(key ‖ be256(i)). `corruptIndex` flips a byte of one segment. */
export function encryptForDownload(data: Tree, key: Uint8Array, corruptIndex?: number): Tree {
  const out = new Uint8Array(data.leaves.length);
  for (let i = 0; i < data.n; i++) {
    const stream = hashPair(key, toWord(BigInt(i)));
    for (let b = 0; b < 32; b++) out[32 * i + b] = data.leaves[32 * i + b] ^ stream[b];
  }
  if (corruptIndex !== undefined) out[32 * corruptIndex] ^= 0xff;
  return buildTree(out, data.depth);
}

export function receiptChallenge(blockHash: Hex, downloadId: Hex, n: number): number {
  return wordMod(sha256Words(hexToBytes(blockHash), hexToBytes(downloadId)), n);
}

/** Deterministic pseudo-random bytes (tests must be reproducible). */
export function pseudoRandomBytes(length: number, label: string): Uint8Array {
  const out = new Uint8Array(length);
  let block = sha256Words(new TextEncoder().encode(label.padEnd(32, "\0").slice(0, 32)));
  for (let offset = 0; offset < length; offset += 32) {
    out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    block = hashPair(block, block);
  }
  return out;
}
