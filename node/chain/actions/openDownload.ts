import { parseEventLogs, type Hash, type Hex } from "viem";
import { downloadMarketAbi } from "../abi/downloadMarket.js";
import { marketCall, MarketActionError, type MarketActionContext } from "./market-call.js";

export interface OpenDownloadParameters {
  dealId: Hex;
  replicaIndex: number;
  /** Total price the lessor quoted; escrowed in the vault (approve the vault first). */
  price: bigint;
}

/**
 * PoD step 1 (§8): escrows the price for the whole file from the lessor of a Proving replica.
 * @throws MarketActionError (MarketReplicaNotServing, MarketInvalidDownloadPrice, ...).
 */
export async function openDownload(ctx: MarketActionContext, params: OpenDownloadParameters): Promise<{ downloadId: Hex; lessor: Hex; hash: Hash }> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.downloads,
    abi: downloadMarketAbi,
    functionName: "openDownload",
    args: [params.dealId, BigInt(params.replicaIndex), params.price],
  });
  const [opened] = parseEventLogs({ abi: downloadMarketAbi, eventName: "DownloadOpened", logs: receipt.logs });
  if (!opened) throw new MarketActionError("openDownload", "MissingEvent", [hash], { reason: `openDownload ${hash} emitted no DownloadOpened event` });
  return { downloadId: opened.args.downloadId, lessor: opened.args.lessor, hash };
}
