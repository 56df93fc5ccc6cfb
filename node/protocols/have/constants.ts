import type { StreamLimits } from "../serve.js";

export const HAVE_PROTOCOL = "/coffer/have/1.0.0";

/** A bitfield of 2^20 chunks (256 GiB) is 128 KiB. */
export const HAVE_LIMITS: StreamLimits = {
  maxFrameSize: 128 * 1024 + 16 * 1024,
  maxInboundStreams: 16,
  maxOutboundStreams: 64,
  idleTimeoutMs: 5_000,
  requestsPerSecond: 50,
};
