import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface MarkProofMissingParameters {
  dealId: Hex;
  replicaIndex: number;
  period: bigint;
}

/**
 * Reports a closed period the replica's lessor did not prove (§10.4); the caller earns the bounty.
 * @throws MarketActionError (MarketPeriodNotClosed, MarketPeriodAlreadyProven, MarketMissAlreadyMarked, MarketReplicaNotProving...).
 */
export async function markProofMissing(ctx: MarketActionContext, params: MarkProofMissingParameters): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "markProofMissing",
    args: [params.dealId, BigInt(params.replicaIndex), params.period],
    idempotencyKey: `miss:${params.dealId}:${params.replicaIndex}:${params.period}`,
  });
  return hash;
}
