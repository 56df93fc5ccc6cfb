/**
 * Compact in-test sealer for docs/protocol.md §4.2 (small files only: one hash per segment per round).
 * TEMPORARY: replace with node/proofs/seal.ts once the proof helper's engine lands on main.
 */
import { SEAL_WINDOW } from "../../node/proofs/constants.js";
import { hashPair } from "../../node/proofs/hash.js";

/** Seals `data` (whole 32-byte segments) for `replicaId`; returns the sealed segments S. */
export function sealSegments(data: Uint8Array, replicaId: Uint8Array, rounds: number): Uint8Array {
  if (data.length % 32 !== 0) throw new RangeError("data must be whole segments");
  const n = data.length / 32;
  const sealed = new Uint8Array(data.length);
  const segment = (i: number) => sealed.subarray(32 * i, 32 * i + 32);
  for (let i = 0; i < n; i++) {
    const previous = i === 0 ? replicaId : segment(i - 1);
    const dependency = i === 0 ? replicaId : segment(sealDependency(segment(i - 1), i));
    let key = hashPair(previous, dependency);
    for (let r = 1; r < rounds; r++) key = hashPair(key, dependency);
    for (let b = 0; b < 32; b++) sealed[32 * i + b] = data[32 * i + b] ^ key[b];
  }
  return sealed;
}

/** d(i) = i - 1 - (u48(S[i-1][0..6]) mod min(i, W)). */
export function sealDependency(previousSealed: Uint8Array, i: number): number {
  let back = 0;
  for (let b = 0; b < 6; b++) back = back * 256 + previousSealed[b];
  return i - 1 - (back % Math.min(i, SEAL_WINDOW));
}
