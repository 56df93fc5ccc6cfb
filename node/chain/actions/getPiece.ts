import { zeroAddress, type Address, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import type { MarketActionContext } from "./market-call.js";

/** Where one replica slot's data lives: the sector holding it as a piece, and what a challenge opens. */
export interface PieceLocation {
  dealId: Hex;
  replicaIndex: number;
  lessor: Address;
  /** The sector's id, also its replicaId. */
  sector: Hex;
  /** The piece's first segment in the sector. */
  offset: number;
  /** The deal's data segments (what a piece challenge is drawn over). */
  segments: number;
  /** The sector's size (tree depth). */
  log2Segments: number;
  /** The sector's sealed root. */
  commR: Hex;
  /** The slot's filling (its sector's commit block): a challenge is bound to it. */
  fillBlock: bigint;
}

/**
 * The sector and offset of a filled slot (§12.2), or undefined when the slot holds no piece. Read-only
 * (getDeal, getReplica, getSector).
 */
export async function getPiece(ctx: Pick<MarketActionContext, "publicClient" | "addresses">, params: { dealId: Hex; replicaIndex: number }): Promise<PieceLocation | undefined> {
  const market = { address: ctx.addresses.market, abi: storageMarketAbi } as const;
  const [deal, replica] = await Promise.all([
    ctx.publicClient.readContract({ ...market, functionName: "getDeal", args: [params.dealId] }),
    ctx.publicClient.readContract({ ...market, functionName: "getReplica", args: [params.dealId, BigInt(params.replicaIndex)] }),
  ]);
  if (replica.lessor === zeroAddress) return undefined;
  const sector = await ctx.publicClient.readContract({ ...market, functionName: "getSector", args: [replica.sector] });
  return {
    dealId: params.dealId,
    replicaIndex: params.replicaIndex,
    lessor: replica.lessor,
    sector: replica.sector,
    offset: Number(replica.offset),
    segments: Number(deal.segments),
    log2Segments: sector.log2Segments,
    commR: sector.commR,
    fillBlock: replica.fillBlock,
  };
}
