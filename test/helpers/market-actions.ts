/** Test-side actions on a deployed market system: create deals, fill + prove replicas, prove periods. */
import { toHex, type Hex } from "viem";
import type { MarketSystem } from "./market-fixture.js";
import { dataTree, porepProof, postProof, sealFile, type SealedFile } from "./proofs.js";

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
 * Fails slot `index` by missed proofs: chain time moves past period 3, then `system.stranger` reports periods 1
 * and 2 as missed (maxMisses = 2 in the test parameters).
 */
export async function failByMissedPeriods(system: MarketSystem, dealId: Hex, index: number): Promise<void> {
  const start = await system.market.read.startTime();
  const { periodLength } = await system.market.read.params();
  const testClient = await system.viem.getTestClient();
  await testClient.setNextBlockTimestamp({ timestamp: start + 3n * periodLength + 1n });
  await testClient.mine({ blocks: 1 });
  for (const period of [1n, 2n]) await system.market.write.markProofMissing([dealId, BigInt(index), period], { account: system.stranger.account });
}

export interface ProvenReplica {
  readonly dealId: Hex;
  readonly index: number;
  readonly sealed: SealedFile;
}

/** Calldata for submitPoSt over `replicas` for the seeded current period. */
export async function postArgs(system: MarketSystem, replicas: readonly ProvenReplica[], period?: bigint) {
  const current = period ?? (await system.market.read.currentPeriod());
  const seed = await system.market.read.periodSeed([current]);
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
