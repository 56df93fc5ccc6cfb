import { copyFile, mkdir, open, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { recoverTypedDataAddress, type Address, type Hex } from "viem";
import { downloadMarketAbi } from "../chain/abi/downloadMarket.js";
import { lessorRegistryAbi } from "../chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { approveVault } from "../chain/actions/approveVault.js";
import { confirmReceipt } from "../chain/actions/confirmReceipt.js";
import { createDeal } from "../chain/actions/createDeal.js";
import { disputeDownload } from "../chain/actions/disputeDownload.js";
import { getServingLessors } from "../chain/actions/getServingLessors.js";
import { openDownload } from "../chain/actions/openDownload.js";
import type { ChainClient } from "../chain/client.js";
import { CofferChainError } from "../chain/errors.js";
import { encodePeerId } from "../chain/lessor-profile.js";
import type { CofferNode } from "../p2p/node.js";
import { createOfferService, offerDomain, offerMessage, OFFER_TYPES, type OfferService, type SignedOffer } from "../protocols/offer/index.js";
import { createPodService, type PodService } from "../protocols/pod/index.js";
import { CommittedFile, commitFile, type Commitment, decryptDownload, fileLayout, podDisputeProof, podReceiptChallenge, podTileProof, toHex } from "../proofs/index.js";
import { SEGMENT_SIZE } from "../proofs/constants.js";
import { ceilDiv, createNodeAndChain, DownloadStage, GIB, ReplicaState, RoleLoop, type RoleOptions } from "./common.js";

/** The user could not buy, repair or download: `shortMessage` says what to change. */
export class UserRoleError extends CofferChainError {
  override name = "UserRoleError";
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
}

export interface DealReplicaPlan {
  replicaIndex: number;
  lessor: Address;
  peer: string;
}

export interface BoughtDeal {
  dealId: Hex;
  commD: Hex;
  /** The deal's size: the file's, or the minimum size it was padded to with zero bytes (§2.1). */
  size: number;
  /** The file's own length (≤ size); get() hands back this many bytes. */
  dataSize: number;
  pricePerGiBPerPeriod: bigint;
  replicas: DealReplicaPlan[];
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
  /** When the bytes are wrong and this node has no copy, buy one from another replica to dispute (default true). */
  fallbackToOtherReplicas?: boolean;
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
  private deals: Record<Hex, TrackedDeal> = {};
  readonly repairsDone: { dealId: Hex; replicaIndex: number; lessor: Address }[] = [];

  private constructor(readonly options: RoleOptions, readonly node: CofferNode, readonly chain: ChainClient) {
    this.offers = createOfferService({ network: node.host, logger: options.logger });
    this.pod = createPodService({ network: node.host, logger: options.logger });
    this.loop = new RoleLoop(() => this.repairStep(), options.tickMs ?? 1000, options.logger, "user");
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
    await this.chain.putState("user:deals", this.deals, );
  }

  /** Buys a deal for `file` and uploads it to every chosen lessor; returns once every upload completed. */
  async buyDeal(params: BuyDealParameters): Promise<BoughtDeal> {
    const say = params.onProgress ?? (() => undefined);
    const signal = params.signal ?? AbortSignal.timeout(600_000);
    if (!Number.isInteger(params.replicas) || params.replicas < 1 || params.replicas > 10) throw new UserRoleError(`replicas must be 1 to 10, not ${params.replicas}`);
    if (!Number.isInteger(params.durationPeriods) || params.durationPeriods < 1) throw new UserRoleError(`duration must be at least one period, not ${params.durationPeriods}`);
    const dataSize = (await stat(params.file).catch((cause) => { throw new UserRoleError(`cannot read ${params.file}`, { cause }); })).size;
    if (dataSize === 0) throw new UserRoleError(`${params.file} is empty: nothing to store`);
    const { file, size } = await this.padToMinimum(params.file, dataSize, params.durationPeriods);
    if (size > dataSize) say(`${params.file}: ${dataSize} bytes, padded with zeros to the market's minimum of ${size} bytes for ${params.durationPeriods} periods`);
    const info = await this.node.add(file);
    const commitment = await commitFile(file);
    const commD = toHex(commitment.root).toLowerCase() as Hex;
    if (commD !== info.root.toLowerCase()) throw new UserRoleError(`store root ${info.root} differs from commD ${commD}`);
    say(`commD ${commD} (${size} bytes, ${commitment.layout.segmentCount} segments)`);

    const chosen = await this.chooseLessors({ commD, size: BigInt(size), replicas: params.replicas, durationPeriods: params.durationPeriods, maxPrice: params.maxPricePerGiBPerPeriod, count: params.replicas, exclude: [], prefer: params.lessors, signal });
    if (chosen.length < params.replicas) throw new UserRoleError(`only ${chosen.length} of ${params.replicas} lessors offered to store the file at ≤ ${params.maxPricePerGiBPerPeriod} wei/GiB/period: lower the replicas or raise --max-price`);
    const price = chosen.reduce((m, c) => (c.offer.pricePerGiBPerPeriod > m ? c.offer.pricePerGiBPerPeriod : m), 0n);
    const collateral = chosen.reduce((m, c) => (c.offer.collateralPerReplica > m ? c.offer.collateralPerReplica : m), 0n);
    const escrow = BigInt(params.replicas) * BigInt(params.durationPeriods) * ceilDiv(BigInt(size) * price, GIB);
    await approveVault(this.chain, { amount: escrow });
    const deal = await createDeal(this.chain, { commD, size: BigInt(size), replicas: params.replicas, durationPeriods: params.durationPeriods, pricePerGiBPerPeriod: price, collateralPerReplica: collateral });
    say(`deal ${deal.dealId} created: ${params.replicas} replicas, periods [${deal.startPeriod}, ${deal.endPeriod}), ${escrow} wei escrowed`);

    const replicas: DealReplicaPlan[] = chosen.map((c, i) => ({ replicaIndex: i, lessor: c.offer.lessor, peer: c.peer.toString() }));
    this.deals[deal.dealId] = { dealId: deal.dealId, commD, size, dataSize, pricePerGiBPerPeriod: price, replicas, file, excluded: [], repairs: 0 };
    await this.saveDeals();
    await Promise.all(chosen.map((c, i) => this.placeReplica(deal.dealId, commD, i, c.peer, signal, say)));
    return { dealId: deal.dealId, commD, size, dataSize, pricePerGiBPerPeriod: price, replicas };
  }

  /**
   * The deal's data for `file`: the file itself when it reaches the market's minimum size for `durationPeriods`
   * (StorageMarket.minimumSize, §2.1), else a copy padded with zero bytes to that size, kept in the data dir as
   * this user's verified copy (the file's own length is recorded with the deal).
   */
  private async padToMinimum(file: string, dataSize: number, durationPeriods: number): Promise<{ file: string; size: number }> {
    const minimum = Number(await this.chain.publicClient.readContract({ address: this.chain.addresses.market, abi: storageMarketAbi, functionName: "minimumSize", args: [BigInt(durationPeriods)] }));
    if (dataSize >= minimum) return { file, size: dataSize };
    const dir = join(this.options.dataDir, "padded");
    await mkdir(dir, { recursive: true });
    const padded = join(dir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}.bin`);
    await copyFile(file, padded);
    // truncate() past the end extends the file with zero bytes.
    await truncate(padded, minimum);
    return { file: padded, size: minimum };
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
    for (const peer of candidates) {
      if (chosen.length >= q.count) break;
      if (seen.has(peer.toString())) continue;
      seen.add(peer.toString());
      try {
        const lessor = await this.chain.publicClient.readContract({ ...registry, functionName: "lessorByPeerId", args: [encodePeerId(peer)] });
        if (lessor === "0x0000000000000000000000000000000000000000" || q.exclude.some((a) => a.toLowerCase() === lessor.toLowerCase())) continue;
        if (chosen.some((c) => c.offer.lessor.toLowerCase() === lessor.toLowerCase())) continue;
        const info = await this.chain.publicClient.readContract({ ...registry, functionName: "getLessor", args: [lessor] });
        if (info.capacityBytes < q.size || info.pricePerGiBPerEpoch > q.maxPrice) continue;
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
        if (state !== ReplicaState.Failed) continue;
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
        deal.replicas = [...deal.replicas.filter((r) => r.replicaIndex !== i), { replicaIndex: i, lessor: pick.offer.lessor, peer: pick.peer.toString() }];
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
        const { tree } = await this.download(dealId, path, { ...options, replicaIndex: i, fallbackToOtherReplicas: false });
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
    const { result } = await this.download(dealId, outPath, options);
    // A padded deal (§2.1) hands back the file's own bytes: the zeros after them were never the user's.
    const dataSize = this.deals[dealId]?.dataSize;
    if (dataSize !== undefined && dataSize < result.bytes) {
      await truncate(outPath, dataSize);
      return { ...result, bytes: dataSize };
    }
    return result;
  }

  /** get(), also handing back the tree of `outPath` (its root checked to be commD) so callers need not re-hash it. */
  private async download(dealId: Hex, outPath: string, options: GetOptions): Promise<{ result: GetResult; tree: Commitment["tree"] }> {
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
    const info = await this.chain.publicClient.readContract({ address: this.chain.addresses.registry, abi: lessorRegistryAbi, functionName: "getLessor", args: [lessor] });
    const peerText = info.multiaddrs.map((a) => a.split("/p2p/")[1]).find((x) => x);
    if (!peerText) throw new UserRoleError(`lessor ${lessor} registered no /p2p/ multiaddr`);
    for (const addr of info.multiaddrs) await this.node.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    const peer = peerIdFromString(peerText);
    const price = (options.pricePerByte ?? 1n) * deal.size || 1n;
    await approveVault(this.chain, { amount: price });
    const { downloadId } = await openDownload(this.chain, { dealId, replicaIndex: index, price });
    const workDir = join(this.options.dataDir, "downloads");
    await mkdir(workDir, { recursive: true });
    const cipherPath = join(workDir, `${downloadId.slice(2, 18)}.cipher`);
    const layout = fileLayout(Number(deal.size));
    const cipherBytes = layout.segmentCount * 32;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 180_000);
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
      await decryptDownload(cipherPath, download.key, outPath, { size: Number(deal.size) });
      const plain = await commitFile(outPath);
      if (toHex(plain.root).toLowerCase() === deal.commD.toLowerCase()) return { result: { dealId, downloadId, lessor, price, bytes: Number(deal.size), disputed: false }, tree: plain.tree };
      // Wrong bytes: open D[i] against commD from a verified copy (our own, else one bought with PoD from
      // another replica), find a differing segment, dispute on-chain.
      const original =
        (await this.verifiedOriginal(dealId, deal.commD.toLowerCase() as Hex, workDir)) ??
        (options.fallbackToOtherReplicas === false ? undefined : await this.verifiedFromAnotherReplica(dealId, index, deal.replicas, workDir, options));
      if (!original) {
        await rm(outPath, { force: true });
        throw new UserRoleError(`decrypted data does not match commD ${deal.commD} and no verified copy could be had to prove it: nothing was disputed`);
      }
      const data = await CommittedFile.open(original.path, original.tree);
      try {
        const index = await firstDifferingSegment(original.path, outPath, Number(deal.size));
        const proof = await podDisputeProof(cipherFile, data, index);
        await disputeDownload(this.chain, { downloadId, index, proof });
        this.options.logger.warn({ dealId, downloadId, lessor, index }, "user: lessor served wrong bytes, dispute won");
        // Our copy is the right data: hand it out instead of the wrong bytes.
        await copyFile(original.path, outPath);
      } finally {
        await data.close();
        if (original.temporary) await rm(original.path, { force: true });
      }
      // outPath now holds the verified copy's bytes: its tree is the copy's.
      return { result: { dealId, downloadId, lessor, price, bytes: Number(deal.size), disputed: true }, tree: original.tree };
    } finally {
      await cipherFile.close();
      await rm(cipherPath, { force: true });
    }
  }
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

function hexBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new UserRoleError("timed out waiting for the chain", { cause: signal.reason }));
  return new Promise((resolve) => setTimeout(resolve, ms));
}
