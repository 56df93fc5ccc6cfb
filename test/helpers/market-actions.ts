/** Test-side actions on a deployed market system: create deals, fill + prove replicas, prove periods. */
import { bytesToHex, toHex, type Hex } from "viem";
import { challengeSeedOf } from "../../node/proofs/challenges.js";
import type { MarketSystem } from "./market-fixture.js";
import { dataTree, porepProof, postProof, sealFile, type SealedFile } from "./proofs.js";
import { periodStart } from "../../node/chain/periods.js";

type Wallet = MarketSystem["client"];

export interface DealTerms {
  readonly bytes: Uint8Array;
  readonly replicas: number;
  readonly duration: number;
  readonly pricePerGiB: bigint;
  readonly collateral: bigint;
}

export async function createDeal(system: MarketSystem, terms: DealTerms, client: Wallet = system.client): Promise<Hex> {
  const commD = dataTree(terms.bytes).root;
  const args = [commD, BigInt(terms.bytes.length), terms.replicas, terms.duration, terms.pricePerGiB, terms.collateral] as const;
  const { result } = await system.market.simulate.createDeal(args, { account: client.account.address });
  await system.market.write.createDeal(args, { account: client.account });
  return result;
}

/** Fills slot `index` as `lessor` and answers its PoRep (two transactions, one block apart). */
export async function fillAndProve(system: MarketSystem, lessor: Wallet, dealId: Hex, index: number, bytes: Uint8Array): Promise<SealedFile> {
  const sealed = await fill(system, lessor, dealId, index, bytes);
  const seed = await porepSeedOf(system, dealId, index);
  const params = await system.market.read.params();
  await system.market.write.answerPoRep([dealId, BigInt(index), porepProof(seed, sealed, params.kPoRep)], { account: lessor.account });
  return sealed;
}

/** Fills slot `index`, then mines one block so the PoRep seed block exists. */
export async function fill(system: MarketSystem, lessor: Wallet, dealId: Hex, index: number, bytes: Uint8Array): Promise<SealedFile> {
  const params = await system.market.read.params();
  const sealed = sealFile(bytes, lessor.account.address, dealId, index, params.sealRounds);
  await system.market.write.fillReplica([dealId, BigInt(index), sealed.sealed.root], { account: lessor.account });
  await system.viem.getTestClient().then((c) => c.mine({ blocks: 1 }));
  return sealed;
}

/**
 * Fails slot `index` by missed proofs: `system.stranger` reports periods 1 and 2 as missed, each in the period
 * after it (the report window, §10.4; maxMisses = 2 in the test parameters). Chain time ends in period 3.
 */
export async function failByMissedPeriods(system: MarketSystem, dealId: Hex, index: number): Promise<void> {
  const start = await system.market.read.startTime();
  const { periodLength } = await system.market.read.params();
  const testClient = await system.viem.getTestClient();
  for (const period of [1n, 2n]) {
    const at = start + (period + 1n) * periodLength + 1n;
    const { timestamp } = await (await system.viem.getPublicClient()).getBlock();
    if (timestamp < at) {
      await testClient.setNextBlockTimestamp({ timestamp: at });
      await testClient.mine({ blocks: 1 });
    }
    await system.market.write.markProofMissing([dealId, BigInt(index), period], { account: system.stranger.account });
  }
}

/**
 * The current period's seed as a lessor gets it (§6.1): requests it (the next block becomes the seed block) when
 * nobody did, mines that block, stores it with a second seedPeriod() and returns it.
 */
export async function seedCurrentPeriod(system: MarketSystem, account: MarketSystem["client"] = system.stranger): Promise<Hex> {
  const period = await system.market.read.currentPeriod();
  const stored = await system.market.read.periodSeed([period]);
  if (BigInt(stored) !== 0n) return stored;
  if ((await system.market.read.periodSeedBlock([period])) === 0n) await system.market.write.seedPeriod({ account: account.account });
  await system.viem.getTestClient().then((c) => c.mine({ blocks: 1 }));
  await system.market.write.seedPeriod({ account: account.account });
  return system.market.read.periodSeed([period]);
}

export interface ProvenReplica {
  readonly dealId: Hex;
  readonly index: number;
  readonly sealed: SealedFile;
}

/** Calldata for submitPoSt over `replicas` for the current period, seeding it first when needed (§6.1). */
export async function postArgs(system: MarketSystem, replicas: readonly ProvenReplica[], period?: bigint) {
  const current = period ?? (await system.market.read.currentPeriod());
  const seed = period === undefined ? await seedCurrentPeriod(system) : await system.market.read.periodSeed([current]);
  const params = await system.market.read.params();
  const proof = replicas.flatMap((r) => postProof(seed, r.sealed, params.kPoSt));
  return [current, replicas.map((r) => r.dealId), indexesHex(replicas.map((r) => r.index)), proof] as const;
}

export function indexesHex(indexes: readonly number[]): Hex {
  return toHex(Uint8Array.from(indexes));
}

/** blockhash(fillBlock + 1), read from the chain (an eth_call at "latest" cannot see the latest block's hash). */
export async function porepSeedOf(system: MarketSystem, dealId: Hex, index: number): Promise<Hex> {
  const replica = await system.market.read.getReplica([dealId, BigInt(index)]);
  const publicClient = await system.viem.getPublicClient();
  const block = await publicClient.getBlock({ blockNumber: replica.fillBlock + 1n });
  return block.hash;
}

/** Moves chain time to `offset` seconds into `period` (mining one block there). */
export async function goToPeriod(system: MarketSystem, period: bigint, offset = 1n): Promise<void> {
  const clock = { startTime: await system.market.read.startTime(), periodLength: (await system.market.read.params()).periodLength };
  const testClient = await system.viem.getTestClient();
  await testClient.setNextBlockTimestamp({ timestamp: periodStart(clock, period) + offset });
  await testClient.mine({ blocks: 1 });
}

/**
 * The seed of `challenger`'s open challenge of slot `index`, as its lessor computes it (§7.2): from the hash of
 * block openedBlock + 1 (an eth_call at "latest" cannot read the latest block's hash, so getChallenge shows the
 * seed only one block later).
 */
export async function challengeSeedFor(system: MarketSystem, dealId: Hex, index: number, challenger: Hex): Promise<Hex> {
  const challenge = await system.market.read.getChallenge([dealId, BigInt(index), challenger]);
  const publicClient = await system.viem.getPublicClient();
  const block = await publicClient.getBlock({ blockNumber: challenge.openedBlock + 1n });
  return bytesToHex(challengeSeedOf(block.hash, dealId, index, challenger));
}
