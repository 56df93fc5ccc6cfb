import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { Command, Option } from "commander";
import type { NetworkConnection } from "hardhat/types/network";
import { formatEther, getAddress, type Address } from "viem";
import { cofferTokenAbi } from "../../node/chain/abi/cofferToken.js";
import { lessorRegistryAbi } from "../../node/chain/abi/lessorRegistry.js";
import { mintFromFaucet } from "../../node/chain/actions/mintFromFaucet.js";
import { registerLessor, type RegisterLessorResult } from "../../node/chain/actions/registerLessor.js";
import type { CofferClients } from "../../node/chain/clients.js";
import { encodePeerId, validateLessorTerms, validateMultiaddrs } from "../../node/chain/lessor-profile.js";
import { readDeployment, type CofferDeployment, type DeploymentsLocation } from "../../node/chain/deployments.js";
import {
  CofferChainError,
  DeploymentInvalidError,
  DeploymentNotFoundError,
  DeploymentStaleError,
  LessorAlreadyRegisteredError,
  StakeBelowMinimumError,
} from "../../node/chain/errors.js";
import { deployCoffer, isLocalChain } from "./deploy-coffer.js";
import {
  addNetworkOptions,
  CliUsageError,
  clientsForAccount,
  connectNetwork,
  formatBytes,
  parseByteSize,
  parseCfr,
  parseCommand,
  parseIndex,
  type CliIo,
} from "./network-cli.js";

const DEFAULT_CAPACITY = "100GiB";
const DEFAULT_PRICE_CFR = "0.001";
const DEFAULT_LOCAL_MULTIADDR = "/ip4/127.0.0.1/tcp/4001";

export interface RegisterLessorCliDeps {
  io?: CliIo;
  /** Use this connection instead of opening one from --network (tests). Not closed by the CLI. */
  connection?: NetworkConnection;
}

/**
 * `npm run register-lessor -- [flags]`: registers an account as a lessor and prints the result.
 * Returns the process exit code: 0 registered, 1 refused/failed (message says why), 2 bad usage.
 */
