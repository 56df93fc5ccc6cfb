/**
 * Test-side actions on a deployed market system (docs/protocol.md §12): create deals, seal slots into sectors
 * in memory, commit them and answer their PoRep, prove a lessor's period with one PoSt over all its proving
 * sectors, answer on-chain challenges of pieces, move time.
 *
 * Every sector a helper seals is kept in a per-market registry (by sector id), so postArgs and the challenge
 * answers find the sealed bytes of whatever sector the chain names. A fixture restored by loadFixture may leave
 * sectors of an abandoned timeline in it: harmless, since entries are only looked up by ids the chain returns
 * and a sector number is only reused (and its entry overwritten) once the chain no longer knows it.
 */
import { bytesToHex, getAddress, type Address, type Hex } from "viem";
import { challengeSeedOf } from "../../node/proofs/challenges.js";
import { periodStart } from "../../node/chain/periods.js";
import type { MarketSystem } from "./market-fixture.js";
import { getProvenCapacity } from "../../node/chain/actions/getProvenCapacity.js";
import { fileLayout } from "../../node/proofs/layout.js";
import { dataTree, opening, pieceChallengeProof, porepProof, sealSector, sectorLog2For, sectorOrder, type PieceInput, type SealedSector } from "./proofs.js";
import { lessorPoStChallenges, sectorId, type LessorPoStChallenge } from "../../node/proofs/sectors.js";

type Wallet = MarketSystem["client"];
type System = Pick<MarketSystem, "market" | "viem">;

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

// ------------------------------------------------------------------ the registry of sealed sectors

const registries = new Map<string, Map<string, SealedSector>>();

function registryOf(system: System): Map<string, SealedSector> {
  const key = system.market.address.toLowerCase();
  let registry = registries.get(key);
  if (!registry) registries.set(key, (registry = new Map()));
  return registry;
}

/** The sealed sector the helpers kept for `id` (throws for a sector no helper sealed). */
export function sealedSector(system: System, id: Hex): SealedSector {
  const sector = registryOf(system).get(id.toLowerCase());
  if (!sector) throw new Error(`no sealed sector ${id} in the test registry`);
  return sector;
}

/** Keeps `sector` in the registry (sealSectorFor does; for a sector a test built itself). */
export function registerSector(system: System, sector: SealedSector): void {
  registryOf(system).set(sector.id.toLowerCase(), sector);
}

// ------------------------------------------------------------------ sectors and PoRep

export interface SectorOptions {
  /** Sector size; default the smallest allowed size holding the pieces. */
  readonly log2Segments?: number;
  /** Default: the lessor's lowest sector number the chain does not know. */
  readonly sectorNumber?: bigint;
}

/** The lowest sector number of `lessor` that the chain does not know yet. */
export async function nextSectorNumber(system: System, lessor: Address): Promise<bigint> {
  for (let n = 0n; ; n++) {
    const sector = await system.market.read.getSector([bytesToHex(sectorId(lessor, n))]);
    if (BigInt(sector.lessor) === 0n) return n;
  }
}

/**
 * Seals `pieces` (put in sector order: non-increasing size, stable) into a new sector of `lessor`, in memory,
 * and keeps it in the registry. Nothing is sent: see commitArgsOf / commitSector.
 */
export async function sealSectorFor(system: System, lessor: Address, pieces: readonly PieceInput[], options: SectorOptions = {}): Promise<SealedSector> {
  const params = await system.market.read.params();
  const ordered = sectorOrder(pieces);
  const log2 = options.log2Segments ?? sectorLog2For(ordered.map((p) => fileLayout(p.bytes.length).depth), params.minSectorLog);
  const number = options.sectorNumber ?? (await nextSectorNumber(system, lessor));
  const sector = sealSector(getAddress(lessor), number, log2, ordered, params.sealRounds);
  registerSector(system, sector);
  return sector;
}

/** commitSector's arguments for a sealed sector. */
export function commitArgsOf(sector: SealedSector) {
  return [sector.sectorNumber, sector.log2Segments, sector.commR, sector.pieces.map((p) => p.dealId), indexesHex(sector.pieces.map((p) => p.index))] as const;
}

