import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface FillReplicaParameters {
  dealId: Hex;
  replicaIndex: number;
  commR: Hex;
}

/**
 * Takes an Open or Failed slot with sealed root commR, locking the deal's collateral (§10.2). Idempotent per
 * (deal, index, commR) through the ledger.
 * @throws MarketActionError (MarketReplicaNotOpen, MarketLessorNotActive, MarketLessorAlreadyHoldsReplica, ...).
 */
export async function fillReplica(ctx: MarketActionContext, params: FillReplicaParameters): Promise<{ hash: Hash; fillBlock: bigint }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "fillReplica",
    args: [params.dealId, BigInt(params.replicaIndex), params.commR],
    idempotencyKey: `fill:${params.dealId}:${params.replicaIndex}:${params.commR}`,
  });
  return { hash, fillBlock: receipt.blockNumber };
}
