import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { ProtocolError } from "../../p2p/errors.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { MAX_ADDRS_PER_PEER, MAX_NEIGHBOURS_LISTED, NEIGHBOURS_LIMITS, NEIGHBOURS_PROTOCOL } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/neighbours/1.0.0` — one request per stream:
 *   → { t: "neighbours" }   ← { t: "neighbours", peers: [{ id, addrs: [multiaddr...] }] } (at most 64)
 */
export interface NeighbourRecord {
  id: string;
  addrs: string[];
}

export interface NeighboursDeps {
  network: Network;
  /** Our current neighbours, best first. */
  listNeighbours: () => NeighbourRecord[];
  logger?: Logger;
}

export class NeighboursService implements Startable {
  readonly protocol = NEIGHBOURS_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: NeighboursDeps, readonly limits: StreamLimits = NEIGHBOURS_LIMITS) {
    this.responder = new FramedResponder(deps.network, NEIGHBOURS_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "neighbours") throw new ProtocolError("expected a `neighbours` request", { code: "bad-type" });
      const peers = this.deps.listNeighbours().filter((p) => p.id !== ctx.remotePeer.toString()).slice(0, MAX_NEIGHBOURS_LISTED)
        .map((p) => ({ id: p.id, addrs: p.addrs.slice(0, MAX_ADDRS_PER_PEER) }));
      await ctx.framed.write({ t: "neighbours", peers } as { t: string }, undefined, ctx.idleSignal());
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  async query(peer: PeerId, signal: AbortSignal): Promise<NeighbourRecord[]> {
    const framed = await openFramed(this.deps.network, peer, NEIGHBOURS_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "neighbours" }, undefined, signal);
      const { header } = await framed.read(signal);
      const peers = header.peers;
      if (header.t !== "neighbours" || !Array.isArray(peers) || peers.length > MAX_NEIGHBOURS_LISTED) throw new ProtocolError("bad neighbours response", { code: "bad-response" });
      return peers.filter((p): p is NeighbourRecord =>
        typeof p?.id === "string" && p.id.length < 128 && Array.isArray(p.addrs) && p.addrs.length <= MAX_ADDRS_PER_PEER && p.addrs.every((a: unknown) => typeof a === "string" && a.length < 256));
    } finally {
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }
}

export function createNeighboursService(deps: NeighboursDeps, limits?: StreamLimits): NeighboursService {
  return new NeighboursService(deps, limits);
}
