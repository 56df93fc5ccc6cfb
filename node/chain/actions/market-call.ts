import type { Abi, Account, Address, Chain, Hash, PublicClient, TransactionReceipt, Transport, WalletClient } from "viem";
import type { Logger } from "pino";
import type { cofferTokenAbi } from "../abi/cofferToken.js";
import type { downloadMarketAbi } from "../abi/downloadMarket.js";
import type { lessorRegistryAbi } from "../abi/lessorRegistry.js";
import type { marketVaultAbi } from "../abi/marketVault.js";
import type { storageMarketAbi } from "../abi/storageMarket.js";
import { CofferChainError, ContractRevertedError } from "../errors.js";
import { sendContractTransaction, TransactionNotMinedError, type TransactionLedger } from "../transactions.js";

/** Addresses of the market system's contracts (from deployments/<network>.json). */
export interface MarketAddresses {
  token: Address;
  registry: Address;
  vault: Address;
  market: Address;
  downloads: Address;
}

/** What every market action needs: clients, addresses, and optionally the idempotency ledger and a logger. */
export interface MarketActionContext {
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  addresses: MarketAddresses;
  ledger?: TransactionLedger;
  logger?: Logger;
  /** Serialises this account's transactions (one nonce at a time); the chain client provides one. */
  serialize?: <T>(task: () => Promise<T>) => Promise<T>;
}

/** Every custom error of Coffer's contracts, from their ABIs: a misspelt name does not compile. */
export type ContractErrorName = Extract<
  | (typeof storageMarketAbi)[number]
  | (typeof downloadMarketAbi)[number]
  | (typeof marketVaultAbi)[number]
  | (typeof lessorRegistryAbi)[number]
  | (typeof cofferTokenAbi)[number],
  { type: "error" }
>["name"];

/** What refused a market call: a contract's custom error, or the transaction itself (reverted without one, never mined, failed to send, mined without the event it must emit). */
export type MarketErrorName = ContractErrorName | "Reverted" | "NotMined" | "Failed" | "MissingEvent";

/**
 * A market call the contract refused, named by its custom error (e.g. `MarketWrongPeriod`), or a call that
 * could not be mined. `cause` keeps the viem error.
 */
export class MarketActionError extends CofferChainError {
  override name = "MarketActionError";
  constructor(
    readonly action: string,
    readonly errorName: MarketErrorName,
    readonly args: readonly unknown[],
    options: { cause?: unknown; reason?: string } = {},
  ) {
    super(options.reason ?? `${action} refused: ${errorName}(${args.map(String).join(", ")})`, { cause: options.cause });
  }
}

export interface MarketCallResult {
  hash: Hash;
  receipt: TransactionReceipt;
}

/** Sends one market transaction (simulate → send → receipt), mapping failures to MarketActionError. */
export async function marketCall(
  ctx: MarketActionContext,
  call: { address: Address; abi: Abi; functionName: string; args: readonly unknown[]; idempotencyKey?: string; action?: string },
): Promise<MarketCallResult> {
  const action = call.action ?? call.functionName;
  const run = async () => {
    try {
      const receipt = await sendContractTransaction({
        publicClient: ctx.publicClient as PublicClient,
        walletClient: ctx.walletClient,
        address: call.address,
        abi: call.abi,
        functionName: call.functionName as never,
        args: call.args as never,
        logger: ctx.logger,
        idempotencyKey: call.idempotencyKey,
        ledger: call.idempotencyKey ? ctx.ledger : undefined,
      });
      // A ledger hit returns the recorded transaction's receipt even when it reverted.
      if (receipt.status !== "success") throw new MarketActionError(action, "Reverted", [receipt.transactionHash], { reason: `${action} ${receipt.transactionHash} reverted` });
      return { hash: receipt.transactionHash, receipt };
    } catch (error) {
      if (error instanceof MarketActionError) throw error;
      if (error instanceof ContractRevertedError) throw new MarketActionError(action, error.errorName as ContractErrorName, error.args, { cause: error });
      if (error instanceof TransactionNotMinedError) throw new MarketActionError(action, "NotMined", error.hashes, { cause: error, reason: `${action} was not mined` });
      const short = (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
      throw new MarketActionError(action, "Failed", [], { cause: error, reason: `${action} failed: ${short}` });
    }
  };
  return ctx.serialize ? ctx.serialize(run) : run();
}

/** True when `error` is a MarketActionError for custom error `name`. */
export function isMarketError(error: unknown, name: MarketErrorName): error is MarketActionError {
  return error instanceof MarketActionError && error.errorName === name;
}
