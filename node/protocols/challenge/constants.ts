import type { StreamLimits } from "../serve.js";

export const CHALLENGE_PROTOCOL = "/coffer/challenge/1.0.0";
/** Most segments one challenge may ask for (docs/protocol.md §7: kTimed = 4 by default). */
export const MAX_CHALLENGE_INDICES = 64;
/** Longest deadline a watcher may ask for. */
export const MAX_DEADLINE_MS = 60_000;
export const DEFAULT_DEADLINE_MS = 1_000;

export const CHALLENGE_LIMITS: StreamLimits = {
  // 64 openings × (1 segment + 64 siblings) × 32 B ≈ 133 KiB, plus the header.
  maxFrameSize: 160 * 1024,
  maxInboundStreams: 8,
  maxOutboundStreams: 16,
  idleTimeoutMs: 5_000,
  requestsPerSecond: 10,
};
