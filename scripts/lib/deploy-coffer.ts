import type { NetworkConnection } from "hardhat/types/network";
import type { Address, Chain, PublicClient, Transport } from "viem";
import { COFFER_DEFAULTS } from "../../ignition/modules/Coffer.js";
import CofferSystemModule from "../../ignition/modules/CofferSystem.js";
import { writeDeployment, type CofferDeployment, type DeploymentsLocation } from "../../node/chain/deployments.js";

/** Chain ids of local development chains: the only ones where the token's faucet may be enabled. */
export const LOCAL_CHAIN_IDS: readonly number[] = [31337, 1337];

export function isLocalChain(chainId: number): boolean {
  return LOCAL_CHAIN_IDS.includes(chainId);
}

export interface CofferModuleParameters {
  minStake?: bigint;
  unbondingDelay?: bigint;
  /** Default: true on local chain ids, false elsewhere. */
  faucetEnabled?: boolean;
  initialSupply?: bigint;
}

export interface DeployCofferOptions {
  parameters?: CofferModuleParameters;
  /** Market parameters (periodLength, kPoSt, kPoRep, sealRounds, porepTimeout, ...): defaults in ignition/market-defaults.ts. */
  marketParameters?: Record<string, bigint | number>;
  /** Also write `deployments/<network>.json` (default true). */
  write?: boolean;
  location?: DeploymentsLocation;
}

/**
 * Deploys (or, on a persisted network, resumes) the Coffer Ignition module on `connection` and
 * describes the result as a {@link CofferDeployment}, written to the deployments folder unless
 * `write: false`.
 */
export async function deployCoffer(connection: NetworkConnection, options: DeployCofferOptions = {}) {
  const publicClient = await connection.viem.getPublicClient();
  const chainId = await publicClient.getChainId();
  const parameters = { ...COFFER_DEFAULTS, faucetEnabled: isLocalChain(chainId), ...options.parameters };
  const startBlock = await publicClient.getBlockNumber();

  const { token, registry, vault, market, downloads } = await connection.ignition.deploy(CofferSystemModule, {
    parameters: { Coffer: parameters, CofferSystem: options.marketParameters ?? {} },
    deploymentId: await deploymentIdFor(connection, publicClient, chainId),
  });

  const deployedAtBlock = await deploymentBlock(publicClient, token.address, startBlock);
  // The chain's identity: a node started against a chain restarted empty (same chain id, new genesis) or
  // another chain stops with a clear message instead of calling addresses without code (chain-health.ts).
  const [genesis, deployBlock] = await Promise.all([publicClient.getBlock({ blockNumber: 0n }), publicClient.getBlock({ blockNumber: deployedAtBlock })]);
  const deployment: CofferDeployment = {
    network: connection.networkName,
    chainId,
    deployedAtBlock: Number(deployedAtBlock),
    genesisHash: genesis.hash,
    deployedAtBlockHash: deployBlock.hash,
    contracts: {
      CofferToken: { address: token.address, artifact: "CofferToken" },
      LessorRegistry: { address: registry.address, artifact: "LessorRegistry" },
      MarketVault: { address: vault.address, artifact: "MarketVault" },
      StorageMarket: { address: market.address, artifact: "StorageMarket" },
      DownloadMarket: { address: downloads.address, artifact: "DownloadMarket" },
    },
  };
  const file = options.write === false ? undefined : await writeDeployment(deployment, options.location);
  return { deployment, file, token, registry, vault, market, downloads, parameters };
}

/**
 * Ignition keeps a journal per deployment id on persisted networks. A local `hardhat node` starts
 * empty on every restart with the same chain id, so its journal is keyed by the genesis block hash
 * too: a restarted node gets a fresh deployment instead of a journal pointing at vanished contracts.
 */
async function deploymentIdFor(
  connection: NetworkConnection,
  publicClient: PublicClient<Transport, Chain>,
  chainId: number,
): Promise<string | undefined> {
  if (connection.networkConfig.type === "edr-simulated" || !isLocalChain(chainId)) return undefined;
  const genesis = await publicClient.getBlock({ blockNumber: 0n });
  return `local-${chainId}-${genesis.hash.slice(2, 14)}`;
}

/**
 * First block where `address` has code. Normally the block right after `startBlock`; when Ignition
 * resumed an earlier deployment the contract predates it, found by bisection.
 */
async function deploymentBlock(
  publicClient: PublicClient<Transport, Chain>,
  address: Address,
  startBlock: bigint,
): Promise<bigint> {
  const hasCode = async (blockNumber: bigint) => ((await publicClient.getCode({ address, blockNumber })) ?? "0x") !== "0x";
  if (!(await hasCode(startBlock))) return startBlock + 1n;
  let low = 0n;
  let high = startBlock;
  while (low < high) {
    const mid = (low + high) / 2n;
    if (await hasCode(mid)) high = mid;
    else low = mid + 1n;
  }
  return low;
}
