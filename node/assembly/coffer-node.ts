import type { PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { pino, type Logger } from "pino";
import { Choker } from "../download/choker.js";
import { SuperSeeder } from "../protocols/super-seed.js";
import { Downloader, type DownloadOptions } from "../download/downloader.js";
import { Overlay, type OverlayOptions } from "../overlay/overlay.js";
import { createChallengeService, type ChallengeResponder, type ChallengeService } from "../protocols/challenge/index.js";
import { storeSegmentResponder } from "../protocols/challenge/store-responder.js";
import { createFetchService, type FetchService } from "../protocols/fetch/index.js";
import { createHaveService, type HaveService } from "../protocols/have/index.js";
import { createNeighboursService, type NeighboursService } from "../protocols/neighbours/index.js";
import { createProbeService, type ProbeService } from "../protocols/probe/index.js";
import { createUploadService, type UploadOffer, type UploadProgress, type UploadService } from "../protocols/upload/index.js";
import { ChunkStore, type ChunkStoreOptions, type StoredFileInfo } from "../store/chunk-store.js";
import { openDatabase, type Database } from "../store/database.js";
import { CofferError } from "../errors.js";
import { toHex } from "../proofs/words.js";
import { createHost, type CofferHost, type HostOptions, type Role } from "../p2p/host.js";
import { loadOrCreatePeerKey } from "../p2p/identity.js";
import { startAll, stopAll, type Startable } from "../p2p/startable.js";
import { Throttle } from "../p2p/throttle.js";

export interface CofferNodeOptions {
  dataDir: string;
  role: Role;
  listen?: string[];
  bootstrap?: string[];
  allowPrivateAddresses?: boolean;
  /** Cap on what this node uploads, bytes/s (default unlimited). */
  uploadLimit?: number;
  /** Which uploads this node accepts (default: every upload on a lessor, none elsewhere; LessorRole accepts only its assigned deals). */
  acceptUpload?: (offer: UploadOffer) => boolean | Promise<boolean>;
  /** Timed-challenge answers (default: open segments of stored files against commD). */
  challengeResponder?: ChallengeResponder;
  /** Super-seed: while some chunks of a file were never uploaded, advertise and serve only those. */
  superSeed?: boolean;
  /** Tit-for-tat choking of fetch requests (default: on for users, off for lessors). */
  choking?: boolean;
  overlay?: OverlayOptions & { enabled?: boolean };
  /** Restart downloads of partially held files in the background at start (the CLI daemon does). */
  resumeIncomplete?: boolean;
  /** Re-hash stored chunks at start (default true). */
  verifyOnOpen?: boolean;
  /** The store's disk dependencies (tests inject a failing fdatasync; a smaller pool of open data files). */
  store?: Pick<ChunkStoreOptions, "syncData" | "maxOpenFiles">;
  hostLimits?: HostOptions["limits"];
  noiseCrypto?: HostOptions["noiseCrypto"];
  logger?: Logger;
}

/** The DHT key of a root: a CIDv1 (raw codec) whose sha2-256 multihash digest is commD. */
export function rootToCid(root: Uint8Array): CID {
  return CID.createV1(0x55, Digest.create(0x12, root));
}

/** Where a node a person starts listens (`coffer start`, `coffer init`): every interface, the well-known port. */
export const DEFAULT_LISTEN: readonly string[] = ["/ip4/0.0.0.0/tcp/4001"];
/** Where an embedded node (the demo, tests, a library user) listens unless told: loopback, a free port. */
export const EMBEDDED_LISTEN: readonly string[] = ["/ip4/127.0.0.1/tcp/0"];

/**
 * A Coffer p2p node: persistent identity and store in `dataDir`, a libp2p host, the /coffer/* protocols,
 * the multi-source downloader and the overlay. `await CofferNode.create(opts)` then `start()` / `stop()`.
 */
export class CofferNode {
  readonly uploadThrottle: Throttle;
  readonly fetch: FetchService;
  readonly have: HaveService;
  readonly upload: UploadService;
  readonly neighbours: NeighboursService;
  readonly challenge: ChallengeService;
  readonly probe: ProbeService;
  readonly downloader: Downloader;
  readonly overlay: Overlay;
  readonly choker: Choker | undefined;
  /** Set when the node super-seeds (options.superSeed): which chunks went out already. */
  readonly superSeeder: SuperSeeder | undefined;
  /** What start() starts, in order (stop() stops them in reverse): the protocols, then the choker and the overlay. */
  private readonly services: readonly Startable[];
  private started = false;

  private constructor(
    readonly options: CofferNodeOptions,
    readonly host: CofferHost,
    readonly db: Database,
    readonly store: ChunkStore,
    readonly logger: Logger,
  ) {
    const network = host;
    this.uploadThrottle = new Throttle(options.uploadLimit ?? Infinity);
    const choking = options.choking ?? options.role === "user";
    this.choker = choking ? new Choker() : undefined;
    const superSeeder = (this.superSeeder = options.superSeed ? new SuperSeeder() : undefined);
    this.fetch = createFetchService({ network, store, logger, superSeeder, throttle: this.uploadThrottle, isUnchoked: this.choker ? (p) => this.choker!.isUnchoked(p) : undefined });
    this.have = createHaveService({ network, store, logger, superSeeder });
    this.upload = createUploadService({
      network,
      store,
      logger,
      throttle: this.uploadThrottle,
      acceptUpload: options.acceptUpload ?? (() => options.role === "lessor"),
      onStored: (root) => this.announce(root),
    });
    this.probe = createProbeService({ network, throttle: this.uploadThrottle, logger });
    // The neighbours service reads the overlay lazily; the overlay queries peers through the service.
    this.neighbours = createNeighboursService({ network, logger, listNeighbours: () => this.overlay.neighbourRecords() });
    this.overlay = new Overlay({ host, neighbours: this.neighbours, probe: this.probe, db, logger }, options.overlay);
    this.challenge = createChallengeService({ network, logger, responder: options.challengeResponder ?? storeSegmentResponder(store) });
    this.downloader = new Downloader({
      store,
      fetch: this.fetch,
      have: this.have,
      self: host.peerId,
      findProviders: (root, signal) => this.findProviders(root, signal),
      knownPeers: () => host.getConnections().map((c) => c.remotePeer),
      announce: (root) => this.announce(root),
      onReceived: this.choker ? (peer, bytes) => this.choker!.recordReceived(peer, bytes) : undefined,
      logger,
    });
    this.services = [
      this.fetch,
      this.have,
      this.neighbours,
      this.challenge,
      this.probe,
      ...(options.role === "lessor" ? [this.upload] : []),
      ...(this.choker ? [this.choker] : []),
      ...(options.overlay?.enabled !== false ? [this.overlay] : []),
    ];
  }

  static async create(options: CofferNodeOptions): Promise<CofferNode> {
    const logger = options.logger ?? pino({ level: process.env.COFFER_LOG ?? "warn" });
    const privateKey = await loadOrCreatePeerKey(options.dataDir);
    const db = await openDatabase(options.dataDir);
    try {
      const store = await ChunkStore.open(db, options.dataDir, { ...options.store, logger, verifyOnOpen: options.verifyOnOpen });
      const host = await createHost({
        privateKey,
        role: options.role,
        listen: options.listen ?? [...EMBEDDED_LISTEN],
        bootstrap: options.bootstrap,
        allowPrivateAddresses: options.allowPrivateAddresses,
        limits: options.hostLimits,
        noiseCrypto: options.noiseCrypto,
      });
      return new CofferNode(options, host, db, store, logger);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  get peerId(): PeerId {
    return this.host.peerId;
  }

  get role(): Role {
    return this.options.role;
  }

  addresses(): string[] {
    return this.host.getMultiaddrs().map(String);
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.host.start();
    await startAll(this.services);
    this.started = true;
    await Promise.all((this.options.bootstrap ?? []).map((addr) => this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) }).catch((err) => this.logger.warn({ addr, err: (err as Error).message }, "bootstrap dial failed"))));
    for (const root of this.store.roots()) if (this.store.info(root)?.complete) this.announce(hexToRoot(root));
    if (this.options.resumeIncomplete) {
      for (const root of this.store.roots()) {
        if (this.store.info(root)?.complete) continue;
        this.downloader.download(hexToRoot(root), { signal: this.stopSignal() })
          .then(() => this.logger.info({ root }, "resumed download complete"))
          .catch((err) => this.logger.warn({ root, err: (err as Error).message }, "resumed download failed"));
      }
    }
  }

  private stopController = new AbortController();
  private stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    if (this.started) {
      await stopAll(this.services, (err) => this.logger.debug({ err }, "a service failed to stop"));
      await this.host.stop();
      this.started = false;
    }
    await this.store.close();
    await this.db.close();
  }

  /** Announces in the DHT that we hold `root` (fire and forget). */
  announce(root: Uint8Array): void {
    this.host.contentRouting.provide(rootToCid(root), { signal: AbortSignal.timeout(30_000) })
      .catch((err) => this.logger.debug({ root: toHex(root), err: (err as Error).message }, "provide failed"));
  }

  async findProviders(root: Uint8Array, signal: AbortSignal): Promise<PeerId[]> {
    const found: PeerId[] = [];
    try {
      for await (const info of this.host.contentRouting.findProviders(rootToCid(root), { signal })) {
        if (!info.id.equals(this.peerId)) {
          if (info.multiaddrs.length > 0) await this.host.peerStore.merge(info.id, { multiaddrs: info.multiaddrs }).catch(() => undefined);
          found.push(info.id);
        }
        if (found.length >= 20) break;
      }
    } catch (error) {
      if (found.length === 0 && !signal.aborted) this.logger.debug({ err: (error as Error).message }, "findProviders failed");
    }
    return found;
  }

  /** Imports a local file into the store and announces it. */
  async add(path: string): Promise<StoredFileInfo> {
    const info = await this.store.importFile(path);
    this.announce(hexToRoot(info.root));
    return info;
  }

  /**
   * Adds a file and pushes it to `copies` lessors (overlay.selectLessors unless `lessors` is given).
   * Returns the root and the lessors that confirmed a complete copy.
   */
  async put(path: string, options: { copies?: number; lessors?: PeerId[]; signal?: AbortSignal; onProgress?: (peer: string, p: UploadProgress) => void } = {}): Promise<{ info: StoredFileInfo; storedOn: string[]; failed: Record<string, string> }> {
    const info = await this.add(path);
    const root = hexToRoot(info.root);
    const lessors = options.lessors ?? await this.overlay.selectLessors(options.copies ?? 1);
    if (lessors.length === 0) throw new CofferError("no lessors known to store the file", { code: "no-lessors", details: "connect to a lessor (start --bootstrap <multiaddr>)" });
    const storedOn: string[] = [];
    const failed: Record<string, string> = {};
    await Promise.all(lessors.map(async (peer) => {
      try {
        const ok = await this.upload.upload(peer, root, { signal: options.signal ?? AbortSignal.timeout(3_600_000), onProgress: (p) => options.onProgress?.(peer.toString(), p) });
        if (ok) storedOn.push(peer.toString());
        else failed[peer.toString()] = "incomplete";
      } catch (error) {
        failed[peer.toString()] = error instanceof CofferError ? error.shortMessage : (error as Error).message;
      }
    }));
    return { info, storedOn, failed };
  }

  /** Downloads `root` from every source that has it; `out` (optional) receives the file. */
  async get(root: Uint8Array, out?: string, options: DownloadOptions = {}) {
    const result = await this.downloader.download(root, options);
    if (out !== undefined) await this.store.exportFile(root, out);
    return result;
  }

  /** Connects to a peer by multiaddr (with /p2p/<id>). */
  async connect(addr: string): Promise<PeerId> {
    const connection = await this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) });
    return connection.remotePeer;
  }

  peerIdOf(id: string): PeerId {
    return peerIdFromString(id);
  }
}

function hexToRoot(rootHex: string): Uint8Array {
  return new Uint8Array(Buffer.from(rootHex.slice(2), "hex"));
}
