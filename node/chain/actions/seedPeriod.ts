import type { Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { isMarketError, marketCall, type MarketActionContext } from "./market-call.js";

const ZERO = `0x${"0".repeat(64)}` as Hex;

/**
 * Returns the seed of `period` (the current one), seeding it first when unset (§6). A race with another
 * seeder is fine: the stored seed is read back.
 * @throws MarketActionError (MarketWrongPeriod never: seedPeriod seeds whatever period is current).
 */
export async function seedPeriod(ctx: MarketActionContext, params: { period: bigint }): Promise<Hex> {
  const read = () => ctx.publicClient.readContract({ address: ctx.addresses.market, abi: storageMarketAbi, functionName: "periodSeed", args: [params.period] });
  let seed = await read();
  if (seed !== ZERO) return seed;
  try {
    await marketCall(ctx, { address: ctx.addresses.market, abi: storageMarketAbi, functionName: "seedPeriod", args: [], idempotencyKey: `seed:${params.period}` });
  } catch (error) {
    if (!isMarketError(error, "Failed")) throw error;
  }
  seed = await read();
  return seed;
}
