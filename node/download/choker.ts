import type { PeerId } from "@libp2p/interface";
import type { Startable } from "../p2p/startable.js";

/**
 * Tit-for-tat choking for user-to-user sharing (BitTorrent): every `intervalMs` the `slots` peers that
 * uploaded to us fastest during the last interval are unchoked, plus one optimistic unchoke that rotates
 * every `optimisticEvery` intervals so newcomers get a chance to prove themselves. Peers that requested
 * from us recently are "interested"; with no more interested peers than slots + 1 nobody is choked.
 * Lessors don't use it: they serve whoever paid.
 */
export interface ChokerOptions {
  slots?: number;
  intervalMs?: number;
  optimisticEvery?: number;
}

export class Choker implements Startable {
  private readonly received = new Map<string, number>();
  private readonly interested = new Map<string, number>();
  private unchoked = new Set<string>();
  private optimistic: string | undefined;
  private rounds = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly slots: number;
  readonly intervalMs: number;
  readonly optimisticEvery: number;

  constructor(options: ChokerOptions = {}) {
    this.slots = options.slots ?? 4;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.optimisticEvery = options.optimisticEvery ?? 3;
  }

  start(): void {
    this.timer = setInterval(() => this.evaluate(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Bytes we received from `peer` (downloads report this). */
  recordReceived(peer: PeerId, bytes: number): void {
    const key = peer.toString();
    this.received.set(key, (this.received.get(key) ?? 0) + bytes);
  }

  /** Fetch service asks before serving a chunk; counts the peer as interested. */
  isUnchoked(peer: PeerId): boolean {
    const key = peer.toString();
    this.interested.set(key, Date.now());
    if (this.interestedPeers().length <= this.slots + 1) return true;
    if (this.rounds === 0) this.evaluate(); // first contention: pick slots now rather than at the first tick
    return this.unchoked.has(key) || this.optimistic === key;
  }

  unchokedPeers(): string[] {
    return [...this.unchoked, ...(this.optimistic ? [this.optimistic] : [])];
  }

  /** Re-evaluates the unchoked set (timer; exposed for tests). */
  evaluate(): void {
    const interested = this.interestedPeers();
    const byRate = interested.sort((a, b) => (this.received.get(b) ?? 0) - (this.received.get(a) ?? 0));
    this.unchoked = new Set(byRate.slice(0, this.slots));
    if (this.rounds % this.optimisticEvery === 0 || (this.optimistic && this.unchoked.has(this.optimistic))) {
      const choked = byRate.filter((p) => !this.unchoked.has(p));
      this.optimistic = choked.length > 0 ? choked[Math.floor(Math.random() * choked.length)] : undefined;
    }
    this.rounds++;
    this.received.clear();
  }

  private interestedPeers(): string[] {
    const cutoff = Date.now() - 3 * this.intervalMs;
    for (const [k, t] of this.interested) if (t < cutoff) this.interested.delete(k);
    return [...this.interested.keys()];
  }
}
