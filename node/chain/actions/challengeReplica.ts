import { parseEventLogs, type Hash, type Hex } from "viem";
import { storageMarketAbi } from "../abi/storageMarket.js";
import { CofferChainError } from "../errors.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface ChallengeReplicaParameters {
  dealId: Hex;
  replicaIndex: number;
}

export interface ChallengeReplicaResult {
  hash: Hash;
  /** Block the challenge opened in; the answer is due by deadlineBlock. */
  openedBlock: bigint;
  /** Position of the ReplicaChallenged log in that block: a closing logged before it closed an earlier challenge. */
  openedLogIndex: number;
  /** The block whose hash fixes the seed (openedBlock + 1): the seed is known once it is mined (getChallenge). */
  seedBlock: bigint;
  deadlineBlock: bigint;
}

/**
 * Opens an on-chain challenge of a Proving replica (docs/protocol.md §7.2). The caller escrows the market's
 * challengeBond: approve the vault for it first (approveVault).
 * @throws MarketActionError (MarketChallengeOpen (this challenger has one open already), MarketReplicaNotProving, ERC20InsufficientAllowance...).
 */
export async function challengeReplica(ctx: MarketActionContext, params: ChallengeReplicaParameters): Promise<ChallengeReplicaResult> {
  const { hash, receipt } = await marketCall(ctx, {
    address: ctx.addresses.market,
    abi: storageMarketAbi,
    functionName: "challengeReplica",
    args: [params.dealId, BigInt(params.replicaIndex)],
  });
  const [event] = parseEventLogs({ abi: storageMarketAbi, eventName: "ReplicaChallenged", logs: receipt.logs });
  if (event === undefined) throw new CofferChainError(`challengeReplica ${hash}: no ReplicaChallenged event in the receipt`);
  return { hash, openedBlock: receipt.blockNumber, openedLogIndex: event.logIndex, seedBlock: event.args.seedBlock, deadlineBlock: event.args.deadlineBlock };
}
