import type { PeerId } from "@libp2p/interface";
import { Uint8ArrayList } from "uint8arraylist";
import type { Multiaddr } from "@multiformats/multiaddr";
import type { Logger } from "pino";
import { chunkLength, splitSiblings } from "../../proofs/chunks.js";
import { CofferError } from "../../errors.js";
import { ProtocolError, VerificationError } from "../../p2p/errors.js";
import { errorHeader, indexField, type FramedStream } from "../../p2p/framing.js";
import { parseRoot } from "../../p2p/hex.js";
import { toHex } from "../../proofs/words.js";
import type { Throttle } from "../../p2p/throttle.js";
import { fileLayout } from "../../proofs/layout.js";
import type { ChunkStore } from "../../store/chunk-store.js";
import type { SuperSeeder } from "../super-seed.js";
import { FramedResponder, openFramed, type FramedHandlerContext, type Network, type StreamLimits } from "../serve.js";
import { FETCH_LIMITS, FETCH_PROTOCOL, MAX_MANIFEST_CHUNKS } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/fetch/1.0.0` — request/response session on one stream, requests answered in order:
 *
 *   → { t: "manifest", root }            ← { t: "manifest", root, size }  body = chunk roots (32 B each)
 *   → { t: "chunk", root, index }        ← { t: "chunk", index, siblings: k } body = k×32 B siblings ‖ chunk
 *   ← { t: "error", code, reason }       for an unknown root / missing chunk / choked (stream stays open);
 *                                        a super-seeding node answers missing-chunk for chunks it already sent
 *
 * Malformed frames (too large, bad header, bad root, out-of-range index) reject the stream. The requester
 * verifies every chunk against commD (docs/protocol.md §3.2) before writing it.
 */
export interface FetchDeps {
  network: Network;
  store: ChunkStore;
  logger?: Logger;
  /** Caps what this node uploads (shared with the other bulk senders). */
  throttle?: Throttle;
  /** Tit-for-tat: false when `peer` is choked for user-to-user sharing. Default: serve everyone. */
  isUnchoked?: (peer: PeerId) => boolean;
  /** Super-seeding: serve only chunks not yet sent while some remain (see ../super-seed.ts). */
  superSeeder?: SuperSeeder;
  /** Called with bytes sent to a peer (choker accounting). */
  onServed?: (peer: PeerId, bytes: number) => void;
}

export interface ChunkResponse {
  bytes: Uint8Array;
  siblings: Uint8Array[];
}

export class FetchService implements Startable {
  readonly protocol = FETCH_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: FetchDeps, readonly limits: StreamLimits = FETCH_LIMITS) {
    this.responder = new FramedResponder(deps.network, FETCH_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    await this.responder.start((ctx) => this.serve(ctx.framed, ctx));
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  private async serve(framed: FramedStream, ctx: FramedHandlerContext): Promise<void> {
    const { store, throttle } = this.deps;
    for (;;) {
      let frame;
      try {
        frame = await framed.read(ctx.idleSignal());
      } catch (error) {
        if ((error as Error)?.name === "UnexpectedEOFError" || framed.stream.readStatus !== "readable") return; // remote finished
        throw error;
      }
      ctx.countRequest();
      const { header } = frame;
      const root = parseRoot(header.root);
      if (root === undefined) throw new ProtocolError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
      const info = store.info(root);
      const signal = ctx.idleSignal();
      if (header.t === "manifest") {
        if (info === undefined) { await framed.write(errorHeader("unknown-root", `unknown root ${toHex(root)}`), undefined, signal); continue; }
        await framed.write({ t: "manifest", root: info.root, size: info.size } as { t: string }, store.manifest(root), signal);
      } else if (header.t === "chunk") {
        if (info === undefined) { await framed.write(errorHeader("unknown-root", `unknown root ${toHex(root)}`), undefined, signal); continue; }
        const index = indexField(header.index, info.chunkCount);
        if (index === undefined) throw new ProtocolError(`index must be an integer in [0, ${info.chunkCount})`, { code: "bad-index" });
        if (this.deps.isUnchoked && !this.deps.isUnchoked(ctx.remotePeer)) { await framed.write(errorHeader("choked", "choked: try later"), undefined, signal); continue; }
        if (!store.hasChunk(root, index)) { await framed.write(errorHeader("missing-chunk", `chunk ${index} not held`), undefined, signal); continue; }
        const superSeeder = this.deps.superSeeder;
        if (superSeeder && !superSeeder.shouldServe(info.root, info.chunkCount, index)) { await framed.write(errorHeader("missing-chunk", `chunk ${index} already seeded: ask a peer`), undefined, signal); continue; }
        superSeeder?.recordServed(info.root, info.chunkCount, index);
        const siblings = store.proof(root, index);
        // The upload cap is waited for before the chunk is read: a 256 KiB buffer held through that wait
        // outlives V8's young generation and then costs a full mark-compact to free.
        await throttle?.take(32 * siblings.length + chunkLength(store.layout(root), index), signal);
        let bytes: Uint8Array;
        try {
          bytes = await store.readChunk(root, index);
        } catch (error) {
          // Removed while we waited for the throttle: a request-level answer, not a broken stream.
          const code = error instanceof CofferError ? error.code : undefined;
          if (code !== "unknown-root" && code !== "missing-chunk") throw error;
          await framed.write(errorHeader(code, `chunk ${index} no longer held`), undefined, signal);
          continue;
        }
        // siblings ‖ chunk as a list: the chunk bytes go out without being copied into one buffer first
        const body = new Uint8ArrayList(...siblings, bytes);
        await framed.write({ t: "chunk", index, siblings: siblings.length } as { t: string }, body, signal);
        this.deps.onServed?.(ctx.remotePeer, body.byteLength);
      } else {
        throw new ProtocolError(`unknown message type ${JSON.stringify(header.t).slice(0, 40)}`, { code: "bad-type" });
      }
    }
  }

  /** Opens a request session to `peer`; it is reset when `signal` aborts. */
  async open(peer: PeerId | Multiaddr, signal: AbortSignal): Promise<FetchSession> {
    return new FetchSession(await openFramed(this.deps.network, peer, FETCH_PROTOCOL, this.limits.maxFrameSize, signal));
  }
}

/** One requester-side fetch stream: requests are sent and answered one at a time. */
export class FetchSession {
  constructor(readonly framed: FramedStream) {}

  async manifest(root: Uint8Array, signal: AbortSignal): Promise<{ size: number; chunkRoots: Uint8Array }> {
    await this.framed.write({ t: "manifest", root: toHex(root) } as { t: string }, undefined, signal);
    const { header, body } = await this.framed.read(signal);
    const size = header.size;
    if (header.t !== "manifest" || typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new ProtocolError("bad manifest response", { code: "bad-response" });
    const layout = fileLayout(size);
    if (layout.chunkCount > MAX_MANIFEST_CHUNKS || body.length !== layout.chunkCount * 32) throw new VerificationError("manifest length does not match size", { code: "bad-manifest" });
    return { size, chunkRoots: body.slice() };
  }

  /** Requests chunk `index`; returns the bytes and siblings exactly as sent (the caller verifies). */
  async chunk(root: Uint8Array, index: number, signal: AbortSignal): Promise<ChunkResponse> {
    await this.framed.write({ t: "chunk", root: toHex(root), index } as { t: string }, undefined, signal);
    const { header, body } = await this.framed.read(signal);
    const count = header.siblings;
    if (header.t !== "chunk" || header.index !== index || typeof count !== "number" || !Number.isSafeInteger(count) || count < 0 || count > 64 || body.length < count * 32) {
      throw new ProtocolError("bad chunk response", { code: "bad-response" });
    }
    // Views, not copies: the frame's buffer is this response's alone.
    const bytes = body.subarray(count * 32);
    return { bytes, siblings: splitSiblings(body.subarray(0, count * 32), count) };
  }

  close(): void {
    const stream = this.framed.stream;
    if (stream.status === "open") stream.close().catch(() => stream.abort(new Error("close failed")));
  }

  abort(reason = "cancelled"): void {
    this.framed.stream.abort(new Error(reason));
  }
}

export function createFetchService(deps: FetchDeps, limits?: StreamLimits): FetchService {
  return new FetchService(deps, limits);
}
