import type { Hash } from "viem";
import type { Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface SubmitPoStParameters {
  period: bigint;
  /** The kPoSt openings of the lessor's period challenges, in challenge order (§12.4). */
  proof: readonly Hex[];
}

/**
 * Proves all the caller's proving sectors for the current period in one transaction (§12.4). Never sent twice
 * for one period (ledger).
 * @throws MarketActionError (MarketWrongPeriod, MarketPeriodNotSeeded, MarketInvalidPoSt(lessor, period, j), ...).
 */
export async function submitPoSt(ctx: MarketActionContext, params: SubmitPoStParameters): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "submitPoSt",
    args: [params.period, params.proof],
    idempotencyKey: `post:${params.period}`,
  });
  return hash;
}
