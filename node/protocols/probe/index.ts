import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { ProtocolError } from "../../p2p/errors.js";
import { ReceiveCredit, SendCredit } from "../../p2p/flow-control.js";
import { indexField } from "../../p2p/framing.js";
import type { Throttle } from "../../p2p/throttle.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { MAX_PROBE_BYTES, PROBE_CREDIT, PROBE_FRAME_BYTES, PROBE_LIMITS, PROBE_PROTOCOL } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/probe/1.0.0` — a short timed transfer that measures a peer's upload speed to us:
 *   → { t: "probe", bytes }  ← { t: "data" } body = filler, repeated until `bytes` were sent
 *   → { t: "credit", frames } the requester grants data frames (PROBE_CREDIT), as on every bulk stream
 * The responder sends through its upload throttle, so the probe sees what a real transfer would.
 */
export interface ProbeDeps {
  network: Network;
  throttle?: Throttle;
  logger?: Logger;
}

export interface ProbeResult {
  bytes: number;
  ms: number;
  /** Bytes per second. */
  speed: number;
}

const FILLER = new Uint8Array(PROBE_FRAME_BYTES);

export class ProbeService implements Startable {
  readonly protocol = PROBE_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: ProbeDeps, readonly limits: StreamLimits = PROBE_LIMITS) {
    this.responder = new FramedResponder(deps.network, PROBE_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "probe") throw new ProtocolError("expected a `probe` request", { code: "bad-type" });
      const bytes = indexField(header.bytes, MAX_PROBE_BYTES + 1);
      if (bytes === undefined) throw new ProtocolError(`bytes must be an integer in [0, ${MAX_PROBE_BYTES}]`, { code: "bad-size" });
      const signal = ctx.idleSignal();
      const credit = new SendCredit(ctx.framed, signal);
      for (let sent = 0; sent < bytes; sent += PROBE_FRAME_BYTES) {
        const body = FILLER.subarray(0, Math.min(PROBE_FRAME_BYTES, bytes - sent));
        await credit.take(signal);
        await this.deps.throttle?.take(body.length, signal);
        await ctx.framed.write({ t: "data" }, body, signal);
      }
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** Times a `bytes`-long transfer from `peer` (stream open excluded, first byte to last byte included). */
  async probe(peer: PeerId, bytes: number, signal: AbortSignal): Promise<ProbeResult> {
    const framed = await openFramed(this.deps.network, peer, PROBE_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      const started = performance.now();
      await framed.write({ t: "probe", bytes } as { t: string }, undefined, signal);
      const credit = new ReceiveCredit(framed, PROBE_CREDIT);
      await credit.open(signal);
      let received = 0;
      while (received < bytes) {
        received += (await framed.read(signal)).body.length;
        credit.arrived();
        if (received < bytes) await credit.consumed(signal);
      }
      const ms = Math.max(0.001, performance.now() - started);
      return { bytes: received, ms, speed: (received / ms) * 1000 };
    } finally {
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }
}

export function createProbeService(deps: ProbeDeps, limits?: StreamLimits): ProbeService {
  return new ProbeService(deps, limits);
}
