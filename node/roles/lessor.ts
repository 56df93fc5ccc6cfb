import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";
import { downloadMarketAbi } from "../chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { answerPoRep } from "../chain/actions/answerPoRep.js";
import { claimDownload } from "../chain/actions/claimDownload.js";
import { claimEarnings } from "../chain/actions/claimEarnings.js";
import { commitDownload } from "../chain/actions/commitDownload.js";
import { commitSector } from "../chain/actions/commitSector.js";
import { dropSector } from "../chain/actions/dropSector.js";
import { getProvenCapacity } from "../chain/actions/getProvenCapacity.js";
import { MarketActionError } from "../chain/actions/market-call.js";
import { revealKey } from "../chain/actions/revealKey.js";
import { seedPeriod } from "../chain/actions/seedPeriod.js";
import { settleReplica } from "../chain/actions/settleReplica.js";
import { submitPoSt } from "../chain/actions/submitPoSt.js";
import { withdraw } from "../chain/actions/withdraw.js";
import type { ChainClient } from "../chain/client.js";
import type { CofferNode } from "../assembly/coffer-node.js";
import { CofferError } from "../errors.js";
import { ProtocolError } from "../p2p/errors.js";
import { createOfferService, offerDomain, offerMessage, OFFER_TYPES, type Assignment, type OfferService, type QuoteRequest, type SignedOffer } from "../protocols/offer/index.js";
import { OFFER_VALIDITY_SECONDS } from "../protocols/offer/constants.js";
import { createPodService, type PodCipher, type PodService } from "../protocols/pod/index.js";
import type { UploadOffer } from "../protocols/upload/index.js";
import {
  CommittedFile,
  commitFile,
  depthOf,
  encryptBlocksForDownload,
  flattenOpenings,
  lessorPoStChallenges,
  packSectors,
  provePoRep,
  sealFile,
  sectorCommD,
  sectorId,
  toHex,
  unsealStream,
  writeUnsealedSector,
  type PlaintextBlock,
} from "../proofs/index.js";
import { ReplicaState } from "../chain/states.js";
import { ceilDiv, createNodeAndChain, GIB, logStepError, RoleLoop, type RoleOptions } from "./common.js";
import { OnChainChallengeAnswerer, type PieceSource } from "./onchain-challenge-answerer.js";
import { TimedChallengeResponder } from "./timed-challenge-responder.js";
import { periodStart } from "../chain/periods.js";

export interface LessorOptions extends RoleOptions {
  /** Asking price, CFR wei per GiB per period. */
  pricePerGiBPerPeriod: bigint;
  /** Disk offered (bytes). */
  capacityBytes: bigint;
  /** Milliseconds between two polls for on-chain challenges naming this lessor (default 250). */
  challengePollMs?: number;
  /**
   * Periods between two claims of a running piece's earnings (default 30: 15 days of 12 h periods). Each claim
   * is a transaction per piece, so claiming rarely keeps the chain cost per byte low; settlement at the end
   * pays whatever is left.
   */
  claimAfterPeriods?: number;
  /**
   * Empty sectors to keep sealed and proven as proven capacity (PPIO's LPoC, docs/protocol.md §12.3; default
   * 0), each of 2^capacitySectorLog segments (default minSectorLog). One is given up (free) whenever the
   * pieces need its room.
   */
  capacitySectors?: number;
  capacitySectorLog?: number;
  /**
   * Milliseconds a checked piece may wait for others to share its sector (default 0: seal at once). Pieces
   * ready within this delay are packed together; no piece waits longer (docs/protocol.md §12.7).
   */
  sealDelayMs?: number;
  /** What the lessor does where a lessor could cheat (default {@link honestLessor}; tests and the demo inject others). */
  behaviour?: LessorBehaviour;
}

/** A proving sector as {@link LessorBehaviour.afterPoRep} sees it. */
export interface ProvingSector {
  sector: Hex;
  /** The pieces it holds (deal slots). */
  pieces: readonly { dealId: Hex; replicaIndex: number }[];
  /** The sealed sector's file. */
  sectorPath: string;
  /** Stops answering timed and on-chain challenges from this sector (closes its file). */
  stopServing(): Promise<void>;
  logger: Logger;
}

/**
 * The points where a lessor's behaviour can differ from the protocol's. Production lessors run
 * {@link honestLessor}; the dishonest ones the attack tests and the demo use live in
 * scripts/lib/dishonest-lessor.ts.
 */
export interface LessorBehaviour {
  /** Called once a sector's PoRep was accepted and its challenges are served. */
  afterPoRep(sector: ProvingSector): Promise<void>;
  /** The plaintext a PoD download is encrypted from, given the piece's unsealed stream. */
  downloadPlaintext(plaintext: AsyncIterable<PlaintextBlock>, size: number): AsyncIterable<PlaintextBlock>;
}

