import { CofferError } from "../errors.js";
import { BaseError as ViemBaseError, ContractFunctionRevertedError, type Address, type Hex } from "viem";

/**
 * Base of every error Coffer's chain layer throws. `shortMessage` is one line that says what went
 * wrong and what to do; `cause` keeps the underlying error (a viem error, an fs error...).
 */
export class CofferChainError extends CofferError {
  override name = "CofferChainError";
  static override defaultCode = "chain";
}

// ------------------------------------------------------------------ deployments file

export class DeploymentNotFoundError extends CofferChainError {
  override name = "DeploymentNotFoundError";
  constructor(
    readonly network: string,
    readonly path: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `No Coffer deployment for network "${network}" (${path} is missing). ` +
        `Deploy first: npm run deploy -- --network ${network}`,
      options,
    );
  }
}

export class DeploymentInvalidError extends CofferChainError {
  override name = "DeploymentInvalidError";
  constructor(
    readonly path: string,
    readonly problem: string,
    options: { cause?: unknown } = {},
  ) {
    super(`Deployment file ${path} is invalid: ${problem}. Redeploy or fix the file.`, options);
  }
}

/** The deployment file names an address where the chain has no code (e.g. a restarted `hardhat node`). */
export class DeploymentStaleError extends CofferChainError {
  override name = "DeploymentStaleError";
  constructor(
    readonly network: string,
    readonly contractName: string,
    readonly address: Address,
  ) {
    super(
      `${contractName} from the "${network}" deployment has no code at ${address} ` +
        `(was the chain restarted?). Redeploy: npm run deploy -- --network ${network}`,
    );
  }
}

// ------------------------------------------------------------------ contract reverts

/** A contract call reverted with a custom error that has no more specific class here. */
export class ContractRevertedError extends CofferChainError {
  override name = "ContractRevertedError";
  /** The contract function that reverted, when known. */
  readonly functionName: string | undefined;
  constructor(
    readonly errorName: string,
    readonly args: readonly unknown[],
    options: { cause?: unknown; functionName?: string } = {},
  ) {
    super(`The contract refused ${options.functionName ?? "the call"}: ${errorName}(${args.map(formatArg).join(", ")})`, options);
    this.functionName = options.functionName;
  }
}

/** The decoded custom error of a reverted contract call, when viem could decode one. */
export interface DecodedRevert {
  errorName: string;
  args: readonly unknown[];
}

/** Finds the custom error (name + args) inside a viem error chain; undefined if there is none. */
export function decodeContractRevert(error: unknown): DecodedRevert | undefined {
  if (!(error instanceof ViemBaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError) || reverted.data === undefined) return undefined;
  return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
}

// ------------------------------------------------------------------ lessor registration

export class LessorAlreadyRegisteredError extends CofferChainError {
  override name = "LessorAlreadyRegisteredError";
  constructor(
    readonly lessor: Address,
    readonly registeredAt: bigint,
    options: { cause?: unknown } = {},
  ) {
    super(
      `${lessor} is already registered as a lessor (since ${new Date(Number(registeredAt) * 1000).toISOString()}). ` +
        `Use another account, or update the registration instead.`,
      options,
    );
  }
}

export class StakeBelowMinimumError extends CofferChainError {
  override name = "StakeBelowMinimumError";
  constructor(
    readonly stake: bigint,
    readonly minStake: bigint,
    options: { cause?: unknown } = {},
  ) {
    super(`Stake ${stake} is below the registry's minimum of ${minStake} (token wei). Stake at least that.`, options);
  }
}

export class InsufficientTokenBalanceError extends CofferChainError {
  override name = "InsufficientTokenBalanceError";
  constructor(
    readonly account: Address,
    readonly balance: bigint,
    readonly needed: bigint,
    options: { cause?: unknown } = {},
  ) {
    super(
      `${account} holds ${balance} CFR wei but ${needed} are needed. Fund the account with CFR first.`,
      options,
    );
  }
}

export class InsufficientGasFundsError extends CofferChainError {
  override name = "InsufficientGasFundsError";
  constructor(
    readonly account: Address,
    readonly balance: bigint,
    options: { cause?: unknown } = {},
  ) {
    super(`${account} has ${balance} wei of native currency: not enough to pay for gas. Fund it first.`, options);
  }
}

export class InvalidPeerIdError extends CofferChainError {
  override name = "InvalidPeerIdError";
  constructor(
    readonly peerId: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `Invalid libp2p peer id "${peerId}": ${reason}. Give the node's peer id, e.g. 12D3KooW... (base58) or its multihash bytes.`,
      options,
    );
  }
}

export class PeerIdTakenError extends CofferChainError {
  override name = "PeerIdTakenError";
  constructor(
    readonly peerId: Hex,
    readonly owner: Address,
    options: { cause?: unknown } = {},
  ) {
    super(`Peer id ${peerId} is already registered by lessor ${owner}. Each node needs its own peer id.`, options);
  }
}

export class InvalidMultiaddrError extends CofferChainError {
  override name = "InvalidMultiaddrError";
  constructor(
    readonly multiaddr: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`Invalid multiaddr "${multiaddr}": ${reason}. Use e.g. /ip4/203.0.113.7/tcp/4001.`, options);
  }
}

export class InvalidLessorTermsError extends CofferChainError {
  override name = "InvalidLessorTermsError";
  constructor(
    readonly field: "capacityBytes" | "pricePerGiBPerPeriod",
    readonly value: bigint,
    readonly max: bigint,
    options: { cause?: unknown } = {},
  ) {
    super(`${field} must be between 1 and ${max}; got ${value}.`, options);
  }
}

/** The faucet is only deployed enabled on local chains. */
export class FaucetUnavailableError extends CofferChainError {
  override name = "FaucetUnavailableError";
  constructor(
    readonly token: Address,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`The CFR faucet of ${token} cannot mint: ${reason}.`, options);
  }
}

/** A transaction was mined but reverted (status "reverted") without a decodable reason. */
export class TransactionFailedError extends CofferChainError {
  override name = "TransactionFailedError";
  constructor(
    readonly hash: Hex,
    readonly what: string,
  ) {
    super(`Transaction ${hash} (${what}) was mined but reverted.`);
  }
}

function formatArg(arg: unknown): string {
  if (typeof arg === "bigint") return arg.toString();
  if (typeof arg === "string") return arg;
  if (Array.isArray(arg)) return `[${arg.map(formatArg).join(", ")}]`;
  return String(arg);
}
