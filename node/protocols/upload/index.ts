import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { chunkLength, chunkRoot, splitSiblings, upperHeight } from "../../proofs/chunks.js";
import { ProtocolError } from "../../p2p/errors.js";
import { errorHeader, indexField } from "../../p2p/framing.js";
import { parseRoot } from "../../p2p/hex.js";
import { toHex } from "../../proofs/words.js";
import type { Throttle } from "../../p2p/throttle.js";
import { fileLayout } from "../../proofs/layout.js";
import { verifyPath } from "../../proofs/merkle.js";
import { hasBit, type ChunkStore } from "../../store/chunk-store.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { MAX_UPLOAD_CHUNKS, UPLOAD_LIMITS, UPLOAD_PROTOCOL, UPLOAD_WINDOW } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/upload/1.0.0` — a user pushes a file to a lessor that agreed to store it, one file per stream:
 *   → { t: "offer", root, size }  body = manifest (chunk roots)
 *   ← { t: "accept" }             body = bitfield of chunks the lessor already holds   (or an error frame)
 *   → { t: "chunk", index, siblings: k }  body = k×32 B siblings ‖ chunk   (up to UPLOAD_WINDOW unacked;
 *                                  one more is rejected: `window-exceeded`)
 *   ← { t: "ack", index }         after the chunk was verified against commD and stored durably
 *   → { t: "done" }               ← { t: "stored", complete }
 * A chunk that fails verification rejects the stream (`bad-chunk`); what was stored stays stored.
 */
export interface UploadOffer {
  root: Uint8Array;
  size: number;
  peer: PeerId;
}

export interface UploadDeps {
  network: Network;
  store: ChunkStore;
  logger?: Logger;
  throttle?: Throttle;
  /** Whether we agreed to store this file for this peer (a deal exists). Default: refuse everything. */
  acceptUpload?: (offer: UploadOffer) => boolean | Promise<boolean>;
  /** Called once a file is complete (e.g. announce it in the DHT). */
  onStored?: (root: Uint8Array) => void;
}

export interface UploadProgress {
  sent: number;
  total: number;
  bytes: number;
}

export class UploadService implements Startable {
  readonly protocol = UPLOAD_PROTOCOL;
  private readonly responder: FramedResponder;

