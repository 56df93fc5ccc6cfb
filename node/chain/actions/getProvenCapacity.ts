import type { Address } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { provingTotal } from "../../proofs/sectors.js";
import type { MarketActionContext } from "./market-call.js";

/**
 * A lessor's proven capacity (docs/protocol.md §12.3): the bytes of its proving sectors, deal or capacity, while
 * it proved the current or the previous period; zero otherwise. Read-only (provingCounts, isPeriodProven).
 */
export async function getProvenCapacity(ctx: Pick<MarketActionContext, "publicClient" | "addresses">, params: { lessor: Address; minSectorLog: number }): Promise<bigint> {
  const market = { address: ctx.addresses.market, abi: storageMarketAbi } as const;
  const [counts, current] = await Promise.all([
    ctx.publicClient.readContract({ ...market, functionName: "provingCounts", args: [params.lessor] }),
    ctx.publicClient.readContract({ ...market, functionName: "currentPeriod" }),
  ]);
  if (counts === 0n) return 0n;
  const periods = current > 0n ? [current, current - 1n] : [current];
  const proven = await Promise.all(periods.map((p) => ctx.publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [params.lessor, p] })));
  return proven.some(Boolean) ? provingTotal(counts, params.minSectorLog) * 32n : 0n;
}
