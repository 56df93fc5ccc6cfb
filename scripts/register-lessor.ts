/**
 * Registers an account as a Coffer lessor.
 *
 *   npm run register-lessor -- --network localhost --account 1 --stake 2000 --capacity 2TiB \
 *     --price 0.002 --peer-id 12D3KooW... --multiaddr /ip4/127.0.0.1/tcp/4001
 *
 * Without --network it runs on a throwaway in-process chain (deploying the contracts first). Flags
 * also read COFFER_* environment variables (see --help), e.g. for `npx hardhat run --network localhost
 * scripts/register-lessor.ts`, which forwards no flags. On local chains the account is funded from
 * the token's faucet when its CFR balance is short of the stake.
 */
import { runRegisterLessorCli } from "./lib/register-lessor-cli.js";
import { scriptArgs } from "./lib/network-cli.js";

process.exitCode = await runRegisterLessorCli(scriptArgs(import.meta.url));
