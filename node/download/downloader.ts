import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { chunkLength, chunkRoot, upperHeight } from "../proofs/chunks.js";
import { CofferError } from "../errors.js";
import { NoProvidersError, ProtocolError } from "../p2p/errors.js";
import { toHex } from "../proofs/words.js";
import type { FileLayout } from "../proofs/layout.js";
import { verifyPath } from "../proofs/merkle.js";
import type { FetchService, FetchSession } from "../protocols/fetch/index.js";
import type { HaveService } from "../protocols/have/index.js";
import { hasBit, type ChunkStore, type StoredFileInfo } from "../store/chunk-store.js";
import { DOWNLOAD_DEFAULTS } from "./constants.js";

/**
 * Multi-source chunk download (BitTorrent-style; the "p2p file distribution" design note, wire protocols in docs/protocol.md §11):
 * sources come from DHT provider records plus known peers; chunks are picked rarest-first from the
 * sources' have-bitfields, which each source pushes on a have subscription as it gets chunks (polled
 * instead from peers that do not take subscriptions); each source gets as many requests in flight as its measured speed covers
 * (`pipelineSeconds`); a request that times out is cancelled (its stream reset) and re-queued for other
 * sources; every chunk is verified against commD with its position proof before it is written.
 */
export interface DownloadDeps {
  store: ChunkStore;
  fetch: FetchService;
  have: HaveService;
  /** Our own id (never a source). */
  self: PeerId;
  /** Peers that announced the root (DHT provider records). */
  findProviders?: (root: Uint8Array, signal: AbortSignal) => Promise<PeerId[]>;
  /** Peers worth asking anyway (connected neighbours). */
  knownPeers?: () => PeerId[];
  /** Announce that we hold (part of) the root, so others can fetch from us meanwhile. */
  announce?: (root: Uint8Array) => void;
  /** Bytes received from a peer (tit-for-tat accounting). */
  onReceived?: (peer: PeerId, bytes: number) => void;
  logger?: Logger;
}

export interface DownloadProgress {
  completeChunks: number;
  chunkCount: number;
  bytes: number;
  size: number;
  sources: number;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Extra sources to try first. */
  peers?: PeerId[];
  onProgress?: (progress: DownloadProgress) => void;
  requestTimeoutMs?: number;
  maxInFlightPerPeer?: number;
  stallTimeoutMs?: number;
  /** How often a have subscription is retried (a peer without the root yet), and the polling period for
   *  sources that do not take subscriptions. */
  haveRefreshMs?: number;
  /** How long to keep looking for a first provider before failing with NoProvidersError. */
  discoveryTimeoutMs?: number;
}

export interface DownloadStats {
  /** Bytes per source peer. */
  bytesFrom: Record<string, number>;
  badChunks: number;
  timeouts: number;
}

interface Source {
  peer: PeerId;
  key: string;
  bits?: Uint8Array;
  sessions: FetchSession[];
  idle: FetchSession[];
  inFlight: number;
  speed: number; // bytes/s, EMA
  strikes: number;
  dropped: boolean;
  backoffUntil: number;
  haveFailures: number;
  /** A have subscription loop runs for this source (so it is not polled). */
  watching: boolean;
}

type ChunkState = { done: boolean; writing: boolean; inFlight: number; badFrom: Set<string> };

export class DownloadError extends CofferError {
  override name = "DownloadError";
}

export class Downloader {
  constructor(private readonly deps: DownloadDeps) {}

  async download(root: Uint8Array, options: DownloadOptions = {}): Promise<StoredFileInfo & { stats: DownloadStats }> {
    return new DownloadRun(this.deps, root, options).run();
  }
}

class DownloadRun {
  private readonly sources = new Map<string, Source>();
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;
  private layout!: FileLayout;
  private chunks: ChunkState[] = [];
  private remaining = 0;
  private lastProgress = performance.now();
  private wake: (() => void) | undefined;
  private failure: unknown;
  private readonly stats: DownloadStats = { bytesFrom: {}, badChunks: 0, timeouts: 0 };
  private bytes = 0;
  private readonly opt: Required<Pick<DownloadOptions, "requestTimeoutMs" | "maxInFlightPerPeer" | "stallTimeoutMs">>;

  constructor(private readonly deps: DownloadDeps, private readonly root: Uint8Array, private readonly options: DownloadOptions) {
    this.signal = options.signal ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal;
    this.opt = {
      requestTimeoutMs: options.requestTimeoutMs ?? DOWNLOAD_DEFAULTS.requestTimeoutMs,
      maxInFlightPerPeer: options.maxInFlightPerPeer ?? DOWNLOAD_DEFAULTS.maxInFlightPerPeer,
      stallTimeoutMs: options.stallTimeoutMs ?? DOWNLOAD_DEFAULTS.stallTimeoutMs,
    };
  }