/** Seals and commits a sector holding `pieces` (none: a capacity sector), then mines its PoRep seed block. */
export async function commitSector(system: MarketSystem, lessor: Wallet, pieces: readonly PieceInput[], options: SectorOptions = {}): Promise<SealedSector> {
  const sector = await sealSectorFor(system, lessor.account.address, pieces, options);
  await system.market.write.commitSector(commitArgsOf(sector), { account: lessor.account });
  await system.viem.getTestClient().then((c) => c.mine({ blocks: 1 }));
  return sector;
}

/** Commits slot `index` of `dealId` as the one piece of a sector of 2^max(minSectorLog, depth) segments, at offset 0. */
export async function commitOnePieceSector(system: MarketSystem, lessor: Wallet, dealId: Hex, index: number, bytes: Uint8Array): Promise<SealedSector> {
  return commitSector(system, lessor, [{ dealId, index, bytes }]);
}

/** blockhash(commitBlock + 1), read from the chain (an eth_call at "latest" cannot see the latest block's hash). */
export async function porepSeedOf(system: System, id: Hex): Promise<Hex> {
  const sector = await system.market.read.getSector([id]);
  const publicClient = await system.viem.getPublicClient();
  return (await publicClient.getBlock({ blockNumber: sector.commitBlock + 1n })).hash;
}

/** The committed sector's PoRep answer (its seed block must be mined: commitSector mines it). */
export async function porepAnswerOf(system: System, sector: SealedSector): Promise<Hex[]> {
  const { kPoRep } = await system.market.read.params();
  return porepProof(await porepSeedOf(system, sector.id), sector, kPoRep);
}

/** Answers the committed sector's PoRep: it joins its lessor's proving set, its pieces prove from the next period. */
export async function proveSector(system: MarketSystem, lessor: Wallet, sector: SealedSector): Promise<void> {
  await system.market.write.answerPoRep([sector.id, await porepAnswerOf(system, sector)], { account: lessor.account });
}

/** commitSector + answerPoRep. */
export async function commitAndProve(system: MarketSystem, lessor: Wallet, pieces: readonly PieceInput[], options: SectorOptions = {}): Promise<SealedSector> {
  const sector = await commitSector(system, lessor, pieces, options);
  await proveSector(system, lessor, sector);
  return sector;
}

/** Puts slot `index` in a one-piece sector of `lessor` and proves the sector (commit, one block, PoRep). */
export async function fillAndProve(system: MarketSystem, lessor: Wallet, dealId: Hex, index: number, bytes: Uint8Array): Promise<SealedSector> {
  return commitAndProve(system, lessor, [{ dealId, index, bytes }]);
}

export function indexesHex(indexes: readonly number[]): Hex {
  return bytesToHex(Uint8Array.from(indexes));
}

// ------------------------------------------------------------------ periods and PoSt

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

/** One challenge of a lessor's PoSt, located in its proving set, with the sealed sector it falls in. */
export interface PoStChallenge extends LessorPoStChallenge {
  readonly sector: SealedSector;
  /** Where its opening starts in the proof. */
  readonly start: number;
}

export interface PoStPlan {
  readonly period: bigint;
  readonly seed: Hex;
  readonly counts: bigint;
  readonly challenges: readonly PoStChallenge[];
  readonly proof: Hex[];
}

/**
 * The lessor's PoSt for `period` (default: the current one, seeded first when needed): its kPoSt challenges
 * from the seed and its provingCounts, each sector named by provingSectorAt, opened in the registry's sealed tree.
 */
export async function postPlan(system: MarketSystem, lessor: Wallet | Address, period?: bigint): Promise<PoStPlan> {
  const address = typeof lessor === "string" ? lessor : lessor.account.address;
  const current = period ?? (await system.market.read.currentPeriod());
  const seed = period === undefined ? await seedCurrentPeriod(system) : await system.market.read.periodSeed([current]);
  const params = await system.market.read.params();
  const counts = await system.market.read.provingCounts([address]);
  const challenges: PoStChallenge[] = [];
  const proof: Hex[] = [];
  for (const c of lessorPoStChallenges(seed, address, params.kPoSt, counts, params.minSectorLog)) {
    const id = await system.market.read.provingSectorAt([address, c.log2Segments, BigInt(c.index)]);
    const sector = sealedSector(system, id);
    challenges.push({ ...c, sector, start: proof.length });
    proof.push(...opening(sector.sealed, c.offset));
  }
  return { period: current, seed, counts, challenges, proof };
}

