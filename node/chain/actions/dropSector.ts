import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * Gives a proving sector up (§12.3): free when none of its pieces' deals still runs, else those pieces fail.
 * @throws MarketActionError (MarketProvingSetLocked, MarketSectorWrongState, ...).
 */
export async function dropSector(ctx: MarketActionContext, params: { sector: Hex }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "dropSector",
    args: [params.sector],
    idempotencyKey: `drop:${params.sector}`,
  });
  return hash;
}