export async function runRegisterLessorCli(args: string[], deps: RegisterLessorCliDeps = {}): Promise<number> {
  const io = deps.io ?? { stdout: process.stdout, stderr: process.stderr };
  const command = addNetworkOptions(new Command("register-lessor"))
    .description("Register an account as a Coffer lessor: stake CFR, declare capacity and price, publish the node's address.")
    .addOption(new Option("--account <index>", "index of the account among the network's accounts").env("COFFER_ACCOUNT").default("0"))
    .addOption(new Option("--stake <CFR>", "stake in CFR (default: the registry's minimum)").env("COFFER_STAKE"))
    .addOption(new Option("--capacity <size>", "disk offered, e.g. 500GiB, 2TiB").env("COFFER_CAPACITY").default(DEFAULT_CAPACITY))
    .addOption(new Option("--price <CFR>", "asking price in CFR per GiB per period").env("COFFER_PRICE").default(DEFAULT_PRICE_CFR))
    .addOption(
      new Option("--peer-id <id>", "the node's libp2p peer id (12D3KooW...); on local chains a fresh one by default").env(
        "COFFER_PEER_ID",
      ),
    )
    .addOption(
      new Option("--multiaddr <addr...>", `where the node listens (repeatable; local default ${DEFAULT_LOCAL_MULTIADDR})`)
        .env("COFFER_MULTIADDRS")
        .argParser(collectMultiaddrs),
    )
    .addOption(new Option("--no-faucet", "never mint CFR from the local faucet"))
    .showHelpAfterError(false);
  const parsed = parseCommand(command, args, io);
  if (parsed.exitCode !== undefined) return parsed.exitCode;
  const opts = command.opts<{
    network?: string;
    rpcUrl?: string;
    deploymentsDir?: string;
    account: string;
    stake?: string;
    capacity: string;
    price: string;
    peerId?: string;
    multiaddr?: string[];
    faucet: boolean;
  }>();

  let connection = deps.connection;
  try {
    const accountIndex = parseIndex(opts.account, "--account");
    const capacityBytes = parseByteSize(opts.capacity, "--capacity");
    const pricePerGiBPerPeriod = parseCfr(opts.price, "--price");
    const explicitStake = opts.stake === undefined ? undefined : parseCfr(opts.stake, "--stake");

    connection ??= await connectNetwork(opts);
    const clients = await clientsForAccount(connection, accountIndex);
    const chainId = await clients.publicClient.getChainId();
    const local = isLocalChain(chainId);
    const location: DeploymentsLocation = { dir: opts.deploymentsDir };
    const deployment = await findOrDeployContracts(connection, clients, chainId, location, io);
    const registry = deployment.contracts.LessorRegistry.address;
    const token = deployment.contracts.CofferToken.address;

    const minStake = await clients.publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "minStake" });
    const stake = explicitStake ?? minStake;
    let peerId = opts.peerId;
    if (peerId === undefined) {
      if (!local) throw new CliUsageError("--peer-id is required on a public network: give your node's peer id (12D3KooW...).");
      peerId = peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString();
      io.stdout.write(`No --peer-id given: using a fresh one for this local chain, ${peerId}\n`);
    }
    const multiaddrs = opts.multiaddr ?? (local ? [DEFAULT_LOCAL_MULTIADDR] : undefined);
    if (multiaddrs === undefined) {
      throw new CliUsageError("--multiaddr is required on a public network: give where your node listens (/ip4/.../tcp/...).");
    }

    // Refuse bad input and impossible registrations before spending anything on funding.
    encodePeerId(peerId);
    validateMultiaddrs(multiaddrs);
    validateLessorTerms(capacityBytes, pricePerGiBPerPeriod);
    const existing = await clients.publicClient.readContract({
      address: registry,
      abi: lessorRegistryAbi,
      functionName: "getLessor",
      args: [clients.walletClient.account.address],
    });
    if (existing.registeredAt !== 0n) {
      throw new LessorAlreadyRegisteredError(getAddress(clients.walletClient.account.address), existing.registeredAt);
    }
    if (stake < minStake) throw new StakeBelowMinimumError(stake, minStake);
    if (local && opts.faucet) await fundFromFaucet(clients, token, stake, io);

    const result = await registerLessor(clients, { registry, stake, capacityBytes, pricePerGiBPerPeriod, peerId, multiaddrs });
    const active = await clients.publicClient.readContract({
      address: registry,
      abi: lessorRegistryAbi,
      functionName: "isActiveLessor",
      args: [result.lessor],
    });
    io.stdout.write(formatSummary(deployment, connection.networkName, result, peerId, active));
    return 0;
  } catch (error) {
    if (error instanceof CliUsageError) {
      io.stderr.write(`register-lessor: ${error.message}\nRun with --help for the flags.\n`);
      return 2;
    }
    if (error instanceof CofferChainError) {
      io.stderr.write(`register-lessor: ${error.shortMessage}\n`);
      return 1;
    }
    io.stderr.write(`register-lessor: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    if (deps.connection === undefined) await connection?.close();
  }
}

/**
 * The deployment to register against. An in-process chain starts empty, so there the contracts are
 * deployed when the deployments file does not match the chain; any other network must have been
 * deployed to with `npm run deploy` first.
 */
async function findOrDeployContracts(
  connection: NetworkConnection,
  clients: CofferClients,
  chainId: number,
  location: DeploymentsLocation,
  io: CliIo,
): Promise<CofferDeployment> {
  const inProcess = connection.networkConfig.type === "edr-simulated";
  try {
    const deployment = await readDeployment(connection.networkName, location);
    if (deployment.chainId !== chainId) {
      throw new DeploymentInvalidError(
        `${connection.networkName}.json`,
        `it is for chain ${deployment.chainId} but the network is chain ${chainId}`,
      );
    }
    for (const [name, { address }] of Object.entries(deployment.contracts)) {
      const code = await clients.publicClient.getCode({ address });
      if (code === undefined || code === "0x") throw new DeploymentStaleError(connection.networkName, name, address);
    }
    return deployment;
  } catch (error) {
    const missing = error instanceof DeploymentNotFoundError || error instanceof DeploymentStaleError;
    if (!inProcess || !missing) throw error;
  }
  const { deployment } = await deployCoffer(connection, { write: false });
  io.stdout.write(
    `In-process chain: deployed CofferToken at ${deployment.contracts.CofferToken.address}, ` +
      `LessorRegistry at ${deployment.contracts.LessorRegistry.address}\n`,
  );
  return deployment;
}

/** Tops the account's CFR balance up to `needed` from the local faucet, in per-call-cap chunks. */
async function fundFromFaucet(clients: CofferClients, token: Address, needed: bigint, io: CliIo): Promise<void> {
  const account = getAddress(clients.walletClient.account.address);
  const tokenContract = { address: token, abi: cofferTokenAbi } as const;
  const [balance, enabled, maxPerCall] = await Promise.all([
    clients.publicClient.readContract({ ...tokenContract, functionName: "balanceOf", args: [account] }),
    clients.publicClient.readContract({ ...tokenContract, functionName: "faucetEnabled" }),
    clients.publicClient.readContract({ ...tokenContract, functionName: "FAUCET_MAX_PER_CALL" }),
  ]);
  if (balance >= needed || !enabled) return;
  let missing = needed - balance;
  io.stdout.write(`Funding ${account} with ${formatEther(missing)} CFR from the local faucet\n`);
  while (missing > 0n) {
    const amount = missing < maxPerCall ? missing : maxPerCall;
    await mintFromFaucet(clients, { token, amount });
    missing -= amount;
  }
}

function collectMultiaddrs(value: string, previous: string[] | undefined): string[] {
  // From COFFER_MULTIADDRS the value is comma-separated; from flags each occurrence is one address.
  const parts = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  return [...(previous ?? []), ...parts];
}

function formatSummary(
  deployment: CofferDeployment,
  networkName: string,
  result: RegisterLessorResult,
  peerId: string,
  active: boolean,
): string {
  const { info } = result;
  const rows: Array<[string, string]> = [
    ["registry", deployment.contracts.LessorRegistry.address],
    ["peer id", peerId],
    ["multiaddrs", info.multiaddrs.join(" ")],
    ["capacity", `${formatBytes(info.capacityBytes)} (${info.capacityBytes} bytes)`],
    ["price", `${formatEther(info.pricePerGiBPerPeriod)} CFR per GiB per period`],
    ["stake", `${formatEther(info.freeStake)} CFR free, ${formatEther(info.lockedStake)} CFR locked`],
    ["active", active ? "yes" : "no"],
    ["registered at", new Date(Number(info.registeredAt) * 1000).toISOString()],
    ["transaction", `${result.registrationHash} (block ${result.blockNumber})`],
  ];
  return (
    `Registered lessor ${result.lessor} on ${networkName} (chain ${deployment.chainId})\n` +
    rows.map(([key, value]) => `  ${key.padEnd(14)}${value}\n`).join("")
  );
}
