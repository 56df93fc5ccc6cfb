import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";
import { downloadMarketAbi } from "../chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { answerPoRep } from "../chain/actions/answerPoRep.js";
import { claimDownload } from "../chain/actions/claimDownload.js";
import { commitDownload } from "../chain/actions/commitDownload.js";
import { fillReplica } from "../chain/actions/fillReplica.js";
import { MarketActionError } from "../chain/actions/market-call.js";
import { revealKey } from "../chain/actions/revealKey.js";
import { seedPeriod } from "../chain/actions/seedPeriod.js";
import { submitPoSt } from "../chain/actions/submitPoSt.js";
import { withdraw } from "../chain/actions/withdraw.js";
import type { ChainClient } from "../chain/client.js";
import type { CofferNode } from "../assembly/coffer-node.js";
import { ProtocolError } from "../p2p/errors.js";
import { createOfferService, offerDomain, offerMessage, OFFER_TYPES, type Assignment, type OfferService, type QuoteRequest, type SignedOffer } from "../protocols/offer/index.js";
import { OFFER_VALIDITY_SECONDS } from "../protocols/offer/constants.js";
import { createPodService, type PodCipher, type PodService } from "../protocols/pod/index.js";
import type { UploadOffer } from "../protocols/upload/index.js";
import { CommittedFile, commitFile, encryptBlocksForDownload, provePoRep, provePoStBatch, replicaId, sealFile, toHex, unsealStream, type PlaintextBlock, type ProvePoStParams } from "../proofs/index.js";
import { ReplicaState } from "../chain/states.js";
import { ceilDiv, createNodeAndChain, GIB, logStepError, RoleLoop, type RoleOptions } from "./common.js";
import { OnChainChallengeAnswerer } from "./onchain-challenge-answerer.js";
import { TimedChallengeResponder } from "./timed-challenge-responder.js";
import { periodStart } from "../chain/periods.js";

export interface LessorOptions extends RoleOptions {
  /** Asking price, CFR wei per GiB per period. */
  pricePerGiBPerPeriod: bigint;
  /** Disk offered (bytes). */
  capacityBytes: bigint;
  /** Milliseconds between two polls for on-chain challenges naming this lessor (default 250). */
  challengePollMs?: number;
  /** What the lessor does where a lessor could cheat (default {@link honestLessor}; tests and the demo inject others). */
  behaviour?: LessorBehaviour;
}

/** A proving replica as {@link LessorBehaviour.afterPoRep} sees it. */
export interface ProvingReplica {
  dealId: Hex;
  replicaIndex: number;
  /** The sealed replica's file. */
  replicaPath: string;
  /** Stops answering timed and on-chain challenges from this replica (closes its file). */
  stopServing(): Promise<void>;
  logger: Logger;
}

/**
 * The points where a lessor's behaviour can differ from the protocol's. Production lessors run
 * {@link honestLessor}; the dishonest ones the attack tests and the demo use live in
 * scripts/lib/dishonest-lessor.ts.
 */
export interface LessorBehaviour {
  /** Called once a replica's PoRep was accepted and its challenges are served. */
  afterPoRep(replica: ProvingReplica): Promise<void>;
  /** The plaintext a PoD download is encrypted from, given the replica's unsealed stream. */
  downloadPlaintext(plaintext: AsyncIterable<PlaintextBlock>, size: number): AsyncIterable<PlaintextBlock>;
}

/** Keeps the replica and serves the bytes it holds. */
export const honestLessor: LessorBehaviour = {
  afterPoRep: async () => undefined,
  downloadPlaintext: (plaintext) => plaintext,
};

/**
 * Where a replica of this lessor is in its life, persisted so a restarted lessor resumes; in the chain's words
 * where the chain has one (ReplicaState.Committed: filled, PoRep pending; Proving).
 */
export type ReplicaStage = "assigned" | "sealed" | "committed" | "proving" | "gone";

export interface LessorReplica {
  dealId: Hex;
  replicaIndex: number;
  commD: Hex;
  size: number;
  stage: ReplicaStage;
  commR?: Hex;
  fillBlock?: string;
  endPeriod: number;
  note?: string;
}

