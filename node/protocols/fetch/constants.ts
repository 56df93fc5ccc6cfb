import { CHUNK_SIZE } from "../../proofs/constants.js";
import type { StreamLimits } from "../serve.js";

export const FETCH_PROTOCOL = "/coffer/fetch/1.0.0";

/** A chunk response: header + up to 64 siblings + one chunk. Manifests must fit too (<= 8,192 chunks = 2 GiB files). */
export const FETCH_MAX_FRAME = CHUNK_SIZE + 64 * 1024;
export const MAX_MANIFEST_CHUNKS = 8192;

export const FETCH_LIMITS: StreamLimits = {
  maxFrameSize: FETCH_MAX_FRAME,
  maxInboundStreams: 32,
  maxOutboundStreams: 32,
  idleTimeoutMs: 30_000,
  requestsPerSecond: 400,
};

/** A request a peer answers must arrive within this time or it is cancelled and asked elsewhere. */
export const FETCH_REQUEST_TIMEOUT_MS = 10_000;
