import type { Hash, Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface ExpireChallengeParameters {
  dealId: Hex;
  replicaIndex: number;
  /** The challenge's opening block, for the idempotency key. */
  openedBlock: bigint;
}

/**
 * Settles an unanswered on-chain challenge after its window: the replica fails and its lessor's remaining
 * collateral is slashed (bounty to the challenger), or the challenge is voided if the slot changed hands.
 * @throws MarketActionError (MarketChallengeNotExpired, MarketNoChallenge).
 */
export async function expireChallenge(ctx: MarketActionContext, params: ExpireChallengeParameters): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "expireChallenge",
    args: [params.dealId, BigInt(params.replicaIndex)],
    idempotencyKey: `challenge-expire:${params.dealId}:${params.replicaIndex}:${params.openedBlock}`,
  });
  return hash;
}
