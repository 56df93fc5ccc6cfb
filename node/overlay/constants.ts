/** Overlay tuning (node/overlay/overlay.ts). */
export const OVERLAY_DEFAULTS = {
  /** Neighbours kept connected. */
  maxNeighbours: 8,
  /** Candidates remembered (best-effort pool). */
  maxCandidates: 64,
  /** At most this many neighbours from one address group (eclipse resistance). */
  maxPerGroup: 2,
  /** Bytes moved by one speed probe. */
  probeBytes: 256 * 1024,
  probeTimeoutMs: 3_000,
  /** Peers probed per round (round-robin, least recently probed first). */
  probesPerRound: 3,
  /** Period of the maintenance round. */
  intervalMs: 10_000,
  /** A peer that failed this many probes in a row is dropped. */
  maxFailures: 2,
  /** Past neighbours kept in the history (LevelDB). */
  maxPast: 256,
};