  async run(): Promise<StoredFileInfo & { stats: DownloadStats }> {
    const { store } = this.deps;
    const rootHex = toHex(this.root);
    const timers: NodeJS.Timeout[] = [];
    try {
      if (store.info(this.root)?.complete) return { ...store.info(this.root)!, stats: this.stats };
      for (const peer of this.options.peers ?? []) this.addSource(peer);
      await this.discover();
      if (!store.has(this.root)) await this.fetchManifestWithRetry();
      this.layout = store.layout(this.root);
      this.deps.announce?.(this.root);
      const bits = store.bitfield(this.root);
      this.chunks = Array.from({ length: this.layout.chunkCount }, (_, i) => ({ done: hasBit(bits, i), writing: false, inFlight: 0, badFrom: new Set<string>() }));
      this.remaining = this.chunks.filter((c) => !c.done).length;
      this.lastProgress = performance.now();
      for (const s of this.sources.values()) this.watch(s);
      timers.push(setInterval(() => { for (const s of this.sources.values()) if (!s.watching) void this.refreshHave(s); }, this.haveRefreshMs));
      timers.push(setInterval(() => void this.discover().catch(() => undefined), DOWNLOAD_DEFAULTS.rediscoverMs));
      while (this.remaining > 0) {
        this.signal.throwIfAborted();
        if (this.failure) throw this.failure;
        this.schedule();
        if (performance.now() - this.lastProgress > this.opt.stallTimeoutMs) {
          const live = [...this.sources.values()].filter((s) => !s.dropped).length;
          if (live === 0) throw new NoProvidersError(rootHex);
          throw new DownloadError(`download of ${rootHex} stalled: no chunk in ${this.opt.stallTimeoutMs} ms from ${live} sources`, { code: "stalled" });
        }
        // Woken by progress (a chunk verified, a have update, a failure) or, at the latest, after 200 ms; the
        // timer is cleared on a wake (one left per wake would pile up at tens of wakes per second).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return { ...store.info(this.root)!, stats: this.stats };
    } finally {
      for (const t of timers) clearInterval(t);
      this.controller.abort();
      for (const s of this.sources.values()) for (const session of s.sessions) session.abort("download finished");
    }
  }

  private addSource(peer: PeerId): void {
    const key = peer.toString();
    if (key === this.deps.self.toString() || this.sources.has(key)) return;
    this.sources.set(key, { peer, key, sessions: [], idle: [], inFlight: 0, speed: 0, strikes: 0, dropped: false, backoffUntil: 0, haveFailures: 0, watching: false });
    if (this.layout) this.watch(this.sources.get(key)!);
  }

  private async discover(): Promise<void> {
    for (const peer of this.deps.knownPeers?.() ?? []) this.addSource(peer);
    if (this.deps.findProviders && (this.sources.size < 8 || !this.layout)) {
      try {
        for (const peer of await this.deps.findProviders(this.root, AbortSignal.any([this.signal, AbortSignal.timeout(5_000)]))) this.addSource(peer);
      } catch (error) {
        this.deps.logger?.debug({ err: (error as Error).message }, "provider lookup failed");
      }
    }
  }

  /** Right after start the DHT routing table may still be empty: keep looking up to discoveryTimeoutMs. */
  private async fetchManifestWithRetry(): Promise<void> {
    const deadline = performance.now() + (this.options.discoveryTimeoutMs ?? DOWNLOAD_DEFAULTS.discoveryTimeoutMs);
    for (;;) {
      try {
        return await this.fetchManifest();
      } catch (error) {
        if (!(error instanceof NoProvidersError) || performance.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
        this.signal.throwIfAborted();
        await this.discover();
      }
    }
  }

  /** Gets the manifest from the first source that has one that verifies. */
  private async fetchManifest(): Promise<void> {
    const rootHex = toHex(this.root);
    const candidates = [...this.sources.values()];
    if (candidates.length === 0) throw new NoProvidersError(rootHex);
    let lastError: unknown;
    for (const source of candidates) {
      const signal = AbortSignal.any([this.signal, AbortSignal.timeout(this.opt.requestTimeoutMs)]);
      try {
        const session = await this.deps.fetch.open(source.peer, signal);
        try {
          const { size, chunkRoots } = await session.manifest(this.root, signal);
          await this.deps.store.declare(this.root, size, chunkRoots);
          return;
        } finally {
          session.close();
        }
      } catch (error) {
        this.signal.throwIfAborted();
        lastError = error;
        this.deps.logger?.debug({ peer: source.key, err: (error as Error).message }, "manifest from source failed");
      }
    }
    if (lastError instanceof ProtocolError && lastError.code === "remote:unknown-root") throw new NoProvidersError(rootHex);
    throw new DownloadError(`no source gave a valid manifest for ${rootHex}`, { code: "no-manifest", cause: lastError });
  }

  private get haveRefreshMs(): number {
    return this.options.haveRefreshMs ?? DOWNLOAD_DEFAULTS.haveRefreshMs;
  }

  /**
   * Keeps a have subscription to `source` open while the download runs, re-subscribing every
   * haveRefreshMs after it ends (e.g. the peer did not have the root yet). A peer that does not know
   * subscriptions (`bad-type`), or where they fail three times in a row, is polled instead.
   */
  private watch(source: Source): void {
    if (source.watching || !this.layout) return;
    source.watching = true;
    void (async () => {
      let failures = 0;
      while (!this.signal.aborted && !source.dropped && this.remaining > 0) {
        try {
          await this.deps.have.subscribe(source.peer, this.root, this.signal, (have) => this.onHave(source, have));
          failures = 0;
        } catch (error) {
          if (this.signal.aborted) break;
          const code = error instanceof CofferError ? error.code : undefined;
          // No subscriptions there (older peer), or they keep failing (e.g. its have-stream limit): poll it
          // instead; polling drops the source if it is unreachable.
          if (code === "remote:bad-type" || (code !== "remote:unknown-root" && ++failures >= 3)) break;
        }
        if (this.signal.aborted || source.dropped || this.remaining === 0) break;
        await new Promise((resolve) => setTimeout(resolve, this.haveRefreshMs));
      }
      source.watching = false;
    })();
  }

  private onHave(source: Source, { chunkCount, bits }: { chunkCount: number; bits: Uint8Array }): void {
    if (chunkCount !== this.layout.chunkCount) throw new ProtocolError("chunk count mismatch", { code: "bad-have" });
    source.bits = bits;
    source.haveFailures = 0;
    this.wake?.();
  }

  private async refreshHave(source: Source): Promise<void> {
    if (source.dropped || !this.layout || this.remaining === 0) return;
    try {
      this.onHave(source, await this.deps.have.query(source.peer, this.root, AbortSignal.any([this.signal, AbortSignal.timeout(5_000)])));
    } catch (error) {
      if (this.signal.aborted) return;
      source.haveFailures++;
      if (!(error instanceof ProtocolError && error.code === "remote:unknown-root") && source.haveFailures >= 3) this.drop(source, "unreachable");
    }
  }

  private drop(source: Source, reason: string): void {
    if (source.dropped) return;
    source.dropped = true;
    this.deps.logger?.debug({ peer: source.key, reason }, "dropping source");
    for (const session of source.sessions) session.abort(reason);
    this.sources.delete(source.key); // discovery may bring it back later with a clean slate
  }

  /**
   * Fills every source's request slots, rarest chunk first. Runs on every wake-up (each answer, each have
   * push), so it is one pass over the wanted chunks per source, not a search per slot.
   */
  private schedule(): void {
    const now = performance.now();
    const holders = [...this.sources.values()].filter((s) => !s.dropped && s.bits);
    const ready = holders.filter((s) => s.backoffUntil <= now && s.inFlight < this.capacity(s));
    if (ready.length === 0) return;
    const wanted: number[] = [];
    let endgame = true; // every missing chunk is already requested somewhere: allow a second request
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.done || c.writing) continue;
      wanted.push(i);
      if (c.inFlight === 0) endgame = false;
    }
    const availability = new Uint16Array(this.chunks.length);
    for (const s of holders) for (const i of wanted) if (hasBit(s.bits!, i)) availability[i]++;
    // Shuffle first (so sources don't all start on the same chunk), then a stable sort: rarest first.
    for (let k = wanted.length - 1; k > 0; k--) {
      const j = Math.floor(Math.random() * (k + 1));
      [wanted[k], wanted[j]] = [wanted[j], wanted[k]];
    }
    wanted.sort((a, b) => availability[a] - availability[b]);
    for (const source of ready.sort((a, b) => b.speed - a.speed)) {
      const capacity = this.capacity(source);
      for (const i of wanted) {
        if (source.inFlight >= capacity) break;
        const c = this.chunks[i];
        if (c.done || c.writing || c.badFrom.has(source.key) || !hasBit(source.bits!, i)) continue;
        if (c.inFlight === 0 || (endgame && c.inFlight < 2)) void this.request(source, i);
      }
    }
  }

