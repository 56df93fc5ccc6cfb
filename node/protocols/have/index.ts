import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { ProtocolError } from "../../p2p/errors.js";
import { errorHeader } from "../../p2p/framing.js";
import { parseRoot, toHex } from "../../p2p/hex.js";
import type { ChunkStore } from "../../store/chunk-store.js";
import type { SuperSeeder } from "../../download/super-seed.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { HAVE_LIMITS, HAVE_PROTOCOL } from "./constants.js";

/**
 * `/coffer/have/1.0.0` — one request per stream:
 *   → { t: "have", root }   ← { t: "have", root, chunkCount } body = bitfield (bit i, MSB-first, = chunk i)
 *                           ← { t: "error", code: "unknown-root" } when the peer holds nothing of it
 */
export interface HaveDeps {
  network: Network;
  store: ChunkStore;
  logger?: Logger;
  superSeeder?: SuperSeeder;
}

export class HaveService {
  readonly protocol = HAVE_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: HaveDeps, readonly limits: StreamLimits = HAVE_LIMITS) {
    this.responder = new FramedResponder(deps.network, HAVE_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "have") throw new ProtocolError("expected a `have` request", { code: "bad-type" });
      const root = parseRoot(header.root);
      if (root === undefined) throw new ProtocolError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
      const info = this.deps.store.info(root);
      if (info === undefined) await ctx.framed.write(errorHeader("unknown-root", `unknown root ${toHex(root)}`), undefined, ctx.idleSignal());
      else {
        const bits = this.deps.store.bitfield(root);
        const advertised = this.deps.superSeeder?.advertise(info.root, info.chunkCount, bits) ?? bits;
        await ctx.framed.write({ t: "have", root: info.root, chunkCount: info.chunkCount } as { t: string }, advertised, ctx.idleSignal());
      }
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** The peer's bitfield for `root` (throws ProtocolError code `remote:unknown-root` if it has none). */
  async query(peer: PeerId, root: Uint8Array, signal: AbortSignal): Promise<{ chunkCount: number; bits: Uint8Array }> {
    const framed = await openFramed(this.deps.network, peer, HAVE_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "have", root: toHex(root) } as { t: string }, undefined, signal);
      const { header, body } = await framed.read(signal);
      const chunkCount = header.chunkCount;
      if (header.t !== "have" || typeof chunkCount !== "number" || !Number.isSafeInteger(chunkCount) || chunkCount < 1 || body.length !== Math.ceil(chunkCount / 8)) {
        throw new ProtocolError("bad have response", { code: "bad-response" });
      }
      return { chunkCount, bits: body.slice() };
    } finally {
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }
}

export function createHaveService(deps: HaveDeps, limits?: StreamLimits): HaveService {
  return new HaveService(deps, limits);
}
