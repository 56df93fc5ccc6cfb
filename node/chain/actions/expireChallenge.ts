import { parseEventLogs, type Address, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface ExpireChallengeParameters {
  dealId: Hex;
  replicaIndex: number;
  /** Whose challenge: each challenger has its own (§7.2). */
  challenger: Address;
  /** The challenge's opening block, for the idempotency key. */
  openedBlock: bigint;
}

export interface ExpireChallengeResult {
  hash: Hash;
  /** slashed: the replica failed and its collateral was slashed; voided: the lessor had lost the slot already. */
  outcome: "slashed" | "voided";
  lessor?: Address;
  slashed: bigint;
  bounty: bigint;
}

/**
 * Settles an unanswered on-chain challenge after its window: the replica fails and its lessor's remaining
 * collateral is slashed (bounty to the challenger), or the challenge is voided if the slot changed hands.
 * @throws MarketActionError (MarketChallengeNotExpired, MarketNoChallenge).
 */
export async function expireChallenge(ctx: MarketActionContext, params: ExpireChallengeParameters): Promise<ExpireChallengeResult> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "expireChallenge",
    args: [params.dealId, BigInt(params.replicaIndex), params.challenger],
    idempotencyKey: `challenge-expire:${params.dealId}:${params.replicaIndex}:${params.challenger}:${params.openedBlock}`,
  });
  const [expired] = parseEventLogs({ abi: storageMarketAbi, eventName: "ChallengeExpired", logs: receipt.logs });
  if (expired) return { hash, outcome: "slashed", lessor: expired.args.lessor, slashed: expired.args.slashed, bounty: expired.args.bounty };
  return { hash, outcome: "voided", slashed: 0n, bounty: 0n };
}
