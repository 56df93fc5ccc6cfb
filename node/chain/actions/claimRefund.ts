import { parseEventLogs, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * After the deal's end, credits the client what was not paid to lessors (§10.1). Anyone may call.
 * @throws MarketActionError (MarketDealNotEnded, MarketAlreadyRefunded, ...).
 */
export async function claimRefund(ctx: MarketActionContext, params: { dealId: Hex }): Promise<{ hash: Hash; amount: bigint }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "claimRefund",
    args: [params.dealId],
    idempotencyKey: `refund:${params.dealId}`,
  });
  const [event] = parseEventLogs({ abi: storageMarketAbi, eventName: "DealRefunded", logs: receipt.logs });
  return { hash, amount: event?.args.amount ?? 0n };
}
