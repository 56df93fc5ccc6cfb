import { randomBytes } from "node:crypto";
import { copyFile, mkdir, open, readdir, rename, rm, stat, truncate } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { formatEther, recoverTypedDataAddress, type Address, type Hex } from "viem";
import { downloadMarketAbi } from "../chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { approveVault } from "../chain/actions/approveVault.js";
import { cancelDeal } from "../chain/actions/cancelDeal.js";
import { claimRefund } from "../chain/actions/claimRefund.js";
import { confirmReceipt } from "../chain/actions/confirmReceipt.js";
import { createDeal } from "../chain/actions/createDeal.js";
import { disputeDownload } from "../chain/actions/disputeDownload.js";
import { getLessorEndpoint } from "../chain/actions/getLessorEndpoint.js";
import { getServingLessors } from "../chain/actions/getServingLessors.js";
import { MarketActionError } from "../chain/actions/market-call.js";
import { openDownload } from "../chain/actions/openDownload.js";
import { getProvenCapacity } from "../chain/actions/getProvenCapacity.js";
import { settleReplica } from "../chain/actions/settleReplica.js";
import { withdraw } from "../chain/actions/withdraw.js";
import type { ChainClient } from "../chain/client.js";
import { CofferChainError } from "../chain/errors.js";
import { encodePeerId } from "../chain/lessor-profile.js";
import { checkOutputPath, partialPathFor } from "../download/output-path.js";
import { CofferError } from "../errors.js";
import type { CofferNode } from "../assembly/coffer-node.js";
import { createOfferService, offerDomain, offerMessage, OFFER_TYPES, type OfferService, type SignedOffer } from "../protocols/offer/index.js";
import { createPodService, type PodService } from "../protocols/pod/index.js";
import { CommittedFile, commitFile, type Commitment, decryptDownload, fileLayout, podDisputeProof, podReceiptChallenge, podTileProof, toHex } from "../proofs/index.js";
import { SEGMENT_SIZE } from "../proofs/constants.js";
import { FileCatalog, type CatalogVolume } from "../files/catalog.js";
import { FilesError, VolumeFormatError } from "../files/errors.js";
import { selectEntries, type ManifestEntry } from "../files/manifest.js";
import { packVolume, type PackedVolume } from "../files/pack.js";
import { loadOrCreateFilesSecret } from "../files/secret.js";
import { physicalLengthOf } from "../files/volume-format.js";
import { extractEntries, restoreFile, VolumeReader } from "../files/unpack.js";
import { DealState, DownloadStage, ReplicaState } from "../chain/states.js";
import { ceilDiv, connectToLessor, createNodeAndChain, GIB, RoleLoop, type RoleOptions } from "./common.js";
import { periodStart } from "../chain/periods.js";

/** How long one dial of a lessor's registered multiaddr may take. */
const DIAL_TIMEOUT_MS = 5_000;

/** The user could not buy, repair or download: `shortMessage` says what to change. */
export class UserRoleError extends CofferChainError {
  override name = "UserRoleError";
  static override defaultCode = "refused";
}

export interface BuyDealParameters {
  file: string;
  replicas: number;
  durationPeriods: number;
  /** Highest price accepted, CFR wei per GiB per period. */
  maxPricePerGiBPerPeriod: bigint;
  /** Lessors to ask first (peer ids); default: connected lessors (overlay), then the registry's. */
  lessors?: PeerId[];
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
  /**
   * Encrypt the file into a volume first (default true, docs/protocol.md §13). `false` stores the plaintext as
   * the deal's data: only for tests that compare a lessor's served bytes with the file itself (PoD disputes).
   */
  encrypt?: boolean;
}

export interface PutFilesParameters extends Omit<BuyDealParameters, "file" | "encrypt"> {
  /** Files and folders; each lands in the volume under its own name. */
  paths: string[];
}

export interface PutResult extends BoughtDeal {
  volumeId: string;
  files: number;
  folders: number;
  /** Bytes of the files themselves. */
  bytes: number;
  skipped: { path: string; why: string }[];
}

export interface ListedVolume {
  volumeId: string;
  dealId: Hex;
  commD: Hex;
  size: number;
  files: number;
  bytes: number;
  endPeriod: number;
  /** Chain time (unix seconds) when the deal's last period ends. */
  expiresAt: number;
  dealState: string;
  replicas: { replicaIndex: number; lessor: Address; state: string }[];
}

export interface ListedEntry extends Omit<ManifestEntry, "offset" | "length" | "sha256"> {
  dealId: Hex;
  volumeId: string;
}

export interface GetFilesResult {
  files: number;
  bytes: number;
  volumes: { volumeId: string; dealId: Hex; downloadId: Hex; price: bigint; disputed: boolean }[];
}

export interface DealReplicaPlan {
  replicaIndex: number;
  lessor: Address;
  peer: string;
  /** When a repair placed the slot on this lessor (ms): the slot stays Open until it commits its sector. */
  repairedAt?: number;
}

/** How long a repaired slot may stay Open (the new lessor packing, sealing, committing) before it is re-placed. */
const REPAIR_GRACE_MS = 120_000;

export interface BoughtDeal {
  dealId: Hex;
  commD: Hex;
  /** The deal's size: the file's, or the minimum size it was padded to with zero bytes (§2.1). */
  size: number;
  /** The file's own length (≤ size); get() hands back this many bytes. */
  dataSize: number;
  pricePerGiBPerPeriod: bigint;
  replicas: DealReplicaPlan[];
  /** True when this call continued a deal an earlier, failed buy had created (nothing paid again). */
  resumed?: boolean;
}

/** A buy between "escrow about to be paid" and "every replica uploaded"; persisted so a retry never pays twice. */
interface PendingBuy {
  commD: Hex;
  /** The createDeal transaction's ledger key: a retry after a lost answer finds the same deal. */
  createKey: string;
  dealId?: Hex;
}

interface TrackedDeal extends BoughtDeal {
  file: string;
  /** Lessors that ever lost a replica of this deal: never asked again. */
  excluded: Address[];
  repairs: number;
}

export interface GetOptions {
  /** Download from this replica (default: the first proving one). */
  replicaIndex?: number;
  pricePerByte?: bigint;
  timeoutMs?: number;
  /** Gives the download up (e.g. the CLI's Ctrl-C); its files are removed as on any failure. */
  signal?: AbortSignal;
  /** When the bytes are wrong and this node has no copy, buy one from another replica to dispute (default true). */
  fallbackToOtherReplicas?: boolean;
  /** Overwrite an existing output file (else it is refused before anything is paid). */
  force?: boolean;
}

/** Files of a download under way; persisted so a restart removes what a crash left behind. */
interface DownloadFiles {
  cipherPath: string;
  partialPath: string;
}

export interface GetResult {
  dealId: Hex;
  downloadId: Hex;
  lessor: Address;
  price: bigint;
  bytes: number;
  disputed: boolean;
}

/**
 * A user: buys deals (commD, lessor selection, signed offers, createDeal, upload to every chosen lessor),
 * watches its deals and re-places failed replicas on another lessor, and downloads with PoD.
 */
