/**
 * One place that deploys the market system for tests and the gas bench. At merge, swap
 * `deployTokenAndRegistry` for the real token + LessorRegistry (and their staking calls in `stakeLessor`).
 */
import { keccak256, toHex, type Address } from "viem";
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

/** Token + lessor registry: the part the registry branch replaces. */
export async function deployTokenAndRegistry(viem: Viem) {
  const token = await viem.deployContract("TestToken");
  const registry = await viem.deployContract("TestLessorRegistry", [token.address]);
  return { token, registry };
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
    await token.write.mint([wallet.account.address, 1_000_000n * TOKEN]);
    await token.write.approve([vault.address, 2n ** 255n], { account: wallet.account });
  }
  const system = { viem, admin, client, lessorA, lessorB, lessorC, watcher, downloader, stranger, token, registry, vault, market, downloads };
  for (const lessor of [lessorA, lessorB, lessorC]) await stakeLessor(system, lessor.account.address, 1_000n * TOKEN);
  return system;
}

export type MarketSystem = Awaited<ReturnType<typeof deployMarketSystem>>;

/** Registers `lessor` in the registry with `amount` of free stake. */
export async function stakeLessor(system: Pick<MarketSystem, "token" | "registry">, lessor: Address, amount: bigint) {
  await system.token.write.mint([lessor, amount]);
  await system.token.write.approve([system.registry.address, amount], { account: lessor });
  await system.registry.write.registerAndStake([amount], { account: lessor });
}
