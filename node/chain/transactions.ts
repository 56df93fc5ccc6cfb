import {
  BaseError,
  NonceTooLowError,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type Hash,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import type { Logger } from "pino";
import { CofferChainError, ContractRevertedError, decodeContractRevert } from "./errors.js";

/** The transaction was sent but no receipt arrived after every fee bump. */
export class TransactionNotMinedError extends CofferChainError {
  override name = "TransactionNotMinedError";
  constructor(readonly functionName: string, readonly hashes: Hash[], options: { cause?: unknown } = {}) {
    super(`${functionName} was not mined after ${hashes.length} attempt(s); check the RPC and the account's gas funds`, options);
  }
}

/**
 * Remembers which logical actions (e.g. "post:<period>:<replica>") were already sent, so a restarted node
 * never sends the same proof twice: it waits for the recorded transaction instead.
 */
export interface TransactionLedger {
  get(key: string): Promise<Hash | undefined>;
  put(key: string, hash: Hash): Promise<void>;
}

export interface SendContractTransactionParameters<TAbi extends Abi, TName extends ContractFunctionName<TAbi, "nonpayable" | "payable">> {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  address: Address;
  abi: TAbi;
  functionName: TName;
  args: ContractFunctionArgs<TAbi, "nonpayable" | "payable", TName>;
  logger?: Logger;
  /** Dedupe key in the ledger: a second call with the same key returns the first transaction's receipt. */
  idempotencyKey?: string;
  ledger?: TransactionLedger;
  /** Gas limit = estimate × (1 + gasMargin). */
  gasMargin?: number;
  /** Replacement transactions (same nonce) with fees raised by feeBumpPercent each time. */
  maxAttempts?: number;
  feeBumpPercent?: number;
  receiptTimeoutMs?: number;
}

/**
 * Sends one contract call the careful way: simulate first (a revert surfaces as its custom error name,
 * nothing is sent), estimate gas with a margin, send with a fixed nonce, and if no receipt arrives in time
 * resend with the same nonce and bumped fees — at most one of the attempts can ever be mined.
 */
export async function sendContractTransaction<
  const TAbi extends Abi,
  TName extends ContractFunctionName<TAbi, "nonpayable" | "payable">,
>(parameters: SendContractTransactionParameters<TAbi, TName>): Promise<TransactionReceipt> {
  const {
    publicClient,
    walletClient,
    address,
    abi,
    functionName,
    args,
    logger,
    idempotencyKey,
    ledger,
    gasMargin = 0.2,
    maxAttempts = 3,
    feeBumpPercent = 20,
    receiptTimeoutMs = 60_000,
  } = parameters;
  const account = walletClient.account;

  if (idempotencyKey && ledger) {
    const previous = await ledger.get(idempotencyKey);
    if (previous) {
      logger?.info({ functionName, idempotencyKey, hash: previous }, "already sent; waiting for the recorded transaction");
      return publicClient.waitForTransactionReceipt({ hash: previous, timeout: receiptTimeoutMs });
    }
  }

  const call = { address, abi, functionName, args, account } as never;
  try {
    await publicClient.simulateContract(call);
  } catch (error) {
    throw asRevertError(functionName, error);
  }
  const estimate = await publicClient.estimateContractGas(call);
  const gas = estimate + (estimate * BigInt(Math.round(gasMargin * 1000))) / 1000n;
  let nonce = await publicClient.getTransactionCount({ address: account.address, blockTag: "pending" });
  const fees = await publicClient.estimateFeesPerGas();
  let maxFeePerGas = fees.maxFeePerGas ?? 0n;
  let maxPriorityFeePerGas = fees.maxPriorityFeePerGas ?? 0n;

  const hashes: Hash[] = [];
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      const hash = await walletClient.writeContract({
        ...(call as object),
        chain: walletClient.chain ?? null,
        gas,
        nonce,
        maxFeePerGas,
        maxPriorityFeePerGas,
      } as never);
      hashes.push(hash);
      if (idempotencyKey && ledger) await ledger.put(idempotencyKey, hash);
      logger?.debug({ functionName, hash, attempt }, "transaction sent");
      const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: receiptTimeoutMs });
      if (receipt.status === "reverted") {
        // Replay at the mined block to recover the custom error.
        try {
          await publicClient.simulateContract({ ...(call as object), blockNumber: receipt.blockNumber } as never);
        } catch (error) {
          throw asRevertError(functionName, error);
        }
        throw new ContractRevertedError("unknown", [], { functionName });
      }
      return receipt;
    } catch (error) {
      if (error instanceof ContractRevertedError) throw error;
      lastError = error as Error;
      if (isNonceTooLow(error)) {
        // The nonce was used meanwhile: by one of our own attempts (then its receipt is the answer) or by
        // another sender of this account. Re-read it instead of bumping the fee on a nonce that is gone.
        for (const hash of hashes) {
          const mined = await publicClient.getTransactionReceipt({ hash }).catch(() => undefined);
          if (mined) return mined;
        }
        nonce = await publicClient.getTransactionCount({ address: account.address, blockTag: "pending" });
        logger?.warn({ functionName, attempt, nonce }, "nonce already used; retrying with the next one");
        continue;
      }
      logger?.warn({ functionName, attempt, err: error }, "transaction not mined; bumping fees");
      maxFeePerGas += (maxFeePerGas * BigInt(feeBumpPercent)) / 100n + 1n;
      maxPriorityFeePerGas += (maxPriorityFeePerGas * BigInt(feeBumpPercent)) / 100n + 1n;
    }
  }
  throw new TransactionNotMinedError(functionName, hashes, { cause: lastError });
}

/** Turns a viem contract error into a {@link ContractRevertedError} named by the custom error (else returns it). */
export function asRevertError(functionName: string, error: unknown): Error {
  const decoded = decodeContractRevert(error);
  if (decoded) return new ContractRevertedError(decoded.errorName, decoded.args, { cause: error, functionName });
  return error instanceof Error ? error : new Error(String(error));
}

/** True when `error` (or a cause) is the node's "nonce too low" refusal (viem's NonceTooLowError). */
function isNonceTooLow(error: unknown): boolean {
  return error instanceof BaseError && error.walk((e) => e instanceof NonceTooLowError) !== null;
}
