import type { Hash, Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * PoD step 5a (downloader): proves segment `index` of E does not decrypt to D[index] (podDisputeProof).
 * @throws MarketActionError (MarketDisputeRejected, MarketDownloadLate, ...).
 */
export async function disputeDownload(ctx: MarketActionContext, params: { downloadId: Hex; index: number; proof: readonly Hex[] }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "disputeDownload",
    args: [params.downloadId, BigInt(params.index), params.proof],
    idempotencyKey: `pod-dispute:${params.downloadId}`,
  });
  return hash;
}