  constructor(private readonly deps: UploadDeps, readonly limits: StreamLimits = UPLOAD_LIMITS) {
    this.responder = new FramedResponder(deps.network, UPLOAD_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    const { store } = this.deps;
    await this.responder.start(async (ctx) => {
      const offer = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (offer.header.t !== "offer") throw new ProtocolError("expected an `offer`", { code: "bad-type" });
      const root = parseRoot(offer.header.root);
      if (root === undefined) throw new ProtocolError("`root` must be a 0x-prefixed 32-byte hex string", { code: "bad-root" });
      const size = indexField(offer.header.size, MAX_UPLOAD_CHUNKS * 262144 + 1);
      if (size === undefined) throw new ProtocolError(`size must be an integer in [0, ${MAX_UPLOAD_CHUNKS * 262144}]`, { code: "bad-size" });
      const accepted = await (this.deps.acceptUpload?.({ root, size, peer: ctx.remotePeer }) ?? false);
      if (!accepted) {
        await ctx.framed.write(errorHeader("refused", `no agreement to store ${toHex(root)}`), undefined, ctx.idleSignal());
        return;
      }
      await store.declare(root, size, offer.body.slice()); // throws VerificationError (bad-manifest) -> rejected
      const layout = fileLayout(size);
      await ctx.framed.write({ t: "accept" }, store.bitfield(root), ctx.idleSignal());
      // Chunks are stored while the next ones arrive, up to UPLOAD_WINDOW at once, so that one group commit
      // (docs/protocol.md §11) makes a whole window durable. Awaiting each write before reading the next
      // chunk left every chunk alone in its commit, waiting out the linger: 4.5 MiB/s for 64 MiB on loopback.
      // Acks go out in arrival order, each once its chunk is durable, from one chain (the only writer).
      let acks: Promise<void> = Promise.resolve();
      /** Chunks whose write is not durable yet: at most UPLOAD_WINDOW (they hold memory). */
      let notDurable = 0;
      // A failed write aborts this (its error is the reason): that also ends the wait for the next chunk,
      // for which the sender, waiting for the failed chunk's ack, may never come.
      const writeFailed = new AbortController();
      let chunkFrames = 0;
      try {
        for (;;) {
          const { header, body } = await ctx.framed.read(AbortSignal.any([ctx.idleSignal(), writeFailed.signal]));
          writeFailed.signal.throwIfAborted();
          // The rate budget counts a window of chunks as one request: a chunk per request would cap an
          // honest upload at requestsPerSecond × 256 KiB (105 MB/s at 400/s), within reach of a fast link.
          if (header.t !== "chunk" || chunkFrames++ % UPLOAD_WINDOW === 0) ctx.countRequest();
          if (header.t === "done") break;
          if (header.t !== "chunk") throw new ProtocolError("expected `chunk` or `done`", { code: "bad-type" });
          // A chunk's slot is freed before its ack is written, so a sender within the window never sees this.
          if (notDurable >= UPLOAD_WINDOW) throw new ProtocolError(`more than ${UPLOAD_WINDOW} chunks sent ahead of their acks`, { code: "window-exceeded" });
          const index = indexField(header.index, layout.chunkCount);
          if (index === undefined) throw new ProtocolError(`index must be an integer in [0, ${layout.chunkCount})`, { code: "bad-index" });
          const k = upperHeight(layout);
          if (header.siblings !== k || body.length !== k * 32 + chunkLength(layout, index)) throw new ProtocolError(`chunk ${index} must carry ${k} siblings and ${chunkLength(layout, index)} bytes`, { code: "bad-length" });
          const bytes = body.slice(k * 32);
          const computed = chunkRoot(bytes, layout, index);
          if (!verifyPath(root, computed, index, splitSiblings(body.subarray(0, k * 32), k))) throw new ProtocolError(`chunk ${index} does not verify against the root`, { code: "bad-chunk" });
          notDurable++;
          const written = store.writeChunk(root, index, bytes, computed).finally(() => notDurable--);
          written.catch(() => undefined); // (awaited in order by the ack chain)
          acks = acks
            .then(async () => {
              if (writeFailed.signal.aborted) return;
              await written;
              await ctx.framed.write({ t: "ack", index } as { t: string }, undefined, ctx.idleSignal());
            })
            .catch((error: unknown) => writeFailed.abort(error));
        }
        await acks;
        writeFailed.signal.throwIfAborted();
      } catch (error) {
        await acks; // (no ack is being written while the responder answers with an error frame)
        // The sender's own fault first; else the store's failure that ended the read (an abort).
        throw error instanceof ProtocolError ? error : writeFailed.signal.aborted ? writeFailed.signal.reason : error;
      }
      const complete = store.info(root)?.complete ?? false;
      if (complete) this.deps.onStored?.(root);
      await ctx.framed.write({ t: "stored", complete } as { t: string }, undefined, ctx.idleSignal());
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** Pushes a complete local file to `peer`; resolves true once the peer confirms it holds all of it. */
  async upload(peer: PeerId, root: Uint8Array, options: { signal: AbortSignal; onProgress?: (p: UploadProgress) => void }): Promise<boolean> {
    const { store, throttle } = this.deps;
    const { signal } = options;
    const info = store.info(root);
    if (info === undefined || !info.complete) throw new ProtocolError(`cannot upload ${toHex(root)}: not complete locally`, { code: "incomplete" });
    const framed = await openFramed(this.deps.network, peer, UPLOAD_PROTOCOL, this.limits.maxFrameSize, signal);
    try {
      await framed.write({ t: "offer", root: info.root, size: info.size } as { t: string }, store.manifest(root), signal);
      const accept = await framed.read(signal);
      if (accept.header.t !== "accept" || accept.body.length !== Math.ceil(info.chunkCount / 8)) throw new ProtocolError("bad accept response", { code: "bad-response" });
      const held = accept.body.slice();
      const missing = [...Array(info.chunkCount).keys()].filter((i) => !hasBit(held, i));
      let acked = 0;
      let bytes = 0;
      // Acks are read concurrently so up to UPLOAD_WINDOW chunks are in flight.
      let window = Promise.resolve();
      const waiters: (() => void)[] = [];
      const reader = (async () => {
        for (let n = 0; n < missing.length; n++) {
          const { header } = await framed.read(signal);
          if (header.t !== "ack") throw new ProtocolError("expected an ack", { code: "bad-response" });
          acked++;
          options.onProgress?.({ sent: acked, total: missing.length, bytes });
          waiters.shift()?.();
        }
      })();
      reader.catch(() => undefined);
      for (let n = 0; n < missing.length; n++) {
        if (n - acked >= UPLOAD_WINDOW) {
          window = new Promise<void>((resolve) => waiters.push(resolve));
          await Promise.race([window, reader]);
        }
        const index = missing[n];
        const chunk = await store.readChunk(root, index);
        const siblings = store.proof(root, index);
        const body = new Uint8Array(siblings.length * 32 + chunk.length);
        siblings.forEach((s, i) => body.set(s, i * 32));
        body.set(chunk, siblings.length * 32);
        await throttle?.take(body.length, signal);
        await framed.write({ t: "chunk", index, siblings: siblings.length } as { t: string }, body, signal);
        bytes += chunk.length;
      }
      await reader;
      await framed.write({ t: "done" }, undefined, signal);
      const stored = await framed.read(signal);
      if (stored.header.t !== "stored") throw new ProtocolError("expected `stored`", { code: "bad-response" });
      return stored.header.complete === true;
    } finally {
      await framed.stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    }
  }
}

export function createUploadService(deps: UploadDeps, limits?: StreamLimits): UploadService {
  return new UploadService(deps, limits);
}
