/**
 * What Coffer's command-line scripts share: picking and connecting to a Hardhat network, choosing an
 * account, and parsing CFR amounts and byte sizes.
 *
 * How arguments reach a script: Hardhat 3's `hardhat run` forwards no arguments to the script, so
 * the npm scripts run the file with tsx (`tsx scripts/x.ts --network localhost --stake 2000`) and it
 * connects itself with `network.create(name)`. Every flag also reads an environment variable
 * (COFFER_*), which is how to configure a script started with `npx hardhat run --network X`.
 */
import { Command, CommanderError, Option } from "commander";
import hre, { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import { parseEther } from "viem";
import type { CofferClients } from "../../node/chain/clients.js";

/** Bad command-line input: the message says which flag and what to give instead. Exit code 2. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** The arguments after the script's own path (none under `hardhat run`, which forwards none). */
export function scriptArgs(scriptUrl: string): string[] {
  const scriptPath = new URL(scriptUrl).pathname;
  const index = process.argv.findIndex((arg) => arg === scriptPath || scriptPath.endsWith(`/${arg.replace(/^\.\//, "")}`));
  return index >= 0 ? process.argv.slice(index + 1) : [];
}

/** Options every network script takes. */
export function addNetworkOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--network <name>", "Hardhat network: hardhat (in-process), localhost (a `hardhat node`), sepolia...").env(
        "COFFER_NETWORK",
      ),
    )
    .addOption(new Option("--rpc-url <url>", "override the network's JSON-RPC URL (http networks)").env("COFFER_RPC_URL"))
    .addOption(
      new Option("--deployments-dir <dir>", "folder of deployments/<network>.json files").env("COFFER_DEPLOYMENTS_DIR"),
    );
}

/** Parses `args` with `command`, turning commander's own exits into a result. */
export function parseCommand(command: Command, args: string[], io: CliIo): { exitCode?: number } {
  command.exitOverride().configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
  });
  try {
    command.parse(args, { from: "user" });
    return {};
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode === 0 ? 0 : 2 };
    throw error;
  }
}

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Connects to the network named by --network / COFFER_NETWORK, else the one `hardhat run --network`
 * selected, else the in-process "hardhat" network.
 */
export async function connectNetwork(options: { network?: string; rpcUrl?: string }): Promise<NetworkConnection> {
  const name = options.network ?? hre.globalOptions.network ?? "hardhat";
  const config = hre.config.networks[name];
  if (config === undefined) {
    throw new CliUsageError(
      `Unknown network "${name}". Configured networks: ${Object.keys(hre.config.networks).join(", ")}.`,
    );
  }
  if (options.rpcUrl !== undefined) {
    if (config.type !== "http") throw new CliUsageError(`--rpc-url needs an http network; "${name}" is ${config.type}.`);
    return network.create({ network: name, override: { url: options.rpcUrl } });
  }
  return network.create(name);
}

/** Public client + the wallet client of account number `index` of the connection. */
export async function clientsForAccount(connection: NetworkConnection, index: number): Promise<CofferClients> {
  const publicClient = await connection.viem.getPublicClient();
  const wallets = await connection.viem.getWalletClients();
  const walletClient = wallets[index];
  if (walletClient === undefined) {
    throw new CliUsageError(
      `Account ${index} does not exist: network "${connection.networkName}" has ${wallets.length} account(s) (0..${wallets.length - 1}).`,
    );
  }
  return { publicClient, walletClient };
}

/** "1000" or "0.5" CFR -> token wei. */
export function parseCfr(text: string, flag: string): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(text.trim())) {
    throw new CliUsageError(`${flag} must be a CFR amount like 1000 or 0.25, not "${text}".`);
  }
  return parseEther(text.trim());
}

const BYTE_UNITS: Record<string, bigint> = {
  "": 1n,
  b: 1n,
  kib: 1n << 10n,
  mib: 1n << 20n,
  gib: 1n << 30n,
  tib: 1n << 40n,
  pib: 1n << 50n,
  kb: 10n ** 3n,
  mb: 10n ** 6n,
  gb: 10n ** 9n,
  tb: 10n ** 12n,
  pb: 10n ** 15n,
};

/** "107374182400", "100GiB", "2 TB" -> bytes. */
export function parseByteSize(text: string, flag: string): bigint {
  const match = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new CliUsageError(`${flag} must be a size like 500GiB, 2TiB or a byte count, not "${text}".`);
  }
  return BigInt(match[1]!) * unit;
}

/** A non-negative integer flag. */
export function parseIndex(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new CliUsageError(`${flag} must be a non-negative integer, not "${text}".`);
  return Number(text.trim());
}

/** 107374182400n -> "100 GiB". */
export function formatBytes(bytes: bigint): string {
  for (const [unit, size] of [["PiB", 1n << 50n], ["TiB", 1n << 40n], ["GiB", 1n << 30n], ["MiB", 1n << 20n], ["KiB", 1n << 10n]] as const) {
    if (bytes >= size && bytes % size === 0n) return `${bytes / size} ${unit}`;
  }
  return `${bytes} B`;
}
