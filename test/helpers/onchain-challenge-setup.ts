/**
 * Set-up shared by the on-chain generation and outsourcing scenarios (docs/protocol.md §7.2, §12): the real market
 * contracts on the in-process chain with the spec's proof parameters and sector sizes, one big deal with two
 * replicas — slot 0 sealed and proven by an honest lessor, slot 1 by the attacker (which seals once to pass
 * PoRep, then drops its sealed sector) — each the one piece, at offset 0, of a sector of its own, and a watcher
 * with tokens for bonds. The harness mines a block every `blockMs` so the challenge window (in blocks) follows
 * the wall clock; transactions also mine their own block.
 */
import { join } from "node:path";
import type { Address, Hex, PublicClient } from "viem";
import type { network } from "hardhat";
import { DEFAULT_MARKET_PARAMS } from "../../ignition/market-defaults.js";
import type { MarketActionContext } from "../../node/chain/actions/market-call.js";
import type { MarketParameters } from "../../node/chain/client.js";
import { CommittedFile, commitFile, depthOf, fileLayout, provePoRep, sealFile, sectorId, toHex, writeUnsealedSector, type SealResult, type SegmentSource } from "../../node/proofs/index.js";
import { storageMarketAbi } from "../../node/chain/abi/storageMarket.js";
import { storedCheckpoint } from "../../node/chain/chain-state.js";
import { EventFollower } from "../../node/chain/event-follower.js";
import { OnChainChallengeAnswerer } from "../../node/roles/onchain-challenge-answerer.js";
import { OnChainChallenger } from "../../node/roles/onchain-challenger.js";
import type { Logger } from "pino";
import { GIB, TEST_MARKET_PARAMS, TOKEN, deployMarketSystem, fund, type MarketSystem } from "./market-fixture.js";
import { indexesHex, porepSeedOf } from "./market-actions.js";
import type { Harness } from "./p2p-harness.js";

type Connection = Awaited<ReturnType<typeof network.create>>;
type Wallet = MarketSystem["client"];

export interface OnChainSetupOptions {
  size: number;
  /** Challenge window in blocks. */
  challengeWindow: number;
  /** Milliseconds between two harness-mined blocks. */
  blockMs: number;
}

/** A role's chain context for the node's actions (what ChainClient provides in a running node). */
export type RoleChain = MarketActionContext & { address: Address; params: MarketParameters };

/** A lessor's one-piece sector holding a slot of the deal, sealed on disk. */
export interface SealedSectorFile {
  dealId: Hex;
  replicaIndex: number;
  /** sectorId = H(abi(lessor, 0)). */
  sector: Hex;
  /** The sealing replicaId: the sector id's bytes. */
  replicaId: Uint8Array;
  log2Segments: number;
  /** The unsealed sector (the data file itself when it fills the sector exactly). */
  unsealedPath: string;
  /** The sealed sector and its commR tree. */
  replicaPath: string;
  treePath: string;
  sealed: SealResult;
}

export async function onChainChallengeSetup(connection: Connection, harness: Harness, dataPath: string, options: OnChainSetupOptions) {
  const { viem } = connection;
  // The spec's proof parameters and sector sizes (§9, §12.2); one sealing round.
  const params = {
    ...TEST_MARKET_PARAMS,
    kPoSt: DEFAULT_MARKET_PARAMS.kPoSt,
    sealRounds: DEFAULT_MARKET_PARAMS.sealRounds,
    minSectorLog: DEFAULT_MARKET_PARAMS.minSectorLog,
    maxSectorLog: DEFAULT_MARKET_PARAMS.maxSectorLog,
    challengeWindow: options.challengeWindow,
    periodLength: 3_600n,
    porepTimeout: 3_600n,
  };
  const system = await deployMarketSystem(viem, params);
  await fund(system.token, system.watcher.account.address, 1_000n * TOKEN);
  const publicClient = await viem.getPublicClient();
  const onChainParams = { ...(await system.market.read.params()) } as MarketParameters;
  const addresses = { token: system.token.address, registry: system.registry.address, vault: system.vault.address, market: system.market.address, downloads: system.downloads.address };
  const chainOf = (wallet: Wallet): RoleChain => ({ publicClient: publicClient as RoleChain["publicClient"], walletClient: wallet as unknown as RoleChain["walletClient"], addresses, address: wallet.account.address, params: onChainParams });

  const commitment = await commitFile(dataPath, { treeCachePath: join(await harness.dir("coffer-data-tree-"), "data.tree") });
  const collateral = (BigInt(options.size) * params.collateralPerGiB + GIB - 1n) / GIB;
  const createArgs = [toHex(commitment.root) as Hex, BigInt(options.size), 2, 4, GIB, collateral] as const;
  const { result: dealId } = await system.market.simulate.createDeal(createArgs, { account: system.client.account.address });
  await system.market.write.createDeal(createArgs, { account: system.client.account });

  // One piece at offset 0 of the smallest sector holding it; its unsealed sector is the data zero-padded to it.
  const layout = fileLayout(options.size);
  const log2Segments = Math.max(params.minSectorLog, depthOf(layout.segmentCount));
  let unsealedPath = dataPath;
  let unsealedTree = commitment.tree;
  if (options.size !== 2 ** log2Segments * 32) {
    const dir = await harness.dir("coffer-unsealed-sector-");
    unsealedPath = join(dir, "unsealed.bin");
    await writeUnsealedSector(unsealedPath, log2Segments, [{ path: dataPath, offset: 0, size: options.size }]);
    unsealedTree = (await commitFile(unsealedPath, { treeCachePath: join(dir, "unsealed.tree") })).tree;
  }

  const sealAndProve = async (lessor: Wallet, replicaIndex: number): Promise<SealedSectorFile> => {
    const id = sectorId(lessor.account.address, 0);
    const dir = await harness.dir("coffer-sector-");
    const replicaPath = join(dir, "sealed.bin");
    const treePath = join(dir, "sealed.tree");
    const sealed = await sealFile(unsealedPath, replicaPath, id, { sealRounds: params.sealRounds, treeCachePath: treePath });
    const sector = toHex(id) as Hex;
    await system.market.write.commitSector([0n, log2Segments, toHex(sealed.commR) as Hex, [dealId], indexesHex([replicaIndex])], { account: lessor.account });
    await connection.networkHelpers.mine(1);
    const seed = await porepSeedOf(system, sector);
    const replica = await CommittedFile.open(replicaPath, treePath, { kind: "replica" });
    const data = await CommittedFile.open(unsealedPath, unsealedTree);
    try {
      const proof = await provePoRep({ replica, data, replicaId: id, seed, challenges: params.kPoRep });
      await system.market.write.answerPoRep([sector, proof], { account: lessor.account });
    } finally {
      await replica.close();
      await data.close();
    }
    return { dealId, replicaIndex, sector, replicaId: id, log2Segments, unsealedPath, replicaPath, treePath, sealed };
  };
  const honest = await sealAndProve(system.lessorA, 0);
  const attacker = await sealAndProve(system.lessorB, 1);

  const testClient = await viem.getTestClient();
  const miner = setInterval(() => void testClient.mine({ blocks: 1 }).catch(() => undefined), options.blockMs);
  miner.unref(); // a failed test must not keep mocha alive
  return {
    system,
    dealId,
    collateral,
    /** The deal's data segments (what a challenge of a piece is stratified over). */
    segments: layout.segmentCount,
    honest,
    attacker,
    honestChain: chainOf(system.lessorA),
    attackerChain: chainOf(system.lessorB),
    watcherChain: chainOf(system.watcher),
    stopMining: () => clearInterval(miner),
  };
}

