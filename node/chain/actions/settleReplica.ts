import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * Settles a filled slot once its deal ended or it failed (§12.5): pays the lessor its proven periods, slashes
 * misses, releases the rest, reopens a failed slot. Anyone may call.
 * @throws MarketActionError (MarketReplicaNotSettleable(dealId, index, state), MarketChallengesOpen, ...).
 */
export async function settleReplica(ctx: MarketActionContext, params: { dealId: Hex; replicaIndex: number; fillBlock?: bigint }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "settleReplica",
    args: [params.dealId, BigInt(params.replicaIndex)],
    idempotencyKey: `settle:${params.dealId}:${params.replicaIndex}:${params.fillBlock ?? 0n}`,
  });
  return hash;
}