export class UserRole {
  private readonly offers: OfferService;
  private readonly pod: PodService;
  private readonly loop: RoleLoop;
  /** Volume keys are derived from it (docs/protocol.md §13.1). */
  private filesSecret?: Buffer;
  readonly catalog: FileCatalog;
  private deals: Record<Hex, TrackedDeal> = {};
  private pendingBuys: Record<Hex, PendingBuy> = {};
  /** commDs with a buy running in this process: a second one for the same commD is refused. */
  private readonly buying = new Set<Hex>();
  readonly repairsDone: { dealId: Hex; replicaIndex: number; lessor: Address }[] = [];

  private constructor(readonly options: RoleOptions, readonly node: CofferNode, readonly chain: ChainClient) {
    this.offers = createOfferService({ network: node.host, logger: options.logger });
    this.pod = createPodService({ network: node.host, logger: options.logger });
    this.loop = new RoleLoop(() => this.repairStep(), options.tickMs ?? 1000, options.logger, "user");
    this.catalog = new FileCatalog(chain);
  }

  static async create(options: RoleOptions): Promise<UserRole> {
    const { node, chain } = await createNodeAndChain(options, "user");
    return new UserRole(options, node, chain);
  }

  get address(): Address {
    return this.chain.address;
  }

  async start(): Promise<void> {
    this.deals = (await this.chain.getState<Record<Hex, TrackedDeal>>("user:deals")) ?? {};
    for (const d of Object.values(this.deals)) d.pricePerGiBPerPeriod = BigInt(d.pricePerGiBPerPeriod);
    this.pendingBuys = (await this.chain.getState<Record<Hex, PendingBuy>>("user:buys")) ?? {};
    const { secret, created } = await loadOrCreateFilesSecret(this.options.dataDir);
    if (created) this.options.logger.info("user: no files secret in the data dir (not made by `coffer init --role user`): a random one was created; no phrase can recover these files");
    this.filesSecret = secret;
    await this.catalog.load();
    await this.removeLeftoverDownloadFiles();
    await this.node.start();
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.node.stop();
  }

  /** The deals this user bought (persisted; survives a restart). */
  trackedDeals(): BoughtDeal[] {
    return Object.values(this.deals);
  }

  private async saveDeals(): Promise<void> {
    await this.chain.putState("user:deals", this.deals);
  }

  private async savePendingBuys(): Promise<void> {
    await this.chain.putState("user:buys", this.pendingBuys);
  }

  private get workDir(): string {
    return join(this.options.dataDir, "downloads");
  }

  /** No download runs before start: the files a crashed one left (recorded, or in downloads/) are removed. */
  private async removeLeftoverDownloadFiles(): Promise<void> {
    const recorded = (await this.chain.getState<Record<Hex, DownloadFiles>>("user:downloads")) ?? {};
    const paths = Object.values(recorded).flatMap((f) => [f.cipherPath, f.partialPath]);
    const inWorkDir = await readdir(this.workDir).catch(() => [] as string[]);
    paths.push(...inWorkDir.filter((n) => /\.(cipher|original|verified|volume)$/.test(n)).map((n) => join(this.workDir, n)));
    for (const path of paths) await rm(path, { force: true });
    if (paths.length > 0) this.options.logger.info({ removed: paths.length }, "user: removed files left by an unfinished download");
    await this.chain.putState("user:downloads", {});
  }

  private async recordDownloadFiles(downloadId: Hex, files: DownloadFiles | undefined): Promise<void> {
    const recorded = (await this.chain.getState<Record<Hex, DownloadFiles>>("user:downloads")) ?? {};
    if (files) recorded[downloadId] = files;
    else delete recorded[downloadId];
    await this.chain.putState("user:downloads", recorded);
  }

  /**
   * Buys a deal for `file` and uploads it to every chosen lessor; returns once every upload completed. A
   * commD with a live deal of this user is not bought again: a deal whose uploads did not all complete (an
   * earlier buy failed midway) is continued, a fully placed one is refused with its id.
   */
  async buyDeal(params: BuyDealParameters): Promise<BoughtDeal> {
    const say = params.onProgress ?? (() => undefined);
    const signal = params.signal ?? AbortSignal.timeout(600_000);
    if (!Number.isInteger(params.replicas) || params.replicas < 1 || params.replicas > 10) throw new UserRoleError(`replicas must be 1 to 10, not ${params.replicas}`);
    if (!Number.isInteger(params.durationPeriods) || params.durationPeriods < 1) throw new UserRoleError(`duration must be at least one period, not ${params.durationPeriods}`);
    const dataSize = (await stat(params.file).catch((cause) => { throw new UserRoleError(`cannot read ${params.file}`, { cause }); })).size;
    if (dataSize === 0) throw new UserRoleError(`${params.file} is empty: nothing to store`);
    if (params.encrypt === false) return this.buyData(params.file, dataSize, params, signal, say);
    const volume = await this.pack([params.file], say);
    const put = await this.buyVolume(volume, params, signal, say, true);
    return { ...put, dataSize };
  }

  /**
   * Packs files and folders into one encrypted volume and buys one deal for it (docs/protocol.md §13); the
   * manifest goes into the catalog. A put of unchanged files continues (or refuses) the same deal, as buyDeal does.
   */
  async putFiles(params: PutFilesParameters): Promise<PutResult> {
    const say = params.onProgress ?? (() => undefined);
    const signal = params.signal ?? AbortSignal.timeout(600_000);
    if (!Number.isInteger(params.replicas) || params.replicas < 1 || params.replicas > 10) throw new UserRoleError(`replicas must be 1 to 10, not ${params.replicas}`);
    if (!Number.isInteger(params.durationPeriods) || params.durationPeriods < 1) throw new UserRoleError(`duration must be at least one period, not ${params.durationPeriods}`);
    const volume = await this.pack(params.paths, say);
    return this.buyVolume(volume, { ...params, file: volume.path }, signal, say, false);
  }

  private async pack(paths: string[], say: (line: string) => void): Promise<PackedVolume> {
    if (!this.filesSecret) throw new FilesError("the user role is not started: no files secret loaded", { code: "no-secret" });
    const volume = await packVolume(paths, join(this.options.dataDir, "volumes"), this.filesSecret);
    for (const s of volume.skipped) say(`skipped ${s.path}: ${s.why}`);
    const files = volume.manifest.entries.filter((e) => e.type === "file");
    say(`packed ${files.length} file(s), ${files.reduce((a, e) => a + e.size, 0)} bytes, into encrypted volume ${volume.manifest.volumeId.slice(0, 16)}… (${volume.physicalLength} bytes)`);
    return volume;
  }

  private async buyVolume(volume: PackedVolume, params: BuyDealParameters, signal: AbortSignal, say: (line: string) => void, single: boolean): Promise<PutResult> {
    const deal = await this.buyData(volume.path, volume.physicalLength, { ...params, file: volume.path }, signal, say);
    // The tracked deal keeps the copy it was bought with (padded/ when below the minimum): the volume file is then a duplicate.
    if (this.deals[deal.dealId]?.file !== volume.path) await rm(volume.path, { force: true });
    const entry: CatalogVolume = { volumeId: volume.manifest.volumeId, dealId: deal.dealId, commD: deal.commD, streamLength: volume.streamLength, physicalLength: volume.physicalLength, manifest: volume.manifest, single };
    await this.catalog.put(entry);
    const files = volume.manifest.entries.filter((e) => e.type === "file");
    return { ...deal, volumeId: entry.volumeId, files: files.length, folders: volume.manifest.entries.length - files.length, bytes: files.reduce((a, e) => a + e.size, 0), skipped: volume.skipped };
  }

