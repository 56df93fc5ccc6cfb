import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * Pays a running piece's lessor the periods it proved and was not paid for yet (§12.5); settleReplica pays the
 * rest. `period` (the current one) only keys the idempotency ledger: one claim per piece and period.
 * @throws MarketActionError (MarketReplicaNotProving, ...).
 */
export async function claimEarnings(ctx: MarketActionContext, params: { dealId: Hex; replicaIndex: number; period: bigint }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "claimEarnings",
    args: [params.dealId, BigInt(params.replicaIndex)],
    idempotencyKey: `claim:${params.dealId}:${params.replicaIndex}:${params.period}`,
  });
  return hash;
}
