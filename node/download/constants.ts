/** Downloader tuning (see node/download/downloader.ts). */
export const DOWNLOAD_DEFAULTS = {
  /** A chunk request not answered within this is cancelled and asked elsewhere. */
  requestTimeoutMs: 10_000,
  /** Upper bound of requests in flight to one peer. */
  maxInFlightPerPeer: 8,
  /** Requests in flight to a peer we know nothing about yet. */
  initialInFlight: 2,
  /** Keep enough requests in flight to cover this much time at the peer's measured speed. */
  pipelineSeconds: 0.3,
  /** How often peers' have-bitfields are refreshed. */
  haveRefreshMs: 1_000,
  /** How often providers are looked up again while the download runs. */
  rediscoverMs: 5_000,
  /** Give up when no source has served anything for this long. */
  stallTimeoutMs: 30_000,
  /** Keep looking for a first provider this long. */
  discoveryTimeoutMs: 10_000,
  /** Bad chunks a peer may send before it is dropped from this download. */
  maxStrikes: 2,
};
