import type { CreditWindowSize } from "../../p2p/flow-control.js";
import type { StreamLimits } from "../serve.js";

export const PROBE_PROTOCOL = "/coffer/probe/1.0.0";
/** Largest probe transfer a peer will serve. */
export const MAX_PROBE_BYTES = 4 * 1024 * 1024;
/** Probe data goes in 64 KiB frames (one Yamux message each). */
export const PROBE_FRAME_BYTES = 64 * 1024 - 64;

/** At most 16 frames (≈1 MiB) unread at the requester; re-granted 4 at a time. */
export const PROBE_CREDIT: CreditWindowSize = { window: 16, batch: 4 };

export const PROBE_LIMITS: StreamLimits = {
  maxFrameSize: 64 * 1024,
  maxInboundStreams: 2,
  maxOutboundStreams: 4,
  idleTimeoutMs: 10_000,
  requestsPerSecond: 4,
};
