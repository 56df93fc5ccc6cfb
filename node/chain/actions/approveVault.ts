import type { Hash } from "viem";
import { cofferTokenAbi } from "../abi/cofferToken.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

export interface ApproveVaultParameters {
  /** Allowance the vault needs (deal escrow, download price); raised only when the current one is lower. */
  amount: bigint;
}

/** Approves the MarketVault (not the market) to pull `amount` CFR for deposits; undefined when already enough. */
export async function approveVault(ctx: MarketActionContext, params: ApproveVaultParameters): Promise<Hash | undefined> {
  const owner = ctx.walletClient.account.address;
  const allowance = await ctx.publicClient.readContract({ address: ctx.addresses.token, abi: cofferTokenAbi, functionName: "allowance", args: [owner, ctx.addresses.vault] });
  if (allowance >= params.amount) return undefined;
  const { hash } = await marketCall(ctx, { address: ctx.addresses.token, abi: cofferTokenAbi, functionName: "approve", args: [ctx.addresses.vault, params.amount], action: "approveVault" });
  return hash;
}