  private capacity(source: Source): number {
    if (source.speed === 0) return DOWNLOAD_DEFAULTS.initialInFlight;
    const perChunk = CHUNK_BYTES / source.speed;
    return Math.max(1, Math.min(this.opt.maxInFlightPerPeer, Math.ceil(DOWNLOAD_DEFAULTS.pipelineSeconds / perChunk) + 1));
  }

  private async session(source: Source): Promise<FetchSession> {
    const idle = source.idle.pop();
    if (idle && idle.framed.stream.status === "open") return idle;
    const session = await this.deps.fetch.open(source.peer, this.signal);
    source.sessions.push(session);
    return session;
  }

  private async request(source: Source, index: number): Promise<void> {
    const chunk = this.chunks[index];
    chunk.inFlight++;
    source.inFlight++;
    const started = performance.now();
    let session: FetchSession | undefined;
    let released = false;
    const timeout = AbortSignal.timeout(this.opt.requestTimeoutMs);
    try {
      session = await this.session(source);
      const signal = AbortSignal.any([this.signal, timeout]);
      const { bytes, siblings } = await session.chunk(this.root, index, signal);
      const elapsed = (performance.now() - started) / 1000;
      const computed = bytes.length === chunkLength(this.layout, index) ? chunkRoot(bytes, this.layout, index) : undefined;
      if (computed === undefined || siblings.length !== upperHeight(this.layout) || !verifyPath(this.root, computed, index, siblings)) {
        this.stats.badChunks++;
        chunk.badFrom.add(source.key);
        source.strikes++;
        this.deps.logger?.warn({ peer: source.key, index }, "chunk failed verification");
        if (source.strikes >= DOWNLOAD_DEFAULTS.maxStrikes) this.drop(source, "bad chunks");
        source.idle.push(session);
        return;
      }
      source.idle.push(session);
      source.speed = source.speed === 0 ? bytes.length / elapsed : 0.7 * source.speed + 0.3 * (bytes.length / Math.max(elapsed, 1e-4)) / 1;
      this.stats.bytesFrom[source.key] = (this.stats.bytesFrom[source.key] ?? 0) + bytes.length;
      this.deps.onReceived?.(source.peer, bytes.length);
      if (chunk.done || chunk.writing) return; // endgame duplicate
      chunk.writing = true;
      // The source's request slot is free once the chunk is verified: the durable write (a group commit
      // that may linger for more chunks) must not hold up the next request to this source.
      released = true;
      chunk.inFlight--;
      source.inFlight--;
      this.wake?.();
      try {
        await this.deps.store.writeChunk(this.root, index, bytes, computed);
      } catch (error) {
        chunk.writing = false;
        this.failure = error; // disk full etc.: fatal for the download
        return;
      }
      chunk.done = true;
      this.remaining--;
      this.bytes += bytes.length;
      this.lastProgress = performance.now();
      this.options.onProgress?.({ completeChunks: this.layout.chunkCount - this.remaining, chunkCount: this.layout.chunkCount, bytes: this.bytes, size: this.layout.size, sources: this.sources.size });
    } catch (error) {
      if (this.signal.aborted && !timeout.aborted) return;
      const code = error instanceof CofferError ? error.code : undefined;
      // An error frame answers one request; the session stays usable. Anything else ends the session.
      const requestLevel = !timeout.aborted && (code === "remote:choked" || code === "remote:missing-chunk");
      if (session && requestLevel) source.idle.push(session);
      else if (session) {
        session.abort("request failed");
        source.sessions = source.sessions.filter((s) => s !== session);
      }
      if (timeout.aborted) {
        this.stats.timeouts++;
        source.speed = source.speed / 2;
        source.backoffUntil = performance.now() + 1_000;
      } else if (code === "remote:choked") {
        source.backoffUntil = performance.now() + 1_000;
      } else if (code === "remote:missing-chunk") {
        // Forget the bit until the next refresh (a super-seed withdraws chunks it already sent).
        if (source.bits) source.bits[index >> 3] &= ~(0x80 >> (index & 7));
      } else {
        source.haveFailures++;
        if (source.haveFailures >= 2 || !(error instanceof CofferError)) this.drop(source, (error as Error)?.message ?? "failed");
      }
    } finally {
      if (!released) {
        chunk.inFlight--;
        source.inFlight--;
      }
      this.wake?.();
    }
  }
}

const CHUNK_BYTES = 256 * 1024;

export function createDownloader(deps: DownloadDeps): Downloader {
  return new Downloader(deps);
}