  /** Buys a deal whose data is `sourceFile` as it is (a volume, or plaintext with encrypt: false). */
  private async buyData(sourceFile: string, dataSize: number, params: BuyDealParameters, signal: AbortSignal, say: (line: string) => void): Promise<BoughtDeal> {
    let { file, size } = await this.padToMinimum(sourceFile, dataSize, params.durationPeriods);
    if (size > dataSize) say(`${sourceFile}: ${dataSize} bytes, padded with zeros to the market's minimum of ${size} bytes for ${params.durationPeriods} periods`);
    const info = await this.node.add(file);
    const commitment = await commitFile(file);
    const commD = toHex(commitment.root).toLowerCase() as Hex;
    if (commD !== info.root.toLowerCase()) throw new UserRoleError(`store root ${info.root} differs from commD ${commD}`);
    say(`commD ${commD} (${size} bytes, ${commitment.layout.segmentCount} segments)`);
    // One padded copy per commD: a resumed buy of the same file replaces it instead of adding another.
    if (file !== sourceFile) {
      const kept = join(this.options.dataDir, "padded", `${commD.slice(2)}.bin`);
      await rename(file, kept);
      file = kept;
    }
    if (this.buying.has(commD)) {
      const dealId = this.pendingBuys[commD]?.dealId;
      throw new UserRoleError(`a buy of commD ${commD}${dealId ? ` (deal ${dealId})` : ""} is already running on this node: wait for it to finish`);
    }
    this.buying.add(commD);
    try {
      const live = await this.liveDealOf(commD);
      if (live) return await this.resumeDeal(live, params, signal, say);
      return await this.createAndPlace(commD, size, { file, dataSize }, params, signal, say);
    } finally {
      this.buying.delete(commD);
    }
  }

  private async createAndPlace(commD: Hex, size: number, data: { file: string; dataSize: number }, params: BuyDealParameters, signal: AbortSignal, say: (line: string) => void): Promise<BoughtDeal> {
    const chosen = await this.chooseLessors({ commD, size: BigInt(size), replicas: params.replicas, durationPeriods: params.durationPeriods, maxPrice: params.maxPricePerGiBPerPeriod, count: params.replicas, exclude: [], prefer: params.lessors, signal });
    if (chosen.length < params.replicas) throw new UserRoleError(`only ${chosen.length} of ${params.replicas} lessors offered to store the file at ≤ ${params.maxPricePerGiBPerPeriod} wei/GiB/period: lower the replicas or raise --max-price`);
    const price = chosen.reduce((m, c) => (c.offer.pricePerGiBPerPeriod > m ? c.offer.pricePerGiBPerPeriod : m), 0n);
    const collateral = chosen.reduce((m, c) => (c.offer.collateralPerReplica > m ? c.offer.collateralPerReplica : m), 0n);
    const escrow = BigInt(params.replicas) * BigInt(params.durationPeriods) * ceilDiv(BigInt(size) * price, GIB);
    // Recorded before paying: if the answer to createDeal is lost, the retry's ledger lookup finds the deal.
    const pending: PendingBuy = this.pendingBuys[commD] ?? { commD, createKey: `createDeal:${commD}:${randomBytes(8).toString("hex")}` };
    this.pendingBuys[commD] = pending;
    await this.savePendingBuys();
    let deal;
    try {
      deal = await this.escrowing(async () => {
        await approveVault(this.chain, { amount: escrow });
        return createDeal(this.chain, { commD, size: BigInt(size), replicas: params.replicas, durationPeriods: params.durationPeriods, pricePerGiBPerPeriod: price, collateralPerReplica: collateral, idempotencyKey: pending.createKey });
      });
    } catch (error) {
      // A refused createDeal paid nothing: the next buy starts afresh. One not mined may still be: keep the key.
      if (!(error instanceof MarketActionError && error.errorName === "NotMined")) {
        delete this.pendingBuys[commD];
        await this.savePendingBuys();
      }
      throw error;
    }
    say(`deal ${deal.dealId} created: ${params.replicas} replicas, periods [${deal.startPeriod}, ${deal.endPeriod}), ${formatCfr(escrow)} escrowed`);
    const replicas: DealReplicaPlan[] = chosen.map((c, i) => ({ replicaIndex: i, lessor: c.offer.lessor, peer: c.peer.toString() }));
    this.deals[deal.dealId] = { dealId: deal.dealId, commD, size, dataSize: data.dataSize, pricePerGiBPerPeriod: price, replicas, file: data.file, excluded: [], repairs: 0 };
    pending.dealId = deal.dealId;
    await this.saveDeals();
    await this.savePendingBuys();
    await this.placeAll(deal.dealId, chosen.map((c, i) => ({ replicaIndex: i, peer: c.peer })), signal, say);
    delete this.pendingBuys[commD];
    await this.savePendingBuys();
    return { dealId: deal.dealId, commD, size, dataSize: data.dataSize, pricePerGiBPerPeriod: price, replicas };
  }