interface LessorDownload {
  downloadId: Hex;
  key: Hex;
  stage: "committed" | "revealed" | "paid";
}

interface LessorState {
  replicas: Record<string, LessorReplica>;
  offers: Record<Hex, { pricePerGiBPerPeriod: string; expiry: string }>;
  downloads: Record<Hex, LessorDownload>;
  lastProvenPeriod: number;
}

export interface LessorStats {
  postSubmissions: number;
  replicasProven: number;
  bytesServed: number;
  lastPoStLatencySeconds?: number;
}

const STATE_KEY = "lessor";
/** The counters of {@link LessorStats}, persisted so a restarted lessor keeps its served bytes and proof counts. */
const STATS_KEY = "lessor:stats";

/**
 * A lessor: answers quotes and assignments over /coffer/offer/1.0.0, accepts uploads only for deals it
 * agreed to, seals each replica, fills its slot, answers the PoRep, proves all its replicas once per period in
 * one batch, serves PoD downloads and withdraws its earnings. Everything it must remember is in its LevelDB.
 */
export class LessorRole {
  readonly stats: LessorStats = { postSubmissions: 0, replicasProven: 0, bytesServed: 0 };
  private state: LessorState = { replicas: {}, offers: {}, downloads: {}, lastProvenPeriod: -1 };
  private readonly loop: RoleLoop;
  private readonly offers: OfferService;
  private readonly pod: PodService;
  private readonly replicaDir: string;

  private constructor(readonly options: LessorOptions, readonly node: CofferNode, readonly chain: ChainClient) {
    this.replicaDir = join(options.dataDir, "replicas");
    this.challenges = new TimedChallengeResponder({ account: chain.messageSigner(), logger: options.logger });
    this.offers = createOfferService({ network: node.host, logger: options.logger, handlers: { quote: (p, r) => this.quote(p, r), assign: (p, a) => this.assign(p, a) } });
    this.pod = createPodService({ network: node.host, logger: options.logger, serve: (p, id, s) => this.serveDownload(p, id, s), onServed: (b) => (this.stats.bytesServed += b) });
    this.loop = new RoleLoop(() => this.saveStats().then(() => this.step()), options.tickMs ?? 500, options.logger, "lessor");
    this.onChainChallenges = new OnChainChallengeAnswerer({
      chain,
      replicaSource: (dealId, replicaIndex) => this.challenges.sourceFor(dealId, replicaIndex),
      logger: options.logger,
      pollMs: options.challengePollMs,
    });
  }

  static async create(options: LessorOptions): Promise<LessorRole> {
    let role: LessorRole | undefined;
    const { node, chain } = await createNodeAndChain(options, "lessor", {
      acceptUpload: (offer) => role?.acceptUpload(offer) ?? false,
      // Watchers' timed challenges are answered from the SEALED replicas, signed with the chain key (§7).
      challengeResponder: (request, signal) => {
        if (!role) throw new Error("lessor is starting");
        return role.challenges.answer(request, signal);
      },
    });
    role = new LessorRole(options, node, chain);
    return role;
  }

  /** Answers timed challenges on the replicas this lessor proves. */
  readonly challenges: TimedChallengeResponder;
  /** Answers on-chain challenges (§7.2) from the same sealed replicas. */
  readonly onChainChallenges: OnChainChallengeAnswerer;

  get address(): Address {
    return this.chain.address;
  }

  get log() {
    return this.options.logger;
  }

  private get behaviour(): LessorBehaviour {
    return this.options.behaviour ?? honestLessor;
  }

  async start(): Promise<void> {
    await mkdir(this.replicaDir, { recursive: true });
    await this.removeLeftoverCiphertexts();
    this.state = { ...this.state, ...((await this.chain.getState<LessorState>(STATE_KEY)) ?? {}) };
    Object.assign(this.stats, (await this.chain.getState<LessorStats>(STATS_KEY)) ?? {});
    this.savedStats = JSON.stringify(this.stats);
    for (const r of this.replicas().filter((x) => x.stage === "proving")) await this.serveChallenges(r);
    await this.node.start();
    await this.offers.start();
    await this.pod.start();
    this.loop.start();
    this.onChainChallenges.start();
  }

