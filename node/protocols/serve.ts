import type { Connection, PeerId, Stream, StreamHandler, StreamHandlerOptions } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import { RateLimiter } from "@libp2p/utils";
import type { Logger } from "pino";
import { CofferError } from "../errors.js";
import { ProtocolError } from "../p2p/errors.js";
import { FramedStream } from "../p2p/framing.js";

/** What a protocol needs from the libp2p host (Libp2p satisfies it). */
export interface Network {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
  dialProtocol(peer: PeerId | Multiaddr, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>;
}

export interface StreamLimits {
  /** Largest frame accepted (bytes). */
  maxFrameSize: number;
  /** Concurrent inbound / outbound streams of this protocol per connection. */
  maxInboundStreams: number;
  maxOutboundStreams: number;
  /** A stream idle (no complete request) for this long is reset. */
  idleTimeoutMs: number;
  /** Requests a peer may make per second, across its streams; more gets its stream reset. */
  requestsPerSecond: number;
}

/** Per-peer token count over a one-second window; a peer over budget is blocked for a few seconds. */
export class RequestRateGuard {
  private readonly limiter: RateLimiter;

  constructor(requestsPerSecond: number, private readonly blockSeconds = 5) {
    this.limiter = new RateLimiter({ points: requestsPerSecond, duration: 1 });
  }

  /** Counts one request from `peer`; false when the peer exceeded its budget (it is then blocked). */
  allow(peer: PeerId): boolean {
    const key = peer.toString();
    try {
      this.limiter.consume(key, 1);
      return true;
    } catch {
      this.limiter.block(key, this.blockSeconds);
      return false;
    }
  }
}

export interface FramedHandlerContext {
  framed: FramedStream;
  connection: Connection;
  remotePeer: PeerId;
  /** Aborts when the service stops. */
  stopSignal: AbortSignal;
  /** A fresh signal: service stop or idle timeout. */
  idleSignal(): AbortSignal;
  /** Counts a request against the peer's rate budget; throws (stream gets rejected) when over it. */
  countRequest(): void;
}

/**
 * Wraps a framed protocol handler: size-limited framing, idle timeout, rate limiting, and the error
 * policy — a ProtocolError rejects the stream with its code and reason (error frame + reset), anything
 * else resets it. The node keeps serving other streams either way.
 */
export function framedHandler(
  name: string,
  limits: StreamLimits,
  stopSignal: AbortSignal,
  guard: RequestRateGuard,
  logger: Logger | undefined,
  handle: (ctx: FramedHandlerContext) => Promise<void>,
): StreamHandler {
  return async (stream: Stream, connection: Connection) => {
    const framed = new FramedStream(stream, limits.maxFrameSize);
    const remotePeer = connection.remotePeer;
    const ctx: FramedHandlerContext = {
      framed,
      connection,
      remotePeer,
      stopSignal,
      idleSignal: () => AbortSignal.any([stopSignal, AbortSignal.timeout(limits.idleTimeoutMs)]),
      countRequest: () => {
        if (!guard.allow(remotePeer)) throw new ProtocolError(`too many requests (limit ${limits.requestsPerSecond}/s)`, { code: "rate-limited" });
      },
    };
    try {
      await handle(ctx);
      if (stream.status === "open") await stream.close({ signal: AbortSignal.timeout(limits.idleTimeoutMs) });
    } catch (error) {
      if (error instanceof CofferError && !error.code.startsWith("remote:")) {
        logger?.debug({ protocol: name, peer: remotePeer.toString(), code: error.code, reason: error.shortMessage }, "rejecting stream");
        await framed.reject(error.code, error.shortMessage);
      } else {
        logger?.debug({ protocol: name, peer: remotePeer.toString(), err: (error as Error)?.message }, "stream failed");
        stream.abort(error instanceof Error ? error : new Error(String(error)));
      }
    }
  };
}

/**
 * The responder half every `/coffer/*` service shares: its per-peer rate guard and stop signal, the framed
 * handler registered on `start` and removed on `stop`.
 */
export class FramedResponder {
  private stopController = new AbortController();
  private readonly guard: RequestRateGuard;
  private registered = false;

  constructor(
    private readonly network: Network,
    readonly protocol: string,
    readonly limits: StreamLimits,
    private readonly logger?: Logger,
  ) {
    this.guard = new RequestRateGuard(limits.requestsPerSecond);
  }

  async start(handle: (ctx: FramedHandlerContext) => Promise<void>): Promise<void> {
    this.stopController = new AbortController();
    const handler = framedHandler(this.protocol, this.limits, this.stopController.signal, this.guard, this.logger, handle);
    await this.network.handle(this.protocol, handler, handlerOptions(this.limits));
    this.registered = true;
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    if (!this.registered) return;
    this.registered = false;
    await this.network.unhandle(this.protocol).catch(() => undefined);
  }
}

/** Handler options from limits. */
export function handlerOptions(limits: StreamLimits): StreamHandlerOptions {
  return { maxInboundStreams: limits.maxInboundStreams, maxOutboundStreams: limits.maxOutboundStreams };
}

/** Dials a protocol and wraps the stream in framing; the stream is aborted if `signal` fires. */
export async function openFramed(network: Network, peer: PeerId | Multiaddr, protocol: string, maxFrameSize: number, signal: AbortSignal): Promise<FramedStream> {
  const stream = await network.dialProtocol(peer, protocol, { signal });
  const framed = new FramedStream(stream, maxFrameSize);
  const onAbort = () => stream.abort(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  stream.addEventListener("close", () => signal.removeEventListener("abort", onAbort), { once: true });
  return framed;
}
