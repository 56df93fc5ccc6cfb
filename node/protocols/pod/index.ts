import { open, rm } from "node:fs/promises";
import type { PeerId } from "@libp2p/interface";
import type { Logger } from "pino";
import { isHex, type Hex } from "viem";
import { CofferError } from "../../errors.js";
import { ProtocolError } from "../../p2p/errors.js";
import { ReceiveCredit, SendCredit } from "../../p2p/flow-control.js";
import { FramedResponder, openFramed, type Network, type StreamLimits } from "../serve.js";
import { POD_CREDIT, POD_DATA_BYTES, POD_LIMITS, POD_MAX_CIPHER_BYTES, POD_PROTOCOL } from "./constants.js";
import type { Startable } from "../../p2p/startable.js";

/**
 * `/coffer/pod/1.0.0` — the ciphertext leg of a proof of download (docs/protocol.md §8):
 *   → { t: "pod", downloadId }            (the download is Opened on-chain for this lessor's replica)
 *   ← { t: "cipher", commE, bytes }       after the lessor encrypted the file and committed commE on-chain
 *   → { t: "credit", frames }             the downloader grants data frames (POD_CREDIT: 32 up front, then
 *                                         8 more per 8 written to disk); the lessor never sends beyond them
 *   ← { t: "data" } body = ciphertext bytes, repeated until `bytes`;   ← { t: "end" }
 * The downloader recomputes commE from what it received before confirming receipt on-chain.
 */
export interface PodCipher {
  commE: Hex;
  /** The ciphertext file: made for this one stream, deleted once it was streamed or the stream failed. */
  path: string;
  bytes: number;
  /** Milliseconds the stream may last at most (the on-chain receipt deadline): a slower reader is cut off. */
  lifetimeMs: number;
}

export interface PodDeps {
  network: Network;
  logger?: Logger;
  /** Lessors: encrypt + commit the download and return the ciphertext file to stream. */
  serve?: (peer: PeerId, downloadId: Hex, signal: AbortSignal) => Promise<PodCipher>;
  /** Bytes served, for statistics. */
  onServed?: (bytes: number) => void;
}

export class PodService implements Startable {
  private readonly responder: FramedResponder;

  constructor(private readonly deps: PodDeps, readonly limits: StreamLimits = POD_LIMITS) {
    this.responder = new FramedResponder(deps.network, POD_PROTOCOL, limits, deps.logger);
  }

  async start(): Promise<void> {
    const serve = this.deps.serve;
    if (!serve) return;
    await this.responder.start(async (ctx) => {
      const { header } = await ctx.framed.read(ctx.idleSignal());
      ctx.countRequest();
      if (header.t !== "pod") throw new ProtocolError("expected a `pod` request", { code: "bad-type" });
      if (typeof header.downloadId !== "string" || !isHex(header.downloadId) || header.downloadId.length !== 66) {
        throw new ProtocolError("downloadId must be 0x + 64 hex digits", { code: "bad-field" });
      }
      const downloadId = header.downloadId as Hex;
      let cipher: PodCipher | undefined;
      try {
        cipher = await serve(ctx.remotePeer, downloadId, ctx.idleSignal());
        const lifetime = AbortSignal.any([ctx.stopSignal, AbortSignal.timeout(cipher.lifetimeMs)]);
        await ctx.framed.write({ t: "cipher", commE: cipher.commE, bytes: cipher.bytes } as { t: string }, undefined, ctx.idleSignal());
        const credit = new SendCredit(ctx.framed, lifetime);
        const file = await open(cipher.path, "r");
        try {
          const buffer = new Uint8Array(POD_DATA_BYTES);
          for (let position = 0; position < cipher.bytes; position += POD_DATA_BYTES) {
            // A reader that grants no credit for the idle timeout (or past the lifetime) ends the serve.
            const signal = AbortSignal.any([lifetime, AbortSignal.timeout(this.limits.idleTimeoutMs)]);
            await credit.take(signal);
            const { bytesRead } = await file.read(buffer, 0, Math.min(POD_DATA_BYTES, cipher.bytes - position), position);
            await ctx.framed.write({ t: "data" }, buffer.subarray(0, bytesRead), signal);
          }
        } finally {
          await file.close();
        }
        await ctx.framed.write({ t: "end" }, undefined, ctx.idleSignal());
        this.deps.onServed?.(cipher.bytes);
      } catch (error) {
        const reason = error instanceof CofferError ? error.shortMessage : (error as Error)?.message ?? String(error);
        this.deps.logger?.warn({ downloadId, peer: ctx.remotePeer.toString(), code: (error as { code?: string })?.code, reason }, "pod: serve failed");
        throw error;
      } finally {
        if (cipher) await rm(cipher.path, { force: true });
      }
    });
  }

  async stop(): Promise<void> {
    await this.responder.stop();
  }

  /** Receives the ciphertext of `downloadId` into `outPath`; `expectedBytes` is n·32 of the deal. */
  async receive(peer: PeerId, downloadId: Hex, outPath: string, expectedBytes: number, signal: AbortSignal): Promise<{ commE: Hex }> {
    if (expectedBytes > POD_MAX_CIPHER_BYTES) throw new ProtocolError(`ciphertext of ${expectedBytes} bytes is above the ${POD_MAX_CIPHER_BYTES} limit`, { code: "too-large" });
    const framed = await openFramed(this.deps.network, peer, POD_PROTOCOL, this.limits.maxFrameSize, signal);
    const file = await open(outPath, "w");
    let received = 0;
    let complete = false;
    try {
      await framed.write({ t: "pod", downloadId } as { t: string }, undefined, signal);
      const { header } = await framed.read(signal);
      if (header.t !== "cipher" || typeof header.commE !== "string" || header.bytes !== expectedBytes) {
        throw new ProtocolError(`expected a cipher of ${expectedBytes} bytes`, { code: "bad-response" });
      }
      const credit = new ReceiveCredit(framed, POD_CREDIT);
      await credit.open(signal);
      for (;;) {
        const frame = await framed.read(signal);
        if (frame.header.t === "end") break;
        if (frame.header.t !== "data") throw new ProtocolError("expected `data` or `end`", { code: "bad-response" });
        credit.arrived();
        if (received + frame.body.length > expectedBytes) throw new ProtocolError("more ciphertext than announced", { code: "too-large" });
        const chunk = frame.body.subarray();
        await file.write(chunk, 0, chunk.length, received);
        received += chunk.length;
        // Credit only for what is on disk: the reader holds at most the window, whatever it waits for.
        if (received < expectedBytes) await credit.consumed(signal);
      }
      if (received !== expectedBytes) throw new ProtocolError(`received ${received} of ${expectedBytes} ciphertext bytes`, { code: "truncated" });
      complete = true;
      return { commE: header.commE as Hex };
    } finally {
      await file.close();
      // A partial ciphertext is useless: the lessor serves a download once.
      if (!complete) await rm(outPath, { force: true });
      await framed.stream.close({ signal }).catch(() => undefined);
    }
  }
}

export function createPodService(deps: PodDeps, limits?: StreamLimits): PodService {
  return new PodService(deps, limits);
}
