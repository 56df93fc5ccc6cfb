import { parseEventLogs, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { marketCall, MarketActionError, type MarketActionContext } from "./market-call.js";

export interface CreateDealParameters {
  commD: Hex;
  size: bigint;
  replicas: number;
  durationPeriods: number;
  pricePerGiBPerPeriod: bigint;
  collateralPerReplica: bigint;
  /** Dedupe key: a restarted client never creates the same deal twice. */
  idempotencyKey?: string;
}

export interface CreateDealResult {
  dealId: Hex;
  hash: Hash;
  startPeriod: number;
  endPeriod: number;
  pricePerPeriod: bigint;
}

/**
 * Creates a deal (docs/protocol.md §10.1); the escrow is pulled by the vault (approve the vault first: {@link approveVault}).
 * @throws MarketActionError named by the market's custom error (MarketInvalidSize, MarketCollateralTooLow, ...).
 */
export async function createDeal(ctx: MarketActionContext, params: CreateDealParameters): Promise<CreateDealResult> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "createDeal",
    args: [params.commD, params.size, params.replicas, params.durationPeriods, params.pricePerGiBPerPeriod, params.collateralPerReplica],
    idempotencyKey: params.idempotencyKey,
  });
  const [created] = parseEventLogs({ abi: storageMarketAbi, eventName: "DealCreated", logs: receipt.logs });
  if (!created) throw new MarketActionError("createDeal", "MissingEvent", [hash], { reason: `createDeal ${hash} emitted no DealCreated event` });
  const a = created.args;
  return { dealId: a.dealId, hash, startPeriod: Number(a.startPeriod), endPeriod: Number(a.endPeriod), pricePerPeriod: a.pricePerPeriod };
}
