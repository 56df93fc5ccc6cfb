import type { Hash, Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * PoD step 4 (lessor): publishes the key; H(key) must equal the committed keyHash.
 * @throws MarketActionError (MarketWrongKey, MarketDownloadWrongStage, MarketDownloadLate, ...).
 */
export async function revealKey(ctx: MarketActionContext, params: { downloadId: Hex; key: Hex }): Promise<Hash> {
  const { hash } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "revealKey",
    args: [params.downloadId, params.key],
    idempotencyKey: `pod-reveal:${params.downloadId}`,
  });
  return hash;
}
