import type { Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { periodSeedOf } from "../../proofs/challenges.js";
import { toHex } from "../../proofs/words.js";
import { CofferChainError } from "../errors.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/** blockhash() reaches this many blocks back (DelayedSeed.HORIZON). */
const SEED_HORIZON = 256n;
const DEFAULT_POLL_MS = 250;
const DEFAULT_TIMEOUT_MS = 120_000;

/** The period's seed cannot be had: nobody stored it while its seed block's hash was readable (§6.1). */
export class PeriodSeedLostError extends CofferChainError {
  override name = "PeriodSeedLostError";
  constructor(readonly period: bigint, readonly seedBlock: bigint) {
    super(`the seed of period ${period} is lost: block ${seedBlock}'s hash is more than 256 blocks old and was never stored; the period can no longer be proven`);
  }
}

/**
 * True once a transaction can use the seed fixed by `seedBlock`: a block past it exists. A transaction is
 * simulated (eth_call) at the latest block's number, where blockhash(latest) is not readable yet.
 */
export function seedBlockUsable(latest: bigint, seedBlock: bigint): boolean {
  return latest > seedBlock;
}

export interface SeedPeriodParameters {
  /** The current period. */
  period: bigint;
  pollMs?: number;
  /** How long to wait for the seed block to be mined. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Returns the seed of `period` (the current one), §6.1. When nobody fixed the period's seed block yet, sends
 * seedPeriod() (the block after that transaction becomes the seed block), then waits until the seed block is
 * mined and computes seed = H(abi(blockhash(seedBlock), period)) from its hash: the same value submitPoSt stores.
 * A race with another requester is fine: the first request wins and its block is read back.
 * @throws PeriodSeedLostError when the seed block is more than 256 blocks old and the seed was never stored.
 * @throws MarketActionError from the request transaction.
 */
export async function seedPeriod(ctx: MarketActionContext, params: SeedPeriodParameters): Promise<Hex> {
  const market = { address: ctx.addresses.market, abi: storageMarketAbi } as const;
  const { period } = params;
  const stored = await ctx.publicClient.readContract({ ...market, functionName: "periodSeed", args: [period] });
  if (BigInt(stored) !== 0n) return stored;
  let seedBlock = await ctx.publicClient.readContract({ ...market, functionName: "periodSeedBlock", args: [period] });
  if (seedBlock === 0n) {
    await marketCall(ctx, { ...market, functionName: "seedPeriod", args: [], idempotencyKey: `seed:${period}` });
    seedBlock = await ctx.publicClient.readContract({ ...market, functionName: "periodSeedBlock", args: [period] });
    if (seedBlock === 0n) throw new CofferChainError(`seedPeriod() for period ${period} was mined but fixed no seed block (the period ended meanwhile?)`);
  }
  const deadline = Date.now() + (params.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  for (;;) {
    params.signal?.throwIfAborted();
    const latest = await ctx.publicClient.getBlockNumber({ cacheTime: 0 });
    if (latest > seedBlock + SEED_HORIZON) {
      // Stored after all (by someone else) in the meantime?
      const late = await ctx.publicClient.readContract({ ...market, functionName: "periodSeed", args: [period] });
      if (BigInt(late) !== 0n) return late;
      throw new PeriodSeedLostError(period, seedBlock);
    }
    if (seedBlockUsable(latest, seedBlock)) {
      const block = await ctx.publicClient.getBlock({ blockNumber: seedBlock });
      return toHex(periodSeedOf(block.hash, period));
    }
    if (Date.now() > deadline) throw new CofferChainError(`the seed block ${seedBlock} of period ${period} was not mined within ${params.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms (latest block ${latest}): is the chain producing blocks?`);
    await new Promise((resolve) => setTimeout(resolve, params.pollMs ?? DEFAULT_POLL_MS));
  }
}
