import { isAddressEqual, zeroAddress, type Address, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import type { MarketActionContext } from "./market-call.js";

export interface GetServingLessorsParameters {
  dealId: Hex;
  /** The deal's replica count (getDeal's `replicas`). */
  replicas: number;
}

export interface ServingLessor {
  replicaIndex: number;
  lessor: Address;
}

/**
 * The replicas of a deal that a lessor serves now (Proving, deal not ended), by replica index, lowest first:
 * the ones to download from or to challenge. Read-only (StorageMarket.servingLessor, address(0) = none).
 */
export async function getServingLessors(ctx: Pick<MarketActionContext, "publicClient" | "addresses">, params: GetServingLessorsParameters): Promise<ServingLessor[]> {
  const lessors = await Promise.all(
    Array.from({ length: params.replicas }, (_, i) =>
      ctx.publicClient.readContract({ address: ctx.addresses.market, abi: storageMarketAbi, functionName: "servingLessor", args: [params.dealId, BigInt(i)] }),
    ),
  );
  return lessors.flatMap((lessor, replicaIndex) => (isAddressEqual(lessor, zeroAddress) ? [] : [{ replicaIndex, lessor }]));
}
