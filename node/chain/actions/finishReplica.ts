import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * Releases a proving replica's remaining collateral from the period after the deal's end (anyone may call).
 * @throws MarketActionError (MarketReplicaNotFinishable(dealId, index, finishPeriod), ...).
 */
export async function finishReplica(ctx: MarketActionContext, params: { dealId: Hex; replicaIndex: number }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "finishReplica",
    args: [params.dealId, BigInt(params.replicaIndex)],
    idempotencyKey: `finish:${params.dealId}:${params.replicaIndex}`,
  });
  return hash;
}
