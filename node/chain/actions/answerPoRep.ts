import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface AnswerPoRepParameters {
  sector: Hex;
  /** The flat answer of provePoRep over the sector (docs/protocol.md §5). */
  proof: readonly Hex[];
}

/**
 * Answers a committed sector's PoRep (from block commitBlock + 2, while the lessor's proving set may change).
 * @throws MarketActionError (MarketPoRepSeedNotReady, MarketPoRepLate, MarketInvalidPoRep, MarketProvingSetLocked, ...).
 */
export async function answerPoRep(ctx: MarketActionContext, params: AnswerPoRepParameters): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "answerPoRep",
    args: [params.sector, params.proof],
    idempotencyKey: `porep:${params.sector}`,
  });
  return hash;
}