  /**
   * The deal's data for `file`: the file itself when it reaches the market's minimum deal size (minSegments
   * segments, §2.1), else a copy padded with zero bytes to that size, kept in the data dir as
   * this user's verified copy (the file's own length is recorded with the deal).
   */
  private async padToMinimum(file: string, dataSize: number, durationPeriods: number): Promise<{ file: string; size: number }> {
    void durationPeriods;
    const minimum = this.chain.params.minSegments * 32;
    if (dataSize >= minimum) return { file, size: dataSize };
    const dir = join(this.options.dataDir, "padded");
    await mkdir(dir, { recursive: true });
    const padded = join(dir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}.bin`);
    await copyFile(file, padded);
    // truncate() past the end extends the file with zero bytes.
    await truncate(padded, minimum);
    return { file: padded, size: minimum };
  }

  /** This user's tracked deal for commD that is still Pending or Active on-chain. */
  private async liveDealOf(commD: Hex): Promise<TrackedDeal | undefined> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    for (const deal of Object.values(this.deals).filter((d) => d.commD === commD)) {
      const state = await this.chain.publicClient.readContract({ ...market, functionName: "dealState", args: [deal.dealId] });
      if (state === DealState.Pending || state === DealState.Active) return deal;
    }
    return undefined;
  }

  /** Continues a deal an earlier buy created: uploads every replica slot still Open, nothing is paid again. */
  private async resumeDeal(deal: TrackedDeal, params: BuyDealParameters, signal: AbortSignal, say: (line: string) => void): Promise<BoughtDeal> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const onChain = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [deal.dealId] });
    const periods = Number(onChain.endPeriod - onChain.startPeriod);
    if (onChain.replicas !== params.replicas || periods !== params.durationPeriods) {
      throw new UserRoleError(`commD ${deal.commD} already has the live deal ${deal.dealId} (${onChain.replicas} replicas, ${periods} periods): nothing was bought. Run buy-deal with --replicas ${onChain.replicas} --periods ${periods} to continue it, or cancel it first: coffer cancel ${deal.dealId}`);
    }
    const states = await Promise.all(Array.from({ length: onChain.replicas }, (_, i) => this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(i)] })));
    const open = states.flatMap((state, i) => (state === ReplicaState.Open ? [i] : []));
    if (open.length === 0) {
      throw new UserRoleError(`commD ${deal.commD} already has the live deal ${deal.dealId} with every replica placed (${states.map((s) => ReplicaState[s]).join(", ")}): nothing was bought`);
    }
    say(`continuing deal ${deal.dealId} (nothing paid again): replicas ${open.join(", ")} still to upload`);
    const targets: { replicaIndex: number; peer: PeerId }[] = [];
    for (const i of open) {
      const planned = deal.replicas.find((r) => r.replicaIndex === i);
      targets.push({ replicaIndex: i, peer: planned ? peerIdFromString(planned.peer) : await this.replacementFor(deal, i, onChain.replicas, periods, signal) });
    }
    await this.placeAll(deal.dealId, targets, signal, say, async (replicaIndex, failedPeer, error) => {
      // The planned lessor is gone (killed, refusing): the slot goes to another one that offers.
      say(`replica ${replicaIndex}: ${failedPeer.toString().slice(-8)} failed (${(error as Error).message}); choosing another lessor`);
      const failed = deal.replicas.find((r) => r.replicaIndex === replicaIndex);
      if (failed && !deal.excluded.includes(failed.lessor)) deal.excluded.push(failed.lessor);
      return this.replacementFor(deal, replicaIndex, onChain.replicas, periods, signal);
    });
    delete this.pendingBuys[deal.commD];
    await this.savePendingBuys();
    return { dealId: deal.dealId, commD: deal.commD, size: deal.size, dataSize: deal.dataSize ?? deal.size, pricePerGiBPerPeriod: deal.pricePerGiBPerPeriod, replicas: deal.replicas, resumed: true };
  }

  /** A lessor (not holding another slot, never failed here) that offers for slot `replicaIndex` at the deal's price. */
  private async replacementFor(deal: TrackedDeal, replicaIndex: number, replicas: number, durationPeriods: number, signal: AbortSignal): Promise<PeerId> {
    const holders = deal.replicas.filter((r) => r.replicaIndex !== replicaIndex).map((r) => r.lessor);
    const [pick] = await this.chooseLessors({ commD: deal.commD, size: BigInt(deal.size), replicas, durationPeriods, maxPrice: deal.pricePerGiBPerPeriod, count: 1, exclude: [...deal.excluded, ...holders], signal });
    if (!pick) throw new UserRoleError(`deal ${deal.dealId}: no other lessor offers to store replica ${replicaIndex} at the deal's price; run buy-deal again later or cancel it: coffer cancel ${deal.dealId}`);
    deal.replicas = [...deal.replicas.filter((r) => r.replicaIndex !== replicaIndex), { replicaIndex, lessor: pick.offer.lessor, peer: pick.peer.toString() }].sort((a, b) => a.replicaIndex - b.replicaIndex);
    await this.saveDeals();
    return pick.peer;
  }

  /**
   * Uploads every target; the first failure stops the others (nothing keeps running after the caller got
   * its answer) unless `onFailure` names another lessor to try. Throws saying how to resume or cancel.
   */
  private async placeAll(
    dealId: Hex,
    targets: { replicaIndex: number; peer: PeerId }[],
    signal: AbortSignal,
    say: (line: string) => void,
    onFailure?: (replicaIndex: number, peer: PeerId, error: unknown) => Promise<PeerId>,
  ): Promise<void> {
    const commD = this.deals[dealId]!.commD;
    const stopAll = new AbortController();
    const placeSignal = AbortSignal.any([signal, stopAll.signal]);
    const results = await Promise.allSettled(targets.map(async ({ replicaIndex, peer }) => {
      try {
        await this.placeReplica(dealId, commD, replicaIndex, peer, placeSignal, say);
      } catch (error) {
        if (!onFailure || placeSignal.aborted) throw error;
        await this.placeReplica(dealId, commD, replicaIndex, await onFailure(replicaIndex, peer, error), placeSignal, say);
      }
    }).map((p) => p.catch((error: unknown) => { stopAll.abort(); throw error; })));
    const failures = results.flatMap((r, i) => (r.status === "rejected" ? [{ replicaIndex: targets[i]!.replicaIndex, error: r.reason as Error }] : []));
    if (failures.length === 0) return;
    const first = failures.find((f) => !(f.error?.name === "AbortError")) ?? failures[0]!;
    throw new UserRoleError(`deal ${dealId}: the upload of replica ${first.replicaIndex} failed (${first.error?.message ?? first.error}); the escrow is paid and kept: run buy-deal again to continue this deal, or cancel it for a refund: coffer cancel ${dealId}`, { cause: first.error });
  }

  private async placeReplica(dealId: Hex, commD: Hex, replicaIndex: number, peer: PeerId, signal: AbortSignal, say: (line: string) => void): Promise<void> {
    await this.offers.assign(peer, { dealId, replicaIndex }, signal);
    const complete = await this.node.upload.upload(peer, hexBytes(commD), { signal });
    if (!complete) throw new UserRoleError(`upload of replica ${replicaIndex} to ${peer} did not complete`);
    say(`replica ${replicaIndex}: uploaded to ${peer.toString().slice(-8)}`);
  }

