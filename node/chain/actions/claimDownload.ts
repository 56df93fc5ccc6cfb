import type { Hash, Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * PoD step 5b (anyone): after the dispute window, pays the lessor and unlocks its bond.
 * @throws MarketActionError (MarketDisputeWindowOpen(downloadId, deadline), MarketDownloadWrongStage, ...).
 */
export async function claimDownload(ctx: MarketActionContext, params: { downloadId: Hex }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "claimDownload",
    args: [params.downloadId],
    idempotencyKey: `pod-claim:${params.downloadId}`,
  });
  return hash;
}
