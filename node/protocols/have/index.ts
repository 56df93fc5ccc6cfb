import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { ProtocolError } from "../../p2p/errors.js";
import { errorHeader } from "../../p2p/framing.js";
import { parseRoot } from "../../p2p/hex.js";
import { toHex } from "../../proofs/words.js";
import type { ChunkStore } from "../../store/chunk-store.js";
import type { SuperSeeder } from "../super-seed.js";
import { FramedResponder, openFramed, type FramedHandlerContext, type Network, type StreamLimits } from "../serve.js";
import { HAVE_LIMITS, HAVE_PROTOCOL, HAVE_PUSH_INTERVAL_MS, HAVE_PUSH_WRITE_TIMEOUT_MS } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/have/1.0.0` — one request per stream:
 *   → { t: "have", root }       ← { t: "have", root, chunkCount } body = bitfield (bit i, MSB-first, = chunk i)
 *   → { t: "subscribe", root }  ← the same `have` frame now, then again each time the advertised bitfield
 *                                 changes (checked every HAVE_PUSH_INTERVAL_MS), until the subscriber closes
 *                                 its side or the stream ends — downloaders learn new chunks without polling;
 *   → { t: "seen" }               after each `have` it read: the responder sends the next (always the current
 *                                 bitfield) only then, so one update at most is ever unread
 *   ← { t: "error", code: "unknown-root" } when the peer holds nothing of it (the stream then ends)
 */
export interface HaveDeps {
  network: Network;
  store: ChunkStore;
  logger?: Logger;
  superSeeder?: SuperSeeder;
}

export class HaveService implements Startable {
  readonly protocol = HAVE_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: HaveDeps, readonly limits: StreamLimits = HAVE_LIMITS) {
    this.responder = new FramedResponder(deps.network, HAVE_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "have" && header.t !== "subscribe") throw new ProtocolError("expected a `have` or `subscribe` request", { code: "bad-type" });
      const root = parseRoot(header.root);
      if (root === undefined) throw new ProtocolError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
      const info = this.deps.store.info(root);
      if (info === undefined) await ctx.framed.write(errorHeader("unknown-root", `unknown root ${toHex(root)}`), undefined, ctx.idleSignal());
      else if (header.t === "have") await ctx.framed.write({ t: "have", root: info.root, chunkCount: info.chunkCount } as { t: string }, this.advertised(root, info.root, info.chunkCount), ctx.idleSignal());
      else await this.push(ctx, root, info.root, info.chunkCount);
    });
  }

  /** What we advertise for a root: the chunks held, or a super-seed's unsent ones. */
  private advertised(root: Uint8Array, rootHex: string, chunkCount: number): Uint8Array {
    const bits = this.deps.store.bitfield(root);
    return this.deps.superSeeder?.advertise(rootHex, chunkCount, bits) ?? bits;
  }

  /** Serves a subscription: the bitfield now and after every change, until the subscriber ends it. */
  private async push(ctx: FramedHandlerContext, root: Uint8Array, rootHex: string, chunkCount: number): Promise<void> {
    const { store, superSeeder } = this.deps;
    // The subscriber sends only `seen` (one credit each): anything else, or its side ending, ends the subscription.
    let ended = false;
    let unseen = 0;
    let wakeUp: (() => void) | undefined;
    void (async () => {
      while ((await ctx.framed.read(ctx.stopSignal)).header.t === "seen") unseen = Math.max(0, unseen - 1);
    })().then(() => undefined, () => undefined).finally(() => { ended = true; wakeUp?.(); });
    let sentVersion = "";
    while (!ended && !ctx.stopSignal.aborted && ctx.framed.stream.status === "open") {
      // Cheap change detection: the held-chunk count and the super-seed's unsent count move with the bitfield.
      const version = `${store.info(root)?.completeChunks}/${superSeeder?.unsentCount(rootHex, chunkCount) ?? ""}`;
      if (version !== sentVersion && unseen === 0) {
        sentVersion = version;
        unseen += 1;
        const signal = AbortSignal.any([ctx.stopSignal, AbortSignal.timeout(HAVE_PUSH_WRITE_TIMEOUT_MS)]);
        await ctx.framed.write({ t: "have", root: rootHex, chunkCount } as { t: string }, this.advertised(root, rootHex, chunkCount), signal);
      }
      // (not Promise.race with a long-lived promise: that would pile up one reaction per tick)
      await new Promise<void>((resolve) => { wakeUp = resolve; setTimeout(resolve, HAVE_PUSH_INTERVAL_MS); });
    }
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** The peer's bitfield for `root` (throws ProtocolError code `remote:unknown-root` if it has none). */
  async query(peer: PeerId, root: Uint8Array, signal: AbortSignal): Promise<{ chunkCount: number; bits: Uint8Array }> {
    const framed = await openFramed(this.deps.network, peer, HAVE_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "have", root: toHex(root) } as { t: string }, undefined, signal);
      return parseHave(await framed.read(signal));
    } finally {
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }

  /**
   * Subscribes to the peer's bitfield for `root`: `onBits` gets it now and after every change. Returns when
   * the peer ends the stream; throws ProtocolError (`remote:unknown-root`, `remote:bad-type` from a peer
   * without subscriptions, ...) or the abort reason. Abort `signal` to unsubscribe.
   */
  async subscribe(peer: PeerId, root: Uint8Array, signal: AbortSignal, onBits: (have: { chunkCount: number; bits: Uint8Array }) => void): Promise<void> {
    const framed = await openFramed(this.deps.network, peer, HAVE_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "subscribe", root: toHex(root) } as { t: string }, undefined, signal);
      for (;;) {
        let frame;
        try {
          frame = await framed.read(signal);
        } catch (error) {
          if ((error as Error)?.name === "UnexpectedEOFError" && !signal.aborted) return; // the peer ended it
          throw error;
        }
        onBits(parseHave(frame));
        // A failed write means the stream ended: the next read says how.
        await framed.write({ t: "seen" }, undefined, signal).catch(() => undefined);
      }
    } finally {
      if (framed.stream.status === "open") framed.stream.abort(new Error("unsubscribed"));
    }
  }
}

function parseHave({ header, body }: { header: { t: string; [key: string]: unknown }; body: Uint8Array }): { chunkCount: number; bits: Uint8Array } {
  const chunkCount = header.chunkCount;
  if (header.t !== "have" || typeof chunkCount !== "number" || !Number.isSafeInteger(chunkCount) || chunkCount < 1 || body.length !== Math.ceil(chunkCount / 8)) {
    throw new ProtocolError("bad have response", { code: "bad-response" });
  }
  return { chunkCount, bits: body.slice() };
}

export function createHaveService(deps: HaveDeps, limits?: StreamLimits): HaveService {
  return new HaveService(deps, limits);
}