  /** Registry-checked, signature-checked offers from distinct lessors, cheapest first. */
  private async chooseLessors(q: { commD: Hex; size: bigint; replicas: number; durationPeriods: number; maxPrice: bigint; count: number; exclude: Address[]; prefer?: PeerId[]; signal: AbortSignal }) {
    const registry = { address: this.chain.addresses.registry, abi: lessorRegistryAbi } as const;
    const candidates: PeerId[] = [...(q.prefer ?? []), ...(await this.node.overlay.selectLessors(q.count * 3))];
    // Registry lessors we are not connected to yet: dial their registered multiaddrs.
    const count = await this.chain.publicClient.readContract({ ...registry, functionName: "lessorCount" });
    const infos = count === 0n ? [] : await this.chain.publicClient.readContract({ ...registry, functionName: "lessorInfosPage", args: [0n, count] });
    for (const info of infos) {
      for (const addr of info.multiaddrs) {
        const id = addr.split("/p2p/")[1];
        if (!id || candidates.some((c) => c.toString() === id)) continue;
        try {
          await this.node.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(5_000) });
          candidates.push(peerIdFromString(id));
        } catch {
          // unreachable lessor: skip it
        }
      }
    }
    const chosen: { peer: PeerId; offer: SignedOffer }[] = [];
    const seen = new Set<string>();
    for (const peer of await this.byProvenCapacity(candidates, q.prefer?.length ?? 0)) {
      if (chosen.length >= q.count) break;
      if (seen.has(peer.toString())) continue;
      seen.add(peer.toString());
      try {
        const lessor = await this.chain.publicClient.readContract({ ...registry, functionName: "lessorByPeerId", args: [encodePeerId(peer)] });
        if (lessor === "0x0000000000000000000000000000000000000000" || q.exclude.some((a) => a.toLowerCase() === lessor.toLowerCase())) continue;
        if (chosen.some((c) => c.offer.lessor.toLowerCase() === lessor.toLowerCase())) continue;
        const info = await this.chain.publicClient.readContract({ ...registry, functionName: "getLessor", args: [lessor] });
        if (info.capacityBytes < q.size || info.pricePerGiBPerPeriod > q.maxPrice) continue;
        const offer = await this.offers.quote(peer, { commD: q.commD, size: q.size, replicas: q.replicas, durationPeriods: q.durationPeriods, maxPricePerGiBPerPeriod: q.maxPrice }, q.signal);
        const signer = await recoverTypedDataAddress({ domain: offerDomain(this.chain.deployment.chainId, this.chain.addresses.market), types: OFFER_TYPES, primaryType: "Offer", message: offerMessage(offer), signature: offer.signature });
        const now = await this.chain.latestTimestamp();
        if (signer.toLowerCase() !== lessor.toLowerCase() || offer.lessor.toLowerCase() !== lessor.toLowerCase()) continue;
        if (offer.commD !== q.commD || offer.size !== q.size || offer.pricePerGiBPerPeriod > q.maxPrice || offer.expiry <= now) continue;
        chosen.push({ peer, offer });
      } catch (err) {
        this.options.logger.debug({ peer: peer.toString(), err: (err as Error).message }, "user: lessor did not offer");
      }
    }
    return chosen;
  }

  /**
   * The candidates after the first `keep` (the caller's preferred ones), ordered by proven capacity, largest
   * first (§12.3): a lessor that proves sealed disk on-chain is preferred to one that only declares it.
   */
  private async byProvenCapacity(candidates: PeerId[], keep: number): Promise<PeerId[]> {
    const registry = { address: this.chain.addresses.registry, abi: lessorRegistryAbi } as const;
    const rest = await Promise.all(
      candidates.slice(keep).map(async (peer, order) => {
        const lessor = await this.chain.publicClient.readContract({ ...registry, functionName: "lessorByPeerId", args: [encodePeerId(peer)] }).catch(() => undefined);
        const proven = lessor ? await getProvenCapacity(this.chain, { lessor, minSectorLog: this.chain.params.minSectorLog }).catch(() => 0n) : 0n;
        return { peer, order, proven };
      }),
    );
    rest.sort((a, b) => (a.proven === b.proven ? a.order - b.order : a.proven > b.proven ? -1 : 1));
    return [...candidates.slice(0, keep), ...rest.map((x) => x.peer)];
  }

  /** Resolves once every replica of `dealId` is Proving (or throws after `timeoutMs`). */
  async waitUntilProving(dealId: Hex, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const deal = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [dealId] });
    for (;;) {
      const states = await Promise.all(Array.from({ length: deal.replicas }, (_, i) => this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [dealId, BigInt(i)] })));
      if (states.every((s) => s === ReplicaState.Proving)) return;
      if (Date.now() > deadline) throw new UserRoleError(`deal ${dealId}: replicas not all proving after ${timeoutMs} ms (states ${states.join(",")})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Re-places every Failed replica of our deals on a lessor that never failed this deal. */
  private async repairStep(): Promise<void> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    for (const deal of Object.values(this.deals)) {
      const onChain = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [deal.dealId] });
      if (BigInt(onChain.endPeriod) <= (await this.chain.currentPeriod()) + 1n) continue;
      for (let i = 0; i < onChain.replicas; i++) {
        const state = await this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(i)] });
        if (state !== ReplicaState.Failed && state !== ReplicaState.Open) continue;
        // Open again after a filling failed and was settled (an expired challenge settles at once: §12.5): a
        // slot never filled has no fill block.
        const slot = await this.chain.publicClient.readContract({ ...market, functionName: "getReplica", args: [deal.dealId, BigInt(i)] });
        if (state === ReplicaState.Open && slot.fillBlock === 0n) continue;
        // Re-placed already and the new lessor is still sealing: give it time.
        const planned = deal.replicas.find((r) => r.replicaIndex === i);
        if (state === ReplicaState.Open && planned?.repairedAt !== undefined && Date.now() - planned.repairedAt < REPAIR_GRACE_MS) continue;
        // A failed filling is settled first (its collateral slashed to us, the slot reopened).
        if (slot.status === 1) {
          try {
            await settleReplica(this.chain, { dealId: deal.dealId, replicaIndex: i, fillBlock: slot.fillBlock });
          } catch (error) {
            // An on-chain challenge of it is still open: settled on a later pass.
            if (error instanceof MarketActionError && error.errorName === "MarketChallengesOpen") continue;
            throw error;
          }
        }
        const failed = deal.replicas.find((r) => r.replicaIndex === i);
        if (failed && !deal.excluded.includes(failed.lessor)) deal.excluded.push(failed.lessor);
        const holders = deal.replicas.filter((r) => r.replicaIndex !== i).map((r) => r.lessor);
        const signal = AbortSignal.timeout(300_000);
        const [pick] = await this.chooseLessors({ commD: deal.commD, size: BigInt(deal.size), replicas: onChain.replicas, durationPeriods: Number(onChain.endPeriod - onChain.startPeriod), maxPrice: deal.pricePerGiBPerPeriod, count: 1, exclude: [...deal.excluded, ...holders], signal });
        if (!pick) {
          this.options.logger.warn({ dealId: deal.dealId, replicaIndex: i }, "user: no lessor to repair the replica yet");
          continue;
        }
        this.options.logger.info({ dealId: deal.dealId, replicaIndex: i, lessor: pick.offer.lessor }, "user: repairing replica");
        await this.placeReplica(deal.dealId, deal.commD, i, pick.peer, signal, () => undefined);
        deal.replicas = [...deal.replicas.filter((r) => r.replicaIndex !== i), { replicaIndex: i, lessor: pick.offer.lessor, peer: pick.peer.toString(), repairedAt: Date.now() }];
        deal.repairs += 1;
        this.repairsDone.push({ dealId: deal.dealId, replicaIndex: i, lessor: pick.offer.lessor });
        await this.saveDeals();
      }
    }
  }

  /**
   * Our own copy of the deal's data with its tree, only if its root is commD: the file we bought the deal
   * with, else the node store's copy (exported to a temporary file).
   */
  private async verifiedOriginal(dealId: Hex, commD: Hex, workDir: string): Promise<{ path: string; tree: Commitment["tree"]; temporary: boolean } | undefined> {
    const candidates: { path: string; temporary: boolean }[] = [];
    const file = this.deals[dealId]?.file;
    if (file) candidates.push({ path: file, temporary: false });
    if (this.node.store.info(commD)?.complete) {
      const exported = join(workDir, `${commD.slice(2, 18)}.original`);
      await this.node.store.exportFile(commD, exported).then(() => candidates.push({ path: exported, temporary: true })).catch(() => undefined);
    }
    for (const candidate of candidates) {
      const commitment = await commitFile(candidate.path).catch(() => undefined);
      if (commitment && toHex(commitment.root).toLowerCase() === commD) return { ...candidate, tree: commitment.tree };
      if (candidate.temporary) await rm(candidate.path, { force: true });
    }
    return undefined;
  }

  /**
   * A verified copy of the deal's data bought with PoD from another proving replica than `badIndex` (for a
   * dispute when this node kept no copy of its own); undefined when no other replica serves the right bytes.
   */
  private async verifiedFromAnotherReplica(dealId: Hex, badIndex: number, replicas: number, workDir: string, options: GetOptions) {
    for (const { replicaIndex: i } of await getServingLessors(this.chain, { dealId, replicas })) {
      if (i === badIndex) continue;
      const path = join(workDir, `${dealId.slice(2, 18)}-${i}.verified`);
      try {
        // download() checked the copy's root against commD: its tree is the verified one, no second hashing.
        const { tree } = await this.download(dealId, path, { ...options, replicaIndex: i, fallbackToOtherReplicas: false, force: true });
        this.options.logger.info({ dealId, replicaIndex: i }, "user: bought a verified copy from another replica for the dispute");
        return { path, tree, temporary: true };
      } catch (error) {
        this.options.logger.warn({ dealId, replicaIndex: i, err: (error as Error).message }, "user: no verified copy from this replica");
        await rm(path, { force: true });
      }
    }
    return undefined;
  }

  /**
   * Downloads deal `dealId` with PoD from a proving replica: openDownload (escrow), receive E over
   * /coffer/pod/1.0.0, check commE, confirmReceipt with the challenged tile, wait for the key, decrypt into
   * `outPath` and check commD; a wrong segment is disputed on-chain (refund + bond).
   */
  async get(dealId: Hex, outPath: string, options: GetOptions = {}): Promise<GetResult> {
    const volume = this.catalog.byDeal(dealId);
    if (volume) {
      const files = volume.manifest.entries.filter((e) => e.type === "file");
      if (!volume.single || files.length !== 1) {
        throw new FilesError(`deal ${dealId} holds a volume of ${files.length} files: get them by path (coffer ls lists them): coffer get <path|folder> <out folder>`, { code: "bad-request" });
      }
      await checkOutputPath(outPath, { force: options.force });
      return this.withVolume(volume, options, async (reader, result) => {
        await restoreFile(reader, files[0]!, outPath, { force: options.force });
        return { ...result, bytes: files[0]!.size };
      });
    }
    const { result } = await this.download(dealId, outPath, options);
    // A padded deal (§2.1) hands back the file's own bytes: the zeros after them were never the user's.
    const dataSize = this.deals[dealId]?.dataSize;
    if (dataSize !== undefined && dataSize < result.bytes) {
      await truncate(outPath, dataSize);
      return { ...result, bytes: dataSize };
    }
    return result;
  }

  /** Downloads a volume with PoD (whole, §8) into the work dir, opens it with this user's key, runs `use`, removes it. */
  private async withVolume<T>(volume: CatalogVolume, options: GetOptions, use: (reader: VolumeReader, result: GetResult) => Promise<T>): Promise<T> {
    await mkdir(this.workDir, { recursive: true });
    const path = join(this.workDir, `${volume.volumeId.slice(0, 16)}-${randomBytes(4).toString("hex")}.volume`);
    try {
      const { result } = await this.download(volume.dealId, path, { ...options, force: true });
      const reader = await VolumeReader.open(path, this.secret());
      try {
        return await use(reader, result);
      } finally {
        await reader.close();
      }
    } finally {
      await rm(path, { force: true });
    }
  }

  private secret(): Buffer {
    if (!this.filesSecret) throw new FilesError("the user role is not started: no files secret loaded", { code: "no-secret" });
    return this.filesSecret;
  }

  /**
   * Restores the files and folders at `selector` (a path as `ls` shows it, a folder, or "" for everything) under
   * `outDir`, keeping their paths below the selector's parent folder (`get photos out` gives `out/photos/...`).
   * Each volume that holds some of them is downloaded whole with PoD, decrypted, and each file's SHA-256 checked.
   */
  async getFiles(selector: string, outDir: string, options: GetOptions = {}): Promise<GetFilesResult> {
    const wanted = this.catalog.list().map((v) => ({ volume: v, entries: selectEntries(v.manifest.entries, selector) })).filter((x) => x.entries.length > 0);
    if (wanted.length === 0) throw new FilesError(`no file or folder ${JSON.stringify(selector)} in this user's volumes: coffer ls lists them`, { code: "not-found" });
    const out = resolve(outDir);
    const parent = await stat(dirname(out)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new FilesError(`the folder ${dirname(out)} does not exist: create it first or choose another output folder`, { code: "output-folder-missing" });
    const existing = await stat(out).catch(() => undefined);
    if (existing && !existing.isDirectory()) throw new FilesError(`${out} is a file: give a folder to restore into`, { code: "output-is-directory" });
    await mkdir(out, { recursive: true });
    const trimmed = selector.replace(/^\/+|\/+$/g, "");
    const stripPrefix = trimmed.includes("/") ? trimmed.slice(0, trimmed.lastIndexOf("/")) : undefined;
    const result: GetFilesResult = { files: 0, bytes: 0, volumes: [] };
    for (const { volume, entries } of wanted) {
      await this.withVolume(volume, options, async (reader, got) => {
        const done = await extractEntries(reader, entries, out, { force: options.force, stripPrefix });
        result.files += done.files;
        result.bytes += done.bytes;
        result.volumes.push({ volumeId: volume.volumeId, dealId: volume.dealId, downloadId: got.downloadId, price: got.price, disputed: got.disputed });
      });
    }
    return result;
  }

  /** The catalog's files and folders, and each volume's deal with its replicas' on-chain states and expiry. */
  async listFiles(): Promise<{ volumes: ListedVolume[]; entries: ListedEntry[] }> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const volumes: ListedVolume[] = [];
    const entries: ListedEntry[] = [];
    for (const v of this.catalog.list()) {
      const deal = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [v.dealId] });
      const dealState = await this.chain.publicClient.readContract({ ...market, functionName: "dealState", args: [v.dealId] });
      const replicas = await Promise.all(Array.from({ length: deal.replicas }, async (_, i) => {
        const [state, replica] = await Promise.all([
          this.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [v.dealId, BigInt(i)] }),
          this.chain.publicClient.readContract({ ...market, functionName: "getReplica", args: [v.dealId, BigInt(i)] }),
        ]);
        return { replicaIndex: i, lessor: replica.lessor, state: ReplicaState[state] ?? String(state) };
      }));
      const files = v.manifest.entries.filter((e) => e.type === "file");
      volumes.push({
        volumeId: v.volumeId,
        dealId: v.dealId,
        commD: v.commD,
        size: Number(deal.size),
        files: files.length,
        bytes: files.reduce((a, e) => a + e.size, 0),
        endPeriod: Number(deal.endPeriod),
        expiresAt: Number(periodStart({ startTime: this.chain.startTime, periodLength: this.chain.params.periodLength }, BigInt(deal.endPeriod))),
        dealState: DealState[dealState] ?? String(dealState),
        replicas,
      });
      for (const e of v.manifest.entries) entries.push({ path: e.path, type: e.type, size: e.size, mtimeMs: e.mtimeMs, dealId: v.dealId, volumeId: v.volumeId });
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { volumes, entries };
  }

  /**
   * After `init --recover` (a data dir with only the keys): finds this address's deals on-chain (DealCreated),
   * downloads each live one's volume with PoD, decrypts its manifest into the catalog and keeps the volume as
   * this node's copy (for repairs and disputes). Deals that are not this user's volumes (plaintext) are skipped.
   */
  async recoverFromChain(onProgress: (line: string) => void = () => undefined): Promise<{ recovered: number; skipped: number; files: number }> {
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const events = await this.chain.publicClient.getContractEvents({ ...market, eventName: "DealCreated", args: { client: this.address }, fromBlock: BigInt(this.chain.deployment.deployedAtBlock ?? 0) });
    let recovered = 0;
    let skipped = 0;
    let files = 0;
    for (const event of events) {
      const dealId = event.args.dealId!.toLowerCase() as Hex;
      if (this.catalog.byDeal(dealId)) continue;
      const state = await this.chain.publicClient.readContract({ ...market, functionName: "dealState", args: [dealId] });
      if (state !== DealState.Active) {
        onProgress(`deal ${dealId}: ${DealState[state]}, nothing to recover`);
        skipped += 1;
        continue;
      }
      await mkdir(this.workDir, { recursive: true });
      const path = join(this.workDir, `${dealId.slice(2, 18)}.volume`);
      try {
        await this.download(dealId, path, { force: true });
        const reader = await VolumeReader.open(path, this.secret()).catch((error: unknown) => {
          if (error instanceof VolumeFormatError) return undefined;
          throw error;
        });
        if (!reader) {
          onProgress(`deal ${dealId}: not a volume of this user's key (a plaintext deal?), skipped`);
          skipped += 1;
          continue;
        }
        let manifest;
        try {
          manifest = await reader.manifest();
        } finally {
          await reader.close();
        }
        const kept = join(this.options.dataDir, "volumes", `${manifest.volumeId}.vol`);
        await mkdir(dirname(kept), { recursive: true });
        await rename(path, kept);
        await this.node.add(kept);
        const commD = event.args.commD!.toLowerCase() as Hex;
        const single = manifest.entries.length === 1 && manifest.entries[0]!.type === "file";
        const { streamLength } = reader.header;
        await this.catalog.put({ volumeId: manifest.volumeId, dealId, commD, streamLength, physicalLength: physicalLengthOf(streamLength), manifest, single });
        const onChain = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [dealId] });
        this.deals[dealId] = { dealId, commD, size: Number(onChain.size), dataSize: Number(onChain.size), pricePerGiBPerPeriod: 0n, replicas: [], file: kept, excluded: [], repairs: 0 };
        await this.saveDeals();
        const n = manifest.entries.filter((e) => e.type === "file").length;
        files += n;
        recovered += 1;
        onProgress(`deal ${dealId}: recovered the manifest of ${n} file(s)`);
      } finally {
        await rm(path, { force: true });
      }
    }
    return { recovered, skipped, files };
  }

  /** get(), also handing back the tree of `outPath` (its root checked to be commD) so callers need not re-hash it. */
  private async download(dealId: Hex, outPath: string, options: GetOptions): Promise<{ result: GetResult; tree: Commitment["tree"] }> {
    // Before anything is paid: a path we could not write would waste the download.
    await checkOutputPath(outPath, { force: options.force });
    const market = { address: this.chain.addresses.market, abi: storageMarketAbi } as const;
    const downloads = { address: this.chain.addresses.downloads, abi: downloadMarketAbi } as const;
    const deal = await this.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [dealId] });
    if (deal.client === "0x0000000000000000000000000000000000000000") throw new UserRoleError(`unknown deal ${dealId}`);
    const serving = await getServingLessors(this.chain, { dealId, replicas: deal.replicas });
    const chosen = options.replicaIndex === undefined ? serving[0] : serving.find((s) => s.replicaIndex === options.replicaIndex);
    if (!chosen) {
      throw new UserRoleError(options.replicaIndex === undefined ? `deal ${dealId} has no proving replica to download from` : `replica ${options.replicaIndex} of deal ${dealId} is not served by any lessor: choose another replica index`);
    }
    const { replicaIndex: index, lessor } = chosen;
    const peer = await connectToLessor(this.node, await getLessorEndpoint(this.chain, { lessor }), DIAL_TIMEOUT_MS);
    const price = (options.pricePerByte ?? 1n) * deal.size || 1n;
    const workDir = this.workDir;
    await mkdir(workDir, { recursive: true });
    const { downloadId } = await this.escrowing(async () => {
      await approveVault(this.chain, { amount: price });
      return openDownload(this.chain, { dealId, replicaIndex: index, price });
    });
    const files: DownloadFiles = { cipherPath: join(workDir, `${downloadId.slice(2, 18)}.cipher`), partialPath: partialPathFor(outPath, downloadId) };
    await this.recordDownloadFiles(downloadId, files);
    try {
      return await this.exchange({ dealId, deal, downloadId, index, lessor, peer, price, outPath, files, options });
    } finally {
      // Success renamed the partial file onto outPath; on failure both files go. Nothing stays behind.
      await rm(files.cipherPath, { force: true });
      await rm(files.partialPath, { force: true });
      await this.recordDownloadFiles(downloadId, undefined);
    }
  }

  /** The PoD exchange of an opened download: receive E, confirm, wait for the key, decrypt, verify (or dispute). */
  private async exchange(x: {
    dealId: Hex;
    deal: { commD: Hex; size: bigint; replicas: number };
    downloadId: Hex;
    index: number;
    lessor: Address;
    peer: PeerId;
    price: bigint;
    outPath: string;
    files: DownloadFiles;
    options: GetOptions;
  }): Promise<{ result: GetResult; tree: Commitment["tree"] }> {
    const { dealId, deal, downloadId, index, lessor, peer, price, outPath, options } = x;
    const { cipherPath, partialPath } = x.files;
    const downloads = { address: this.chain.addresses.downloads, abi: downloadMarketAbi } as const;
    const layout = fileLayout(Number(deal.size));
    const cipherBytes = layout.segmentCount * 32;
    const deadline = AbortSignal.timeout(options.timeoutMs ?? 180_000);
    const timeout = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    await this.pod.receive(peer, downloadId, cipherPath, cipherBytes, timeout);
    const cipherCommit = await commitFile(cipherPath);
    let download = await this.chain.publicClient.readContract({ ...downloads, functionName: "getDownload", args: [downloadId] });
    if (toHex(cipherCommit.root).toLowerCase() !== download.commE.toLowerCase()) throw new UserRoleError(`received ciphertext root ${toHex(cipherCommit.root)} is not the committed commE ${download.commE}`);
    // The receipt challenge is blockhash(commitBlock + 1), readable on-chain from block commitBlock + 2; an
    // eth_call at "latest" runs at the latest block's number, so wait until commitBlock + 2 is the latest.
    while ((await this.chain.publicClient.getBlockNumber({ cacheTime: 0 })) < download.commitBlock + 2n) await sleep(250, timeout);
    const seed = (await this.chain.publicClient.getBlock({ blockNumber: download.commitBlock + 1n })).hash;
    const challenged = podReceiptChallenge(seed, downloadId, layout.segmentCount);
    const cipherFile = await CommittedFile.open(cipherPath, cipherCommit.tree, { kind: "ciphertext" });
    try {
      await confirmReceipt(this.chain, { downloadId, opening: await podTileProof(cipherFile, challenged) });
      while ((download = await this.chain.publicClient.readContract({ ...downloads, functionName: "getDownload", args: [downloadId] })).stage === DownloadStage.Received) await sleep(250, timeout);
      if (download.stage !== DownloadStage.Revealed) throw new UserRoleError(`download ${downloadId} ended in stage ${download.stage} without a key`);
      await decryptDownload(cipherPath, download.key, partialPath, { size: Number(deal.size) });
      const plain = await commitFile(partialPath);
      if (toHex(plain.root).toLowerCase() === deal.commD.toLowerCase()) {
        await rename(partialPath, outPath);
        return { result: { dealId, downloadId, lessor, price, bytes: Number(deal.size), disputed: false }, tree: plain.tree };
      }
      // Wrong bytes: open D[i] against commD from a verified copy (our own, else one bought with PoD from
      // another replica), find a differing segment, dispute on-chain.
      const original =
        (await this.verifiedOriginal(dealId, deal.commD.toLowerCase() as Hex, this.workDir)) ??
        (options.fallbackToOtherReplicas === false ? undefined : await this.verifiedFromAnotherReplica(dealId, index, deal.replicas, this.workDir, options));
      if (!original) throw new UserRoleError(`decrypted data does not match commD ${deal.commD} and no verified copy could be had to prove it: nothing was disputed`);
      const data = await CommittedFile.open(original.path, original.tree);
      try {
        const index = await firstDifferingSegment(original.path, partialPath, Number(deal.size));
        const proof = await podDisputeProof(cipherFile, data, index);
        await disputeDownload(this.chain, { downloadId, index, proof });
        this.options.logger.warn({ dealId, downloadId, lessor, index }, "user: lessor served wrong bytes, dispute won");
        // Our copy is the right data: hand it out instead of the wrong bytes.
        await copyFile(original.path, partialPath);
        await rename(partialPath, outPath);
      } finally {
        await data.close();
        if (original.temporary) await rm(original.path, { force: true });
      }
      // outPath now holds the verified copy's bytes: its tree is the copy's.
      return { result: { dealId, downloadId, lessor, price, bytes: Number(deal.size), disputed: true }, tree: original.tree };
    } finally {
      await cipherFile.close();
    }
  }

  /** Cancels a deal no lessor filled yet; the escrow comes back and is withdrawn to this user's address. */
  async cancelDeal(dealId: Hex): Promise<{ refund: bigint; withdrawn: bigint }> {
    const deal = await this.ownDeal(dealId);
    let refund: bigint;
    try {
      ({ refund } = await cancelDeal(this.chain, { dealId }));
    } catch (error) {
      throw dealRefusal(error, dealId, deal.endPeriod, this.address);
    }
    const withdrawn = (await withdraw(this.chain))?.amount ?? 0n;
    delete this.deals[dealId];
    await this.saveDeals();
    if (this.pendingBuys[deal.commD.toLowerCase() as Hex]?.dealId === dealId) {
      delete this.pendingBuys[deal.commD.toLowerCase() as Hex];
      await this.savePendingBuys();
    }
    this.options.logger.info({ dealId, refund: formatCfr(refund) }, "user: deal cancelled");
    return { refund, withdrawn };
  }

  /** After a deal ended: claims what was not paid to lessors and withdraws it. */
  async claimRefund(dealId: Hex): Promise<{ refund: bigint; withdrawn: bigint }> {
    const deal = await this.ownDeal(dealId);
    let amount: bigint;
    try {
      ({ amount } = await claimRefund(this.chain, { dealId }));
    } catch (error) {
      throw dealRefusal(error, dealId, deal.endPeriod, this.address);
    }
    const withdrawn = (await withdraw(this.chain))?.amount ?? 0n;
    this.options.logger.info({ dealId, refund: formatCfr(amount) }, "user: deal refund claimed");
    return { refund: amount, withdrawn };
  }

  private escrowQueue: Promise<unknown> = Promise.resolve();

  /**
   * Runs an approve + deposit pair alone: the vault's allowance is one number, so two buys or downloads at
   * once would otherwise overwrite each other's approval and one deposit would fail.
   */
  private escrowing<T>(pair: () => Promise<T>): Promise<T> {
    const run = this.escrowQueue.then(pair, pair);
    this.escrowQueue = run.catch(() => undefined);
    return run;
  }

  private async ownDeal(dealId: Hex) {
    // getDeal reverts (MarketUnknownDeal) for an id no one created.
    const deal = await this.chain.publicClient.readContract({ address: this.chain.addresses.market, abi: storageMarketAbi, functionName: "getDeal", args: [dealId] }).catch(() => undefined);
    if (!deal || deal.client === "0x0000000000000000000000000000000000000000") throw new CofferError(`unknown deal ${dealId}`, { code: "not-found" });
    return deal;
  }
}

