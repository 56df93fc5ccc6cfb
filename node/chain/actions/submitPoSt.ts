import { toHex, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface SubmitPoStParameters {
  period: bigint;
  /** The replicas proven, in proof order. */
  replicas: readonly { dealId: Hex; replicaIndex: number }[];
  /** provePoStBatch's proof: each replica's kPoSt openings concatenated. */
  proof: readonly Hex[];
}

/**
 * Proves many replicas of the caller for the current period in one transaction (§10.3). Never sent twice
 * for the same period and replica set (ledger).
 * @throws MarketActionError (MarketWrongPeriod, MarketPeriodNotSeeded, MarketInvalidPoSt(dealId, index), ...).
 */
export async function submitPoSt(ctx: MarketActionContext, params: SubmitPoStParameters): Promise<Hash> {
  const dealIds = params.replicas.map((r) => r.dealId);
  const indexes = toHex(Uint8Array.from(params.replicas.map((r) => r.replicaIndex)));
  const key = `post:${params.period}:${params.replicas.map((r) => `${r.dealId.slice(2, 10)}.${r.replicaIndex}`).join(",")}`;
  const { hash } = await marketCall(ctx, { address: ctx.addresses.market, abi: storageMarketAbi, functionName: "submitPoSt", args: [params.period, dealIds, indexes, params.proof], idempotencyKey: key });
  return hash;
}