/** Keeps its sectors and serves the bytes it holds. */
export const honestLessor: LessorBehaviour = {
  afterPoRep: async () => undefined,
  downloadPlaintext: (plaintext) => plaintext,
};

/**
 * Where a piece (a deal slot this lessor took) is in its life, persisted so a restarted lessor resumes; in the
 * chain's words where the chain has one (Committed: in a committed sector, PoRep pending; Proving).
 * "ready": uploaded and checked against commD, waiting for a sector; "sealed": in a sealed, uncommitted sector.
 */
export type PieceStage = "assigned" | "ready" | "sealed" | "committed" | "proving" | "gone";

export interface LessorPiece {
  dealId: Hex;
  replicaIndex: number;
  commD: Hex;
  size: number;
  /** Tree depth of the deal (its piece takes 2^depth segments). */
  depth: number;
  stage: PieceStage;
  /** The sector number holding it (from "sealed" on). */
  sectorNumber?: number;
  /** Segment offset in that sector. */
  offset?: number;
  endPeriod: number;
  /** Set once the lessor settled the piece (paid) or saw it settled. */
  settled?: boolean;
  /** Period of the last claimEarnings (or of the PoRep). */
  claimedAt?: number;
  /** When its upload was checked (ms since the epoch): the sealing delay counts from the oldest ready piece. */
  readyAt?: number;
  note?: string;
}

/** A sector of this lessor: "sealed" (not committed), "committed" (PoRep pending), "proving", "gone". */
export interface LessorSector {
  number: number;
  id: Hex;
  log2Segments: number;
  commR: Hex;
  /** Piece keys in sector order. */
  pieces: string[];
  stage: "sealed" | "committed" | "proving" | "gone";
  commitBlock?: string;
  /** Its sealed file could not be opened for a proof: dropped at the next chance (§12.3). */
  lost?: boolean;
  /** A capacity sector (no pieces: sealed zeros proven as capacity, §12.3). */
  capacity?: boolean;
  /** A capacity sector to give up for room (free). */
  release?: boolean;
  note?: string;
}

interface LessorDownload {
  downloadId: Hex;
  key: Hex;
  stage: "committed" | "revealed" | "paid";
}

interface LessorState {
  pieces: Record<string, LessorPiece>;
  sectors: Record<string, LessorSector>;
  nextSectorNumber: number;
  offers: Record<Hex, { pricePerGiBPerPeriod: string; expiry: string }>;
  downloads: Record<Hex, LessorDownload>;
  lastProvenPeriod: number;
}

export interface LessorStats {
  postSubmissions: number;
  /** Sectors proven, summed over submissions. */
  sectorsProven: number;
  /** Gas of the last PoSt transaction (one per period for all sectors). */
  lastPoStGas?: number;
  bytesServed: number;
  lastPoStLatencySeconds?: number;
}

const STATE_KEY = "lessor";
/** The counters of {@link LessorStats}, persisted so a restarted lessor keeps its served bytes and proof counts. */
const STATS_KEY = "lessor:stats";

/**
 * A lessor: answers quotes and assignments over /coffer/offer/1.0.0, accepts uploads only for deals it
 * agreed to, packs the uploaded pieces into sectors it seals once (docs/protocol.md §12.2), commits each
 * sector and answers its PoRep, proves all its sectors with one PoSt per period (§12.4), serves PoD
 * downloads from its sealed sectors, settles its finished pieces to be paid, and withdraws. Everything it
 * must remember is in its LevelDB.
 */
export class LessorRole {
  readonly stats: LessorStats = { postSubmissions: 0, sectorsProven: 0, bytesServed: 0 };
  private state: LessorState = { pieces: {}, sectors: {}, nextSectorNumber: 0, offers: {}, downloads: {}, lastProvenPeriod: -1 };
  private readonly loop: RoleLoop;
  private readonly offers: OfferService;
  private readonly pod: PodService;
  private readonly sectorDir: string;
  private readonly pieceDir: string;

  private constructor(readonly options: LessorOptions, readonly node: CofferNode, readonly chain: ChainClient) {
    this.sectorDir = join(options.dataDir, "sectors");
    this.pieceDir = join(options.dataDir, "pieces");
    this.challenges = new TimedChallengeResponder({ account: chain.messageSigner(), logger: options.logger });
    this.offers = createOfferService({ network: node.host, logger: options.logger, handlers: { quote: (p, r) => this.quote(p, r), assign: (p, a) => this.assign(p, a) } });
    this.pod = createPodService({ network: node.host, logger: options.logger, serve: (p, id, s) => this.serveDownload(p, id, s), onServed: (b) => (this.stats.bytesServed += b) });
    this.loop = new RoleLoop(() => this.saveStats().then(() => this.step()), options.tickMs ?? 500, options.logger, "lessor");
    this.onChainChallenges = new OnChainChallengeAnswerer({
      chain,
      pieceSource: (dealId, replicaIndex) => this.pieceSource(dealId, replicaIndex),
      logger: options.logger,
      pollMs: options.challengePollMs,
    });
  }

