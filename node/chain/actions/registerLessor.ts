import type { PeerId } from "@libp2p/interface";
import {
  BaseError as ViemBaseError,
  getAddress,
  InsufficientFundsError,
  type Address,
  type Hex,
} from "viem";
import { cofferTokenAbi } from "../abi/cofferToken.js";
import { lessorRegistryAbi } from "../abi/lessorRegistry.js";
import {
  CofferChainError,
  ContractRevertedError,
  decodeContractRevert,
  InsufficientGasFundsError,
  InsufficientTokenBalanceError,
  InvalidLessorTermsError,
  InvalidMultiaddrError,
  InvalidPeerIdError,
  LessorAlreadyRegisteredError,
  PeerIdTakenError,
  StakeBelowMinimumError,
  TransactionFailedError,
} from "../errors.js";
import type { CofferClients } from "../clients.js";
import { encodePeerId, validateLessorTerms, validateMultiaddrs } from "../lessor-profile.js";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
const registryAndTokenErrorsAbi = [
  ...lessorRegistryAbi,
  ...cofferTokenAbi.filter((item) => item.type === "error"),
] as const;

export interface RegisterLessorParameters {
  /** LessorRegistry address (from `readDeployment(network).contracts.LessorRegistry.address`). */
  registry: Address;
  /** Initial stake in CFR wei; at least the registry's minStake. Approved automatically if needed. */
  stake: bigint;
  /** Disk space offered, in bytes. */
  capacityBytes: bigint;
  /** Asking price in CFR wei per GiB per period. */
  pricePerGiBPerPeriod: bigint;
  /** The node's libp2p peer id: a PeerId, its string form, or its multihash bytes. */
  peerId: PeerId | string | Uint8Array;
  /** Where the node listens, e.g. ["/ip4/203.0.113.7/tcp/4001"]. */
  multiaddrs: readonly string[];
}

/** The registry's view of a lessor (ILessorRegistry.LessorInfo). */
export interface LessorInfo {
  lessor: Address;
  peerId: Hex;
  multiaddrs: readonly string[];
  capacityBytes: bigint;
  pricePerGiBPerPeriod: bigint;
  freeStake: bigint;
  lockedStake: bigint;
  unbondingStake: bigint;
  unbondingReleaseAt: bigint;
  registeredAt: bigint;
}

export interface RegisterLessorResult {
  lessor: Address;
  /** The `approve` transaction, when the allowance had to be raised. */
  approvalHash: Hex | undefined;
  registrationHash: Hex;
  blockNumber: bigint;
  info: LessorInfo;
}

/**
 * Registers the wallet client's account as a lessor: checks everything the registry would refuse
 * first (so the error says what to fix), approves the stake if needed, sends `register`, waits for
 * it and returns the on-chain record.
 *
 * @throws InvalidPeerIdError | InvalidMultiaddrError | InvalidLessorTermsError for bad input;
 *   LessorAlreadyRegisteredError | StakeBelowMinimumError | PeerIdTakenError when the registry
 *   would refuse; InsufficientTokenBalanceError | InsufficientGasFundsError when the account lacks
 *   funds; ContractRevertedError for any other revert. All extend CofferChainError.
 */
