/**
 * Production defaults of the market parameters (docs/protocol.md §9). Shared by the Ignition module, the gas
 * bench and anything else that needs "the defaults".
 */
export const DEFAULT_MARKET_PARAMS = {
  periodLength: 3_600n,
  kPoSt: 5,
  kPoRep: 16,
  sealRounds: 1,
  porepTimeout: 600n,
  maxMisses: 3,
  missSlashBps: 2_000,
  bountyBps: 2_000,
  repairBps: 5_000,
  collateralPerGiB: 10n ** 18n, // one whole token per GiB of replica
  challengeWindow: 3, // blocks: 36 s on a 12 s chain; generation-safe from ~12 GiB replicas (§7.2)
  challengeBond: 10n ** 18n, // one token: pays the honest lessor's answer gas several times over
  minSegments: 8_192, // 256 KiB, one chunk: the smallest replica (§2.1); clients pad smaller files
  revealFactor: 20, // a deal's PoSt openings publish at most 10 % of its replica (§2.1)
} as const;

export const DEFAULT_POD_PARAMS = {
  commitTimeout: 600n,
  receiptTimeout: 600n,
  revealTimeout: 600n,
  disputeWindow: 86_400n,
} as const;
