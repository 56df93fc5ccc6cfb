import type { Hash } from "viem";
import { marketVaultAbi } from "../abi/marketVault.js";
import { marketCall, type MarketActionContext } from "./market-call.js";

/** Withdraws the caller's whole withdrawable balance from the vault (pull payments); undefined when it is zero. */
export async function withdraw(ctx: MarketActionContext): Promise<{ hash: Hash; amount: bigint } | undefined> {
  const amount = await ctx.publicClient.readContract({ address: ctx.addresses.vault, abi: marketVaultAbi, functionName: "withdrawableOf", args: [ctx.walletClient.account.address] });
  if (amount === 0n) return undefined;
  const { hash } = await marketCall(ctx, { address: ctx.addresses.vault, abi: marketVaultAbi, functionName: "withdraw", args: [] });
  return { hash, amount };
}
