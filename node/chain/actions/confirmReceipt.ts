import type { Hash, Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * PoD step 3 (downloader): opens the challenged segment of E (from block commitBlock + 2).
 * @throws MarketActionError (MarketDownloadChallengeNotReady, MarketInvalidReceipt, MarketDownloadLate, ...).
 */
export async function confirmReceipt(ctx: MarketActionContext, params: { downloadId: Hex; opening: readonly Hex[] }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "confirmReceipt",
    args: [params.downloadId, params.opening],
    idempotencyKey: `pod-receipt:${params.downloadId}`,
  });
  return hash;
}
