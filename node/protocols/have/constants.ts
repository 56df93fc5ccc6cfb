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

/**
 * A subscription re-checks the advertised bitfield this often and pushes it when it changed: the delay a
 * new chunk waits before peers learn of it (polling a fresh stream per query cost ~5 ms CPU per query).
 */
export const HAVE_PUSH_INTERVAL_MS = 100;

/** A push not written within this (the subscriber stopped reading) ends the subscription. */
export const HAVE_PUSH_WRITE_TIMEOUT_MS = 10_000;
