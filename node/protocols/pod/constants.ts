import type { CreditWindowSize } from "../../p2p/flow-control.js";
import type { StreamLimits } from "../serve.js";

export const POD_PROTOCOL = "/coffer/pod/1.0.0";
/** Ciphertext goes in frames of one Yamux message each. */
export const POD_DATA_BYTES = 64 * 1024 - 64;
export const POD_MAX_FRAME = 64 * 1024;
/** Largest ciphertext a downloader accepts over one stream (the deal's n·32 bytes must fit). */
export const POD_MAX_CIPHER_BYTES = 2 ** 34;
/**
 * At most 32 data frames (≈2 MiB, half of libp2p's 4 MiB stream read buffer) unconsumed at the downloader;
 * it re-grants every 8 frames (≈512 KiB) written to disk.
 */
export const POD_CREDIT: CreditWindowSize = { window: 32, batch: 8 };

export const POD_LIMITS: StreamLimits = {
  maxFrameSize: POD_MAX_FRAME,
  maxInboundStreams: 4,
  maxOutboundStreams: 4,
  // Encrypting and committing on-chain happen before the first data frame; a sender waits this long at most
  // for a credit.
  idleTimeoutMs: 60_000,
  requestsPerSecond: 4,
};