export async function registerLessor(
  { publicClient, walletClient }: CofferClients,
  params: RegisterLessorParameters,
): Promise<RegisterLessorResult> {
  const account = walletClient.account;
  const lessor = getAddress(account.address);
  const peerId = encodePeerId(params.peerId);
  const multiaddrs = validateMultiaddrs(params.multiaddrs);
  validateLessorTerms(params.capacityBytes, params.pricePerGiBPerPeriod);

  const registry = { address: params.registry, abi: lessorRegistryAbi } as const;
  const [token, minStake, existing, peerIdOwner] = await Promise.all([
    publicClient.readContract({ ...registry, functionName: "stakeToken" }),
    publicClient.readContract({ ...registry, functionName: "minStake" }),
    publicClient.readContract({ ...registry, functionName: "getLessor", args: [lessor] }),
    publicClient.readContract({ ...registry, functionName: "lessorByPeerId", args: [peerId] }),
  ]);
  if (existing.registeredAt !== 0n) throw new LessorAlreadyRegisteredError(lessor, existing.registeredAt);
  if (params.stake < minStake) throw new StakeBelowMinimumError(params.stake, minStake);
  if (peerIdOwner !== ZERO_ADDRESS) throw new PeerIdTakenError(peerId, peerIdOwner);

  const [balance, allowance, nativeBalance] = await Promise.all([
    publicClient.readContract({ address: token, abi: cofferTokenAbi, functionName: "balanceOf", args: [lessor] }),
    publicClient.readContract({
      address: token,
      abi: cofferTokenAbi,
      functionName: "allowance",
      args: [lessor, params.registry],
    }),
    publicClient.getBalance({ address: lessor }),
  ]);
  if (balance < params.stake) throw new InsufficientTokenBalanceError(lessor, balance, params.stake);
  if (nativeBalance === 0n) throw new InsufficientGasFundsError(lessor, nativeBalance);

  let approvalHash: Hex | undefined;
  if (allowance < params.stake) {
    approvalHash = await send(publicClient, "approve", lessor, () =>
      walletClient.writeContract({
        address: token,
        abi: cofferTokenAbi,
        functionName: "approve",
        args: [params.registry, params.stake],
        account,
        chain: walletClient.chain,
      }),
    );
  }

  const args = [params.stake, params.capacityBytes, params.pricePerGiBPerPeriod, peerId, multiaddrs] as const;
  const registrationHash = await send(publicClient, "register", lessor, async () => {
    // The token's errors are added so a revert inside transferFrom decodes too.
    const { request } = await publicClient.simulateContract({
      address: params.registry,
      abi: registryAndTokenErrorsAbi,
      functionName: "register",
      args,
      account,
    });
    return walletClient.writeContract(request);
  });
  const receipt = await publicClient.getTransactionReceipt({ hash: registrationHash });
  const info = await publicClient.readContract({ ...registry, functionName: "getLessor", args: [lessor] });
  return { lessor, approvalHash, registrationHash, blockNumber: receipt.blockNumber, info };
}


/** Sends one transaction, waits for it, and turns failures into CofferChainErrors. */
async function send(
  publicClient: CofferClients["publicClient"],
  what: string,
  account: Address,
  write: () => Promise<Hex>,
): Promise<Hex> {
  let hash: Hex;
  try {
    hash = await write();
  } catch (error) {
    throw await toRegistrationError(error, publicClient, account);
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new TransactionFailedError(hash, what);
  return hash;
}

/** Maps a failed simulate/write to the most specific CofferChainError. */
async function toRegistrationError(
  error: unknown,
  publicClient: CofferClients["publicClient"],
  account: Address,
): Promise<CofferChainError> {
  if (error instanceof CofferChainError) return error;
  if (error instanceof ViemBaseError && error.walk((e) => e instanceof InsufficientFundsError)) {
    return new InsufficientGasFundsError(account, await publicClient.getBalance({ address: account }), { cause: error });
  }
  const revert = decodeContractRevert(error);
  if (revert === undefined) {
    const short = error instanceof ViemBaseError ? error.shortMessage : String(error);
    return new CofferChainError(`Registering ${account} failed: ${short}`, { cause: error });
  }
  const a = revert.args;
  switch (revert.errorName) {
    case "RegistryAlreadyRegistered":
      return new LessorAlreadyRegisteredError(a[0] as Address, a[1] as bigint, { cause: error });
    case "RegistryStakeBelowMinimum":
      return new StakeBelowMinimumError(a[1] as bigint, a[2] as bigint, { cause: error });
    case "RegistryInvalidPeerId":
      return new InvalidPeerIdError(a[0] as string, "the registry refused it", { cause: error });
    case "RegistryPeerIdTaken":
      return new PeerIdTakenError(a[0] as Hex, a[1] as Address, { cause: error });
    case "RegistryInvalidMultiaddr":
      return new InvalidMultiaddrError(a[1] as string, "the registry refused it", { cause: error });
    case "RegistryInvalidMultiaddrCount":
      return new InvalidMultiaddrError(`${a[0]} multiaddrs`, `the registry accepts 1 to ${a[1]}`, { cause: error });
    case "RegistryInvalidCapacity":
      return new InvalidLessorTermsError("capacityBytes", a[0] as bigint, a[1] as bigint, { cause: error });
    case "RegistryInvalidPrice":
      return new InvalidLessorTermsError("pricePerGiBPerPeriod", a[0] as bigint, a[1] as bigint, { cause: error });
    case "ERC20InsufficientBalance":
      return new InsufficientTokenBalanceError(a[0] as Address, a[1] as bigint, a[2] as bigint, { cause: error });
    default:
      return new ContractRevertedError(revert.errorName, revert.args, { cause: error });
  }
}