/** submitPoSt's arguments for `lessor`'s period (default: the current one). */
export async function postArgs(system: MarketSystem, lessor: Wallet | Address, period?: bigint) {
  const plan = await postPlan(system, lessor, period);
  return [plan.period, plan.proof] as const;
}

/** Proves the lessor's current period (seeding it first when needed). */
export async function provePeriod(system: MarketSystem, lessor: Wallet) {
  return system.market.write.submitPoSt(await postArgs(system, lessor), { account: lessor.account });
}

/** Moves chain time to `offset` seconds into `period` (mining one block there). */
export async function goToPeriod(system: System, period: bigint, offset = 1n): Promise<void> {
  const clock = { startTime: await system.market.read.startTime(), periodLength: (await system.market.read.params()).periodLength };
  const testClient = await system.viem.getTestClient();
  await testClient.setNextBlockTimestamp({ timestamp: periodStart(clock, period) + offset });
  await testClient.mine({ blocks: 1 });
}

/**
 * Fails slot `index` by missed periods (§12.5): nobody reports misses, so this only moves time to the first
 * period in which maxMisses of the piece's closed periods (from its first proven period) lack its lessor's
 * proof. The lessor must not prove meanwhile. Throws if that lies past the deal's end (it would finish instead).
 */
export async function failByMissedPeriods(system: MarketSystem, dealId: Hex, index: number): Promise<bigint> {
  const { market } = system;
  const replica = await market.read.getReplica([dealId, BigInt(index)]);
  const sector = await market.read.getSector([replica.sector]);
  if (sector.firstPeriod === 0) throw new Error(`slot ${index}'s sector has not passed its PoRep`);
  const deal = await market.read.getDeal([dealId]);
  const { maxMisses } = await market.read.params();
  const current = await market.read.currentPeriod();
  let p = BigInt(Math.max(deal.startPeriod, sector.firstPeriod));
  for (let missed = 0; missed < maxMisses; p++) {
    if (!(p < current && (await market.read.isPeriodProven([replica.lessor, p])))) missed++;
  }
  if (p > BigInt(deal.endPeriod)) throw new Error(`slot ${index} cannot miss ${maxMisses} periods before its deal ends`);
  if (current < p) await goToPeriod(system, p);
  return p;
}

// ------------------------------------------------------------------ on-chain challenges

/**
 * The seed of `challenger`'s open challenge of slot `index`, as its lessor computes it (§7.2): from the hash of
 * block openedBlock + 1 (an eth_call at "latest" cannot read the latest block's hash, so getChallenge shows the
 * seed only one block later).
 */
export async function challengeSeedFor(system: System, dealId: Hex, index: number, challenger: Hex): Promise<Hex> {
  const challenge = await system.market.read.getChallenge([dealId, BigInt(index), challenger]);
  const publicClient = await system.viem.getPublicClient();
  const block = await publicClient.getBlock({ blockNumber: challenge.openedBlock + 1n });
  return bytesToHex(challengeSeedOf(block.hash, dealId, index, challenger));
}

/** The answer to `challenger`'s open challenge of slot `index`, from the registry's sealed sector holding it. */
export async function challengeAnswerFor(system: System, dealId: Hex, index: number, challenger: Hex, seed?: Hex): Promise<Hex[]> {
  const replica = await system.market.read.getReplica([dealId, BigInt(index)]);
  const deal = await system.market.read.getDeal([dealId]);
  const { kPoSt } = await system.market.read.params();
  const sector = sealedSector(system, replica.sector);
  return pieceChallengeProof(seed ?? (await challengeSeedFor(system, dealId, index, challenger)), sector, { offset: Number(replica.offset), segments: Number(deal.segments) }, kPoSt);
}

/** The lessor's proven capacity as the node reads it (node/chain/actions/getProvenCapacity.ts, §12.3). */
export async function provenCapacity(system: MarketSystem, lessor: Hex): Promise<bigint> {
  const publicClient = await system.viem.getPublicClient();
  const { minSectorLog } = await system.market.read.params();
  return getProvenCapacity({ publicClient, addresses: { market: system.market.address } as never }, { lessor, minSectorLog });
}
