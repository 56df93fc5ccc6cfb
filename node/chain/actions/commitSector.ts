import { toHex, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface CommitSectorParameters {
  /** The lessor's own sector number: the sector's id (and replicaId) is sha256(abi.encode(lessor, sectorNumber)). */
  sectorNumber: bigint;
  log2Segments: number;
  commR: Hex;
  /** The pieces in sector order (non-increasing size), each an Open slot. None: a capacity sector. */
  pieces: readonly { dealId: Hex; replicaIndex: number }[];
}

/**
 * Commits a sealed sector holding the pieces (docs/protocol.md §12.2), locking each piece's collateral. Never
 * sent twice for one sector number (ledger).
 * @throws MarketActionError (MarketReplicaNotOpen, MarketSectorExists, MarketPiecesOutOfOrder, MarketLessorAlreadyHoldsReplica, ...).
 */
export async function commitSector(ctx: MarketActionContext, params: CommitSectorParameters): Promise<{ hash: Hash; commitBlock: bigint }> {
  const dealIds = params.pieces.map((p) => p.dealId);
  const indexes = toHex(Uint8Array.from(params.pieces.map((p) => p.replicaIndex)));
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "commitSector",
    args: [params.sectorNumber, params.log2Segments, params.commR, dealIds, indexes],
    idempotencyKey: `sector:${params.sectorNumber}:${params.commR}`,
  });
  return { hash, commitBlock: receipt.blockNumber };
}
