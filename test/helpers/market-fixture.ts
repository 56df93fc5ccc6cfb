/**
 * One place that deploys the market system (real CofferToken, LessorRegistry, MarketVault, StorageMarket,
 * DownloadMarket) for tests and the gas bench.
 */
import { concat, keccak256, toHex, type Address } from "viem";
import type { network } from "hardhat";

export type Viem = Awaited<ReturnType<typeof network.create>>["viem"];

export const GIB = 1n << 30n;
export const TOKEN = 10n ** 18n;

/** Test defaults: short periods so a deal's whole life fits a test. Production defaults: docs/protocol.md §9. */
export const TEST_MARKET_PARAMS = {
  periodLength: 100n,
  kPoSt: 3,
  kPoRep: 4,
  sealRounds: 2,
  porepTimeout: 60n,
  maxMisses: 2,
  missSlashBps: 2000,
  bountyBps: 2500,
  repairBps: 5000,
  collateralPerGiB: GIB * 1000n, // 1,000 units per byte
  challengeWindow: 3,
  challengeBond: 5_000n,
  // The accounting tests keep their small files: deals from 16 segments, sectors from 4 segments (TinyReplica).
  minSegments: 16,
  minSectorLog: 2,
  maxSectorLog: 17,
} as const;

export const TEST_POD_PARAMS = {
  commitTimeout: 60n,
  receiptTimeout: 60n,
  revealTimeout: 60n,
  disputeWindow: 300n,
} as const;

export const OPERATOR_ROLE = keccak256(toHex("OPERATOR_ROLE"));
export const MARKET_ROLE = keccak256(toHex("MARKET_ROLE"));

export type MarketParams = { -readonly [K in keyof typeof TEST_MARKET_PARAMS]: (typeof TEST_MARKET_PARAMS)[K] extends bigint ? bigint : number };
export type PodParams = { -readonly [K in keyof typeof TEST_POD_PARAMS]: bigint };

/** Registry parameters for tests: a tiny minimum so tests can stake small amounts. */
export const TEST_MIN_STAKE = 1n;
export const TEST_UNBONDING_DELAY = 7n * 24n * 3600n;

/** The real token (faucet enabled: local chain) and lessor registry, administered by the first wallet. */
export async function deployTokenAndRegistry(viem: Viem) {
  const [admin] = await viem.getWalletClients();
  const token = await viem.deployContract("CofferToken", [admin.account.address, 0n, true]);
  const registry = await viem.deployContract("LessorRegistry", [token.address, TEST_MIN_STAKE, TEST_UNBONDING_DELAY, admin.account.address]);
  return { token, registry };
}

const FAUCET_MAX_PER_CALL = 1_000_000n * TOKEN;

/** Mints `amount` to `to` through the local faucet (capped per call). */
export async function fund(token: { write: { faucet: (args: readonly [Address, bigint]) => Promise<unknown> } }, to: Address, amount: bigint) {
  for (let left = amount; left > 0n; left -= left > FAUCET_MAX_PER_CALL ? FAUCET_MAX_PER_CALL : left) {
    await token.write.faucet([to, left > FAUCET_MAX_PER_CALL ? FAUCET_MAX_PER_CALL : left]);
  }
}

/** A valid, unique libp2p peer id (sha2-256 multihash) for a test lessor. */
export function testPeerId(lessor: Address) {
  return concat(["0x1220", keccak256(lessor)]);
}

export async function deployMarketSystem(
  viem: Viem,
  marketParams: MarketParams = { ...TEST_MARKET_PARAMS },
  podParams: PodParams = { ...TEST_POD_PARAMS },
) {
  const [admin, client, lessorA, lessorB, lessorC, watcher, downloader, stranger] = await viem.getWalletClients();
  const { token, registry } = await deployTokenAndRegistry(viem);
  const vault = await viem.deployContract("MarketVault", [token.address, admin.account.address]);
  const market = await viem.deployContract("StorageMarket", [registry.address, vault.address, marketParams]);
  const downloads = await viem.deployContract("DownloadMarket", [market.address, podParams]);
  for (const operator of [market.address, downloads.address]) {
    await vault.write.grantRole([OPERATOR_ROLE, operator]);
    await registry.write.grantRole([MARKET_ROLE, operator]);
  }
  for (const wallet of [client, downloader, stranger]) {
    await fund(token, wallet.account.address, 1_000_000n * TOKEN);
    await token.write.approve([vault.address, 2n ** 255n], { account: wallet.account });
  }
  const system = { viem, admin, client, lessorA, lessorB, lessorC, watcher, downloader, stranger, token, registry, vault, market, downloads };
  for (const lessor of [lessorA, lessorB, lessorC]) await stakeLessor(system, lessor.account.address, 1_000n * TOKEN);
  return system;
}

export type MarketSystem = Awaited<ReturnType<typeof deployMarketSystem>>;

/** Registers `lessor` in the registry with `amount` of free stake (or adds it, if already registered). */
export async function stakeLessor(system: Pick<MarketSystem, "token" | "registry">, lessor: Address, amount: bigint) {
  await fund(system.token, lessor, amount);
  await system.token.write.approve([system.registry.address, amount], { account: lessor });
  const info = await system.registry.read.getLessor([lessor]);
  if (info.registeredAt > 0n) {
    await system.registry.write.addStake([amount], { account: lessor });
  } else {
    await system.registry.write.register([amount, 1n << 40n, 1n, testPeerId(lessor), ["/ip4/127.0.0.1/tcp/4001"]], { account: lessor });
  }
}
