import type { StreamLimits } from "../serve.js";

export const NEIGHBOURS_PROTOCOL = "/coffer/neighbours/1.0.0";
/** Most neighbours returned (and accepted) in one answer. */
export const MAX_NEIGHBOURS_LISTED = 64;
export const MAX_ADDRS_PER_PEER = 8;

export const NEIGHBOURS_LIMITS: StreamLimits = {
  maxFrameSize: 64 * 1024,
  maxInboundStreams: 8,
  maxOutboundStreams: 16,
  idleTimeoutMs: 5_000,
  requestsPerSecond: 10,
};
