import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface AnswerPoRepParameters {
  dealId: Hex;
  replicaIndex: number;
  /** The flat answer of provePoRep (docs/protocol.md §5). */
  proof: readonly Hex[];
  /** Fill block, for the idempotency key (one answer per fill). */
  fillBlock: bigint;
}

/**
 * Answers the PoRep of a filled slot (from block fillBlock + 2).
 * @throws MarketActionError (MarketPoRepSeedNotReady, MarketPoRepLate, MarketInvalidPoRep, ...).
 */
export async function answerPoRep(ctx: MarketActionContext, params: AnswerPoRepParameters): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "answerPoRep",
    args: [params.dealId, BigInt(params.replicaIndex), params.proof],
    idempotencyKey: `porep:${params.dealId}:${params.replicaIndex}:${params.fillBlock}`,
  });
  return hash;
}
