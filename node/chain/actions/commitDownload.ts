import type { Hash, Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/**
 * PoD step 2 (lessor): commits commE and keyHash, locking a bond equal to the price.
 * @throws MarketActionError (MarketDownloadWrongStage, MarketNotDownloadLessor, MarketDownloadLate, ...).
 */
export async function commitDownload(ctx: MarketActionContext, params: { downloadId: Hex; commE: Hex; keyHash: Hex }): Promise<{ hash: Hash; commitBlock: bigint }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "commitDownload",
    args: [params.downloadId, params.commE, params.keyHash],
    idempotencyKey: `pod-commit:${params.downloadId}`,
  });
  return { hash, commitBlock: receipt.blockNumber };
}
