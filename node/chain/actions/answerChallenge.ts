import type { Address, Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface AnswerChallengeParameters {
  dealId: Hex;
  replicaIndex: number;
  /** Whose challenge: each challenger has its own (§7.2). */
  challenger: Address;
  /** The flat answer of proveChallengeAnswer (docs/protocol.md §7.2). */
  proof: readonly Hex[];
  /** The challenge's opening block, for the idempotency key (one answer per challenge). */
  openedBlock: bigint;
}

/**
 * Answers an open on-chain challenge before its deadline block; the bond is credited to the lessor. Returns the
 * block the answer was mined in.
 * @throws MarketActionError (MarketChallengeSeedNotReady, MarketChallengeLate, MarketInvalidChallengeAnswer, MarketNoChallenge, MarketChallengeVoid).
 */
export async function answerChallenge(ctx: MarketActionContext, params: AnswerChallengeParameters): Promise<{ hash: Hash; blockNumber: bigint }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "answerChallenge",
    args: [params.dealId, BigInt(params.replicaIndex), params.challenger, params.proof],
    idempotencyKey: `challenge-answer:${params.dealId}:${params.replicaIndex}:${params.challenger}:${params.openedBlock}`,
  });
  return { hash, blockNumber: receipt.blockNumber };
}