/** The market's named refusals of cancelDeal / claimRefund, said as what the user can do. */
function dealRefusal(error: unknown, dealId: Hex, endPeriod: number | bigint, me: Address): Error {
  if (!(error instanceof MarketActionError)) return error as Error;
  const said: Record<string, string> = {
    MarketNotDealClient: `deal ${dealId} was not bought by this node's address ${me}: only its client can cancel it`,
    MarketDealAlreadyFilled: `a lessor already stores a replica of deal ${dealId}: it can no longer be cancelled; claim what was not spent once it ends (period ${endPeriod}): coffer refund ${dealId}`,
    MarketDealCancelled: `deal ${dealId} is cancelled: its whole escrow was refunded then`,
    MarketDealNotEnded: `deal ${dealId} runs until period ${endPeriod} (now ${String(error.args[2] ?? "earlier")}): claim its refund after it ends, or cancel it while no lessor stores it`,
    MarketAlreadyRefunded: `deal ${dealId} was already refunded`,
  };
  const message = said[error.errorName];
  return message ? new UserRoleError(message, { cause: error }) : error;
}

/** First 32-byte segment where the two files differ (docs/protocol.md §2: segment i = bytes [32i, 32i+32)). */
async function firstDifferingSegment(a: string, b: string, size: number): Promise<number> {
  const [fa, fb] = await Promise.all([open(a, "r"), open(b, "r")]);
  try {
    const block = 1 << 20;
    const ba = Buffer.alloc(block);
    const bb = Buffer.alloc(block);
    for (let offset = 0; offset < size; offset += block) {
      const length = Math.min(block, size - offset);
      await Promise.all([fa.read(ba, 0, length, offset), fb.read(bb, 0, length, offset)]);
      for (let i = 0; i < length; i++) if (ba[i] !== bb[i]) return Math.floor((offset + i) / SEGMENT_SIZE);
    }
    throw new UserRoleError("the decrypted file equals our copy although its root differs from commD");
  } finally {
    await fa.close();
    await fb.close();
  }
}

function formatCfr(wei: bigint): string {
  return `${formatEther(wei)} CFR`;
}

function hexBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new UserRoleError("timed out waiting for the chain", { cause: signal.reason }));
  return new Promise((resolve) => setTimeout(resolve, ms));
}
