import type { Logger } from "pino";

/**
 * Types the proof engine's modules share (commit, seal, pod): kept apart so that no module imports another
 * only for a type.
 */

/** Progress of a long operation, reported after every block. */
export interface ProofProgress {
  phase: "commit" | "seal" | "unseal" | "encrypt" | "decrypt" | "sector";
  bytesDone: number;
  bytesTotal: number;
}

export interface LongOperationOptions {
  onProgress?: (progress: ProofProgress) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

/** One block of a file's plaintext: `bytes` are the data at byte `offset` (what unsealStream yields, trimmed to the file). */
export interface PlaintextBlock {
  offset: number;
  bytes: Uint8Array;
}
