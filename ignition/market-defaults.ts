/**
 * Production defaults of the market parameters (docs/protocol.md §9). Shared by the Ignition module, the gas
 * bench and anything else that needs "the defaults".
 */
export const DEFAULT_MARKET_PARAMS = {
  periodLength: 43_200n, // 12 h: one PoSt per lessor per period (§12.1)
  kPoSt: 33, // per lessor and period: 66 openings a day catch a 10 % loss with 99.9 % (§12.1)
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
  minSegments: 8_192, // 256 KiB, one chunk: the smallest deal (§2.1); clients pad smaller files
  minSectorLog: 15, // 1 MiB: the smallest sector a lessor may seal (§12.2)
  maxSectorLog: 30, // 32 GiB: the largest (Filecoin's sector size)
} as const;

export const DEFAULT_POD_PARAMS = {
  commitTimeout: 600n,
  receiptTimeout: 600n,
  revealTimeout: 600n,
  disputeWindow: 86_400n,
} as const;
