import { CHUNK_SIZE } from "../../proofs/constants.js";
import type { StreamLimits } from "../serve.js";

export const UPLOAD_PROTOCOL = "/coffer/upload/1.0.0";
/** Chunk frames: header + siblings + one chunk; the offer carries the manifest (<= 8,192 chunk roots). */
export const UPLOAD_MAX_FRAME = CHUNK_SIZE + 64 * 1024;
export const MAX_UPLOAD_CHUNKS = 8192;
/** Chunks the uploader sends ahead of acknowledgements. */
export const UPLOAD_WINDOW = 8;

export const UPLOAD_LIMITS: StreamLimits = {
  maxFrameSize: UPLOAD_MAX_FRAME,
  maxInboundStreams: 8,
  maxOutboundStreams: 8,
  idleTimeoutMs: 30_000,
  requestsPerSecond: 400,
};
