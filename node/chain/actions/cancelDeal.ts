import { parseEventLogs, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * The client cancels a deal no lessor has filled yet; its whole escrow is credited back in the vault (§10.1).
 * @throws MarketActionError (MarketNotDealClient, MarketDealAlreadyFilled, MarketDealCancelled, MarketUnknownDeal).
 */
export async function cancelDeal(ctx: MarketActionContext, params: { dealId: Hex }): Promise<{ hash: Hash; refund: bigint }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "cancelDeal",
    args: [params.dealId],
  });
  const [event] = parseEventLogs({ abi: storageMarketAbi, eventName: "DealCancelled", logs: receipt.logs });
  return { hash, refund: event?.args.refund ?? 0n };
}
