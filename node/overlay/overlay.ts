import type { PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import type { Logger } from "pino";
import type { CofferHost } from "../p2p/host.js";
import type { NeighbourRecord, NeighboursService } from "../protocols/neighbours/index.js";
import type { ProbeService } from "../protocols/probe/index.js";
import { UPLOAD_PROTOCOL } from "../protocols/upload/constants.js";
import type { Database } from "../store/database.js";
import { OVERLAY_DEFAULTS } from "./constants.js";
import type { Startable } from "../p2p/startable.js";

/**
 * Self-organising overlay (PPIO; the "overlay network" design note, probe and neighbours in docs/protocol.md §11). Three lists:
 *  - neighbours: connected peers we prefer (fastest measured, at most `maxPerGroup` per address group);
 *  - candidates: peers we know of (DHT / peer store, neighbours' neighbours, past neighbours);
 *  - past: every peer that was once a neighbour, persisted in LevelDB so a restart or `reset()` keeps it.
 * Each round (timer): gather candidates, probe a few peers' transfer speed round-robin with a short timed
 * transfer (/coffer/probe/1.0.0), drop unreachable ones, rank, and keep the best as neighbours.
 */
export interface PeerRecord {
  id: string;
  addrs: string[];
  /** Measured bytes/s from the last successful probe (0 = never measured). */
  speed: number;
  lastProbe: number;
  failures: number;
}

/** Address group of a peer (default: its IPv4 /24). Peers of one group may fill at most `maxPerGroup` neighbour slots. */
export type GroupOf = (peer: PeerId, addrs: Multiaddr[]) => string;

export const subnet24Group: GroupOf = (_peer, addrs) => {
  for (const addr of addrs) {
    const ip4 = addr.getComponents().find((c) => c.name === "ip4")?.value;
    if (ip4 !== undefined) return ip4.split(".").slice(0, 3).join(".");
  }
  return addrs[0]?.toString() ?? "unknown";
};

export interface OverlayDeps {
  host: CofferHost;
  neighbours: NeighboursService;
  probe: ProbeService;
  db: Database;
  logger?: Logger;
}

export interface OverlayOptions extends Partial<typeof OVERLAY_DEFAULTS> {
  groupOf?: GroupOf;
}

export class Overlay implements Startable {
  private readonly neighbourMap = new Map<string, PeerRecord>();
  private readonly candidateMap = new Map<string, PeerRecord>();
  private readonly pastMap = new Map<string, PeerRecord>();
  private readonly opt: typeof OVERLAY_DEFAULTS;
  private readonly groupOf: GroupOf;
  private readonly history;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopController = new AbortController();

  constructor(private readonly deps: OverlayDeps, options: OverlayOptions = {}) {
    this.opt = { ...OVERLAY_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => k !== "groupOf" && v !== undefined)) };
    this.groupOf = options.groupOf ?? subnet24Group;
    this.history = deps.db.sublevel<string, string>("overlay-past", { valueEncoding: "utf8" });
  }

  async start(): Promise<void> {
    this.stopController = new AbortController();
    for await (const [id, value] of this.history.iterator()) {
      const record = JSON.parse(value) as PeerRecord;
      this.pastMap.set(id, { ...record, failures: 0 });
      this.candidateMap.set(id, { ...record, failures: 0, lastProbe: 0 });
    }
    this.timer = setInterval(() => void this.round(), this.opt.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopController.abort();
    await this.running?.catch(() => undefined);
  }

  neighbours(): PeerRecord[] {
    return [...this.neighbourMap.values()].sort((a, b) => b.speed - a.speed);
  }

  candidates(): PeerRecord[] {
    return [...this.candidateMap.values()].sort((a, b) => b.speed - a.speed);
  }

  past(): PeerRecord[] {
    return [...this.pastMap.values()];
  }

  /** Neighbour list as served to other peers over /coffer/neighbours. */
  neighbourRecords(): NeighbourRecord[] {
    return this.neighbours().map(({ id, addrs }) => ({ id, addrs }));
  }

  /** Forget the current neighbours and candidates (e.g. after moving region) but keep the history. */
  async reset(): Promise<void> {
    await this.running?.catch(() => undefined);
    this.neighbourMap.clear();
    this.candidateMap.clear();
  }

  /** One maintenance round; concurrent calls share the same round. */
  round(): Promise<void> {
    this.running ??= this.doRound().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async doRound(): Promise<void> {
    const signal = this.stopController.signal;
    await this.gatherCandidates(signal);
    await this.probeSome(signal);
    await this.rebalance();
  }

  private note(id: string, addrs: string[]): void {
    if (id === this.deps.host.peerId.toString() || this.neighbourMap.has(id)) return;
    const known = this.candidateMap.get(id);
    if (known) {
      if (addrs.length > 0) known.addrs = addrs;
      return;
    }
    if (this.candidateMap.size >= this.opt.maxCandidates) {
      // Evict the slowest measured-or-failed candidate to make room.
      const worst = this.candidates().at(-1);
      if (worst && (worst.failures > 0 || worst.speed > 0)) this.candidateMap.delete(worst.id);
      else return;
    }
    this.candidateMap.set(id, { id, addrs, speed: 0, lastProbe: 0, failures: 0 });
  }

  private async gatherCandidates(signal: AbortSignal): Promise<void> {
    const { host } = this.deps;
    // Peers the DHT and identify taught us (the peer store) and whoever is connected.
    for (const peer of await host.peerStore.all()) this.note(peer.id.toString(), peer.addresses.map((a) => a.multiaddr.toString()));
    for (const conn of host.getConnections()) this.note(conn.remotePeer.toString(), [conn.remoteAddr.toString()]);
    // A DHT walk towards ourselves finds peers close in key space.
    try {
      const walk = AbortSignal.any([signal, AbortSignal.timeout(2_000)]);
      for await (const info of host.peerRouting.getClosestPeers(host.peerId.toMultihash().bytes, { signal: walk })) {
        this.note(info.id.toString(), info.multiaddrs.map(String));
      }
    } catch {
      // no DHT peers yet
    }
    // Neighbours' neighbours.
    for (const neighbour of this.neighbours().slice(0, 3)) {
      try {
        const list = await this.deps.neighbours.query(peerIdFromString(neighbour.id), AbortSignal.any([signal, AbortSignal.timeout(3_000)]));
        for (const p of list) this.note(p.id, p.addrs);
      } catch {
        // counted by the probe
      }
    }
  }

  private async probeSome(signal: AbortSignal): Promise<void> {
    const pool = [...this.neighbourMap.values(), ...this.candidateMap.values()].sort((a, b) => a.lastProbe - b.lastProbe);
    const batch = pool.slice(0, this.opt.probesPerRound);
    await Promise.all(batch.map((record) => this.probeOne(record, signal)));
  }

  /** Measures one peer now (also used by tests and `coffer neighbours --probe`). */
  async probeOne(record: PeerRecord, signal: AbortSignal = this.stopController.signal): Promise<void> {
    record.lastProbe = Date.now();
    try {
      const peer = peerIdFromString(record.id);
      if (record.addrs.length > 0) await this.deps.host.peerStore.merge(peer, { multiaddrs: record.addrs.map((a) => multiaddr(a)) }).catch(() => undefined);
      const result = await this.deps.probe.probe(peer, this.opt.probeBytes, AbortSignal.any([signal, AbortSignal.timeout(this.opt.probeTimeoutMs)]));
      record.speed = record.speed === 0 ? result.speed : 0.5 * record.speed + 0.5 * result.speed;
      record.failures = 0;
    } catch (error) {
      record.failures++;
      this.deps.logger?.debug({ peer: record.id, err: (error as Error).message }, "probe failed");
    }
  }

  /** Rank everything measured and keep the best `maxNeighbours`, at most `maxPerGroup` per group. */
  private async rebalance(): Promise<void> {
    for (const [id, record] of this.candidateMap) if (record.failures >= this.opt.maxFailures) this.candidateMap.delete(id);
    const pool = [...this.neighbourMap.values(), ...this.candidateMap.values()].filter((r) => r.failures < this.opt.maxFailures && r.speed > 0);
    pool.sort((a, b) => b.speed - a.speed);
    const chosen = new Map<string, PeerRecord>();
    const perGroup = new Map<string, number>();
    for (const record of pool) {
      if (chosen.size >= this.opt.maxNeighbours) break;
      const group = this.group(record);
      if ((perGroup.get(group) ?? 0) >= this.opt.maxPerGroup) continue;
      perGroup.set(group, (perGroup.get(group) ?? 0) + 1);
      chosen.set(record.id, record);
    }
    for (const [id, record] of this.neighbourMap) {
      if (chosen.has(id)) continue;
      this.neighbourMap.delete(id);
      if (record.failures < this.opt.maxFailures) this.candidateMap.set(id, record);
    }
    for (const [id, record] of chosen) {
      if (this.neighbourMap.has(id)) continue;
      this.candidateMap.delete(id);
      this.neighbourMap.set(id, record);
      this.pastMap.set(id, record);
      await this.history.put(id, JSON.stringify(record)).catch(() => undefined);
    }
    if (this.pastMap.size > this.opt.maxPast) {
      const oldest = [...this.pastMap.values()].sort((a, b) => a.lastProbe - b.lastProbe).slice(0, this.pastMap.size - this.opt.maxPast);
      for (const r of oldest) { this.pastMap.delete(r.id); await this.history.del(r.id).catch(() => undefined); }
    }
    // Stay connected to neighbours (dial is a no-op when a connection exists).
    await Promise.all([...this.neighbourMap.keys()].map((id) => this.deps.host.dial(peerIdFromString(id), { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)));
  }

  private group(record: PeerRecord): string {
    const addrs: Multiaddr[] = [];
    for (const a of record.addrs) { try { addrs.push(multiaddr(a)); } catch { /* ignore bad address */ } }
    return this.groupOf(peerIdFromString(record.id), addrs);
  }

  /**
   * Lessors to store a new file on: fastest neighbours first, then other known lessors, never two from the
   * same address group while distinct ones remain. `isLessor` defaults to "speaks /coffer/upload".
   */
  async selectLessors(count: number, isLessor?: (peer: PeerId) => Promise<boolean>): Promise<PeerId[]> {
    const { host } = this.deps;
    const check = isLessor ?? (async (peer: PeerId) => (await host.peerStore.get(peer).catch(() => undefined))?.protocols.includes(UPLOAD_PROTOCOL) ?? false);
    const ordered = [...this.neighbours(), ...this.candidates().filter((c) => c.failures === 0)];
    const seen = new Set(ordered.map((r) => r.id));
    for (const peer of await host.peerStore.all()) {
      const id = peer.id.toString();
      if (!seen.has(id) && id !== host.peerId.toString()) { ordered.push({ id, addrs: peer.addresses.map((a) => a.multiaddr.toString()), speed: 0, lastProbe: 0, failures: 0 }); seen.add(id); }
    }
    const lessors: PeerRecord[] = [];
    for (const record of ordered) if (await check(peerIdFromString(record.id))) lessors.push(record);
    const picked: PeerRecord[] = [];
    const groups = new Set<string>();
    for (const r of lessors) if (picked.length < count && !groups.has(this.group(r))) { picked.push(r); groups.add(this.group(r)); }
    for (const r of lessors) if (picked.length < count && !picked.includes(r)) picked.push(r);
    return picked.map((r) => peerIdFromString(r.id));
  }
}

export function createOverlay(deps: OverlayDeps, options?: OverlayOptions): Overlay {
  return new Overlay(deps, options);
}