  static async create(options: LessorOptions): Promise<LessorRole> {
    let role: LessorRole | undefined;
    const { node, chain } = await createNodeAndChain(options, "lessor", {
      acceptUpload: (offer) => role?.acceptUpload(offer) ?? false,
      // Watchers' timed challenges are answered from the SEALED sectors, signed with the chain key (§7).
      challengeResponder: (request, signal) => {
        if (!role) throw new Error("lessor is starting");
        return role.challenges.answer(request, signal);
      },
    });
    role = new LessorRole(options, node, chain);
    return role;
  }

  /** Answers timed challenges on the sectors this lessor proves. */
  readonly challenges: TimedChallengeResponder;
  /** Answers on-chain challenges (§7.2) from the same sealed sectors. */
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
    await mkdir(this.sectorDir, { recursive: true });
    await mkdir(this.pieceDir, { recursive: true });
    await this.removeLeftoverCiphertexts();
    this.state = { ...this.state, ...((await this.chain.getState<LessorState>(STATE_KEY)) ?? {}) };
    Object.assign(this.stats, (await this.chain.getState<LessorStats>(STATS_KEY)) ?? {});
    this.savedStats = JSON.stringify(this.stats);
    for (const sector of this.sectors().filter((x) => x.stage === "proving")) await this.serveChallenges(sector);
    await this.node.start();
    await this.offers.start();
    await this.pod.start();
    this.loop.start();
    this.onChainChallenges.start();
  }

  /** Serves timed challenges on a proving sector (if its file is still there). */
  private async serveChallenges(sector: LessorSector): Promise<void> {
    const p = this.sectorPaths(sector.number);
    if (this.challenges.has(hexToBytes(sector.commR))) return;
    await this.challenges
      .addSealedFile(p.sealed, p.sealedTree, hexToBytes(sector.commR), { sector: sector.id })
      .catch((err) => this.log.warn({ err, sector: sector.id }, "lessor: cannot serve challenges on sector"));
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

  /** Bytes the chain counts as this lessor's proven capacity (§12.3). */
  async provenCapacity(): Promise<bigint> {
    return getProvenCapacity(this.chain, { lessor: this.address, minSectorLog: this.chain.params.minSectorLog });
  }

  pieces(): LessorPiece[] {
    return Object.values(this.state.pieces);
  }

  sectors(): LessorSector[] {
    return Object.values(this.state.sectors);
  }

  private async save(): Promise<void> {
    await this.chain.putState(STATE_KEY, this.state);
  }

  private piecePaths(r: { dealId: Hex; replicaIndex: number }) {
    const base = join(this.pieceDir, `${r.dealId.slice(2, 18)}-${r.replicaIndex}`);
    return { data: `${base}.data`, dataTree: `${base}.data.tree` };
  }

  private sectorPaths(sectorNumber: number) {
    const base = join(this.sectorDir, String(sectorNumber));
    return { unsealed: `${base}.unsealed`, unsealedTree: `${base}.unsealed.tree`, sealed: `${base}.sealed`, sealedTree: `${base}.sealed.tree` };
  }

  /** The sealed sector holding piece (dealId, replicaIndex), for on-chain challenge answers (§7.2). */
  private pieceSource(dealId: Hex, replicaIndex: number): PieceSource | undefined {
    const piece = this.state.pieces[`${dealId}:${replicaIndex}`];
    if (!piece || piece.stage !== "proving" || piece.sectorNumber === undefined) return undefined;
    const sector = this.state.sectors[String(piece.sectorNumber)];
    const source = sector && this.challenges.sourceOf(hexToBytes(sector.commR));
    if (!source) return undefined;
    return { source, sector: sector.id, offset: piece.offset!, segments: Math.max(1, Math.ceil(piece.size / 32)) };
  }

  // ------------------------------------------------------------------ offer protocol

  private async quote(_peer: PeerId, request: QuoteRequest): Promise<SignedOffer> {
    const price = this.options.pricePerGiBPerPeriod;
    if (price > request.maxPricePerGiBPerPeriod) throw new ProtocolError(`my price is ${price} wei/GiB/period, above your maximum`, { code: "too-expensive" });
    if (request.size > this.options.capacityBytes - this.usedBytes()) throw new ProtocolError("not enough free capacity", { code: "no-capacity" });
    const depth = depthOf(Math.max(1, Math.ceil(Number(request.size) / 32)));
    if (depth > this.chain.params.maxSectorLog) throw new ProtocolError(`a file of ${request.size} bytes does not fit my largest sector (2^${this.chain.params.maxSectorLog} segments)`, { code: "too-large" });
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
    if (state === ReplicaState.Failed) {
      // Repair: the failed filling is settled first (its lessor slashed, the slot reopened: §12.5).
      const slot = await this.chain.publicClient.readContract({ ...market, functionName: "getReplica", args: [dealId, BigInt(replicaIndex)] });
      if (slot.status === 1) await settleReplica(this.chain, { dealId, replicaIndex, fillBlock: slot.fillBlock });
    }
    const key = `${dealId}:${replicaIndex}`;
    if (!this.state.pieces[key] || this.state.pieces[key].stage === "gone") {
      this.state.pieces[key] = { dealId, replicaIndex, commD: deal.commD.toLowerCase() as Hex, size: Number(deal.size), depth: deal.depth, stage: "assigned", endPeriod: deal.endPeriod };
      await this.save();
      this.log.info({ dealId, replicaIndex }, "lessor: assigned");
    }
  }

  /** Uploads are accepted only for a root we were assigned and do not hold sealed yet. */
  acceptUpload(offer: UploadOffer): boolean {
    const root = toHex(offer.root).toLowerCase();
    return this.pieces().some((r) => r.stage === "assigned" && r.commD === root && r.size === offer.size);
  }

  private usedBytes(): bigint {
    return this.pieces().filter((r) => r.stage !== "gone").reduce((sum, r) => sum + BigInt(r.size), 0n);
  }

  // ------------------------------------------------------------------ the loop

  /**
   * One pass: uploaded pieces are checked, packed and sealed; sealed sectors committed; the period proven
   * (before any PoRep answer, which the proving-set lock would refuse until then: §12.4); PoReps answered;
   * pieces' fates followed on-chain (settled when finished); downloads advanced.
   */
  private async step(): Promise<void> {
    for (const piece of this.pieces().filter((x) => x.stage === "assigned")) {
      await this.checkUpload(piece).catch((err) => logStepError(this.log, err, { dealId: piece.dealId, replicaIndex: piece.replicaIndex }, "lessor: piece check failed"));
    }
    await this.dropIdleSectors().catch((err) => logStepError(this.log, err, {}, "lessor: dropping sectors failed"));
    await this.sealReadyPieces().catch((err) => logStepError(this.log, err, {}, "lessor: sealing failed"));
    for (const sector of this.sectors().filter((x) => x.stage === "sealed")) {
      await this.commit(sector).catch((err) => logStepError(this.log, err, { sector: sector.id }, "lessor: sector commit failed"));
    }
    await this.provePeriod();
    for (const sector of this.sectors().filter((x) => x.stage === "committed")) {
      await this.prove(sector).catch((err) => logStepError(this.log, err, { sector: sector.id }, "lessor: PoRep failed"));
    }
    await this.followPieces().catch((err) => logStepError(this.log, err, {}, "lessor: following pieces failed"));
    await this.advanceDownloads();
  }

  /** An assigned piece whose upload completed is exported and checked against its commD. */
  private async checkUpload(piece: LessorPiece): Promise<void> {
    if (!this.node.store.info(piece.commD)?.complete) return;
    const p = this.piecePaths(piece);
    await this.node.store.exportFile(piece.commD, p.data);
    const commitment = await commitFile(p.data, { treeCachePath: p.dataTree });
    await rm(p.dataTree, { force: true });
    if (toHex(commitment.root).toLowerCase() !== piece.commD) {
      piece.stage = "gone";
      piece.note = "data does not match commD";
      await rm(p.data, { force: true });
    } else {
      piece.stage = "ready";
      piece.readyAt = Date.now();
    }
    await this.save();
  }

  /**
   * Packs every ready piece into sectors (first-fit decreasing, each the smallest allowed size that holds its
   * pieces: §12.2), writes each unsealed sector and seals it with the sector's id as replicaId.
   */
  private async sealReadyPieces(): Promise<void> {
    const ready = this.pieces().filter((x) => x.stage === "ready");
    if (ready.length === 0) return this.sealCapacity();
    // Wait a little for more pieces to share the sector, never longer than sealDelayMs for the oldest.
    const oldest = Math.min(...ready.map((x) => x.readyAt ?? 0));
    if (Date.now() - oldest < (this.options.sealDelayMs ?? 0)) return;
    this.makeRoom(ready.reduce((n, x) => n + (2n ** BigInt(x.depth)) * 32n, 0n));
    const bounds = { minSectorLog: this.chain.params.minSectorLog, maxSectorLog: this.chain.params.maxSectorLog };
    for (const plan of packSectors(ready.map((x) => x.depth), bounds)) {
      const members = plan.order.map((i) => ready[i]);
      const number = this.state.nextSectorNumber++;
      await this.save();
      const id = toHex(sectorId(this.address, number)) as Hex;
      const paths = this.sectorPaths(number);
      const offsets = plan.offsets;
      await writeUnsealedSector(paths.unsealed, plan.log2Segments, members.map((x, i) => ({ path: this.piecePaths(x).data, offset: offsets[i], size: x.size })));
      const expected = sectorCommD(plan.log2Segments, members.map((x) => ({ commD: x.commD, depth: x.depth })));
      const unsealed = await commitFile(paths.unsealed, { treeCachePath: paths.unsealedTree });
      if (toHex(unsealed.root) !== toHex(expected)) throw new CofferError(`sector ${number}: unsealed root differs from the pieces' sector commD`, { code: "sector-commd" });
      const sealed = await sealFile(paths.unsealed, paths.sealed, id, { sealRounds: this.chain.params.sealRounds, treeCachePath: paths.sealedTree });
      const keys = members.map((x) => `${x.dealId}:${x.replicaIndex}`);
      this.state.sectors[String(number)] = { number, id, log2Segments: plan.log2Segments, commR: toHex(sealed.commR) as Hex, pieces: keys, stage: "sealed" };
      members.forEach((x, i) => Object.assign(x, { stage: "sealed", sectorNumber: number, offset: offsets[i] }));
      await this.save();
      // The pieces' data now lives in the unsealed sector (kept until the PoRep).
      for (const x of members) await rm(this.piecePaths(x).data, { force: true });
      this.log.info({ sector: id, number, log2Segments: plan.log2Segments, pieces: members.length }, "lessor: sector sealed");
    }
  }

  /** Disk the lessor's live sectors take (sealed sectors are full size whatever they hold). */
  private sectorBytes(): bigint {
    return this.sectors().filter((x) => x.stage !== "gone" && !x.release).reduce((n, x) => n + (2n ** BigInt(x.log2Segments)) * 32n, 0n);
  }

  /** Gives up capacity sectors (free, §12.3) until `needed` more bytes fit the offered capacity. */
  private makeRoom(needed: bigint): void {
    for (const sector of this.sectors().filter((x) => x.capacity && x.stage === "proving" && !x.release)) {
      if (this.sectorBytes() + needed <= this.options.capacityBytes) return;
      sector.release = true;
      this.log.info({ sector: sector.id }, "lessor: giving up a capacity sector to make room for pieces");
    }
  }

  /** Keeps `capacitySectors` empty sectors sealed and proving while the offered capacity has room. */
  private async sealCapacity(): Promise<void> {
    const wanted = this.options.capacitySectors ?? 0;
    const held = this.sectors().filter((x) => x.capacity && x.stage !== "gone" && !x.release).length;
    if (held >= wanted) return;
    const log2Segments = this.options.capacitySectorLog ?? this.chain.params.minSectorLog;
    if (this.sectorBytes() + (2n ** BigInt(log2Segments)) * 32n > this.options.capacityBytes) return;
    const number = this.state.nextSectorNumber++;
    await this.save();
    const id = toHex(sectorId(this.address, number)) as Hex;
    const paths = this.sectorPaths(number);
    await writeUnsealedSector(paths.unsealed, log2Segments, []);
    await commitFile(paths.unsealed, { treeCachePath: paths.unsealedTree });
    const sealed = await sealFile(paths.unsealed, paths.sealed, id, { sealRounds: this.chain.params.sealRounds, treeCachePath: paths.sealedTree });
    this.state.sectors[String(number)] = { number, id, log2Segments, commR: toHex(sealed.commR) as Hex, pieces: [], stage: "sealed", capacity: true };
    await this.save();
    this.log.info({ sector: id, number, log2Segments }, "lessor: capacity sector sealed");
  }

  /** Commits a sealed sector; a piece the chain refuses goes, the others are sealed again in a new sector. */
  private async commit(sector: LessorSector): Promise<void> {
    const members = sector.pieces.map((k) => this.state.pieces[k]);
    try {
      const { commitBlock } = await commitSector(this.chain, { sectorNumber: BigInt(sector.number), log2Segments: sector.log2Segments, commR: sector.commR, pieces: members });
      sector.commitBlock = commitBlock.toString();
      sector.stage = "committed";
      for (const x of members) x.stage = "committed";
      await this.save();
      this.log.info({ sector: sector.id, pieces: members.length }, "lessor: sector committed");
      return;
    } catch (error) {
      if (!(error instanceof MarketActionError) || error.errorName === "Failed" || error.errorName === "NotMined") throw error;
      const [badDeal, badIndex] = error.args as [Hex | undefined, bigint | undefined];
      const refused = members.find((x) => x.dealId === badDeal && BigInt(x.replicaIndex) === badIndex);
      for (const x of members) {
        if (x === refused || !refused) Object.assign(x, { stage: "gone", note: `commit refused: ${error.errorName}` });
        else await this.restorePiece(sector, x);
      }
      sector.stage = "gone";
      sector.note = `commit refused: ${error.errorName}`;
      await this.save();
      await this.removeSectorFiles(sector.number);
      this.log.warn({ sector: sector.id, error: error.errorName }, "lessor: sector commit refused");
    }
  }

  /** Copies a piece back out of an uncommitted unsealed sector so it can be packed again. */
  private async restorePiece(sector: LessorSector, piece: LessorPiece): Promise<void> {
    const from = this.sectorPaths(sector.number).unsealed;
    const to = this.piecePaths(piece).data;
    const input = await open(from, "r");
    try {
      const output = await open(to, "w");
      try {
        const chunk = Buffer.alloc(1 << 20);
        for (let done = 0; done < piece.size; ) {
          const { bytesRead } = await input.read(chunk, 0, Math.min(chunk.length, piece.size - done), piece.offset! * 32 + done);
          if (bytesRead === 0) break;
          await output.write(chunk, 0, bytesRead, done);
          done += bytesRead;
        }
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
    Object.assign(piece, { stage: "ready", sectorNumber: undefined, offset: undefined });
  }

  private async removeSectorFiles(sectorNumber: number): Promise<void> {
    for (const path of Object.values(this.sectorPaths(sectorNumber))) await rm(path, { force: true });
  }

  /** Answers a committed sector's PoRep; once accepted only the sealed sector is kept. */
  private async prove(sector: LessorSector): Promise<void> {
    const commitBlock = BigInt(sector.commitBlock!);
    // The seed is blockhash(commit + 1), readable on-chain from block commit + 2 (an eth_call at "latest" runs
    // at the latest block's number).
    if ((await this.chain.publicClient.getBlockNumber({ cacheTime: 0 })) < commitBlock + 2n) return;
    const seed = (await this.chain.publicClient.getBlock({ blockNumber: commitBlock + 1n })).hash;
    const paths = this.sectorPaths(sector.number);
    const replica = await CommittedFile.open(paths.sealed, paths.sealedTree, { kind: "replica" });
    const data = await CommittedFile.open(paths.unsealed, paths.unsealedTree);
    try {
      const proof = await provePoRep({ replica, data, replicaId: sector.id, seed, challenges: this.chain.params.kPoRep });
      await answerPoRep(this.chain, { sector: sector.id, proof });
    } catch (error) {
      // Locked until this period is proven (§12.4): the next pass answers.
      if (error instanceof MarketActionError && error.errorName === "MarketProvingSetLocked") return;
      if (error instanceof MarketActionError && (error.errorName === "MarketSectorWrongState")) {
        sector.stage = "gone";
        sector.note = `PoRep refused: ${error.errorName}`;
        for (const k of sector.pieces) Object.assign(this.state.pieces[k], { stage: "gone", note: sector.note });
        await this.save();
        await this.removeSectorFiles(sector.number);
        return;
      }
      throw error;
    } finally {
      await replica.close();
      await data.close();
    }
    sector.stage = "proving";
    for (const k of sector.pieces) this.state.pieces[k].stage = "proving";
    await this.save();
    await rm(paths.unsealed, { force: true });
    await rm(paths.unsealedTree, { force: true });
    for (const k of sector.pieces) await this.node.store.remove(this.state.pieces[k].commD).catch(() => undefined);
    this.log.info({ sector: sector.id, pieces: sector.pieces.length }, "lessor: PoRep accepted, proving");
    await this.serveChallenges(sector);
    await this.behaviour.afterPoRep({
      sector: sector.id,
      pieces: sector.pieces.map((k) => ({ dealId: this.state.pieces[k].dealId, replicaIndex: this.state.pieces[k].replicaIndex })),
      sectorPath: paths.sealed,
      stopServing: () => this.challenges.remove(hexToBytes(sector.commR)),
      logger: this.log,
    });
  }

  /** Once per period: seed if needed, open the period's kPoSt challenges over all proving sectors, submit. */
  private async provePeriod(): Promise<void> {
    const period = await this.chain.currentPeriod();
    if (Number(period) <= this.state.lastProvenPeriod) return;
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const counts = await this.chain.publicClient.readContract({ ...market, functionName: "provingCounts", args: [this.address] });
    if (counts > 0n) {
      const proven = await this.chain.publicClient.readContract({ ...market, functionName: "isPeriodProven", args: [this.address, period] });
      // A failed submission is retried on the next pass while the period lasts.
      if (!proven && !(await this.submitPeriod(period, counts))) return;
    }
    this.state.lastProvenPeriod = Number(period);
    await this.save();
    await withdraw(this.chain).catch((err) => logStepError(this.log, err, {}, "lessor: withdraw failed"));
  }

  /** Proves the period; false when it could not (logged; the caller retries). */
  private async submitPeriod(period: bigint, counts: bigint): Promise<boolean> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const seed = await seedPeriod(this.chain, { period });
    const challenges = lessorPoStChallenges(seed, this.address, this.chain.params.kPoSt, counts, this.chain.params.minSectorLog);
    const byId = new Map(this.sectors().map((x) => [x.id.toLowerCase(), x]));
    const files = new Map<string, CommittedFile>();
    const proof: Hex[] = [];
    try {
      for (const c of challenges) {
        const id = (await this.chain.publicClient.readContract({ ...market, functionName: "provingSectorAt", args: [this.address, c.log2Segments, BigInt(c.index)] })).toLowerCase();
        const sector = byId.get(id);
        if (!sector) throw new CofferError(`period ${period}: challenged sector ${id} is not one of mine`, { code: "unknown-sector" });
        let file = files.get(id);
        if (!file) {
          const paths = this.sectorPaths(sector.number);
          file = await CommittedFile.open(paths.sealed, paths.sealedTree, { kind: "replica" }).catch(async (error: unknown) => {
            // The sector is lost (disk, deletion): declare it (dropSector, in the next window) rather than miss
            // every period of every other sector.
            if (!sector.lost) this.log.error({ sector: sector.id, err: (error as Error).message }, "lessor: a proving sector is lost; it will be dropped");
            sector.lost = true;
            await this.save();
            throw error;
          });
          files.set(id, file);
        }
        proof.push(...flattenOpenings(await file.openSegments([c.offset])));
      }
      const hash = await submitPoSt(this.chain, { period, proof });
      const receipt = await this.chain.publicClient.getTransactionReceipt({ hash }).catch(() => undefined);
      const start = periodStart({ startTime: this.chain.startTime, periodLength: this.chain.params.periodLength }, period);
      this.stats.postSubmissions += 1;
      this.stats.sectorsProven += this.sectors().filter((x) => x.stage === "proving").length;
      if (receipt) this.stats.lastPoStGas = Number(receipt.gasUsed);
      this.stats.lastPoStLatencySeconds = Number((await this.chain.latestTimestamp()) - start);
      this.log.info({ period, sectors: files.size, challenges: challenges.length, gas: this.stats.lastPoStGas }, "lessor: PoSt submitted");
      return true;
    } catch (err) {
      // A lost sector fails the whole period (the lessor misses it, §12.5): no retry until it is dropped.
      if (this.sectors().some((x) => x.lost && x.stage === "proving")) return true;
      logStepError(this.log, err, { period }, "lessor: PoSt not submitted");
      return false;
    } finally {
      await Promise.all([...files.values()].map((f) => f.close()));
    }
  }

  /**
   * Drops every proving sector that is lost or has no live piece, while the proving set may change (§12.4):
   * run first in a pass, before this lessor requests the period's seed, so a lost sector is declared before
   * it would cost the period of every other sector.
   */
  private async dropIdleSectors(): Promise<void> {
    for (const sector of this.sectors().filter((x) => x.stage === "proving")) {
      if (!sector.lost && sector.pieces.some((k) => this.state.pieces[k]?.stage === "proving")) continue;
      if (sector.capacity && !sector.release && !sector.lost) continue;
      // Nothing left to prove for anyone: give the sector up (free) while the proving set may change.
      try {
        await dropSector(this.chain, { sector: sector.id });
      } catch (error) {
        if (error instanceof MarketActionError && error.errorName === "MarketProvingSetLocked") continue;
        throw error;
      }
      sector.stage = "gone";
      for (const k of sector.pieces) if (this.state.pieces[k]?.stage === "proving") Object.assign(this.state.pieces[k], { stage: "gone", note: "sector lost and dropped" });
      await this.challenges.remove(hexToBytes(sector.commR));
      await this.removeSectorFiles(sector.number);
      this.log.info({ sector: sector.id, lost: sector.lost === true }, sector.lost ? "lessor: lost sector dropped (its running pieces fail)" : "lessor: sector dropped (no live pieces)");
    }
    await this.save();
  }

  /**
   * Follows each committed or proving piece on-chain: a piece whose deal ended is settled (the lessor is
   * paid); a running one has its earnings claimed every claimAfterPeriods; one no longer ours is forgotten.
   */
  private async followPieces(): Promise<void> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    for (const piece of this.pieces().filter((x) => x.stage === "committed" || x.stage === "proving")) {
      const [state, onChain] = await Promise.all([
        this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [piece.dealId, BigInt(piece.replicaIndex)] }),
        this.chain.publicClient.readContract({ ...market, functionName: "getReplica", args: [piece.dealId, BigInt(piece.replicaIndex)] }),
      ]);
      const sector = this.state.sectors[String(piece.sectorNumber)];
      const ours = onChain.lessor.toLowerCase() === this.address.toLowerCase() && onChain.sector.toLowerCase() === sector?.id.toLowerCase();
      if (ours && state === ReplicaState.Finished && onChain.status === 1) {
        try {
          await settleReplica(this.chain, { dealId: piece.dealId, replicaIndex: piece.replicaIndex, fillBlock: onChain.fillBlock });
        } catch (error) {
          if (!(error instanceof MarketActionError) || error.errorName !== "MarketChallengesOpen") throw error;
          continue;
        }
        Object.assign(piece, { stage: "gone", settled: true, note: "finished and settled" });
        this.log.info({ dealId: piece.dealId, replicaIndex: piece.replicaIndex }, "lessor: piece finished and settled");
      } else if (ours && state === ReplicaState.Proving) {
        const period = Number(await this.chain.currentPeriod());
        piece.claimedAt ??= period;
        if (period - piece.claimedAt < (this.options.claimAfterPeriods ?? 30)) continue;
        await claimEarnings(this.chain, { dealId: piece.dealId, replicaIndex: piece.replicaIndex, period: BigInt(period) });
        piece.claimedAt = period;
      } else if (!ours || state === ReplicaState.Finished || state === ReplicaState.Failed || state === ReplicaState.Open) {
        Object.assign(piece, { stage: "gone", note: `no longer proving (state ${state})` });
        this.log.warn({ dealId: piece.dealId, replicaIndex: piece.replicaIndex, state }, "lessor: piece no longer proving");
      }
    }
    await this.save();
  }

  // ------------------------------------------------------------------ PoD

  /** No download is being served before start: every ciphertext left by a crash mid-serve is garbage. */
  private async removeLeftoverCiphertexts(): Promise<void> {
    const leftovers = (await readdir(this.sectorDir)).filter((name) => name.startsWith("pod-") && name.endsWith(".cipher"));
    for (const name of leftovers) await rm(join(this.sectorDir, name), { force: true });
    if (leftovers.length > 0) this.log.info({ removed: leftovers.length }, "lessor: removed ciphertexts left by an unfinished download");
  }

  private async serveDownload(_peer: PeerId, downloadId: Hex, signal: AbortSignal): Promise<PodCipher> {
    const download = await this.chain.publicClient.readContract({ address: this.chain.addresses.downloads, abi: downloadMarketAbi, functionName: "getDownload", args: [downloadId] });
    if (download.lessor.toLowerCase() !== this.address.toLowerCase()) throw new ProtocolError("this download is not addressed to me", { code: "not-mine" });
    if (download.stage !== 1) throw new ProtocolError(`download is in stage ${download.stage}, not Opened`, { code: "wrong-stage" });
    const piece = this.state.pieces[`${download.dealId}:${download.replicaIndex}`];
    if (!piece || piece.stage !== "proving") throw new ProtocolError("I hold no proving replica for this download", { code: "no-replica" });
    const sector = this.state.sectors[String(piece.sectorNumber)];
    const cipherPath = join(this.sectorDir, `pod-${downloadId.slice(2, 18)}.cipher`);
    // The lessor decodes the piece's range of its sealed sector (§4.3) as a stream, checked against the
    // piece's commD at the end, and encrypts it block by block: the unsealed data never touches the disk.
    const plaintext = this.behaviour.downloadPlaintext(
      unsealStream(this.sectorPaths(sector.number).sealed, sector.id, { size: piece.size, offset: piece.offset, sealRounds: this.chain.params.sealRounds, expectedCommD: piece.commD, signal }),
      piece.size,
    );
    const key = bytesToHex(randomBytes(32));
    try {
      const cipher = await encryptBlocksForDownload(plaintext, piece.size, key, { ciphertextPath: cipherPath, signal });
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
      if (d.stage === "paid") await rm(join(this.sectorDir, `pod-${d.downloadId.slice(2, 18)}.cipher`), { force: true });
    }
  }
}
