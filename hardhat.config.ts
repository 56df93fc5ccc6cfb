import { createRequire } from "node:module";
import path from "node:path";
import { configVariable, defineConfig } from "hardhat/config";
import hardhatIgnitionViem from "@nomicfoundation/hardhat-ignition-viem";
import hardhatKeystore from "@nomicfoundation/hardhat-keystore";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";

// No compiler downloads are possible here: compile with the WebAssembly solc that the
// `solc` npm package ships. Its version must match `SOLC_VERSION`.
const require = createRequire(import.meta.url);
const SOLC_VERSION = "0.8.30";
const solcjsPath = require.resolve("solc/soljson.js");

// `npm run test:deep` (scripts/test-deep.ts): every Solidity fuzz and invariant test at these settings.
// COFFER_DEEP_RUNS lowers the runs for a trial of the deep run itself.
const DEEP_RUNS = Number(process.env.COFFER_DEEP_RUNS ?? 10_000);
const DEEP_DEPTH = 64;
const DEEP_ACTION_LOG = path.resolve(import.meta.dirname, "cache/deep-actions.log");

export default defineConfig({
  plugins: [
    hardhatViem,
    hardhatViemAssertions,
    hardhatMocha,
    hardhatNetworkHelpers,
    hardhatIgnitionViem,
    hardhatKeystore,
  ],
  solidity: {
    version: SOLC_VERSION,
    path: solcjsPath,
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 1 },
      viaIR: true,
    },
  },
  paths: {
    tests: { mocha: "test", solidity: "contracts" },
  },
  test: {
    mocha: { timeout: 120_000 },
    solidity: {
      profiles: {
        // `npm test`: per-test NatSpec lines (`hardhat-config: default.…`) keep the slow suites short.
        default: { fuzz: { runs: 256 } },
        // `npm run test:deep`: these settings win, since the NatSpec lines only name the default profile.
        deep: {
          fuzz: { runs: DEEP_RUNS },
          invariant: { runs: DEEP_RUNS, depth: DEEP_DEPTH },
          // afterInvariant hooks append per-action counts here (scripts/test-deep.ts prints their sums).
          fsPermissions: { writeFile: [DEEP_ACTION_LOG] },
        },
      },
    },
  },
  networks: {
    // In-process chain: Hardhat's EDR.
    hardhat: { type: "edr-simulated", chainType: "l1" },
    // `npm run chain`: the same chain, plus a block every second so chain time (and proving periods) follows
    // the wall clock while nobody sends transactions. Blocks may share a timestamp: without that, every block
    // of a burst of transactions (one block each) takes the previous timestamp + 1 s and chain time runs ahead
    // of the wall clock (110 s by block 500), so periods end early. test/chain-time.test.ts checks it.
    localchain: {
      type: "edr-simulated",
      chainType: "l1",
      allowBlocksWithSameTimestamp: true,
      mining: { auto: true, interval: 1000 },
    },
    // A `hardhat node` (or `npm run chain`) the user started in another terminal.
    localhost: { type: "http", chainType: "l1", url: "http://127.0.0.1:8545" },
    // Any EVM network: RPC URL and deployer key come from the Hardhat keystore or env.
    sepolia: {
      type: "http",
      chainType: "l1",
      url: configVariable("SEPOLIA_RPC_URL"),
      accounts: [configVariable("SEPOLIA_PRIVATE_KEY")],
    },
  },
});
