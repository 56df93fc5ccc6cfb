/**
 * Deploys Coffer's contracts (token, registry, vault, storage and download markets) with Ignition and writes
 * deployments/<network>.json, where the node and the other scripts find their addresses.
 *
 *   npm run deploy -- --network localhost            # a `npm run chain` / `npx hardhat node` you started
 *   npm run deploy -- --network sepolia --min-stake 5000 --unbonding-delay 1209600
 *
 * Flags also read COFFER_* environment variables (see --help). On local chain ids (31337, 1337) the
 * token's faucet is enabled unless --no-faucet; elsewhere the token refuses to enable it.
 */
import { Command, Option } from "commander";
import { formatEther } from "viem";
import { CofferChainError } from "../node/chain/errors.js";
import { deployCoffer } from "./lib/deploy-coffer.js";
import { addNetworkOptions, CliUsageError, connectNetwork, parseCfr, parseCommand, parseIndex, scriptArgs } from "./lib/network-cli.js";

const io = { stdout: process.stdout, stderr: process.stderr };
const command = addNetworkOptions(new Command("deploy"))
  .description("Deploy CofferToken and LessorRegistry and write deployments/<network>.json.")
  .addOption(new Option("--min-stake <CFR>", "minimum lessor stake in CFR (default 1000)").env("COFFER_MIN_STAKE"))
  .addOption(new Option("--unbonding-delay <seconds>", "unstake delay (default 604800 = 7 days)").env("COFFER_UNBONDING_DELAY"))
  .addOption(new Option("--initial-supply <CFR>", "CFR minted to the deployer (default 100000000)").env("COFFER_INITIAL_SUPPLY"))
  .addOption(new Option("--no-faucet", "disable the token faucet even on a local chain"))
  .addOption(new Option("--period-length <seconds>", "proving period length (default 3600; e.g. 30 to try the system locally)").env("COFFER_PERIOD_LENGTH"))
  .addOption(new Option("--dispute-window <seconds>", "PoD dispute window (default 86400)").env("COFFER_DISPUTE_WINDOW"));

async function main(): Promise<number> {
  const parsed = parseCommand(command, scriptArgs(import.meta.url), io);
  if (parsed.exitCode !== undefined) return parsed.exitCode;
  const opts = command.opts<{
    network?: string;
    rpcUrl?: string;
    deploymentsDir?: string;
    minStake?: string;
    unbondingDelay?: string;
    initialSupply?: string;
    faucet: boolean;
    periodLength?: string;
    disputeWindow?: string;
  }>();
  let connection;
  try {
    const parameters = {
      ...(opts.minStake !== undefined && { minStake: parseCfr(opts.minStake, "--min-stake") }),
      ...(opts.unbondingDelay !== undefined && { unbondingDelay: BigInt(parseIndex(opts.unbondingDelay, "--unbonding-delay")) }),
      ...(opts.initialSupply !== undefined && { initialSupply: parseCfr(opts.initialSupply, "--initial-supply") }),
      ...(!opts.faucet && { faucetEnabled: false }),
    };
    const marketParameters = {
      ...(opts.periodLength !== undefined && { periodLength: BigInt(parseIndex(opts.periodLength, "--period-length")) }),
      ...(opts.disputeWindow !== undefined && { disputeWindow: BigInt(parseIndex(opts.disputeWindow, "--dispute-window")) }),
    };
    connection = await connectNetwork(opts);
    const { deployment, file, parameters: used } = await deployCoffer(connection, {
      parameters,
      marketParameters,
      write: true,
      location: { dir: opts.deploymentsDir },
    });
    io.stdout.write(
      `Deployed Coffer on ${deployment.network} (chain ${deployment.chainId}, from block ${deployment.deployedAtBlock})\n` +
        `  CofferToken     ${deployment.contracts.CofferToken.address}  faucet ${used.faucetEnabled ? "on" : "off"}\n` +
        `  LessorRegistry  ${deployment.contracts.LessorRegistry.address}  min stake ${formatEther(used.minStake)} CFR, ` +
        `unbonding ${used.unbondingDelay} s\n` +
        `Wrote ${file}\n`,
    );
    if (connection.networkConfig.type === "edr-simulated") {
      io.stdout.write("Note: the in-process chain ends with this script; use --network localhost for a lasting one.\n");
    }
    return 0;
  } catch (error) {
    if (error instanceof CliUsageError) {
      io.stderr.write(`deploy: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof CofferChainError ? error.shortMessage : error instanceof Error ? error.message : String(error);
    io.stderr.write(`deploy: ${message}\n`);
    return 1;
  } finally {
    await connection?.close();
  }
}

process.exitCode = await main();
