import type { Stream } from "@libp2p/interface";
import { lpStream, type LengthPrefixedStream } from "@libp2p/utils";
import { Uint8ArrayList } from "uint8arraylist";
import { ProtocolError } from "./errors.js";

/**
 * Wire framing shared by every /coffer/* protocol (documented in docs/protocol.md §10).
 *
 * Each message is one length-prefixed frame (unsigned varint length, then payload — `lpStream`), and a
 * payload is:
 *
 *     u16 headerLength (big-endian) ‖ header (UTF-8 JSON object with a string field `t`) ‖ body (raw bytes)
 *
 * The JSON header keeps the small typed fields readable and easy to extend; bulk bytes (chunk data,
 * Merkle siblings, bitfields) go in the binary body so they are never base64-inflated. Frames larger than
 * the protocol's `maxFrameSize` are refused by the decoder before they are buffered.
 */
export const MAX_HEADER_SIZE = 16 * 1024;

export interface Frame<H extends { t: string } = { t: string; [key: string]: unknown }> {
  header: H;
  body: Uint8Array;
}

/** An error frame: `{ t: "error", code, reason }`, sent before the sender closes or resets the stream. */
export interface ErrorHeader {
  t: "error";
  code: string;
  reason: string;
}

export function encodeFrame(header: { t: string }, body?: Uint8Array | Uint8ArrayList): Uint8ArrayList<ArrayBufferLike> {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  if (json.length > MAX_HEADER_SIZE) throw new ProtocolError(`header of ${json.length} bytes is too large`, { code: "header-too-large" });
  const prefix = new Uint8Array(2);
  new DataView(prefix.buffer).setUint16(0, json.length);
  const list: Uint8ArrayList<ArrayBufferLike> = new Uint8ArrayList<ArrayBufferLike>(prefix, json);
  if (body !== undefined) list.append(body);
  return list;
}

export function decodeFrame(payload: Uint8ArrayList): Frame {
  if (payload.byteLength < 2) throw new ProtocolError("frame shorter than its header length", { code: "bad-frame" });
  const headerLength = payload.getUint16(0);
  if (headerLength > MAX_HEADER_SIZE || 2 + headerLength > payload.byteLength) {
    throw new ProtocolError(`bad header length ${headerLength}`, { code: "bad-frame" });
  }
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(payload.subarray(2, 2 + headerLength)).toString("utf8"));
  } catch (cause) {
    throw new ProtocolError("header is not JSON", { code: "bad-frame", cause });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header) || typeof (header as { t?: unknown }).t !== "string") {
    throw new ProtocolError("header is not an object with a string `t`", { code: "bad-frame" });
  }
  return { header: header as Frame["header"], body: payload.subarray(2 + headerLength) };
}

/** A stream speaking {@link Frame}s with a per-protocol maximum frame size. */
export class FramedStream {
  private readonly lp: LengthPrefixedStream<Stream>;

  constructor(readonly stream: Stream, readonly maxFrameSize: number) {
    this.lp = lpStream(stream, { maxDataLength: maxFrameSize });
  }

  /** Reads the next frame; an `error` frame from the remote becomes a thrown ProtocolError. */
  async read(signal: AbortSignal): Promise<Frame> {
    let payload: Uint8ArrayList;
    try {
      payload = await this.lp.read({ signal });
    } catch (cause) {
      const name = (cause as Error)?.name;
      if (name === "InvalidDataLengthError" || name === "InvalidMessageLengthError" || name === "InvalidDataLengthLengthError") {
        throw new ProtocolError(`frame exceeds ${this.maxFrameSize} bytes or has a bad length prefix`, { code: "frame-too-large", cause });
      }
      throw cause;
    }
    const frame = decodeFrame(payload);
    if (frame.header.t === "error") {
      const { code, reason } = frame.header as unknown as ErrorHeader;
      throw new ProtocolError(`remote rejected: ${String(reason)}`, { code: `remote:${String(code)}` });
    }
    return frame;
  }

  async write(header: { t: string }, body: Uint8Array | Uint8ArrayList | undefined, signal: AbortSignal): Promise<void> {
    await this.lp.write(encodeFrame(header, body), { signal });
  }

  /**
   * Rejects the stream with a reason: best-effort error frame, then a reset. Yamux resets carry no
   * reason, hence the frame first.
   */
  async reject(code: string, reason: string): Promise<void> {
    try {
      const signal = AbortSignal.timeout(500);
      await this.lp.write(encodeFrame({ t: "error", code, reason } as ErrorHeader), { signal });
      await this.stream.close({ signal });
    } catch {
      // the remote may already be gone: the reset below is what matters
    }
    this.stream.abort(new ProtocolError(reason, { code }));
  }
}

/** A request-level error the responder answers with an error frame while keeping the stream open. */
export function errorHeader(code: string, reason: string): ErrorHeader {
  return { t: "error", code, reason };
}

/** Reads a non-negative safe integer field; undefined if missing/negative/fractional/too large. */
export function indexField(value: unknown, limit: number): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value < limit ? value : undefined;
}
