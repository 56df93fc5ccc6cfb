/**
 * Proving periods (docs/protocol.md §6): period(t) = (t − T0) / periodLength from the market's start T0, as
 * StorageMarket.currentPeriod computes it. One home for the arithmetic the roles, the CLI and the tests share.
 */
export interface PeriodClock {
  /** The market's start T0 (StorageMarket.startTime), seconds. */
  startTime: bigint;
  /** Seconds per period (StorageMarket.params().periodLength). */
  periodLength: bigint;
}

/** The period chain time `timestamp` falls in (0 before the start). */
export function periodAt(clock: PeriodClock, timestamp: bigint): bigint {
  return timestamp < clock.startTime ? 0n : (timestamp - clock.startTime) / clock.periodLength;
}

/** The chain time `period` begins at. */
export function periodStart(clock: PeriodClock, period: bigint): bigint {
  return clock.startTime + period * clock.periodLength;
}
