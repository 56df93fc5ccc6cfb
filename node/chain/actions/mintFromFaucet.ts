import type { Address, Hex } from "viem";
import { cofferTokenAbi } from "../abi/cofferToken.js";
import { decodeContractRevert, FaucetUnavailableError, TransactionFailedError } from "../errors.js";
import type { CofferClients } from "../clients.js";

export interface MintFromFaucetParameters {
  /** CofferToken address. */
  token: Address;
  /** Receiver of the new tokens; default: the wallet client's account. */
  to?: Address;
  /** CFR wei to mint; at most the token's FAUCET_MAX_PER_CALL. */
  amount: bigint;
}

/**
 * Mints CFR from the token's faucet (deployed enabled on local chains only) and waits for it.
 * @throws FaucetUnavailableError when the faucet is disabled or the amount is above its per-call cap.
 */
export async function mintFromFaucet(
  { publicClient, walletClient }: CofferClients,
  params: MintFromFaucetParameters,
): Promise<Hex> {
  const token = { address: params.token, abi: cofferTokenAbi } as const;
  const to = params.to ?? walletClient.account.address;
  const [enabled, maxPerCall] = await Promise.all([
    publicClient.readContract({ ...token, functionName: "faucetEnabled" }),
    publicClient.readContract({ ...token, functionName: "FAUCET_MAX_PER_CALL" }),
  ]);
  if (!enabled) throw new FaucetUnavailableError(params.token, "this deployment has no faucet (public networks never do)");
  if (params.amount > maxPerCall) {
    throw new FaucetUnavailableError(params.token, `${params.amount} is above the per-call cap of ${maxPerCall}`);
  }
  let hash: Hex;
  try {
    const { request } = await publicClient.simulateContract({
      ...token,
      functionName: "faucet",
      args: [to, params.amount],
      account: walletClient.account,
    });
    hash = await walletClient.writeContract(request);
  } catch (error) {
    const revert = decodeContractRevert(error);
    throw new FaucetUnavailableError(params.token, revert ? `it reverted with ${revert.errorName}` : String(error), {
      cause: error,
    });
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new TransactionFailedError(hash, "faucet");
  return hash;
}