/** Polls `settle` until it reports the challenge of `replicaIndex` settled (or `timeoutMs` passes). */
export async function settled<T extends { replicaIndex: number }>(settle: () => Promise<T[]>, replicaIndex: number, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const done = (await settle()).find((s) => s.replicaIndex === replicaIndex);
    if (done) return done;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`challenge of replica ${replicaIndex} not settled within ${timeoutMs} ms`);
}

/**
 * The three roles of an on-chain challenge scenario: the honest lessor answering from its sealed sector, the
 * attacker answering from `attackerSource` (something that rebuilds what it is asked for), and the watcher.
 * Answerers poll every 100 ms. `watcherPass()` is the watcher's pass over its on-chain challenges as in
 * WatcherRole: its event follower feeds the market's events to the challenger, then it settles.
 * `stop()` stops mining and both answerers and closes the honest replica.
 */
export async function startChallengeRoles(setup: Awaited<ReturnType<typeof onChainChallengeSetup>>, attackerSource: SegmentSource & { close(): Promise<void> }, logger: Logger) {
  const honestFile = await CommittedFile.open(setup.honest.replicaPath, setup.honest.treePath, { kind: "replica" });
  // Each lessor holds its one piece at offset 0 of its sector; the attacker answers from what it rebuilds.
  const pieceOf = (sealed: SealedSectorFile, source: SegmentSource) => (dealId: Hex, replicaIndex: number) =>
    dealId === sealed.dealId && replicaIndex === sealed.replicaIndex ? { source, sector: sealed.sector, offset: 0, segments: setup.segments } : undefined;
  const honest = new OnChainChallengeAnswerer({ chain: setup.honestChain, pieceSource: pieceOf(setup.honest, honestFile), logger, pollMs: 100 });
  const attacker = new OnChainChallengeAnswerer({ chain: setup.attackerChain, pieceSource: pieceOf(setup.attacker, attackerSource), logger, pollMs: 100 });
  const watcher = new OnChainChallenger({ chain: setup.watcherChain, logger });
  const cursor = new Map<string, string>();
  const events = new EventFollower({
    client: setup.watcherChain.publicClient as PublicClient,
    abi: storageMarketAbi,
    addresses: [setup.watcherChain.addresses.market],
    checkpoint: storedCheckpoint({ get: async (k) => cursor.get(k), put: async (k, v) => void cursor.set(k, v) }),
    startBlock: await setup.watcherChain.publicClient.getBlockNumber(),
    onLogs: (logs, range) => watcher.observe(logs, range),
    logger,
  });
  const watcherPass = async () => {
    await events.catchUp();
    return watcher.settle();
  };
  honest.start();
  attacker.start();
  return {
    honest,
    attacker,
    watcher,
    watcherPass,
    stop: async () => {
      setup.stopMining();
      await honest.stop();
      await attacker.stop();
      await honestFile.close();
      await attackerSource.close();
    },
  };
}

/** Waits (up to `timeoutMs`) until `source.lastTiming` is set: the attacker's rebuild finished. */
export async function rebuildFinished<T>(source: { lastTiming: T | undefined }, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (source.lastTiming === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (source.lastTiming === undefined) throw new Error(`the attacker's rebuild did not finish within ${timeoutMs} ms`);
  return source.lastTiming;
}