  /** Serves timed challenges on a proving replica (if its file is still there). */
  private async serveChallenges(r: LessorReplica): Promise<void> {
    const p = this.paths(r);
    if (!r.commR || this.challenges.has(hexToBytes(r.commR))) return;
    await this.challenges
      .addSealedFile(p.replica, p.tree, hexToBytes(r.commR), { dealId: r.dealId, replicaIndex: r.replicaIndex })
      .catch((err) => this.log.warn({ err, dealId: r.dealId, replicaIndex: r.replicaIndex }, "lessor: cannot serve challenges on replica"));
  }

  /** Stops the loop, the protocols and the node (the state is already persisted after every change). */
  async stop(): Promise<void> {
    await this.onChainChallenges.stop();
    await this.loop.stop();
    await this.offers.stop();
    await this.pod.stop();
    await this.saveStats().catch((err) => this.log.warn({ err }, "lessor: cannot save its statistics"));
    await this.node.stop();
    await this.challenges.close();
  }

  private savedStats = "";

  /** Writes the statistics when they changed (each loop pass and at stop: a kill -9 loses at most one pass). */
  private async saveStats(): Promise<void> {
    const now = JSON.stringify(this.stats);
    if (now === this.savedStats) return;
    await this.chain.putState(STATS_KEY, this.stats);
    this.savedStats = now;
  }

  replicas(): LessorReplica[] {
    return Object.values(this.state.replicas);
  }

  private async save(): Promise<void> {
    await this.chain.putState(STATE_KEY, this.state);
  }

  private paths(r: { dealId: Hex; replicaIndex: number }) {
    const base = join(this.replicaDir, `${r.dealId.slice(2, 18)}-${r.replicaIndex}`);
    return { data: `${base}.data`, dataTree: `${base}.data.tree`, replica: `${base}.replica`, tree: `${base}.replica.tree` };
  }

  // ------------------------------------------------------------------ offer protocol

  private async quote(_peer: PeerId, request: QuoteRequest): Promise<SignedOffer> {
    const price = this.options.pricePerGiBPerPeriod;
    if (price > request.maxPricePerGiBPerPeriod) throw new ProtocolError(`my price is ${price} wei/GiB/period, above your maximum`, { code: "too-expensive" });
    if (request.size > this.options.capacityBytes - this.usedBytes()) throw new ProtocolError("not enough free capacity", { code: "no-capacity" });
    const collateralPerReplica = ceilDiv(request.size * this.chain.params.collateralPerGiB, GIB);
    const free = await this.chain.publicClient.readContract({ address: this.chain.addresses.registry, abi: lessorRegistryAbi, functionName: "freeStakeOf", args: [this.address] });
    if (free < collateralPerReplica) throw new ProtocolError("not enough free stake for the collateral", { code: "no-stake" });
    const expiry = (await this.chain.latestTimestamp()) + BigInt(OFFER_VALIDITY_SECONDS);
    const terms = { commD: request.commD, size: request.size, replicas: request.replicas, durationPeriods: request.durationPeriods, pricePerGiBPerPeriod: price, collateralPerReplica, expiry };
    const signature = await this.chain.walletClient.signTypedData({
      account: this.chain.walletClient.account,
      domain: offerDomain(this.chain.deployment.chainId, this.chain.addresses.market),
      types: OFFER_TYPES,
      primaryType: "Offer",
      message: offerMessage(terms),
    });
    this.state.offers[request.commD] = { pricePerGiBPerPeriod: price.toString(), expiry: expiry.toString() };
    await this.save();
    return { lessor: this.address, ...terms, signature };
  }

  private async assign(_peer: PeerId, { dealId, replicaIndex }: Assignment): Promise<void> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const deal = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [dealId] }).catch(() => undefined);
    if (!deal || deal.client === "0x0000000000000000000000000000000000000000") throw new ProtocolError(`unknown deal ${dealId}`, { code: "unknown-deal" });
    const offer = this.state.offers[deal.commD.toLowerCase() as Hex];
    if (!offer) throw new ProtocolError(`I made no offer for commD ${deal.commD}`, { code: "no-offer" });
    if (deal.pricePerPeriod < ceilDiv(deal.size * BigInt(offer.pricePerGiBPerPeriod), GIB)) throw new ProtocolError("the deal pays less than my offer", { code: "too-cheap" });
    if (replicaIndex >= deal.replicas) throw new ProtocolError(`replica index ${replicaIndex} >= ${deal.replicas}`, { code: "bad-index" });
    const state = await this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [dealId, BigInt(replicaIndex)] });
    if (state !== ReplicaState.Open && state !== ReplicaState.Failed) throw new ProtocolError(`slot ${replicaIndex} is not open (state ${state})`, { code: "slot-taken" });
    const key = `${dealId}:${replicaIndex}`;
    if (!this.state.replicas[key] || this.state.replicas[key].stage === "gone") {
      this.state.replicas[key] = { dealId, replicaIndex, commD: deal.commD.toLowerCase() as Hex, size: Number(deal.size), stage: "assigned", endPeriod: deal.endPeriod };
      await this.save();
      this.log.info({ dealId, replicaIndex }, "lessor: assigned");
    }
  }

  /** Uploads are accepted only for a root we were assigned and do not hold sealed yet. */
  acceptUpload(offer: UploadOffer): boolean {
    const root = toHex(offer.root).toLowerCase();
    return this.replicas().some((r) => r.stage === "assigned" && r.commD === root && r.size === offer.size);
  }

  private usedBytes(): bigint {
    return this.replicas().filter((r) => r.stage !== "gone").reduce((sum, r) => sum + BigInt(r.size), 0n);
  }

  // ------------------------------------------------------------------ the loop

  private async step(): Promise<void> {
    for (const r of this.replicas()) {
      try {
        await this.advance(r);
      } catch (err) {
        logStepError(this.log, err, { dealId: r.dealId, replicaIndex: r.replicaIndex, stage: r.stage }, "lessor: replica step failed");
      }
    }
    await this.provePeriod();
    await this.advanceDownloads();
  }

  private async advance(r: LessorReplica): Promise<void> {
    const p = this.paths(r);
    if (r.stage === "assigned") {
      if (!this.node.store.info(r.commD)?.complete) return;
      await this.node.store.exportFile(r.commD, p.data);
      const commitment = await commitFile(p.data, { treeCachePath: p.dataTree });
      if (toHex(commitment.root).toLowerCase() !== r.commD) {
        r.stage = "gone";
        r.note = "data does not match commD";
        await this.save();
        return;
      }
      const sealed = await sealFile(p.data, p.replica, replicaId(this.address, r.dealId, r.replicaIndex), { sealRounds: this.chain.params.sealRounds, treeCachePath: p.tree });
      r.commR = toHex(sealed.commR) as Hex;
      r.stage = "sealed";
      await this.save();
      this.log.info({ dealId: r.dealId, replicaIndex: r.replicaIndex, commR: r.commR }, "lessor: sealed");
    }
    if (r.stage === "sealed") {
      try {
        const { fillBlock } = await fillReplica(this.chain, { dealId: r.dealId, replicaIndex: r.replicaIndex, commR: r.commR! });
        r.fillBlock = fillBlock.toString();
        r.stage = "committed";
      } catch (error) {
        if (!(error instanceof MarketActionError) || error.errorName === "Failed" || error.errorName === "NotMined") throw error;
        r.stage = "gone";
        r.note = `fill refused: ${error.errorName}`;
      }
      await this.save();
    }
    if (r.stage === "committed") {
      const fillBlock = BigInt(r.fillBlock!);
      // The seed is blockhash(fill + 1), readable on-chain from block fill + 2; an eth_call at "latest" runs at
      // the latest block's number, so answer once fill + 2 is the latest block.
      if ((await this.chain.publicClient.getBlockNumber({ cacheTime: 0 })) < fillBlock + 2n) return;
      const seed = (await this.chain.publicClient.getBlock({ blockNumber: fillBlock + 1n })).hash;
      const replica = await CommittedFile.open(p.replica, p.tree, { kind: "replica" });
      const data = await CommittedFile.open(p.data, p.dataTree);
      try {
        const proof = await provePoRep({ replica, data, replicaId: replicaId(this.address, r.dealId, r.replicaIndex), seed, challenges: this.chain.params.kPoRep });
        await answerPoRep(this.chain, { dealId: r.dealId, replicaIndex: r.replicaIndex, proof, fillBlock });
      } finally {
        await replica.close();
        await data.close();
      }
      r.stage = "proving";
      await this.save();
      // Only the sealed replica is kept: the unsealed copy and the upload chunks are dropped.
      await rm(p.data, { force: true });
      await rm(p.dataTree, { force: true });
      await this.node.store.remove(r.commD).catch(() => undefined);
      this.log.info({ dealId: r.dealId, replicaIndex: r.replicaIndex }, "lessor: PoRep accepted, proving");
      await this.serveChallenges(r);
      await this.behaviour.afterPoRep({
        dealId: r.dealId,
        replicaIndex: r.replicaIndex,
        replicaPath: p.replica,
        stopServing: () => this.challenges.remove(hexToBytes(r.commR!)),
        logger: this.log,
      });
    }
  }

  /** Once per period: seed if needed, prove every proving replica in one batch, then withdraw earnings. */
  private async provePeriod(): Promise<void> {
    const period = await this.chain.currentPeriod();
    if (Number(period) <= this.state.lastProvenPeriod) return;
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const due: LessorReplica[] = [];
    for (const r of this.replicas().filter((x) => x.stage === "proving")) {
      const [state, onChain, proven] = await Promise.all([
        this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [r.dealId, BigInt(r.replicaIndex)] }),
        this.chain.publicClient.readContract({ ...market, functionName: "getReplica", args: [r.dealId, BigInt(r.replicaIndex)] }),
        this.chain.publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [r.dealId, BigInt(r.replicaIndex), period] }),
      ]);
      if (onChain.lessor.toLowerCase() !== this.address.toLowerCase() || (state !== ReplicaState.Proving && state !== ReplicaState.Finished)) {
        r.stage = "gone";
        r.note = `no longer ours (state ${state})`;
        if (r.commR) await this.challenges.remove(hexToBytes(r.commR));
        await rm(this.paths(r).replica, { force: true });
        continue;
      }
      if (state === ReplicaState.Proving && !proven && BigInt(onChain.firstPeriod) <= period && period < BigInt(r.endPeriod)) due.push(r);
    }
    if (due.length > 0) {
      const seed = await seedPeriod(this.chain, { period });
      const items: (ProvePoStParams & { r: LessorReplica; file: CommittedFile })[] = [];
      for (const r of due) {
        try {
          const file = await CommittedFile.open(this.paths(r).replica, this.paths(r).tree, { kind: "replica" });
          items.push({ r, file, replica: file, replicaId: replicaId(this.address, r.dealId, r.replicaIndex), periodSeed: seed, challenges: this.chain.params.kPoSt });
        } catch (err) {
          this.log.warn({ dealId: r.dealId, replicaIndex: r.replicaIndex, err: (err as Error).message }, "lessor: cannot open replica, skipping its PoSt");
        }
      }
      try {
        if (items.length > 0) {
          const { proof } = await provePoStBatch(items);
          await submitPoSt(this.chain, { period, replicas: items.map((i) => ({ dealId: i.r.dealId, replicaIndex: i.r.replicaIndex })), proof });
          const start = periodStart({ startTime: this.chain.startTime, periodLength: this.chain.params.periodLength }, period);
          this.stats.postSubmissions += 1;
          this.stats.replicasProven += items.length;
          this.stats.lastPoStLatencySeconds = Number((await this.chain.latestTimestamp()) - start);
          this.log.info({ period, replicas: items.length }, "lessor: PoSt submitted");
        }
      } finally {
        await Promise.all(items.map((i) => i.file.close()));
      }
    }
    this.state.lastProvenPeriod = Number(period);
    await this.save();
    await withdraw(this.chain).catch((err) => logStepError(this.log, err, {}, "lessor: withdraw failed"));
  }

  // ------------------------------------------------------------------ PoD

  /** No download is being served before start: every ciphertext left by a crash mid-serve is garbage. */
  private async removeLeftoverCiphertexts(): Promise<void> {
    const leftovers = (await readdir(this.replicaDir)).filter((name) => name.startsWith("pod-") && name.endsWith(".cipher"));
    for (const name of leftovers) await rm(join(this.replicaDir, name), { force: true });
    if (leftovers.length > 0) this.log.info({ removed: leftovers.length }, "lessor: removed ciphertexts left by an unfinished download");
  }

  private async serveDownload(_peer: PeerId, downloadId: Hex, signal: AbortSignal): Promise<PodCipher> {
    const download = await this.chain.publicClient.readContract({ address: this.chain.addresses.downloads, abi: downloadMarketAbi, functionName: "getDownload", args: [downloadId] });
    if (download.lessor.toLowerCase() !== this.address.toLowerCase()) throw new ProtocolError("this download is not addressed to me", { code: "not-mine" });
    if (download.stage !== 1) throw new ProtocolError(`download is in stage ${download.stage}, not Opened`, { code: "wrong-stage" });
    const r = this.state.replicas[`${download.dealId}:${download.replicaIndex}`];
    if (!r || r.stage !== "proving") throw new ProtocolError("I hold no proving replica for this download", { code: "no-replica" });
    const p = this.paths(r);
    const cipherPath = join(this.replicaDir, `pod-${downloadId.slice(2, 18)}.cipher`);
    // The lessor decodes its sealed replica (§4.3) as a stream, checked against commD at the end, and encrypts
    // it block by block: the unsealed data never touches the disk.
    const plaintext = this.behaviour.downloadPlaintext(
      unsealStream(p.replica, replicaId(this.address, r.dealId, r.replicaIndex), { size: r.size, sealRounds: this.chain.params.sealRounds, expectedCommD: r.commD, signal }),
      r.size,
    );
    const key = bytesToHex(randomBytes(32));
    try {
      const cipher = await encryptBlocksForDownload(plaintext, r.size, key, { ciphertextPath: cipherPath, signal });
      // The key is persisted before the commit so a restarted lessor can still reveal it.
      this.state.downloads[downloadId] = { downloadId, key, stage: "committed" };
      await this.save();
      await commitDownload(this.chain, { downloadId, commE: toHex(cipher.commE) as Hex, keyHash: toHex(cipher.keyHash) as Hex });
      // Past the receipt timeout the exchange can only expire: the ciphertext is not kept (or sent) longer.
      return { commE: toHex(cipher.commE) as Hex, path: cipherPath, bytes: cipher.layout.size, lifetimeMs: Number(this.chain.podParams.receiptTimeout) * 1000 };
    } catch (error) {
      await rm(cipherPath, { force: true });
      throw error;
    }
  }

  private async advanceDownloads(): Promise<void> {
    for (const d of Object.values(this.state.downloads)) {
      if (d.stage === "paid") continue;
      const onChain = await this.chain.publicClient.readContract({ address: this.chain.addresses.downloads, abi: downloadMarketAbi, functionName: "getDownload", args: [d.downloadId] });
      try {
        if (onChain.stage === 3) {
          await revealKey(this.chain, { downloadId: d.downloadId, key: d.key });
          d.stage = "revealed";
          this.log.info({ downloadId: d.downloadId }, "lessor: PoD key revealed");
        } else if (onChain.stage === 4 && (await this.chain.latestTimestamp()) > onChain.stageTime + this.chain.podParams.disputeWindow) {
          await claimDownload(this.chain, { downloadId: d.downloadId });
          d.stage = "paid";
          this.log.info({ downloadId: d.downloadId }, "lessor: PoD payment claimed");
        } else if (onChain.stage >= 5) {
          d.stage = "paid";
        }
      } finally {
        await this.save();
      }
      if (d.stage === "paid") await rm(join(this.replicaDir, `pod-${d.downloadId.slice(2, 18)}.cipher`), { force: true });
    }
  }
}
