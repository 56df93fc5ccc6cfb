import { ProtocolError } from "./errors.js";
import type { FramedStream } from "./framing.js";

/**
 * Credit-based flow control for the bulk streams (docs/protocol.md §11, "Flow control"). Yamux grants its
 * window as soon as bytes arrive, not when the application reads them, and libp2p's stream reader buffers
 * at most 4 MiB before it aborts the stream: without this, a reader that pauses (a transaction being mined,
 * a slow disk) is overrun. The reader grants data frames with `{ t: "credit", frames }`; the sender never
 * has more data frames out than were granted, so at most `window` frames are ever buffered at the reader.
 */
export interface CreditWindowSize {
  /** Data frames the reader grants up front: the most that can be in flight or buffered. */
  window: number;
  /** The reader re-grants after consuming this many frames (fewer, larger credit frames). */
  batch: number;
}

/** Sender side: reads the peer's credit frames and makes each data frame wait for a credit. */
export class SendCredit {
  private granted = 0;
  private sent = 0;
  private failure?: Error;
  private wake?: () => void;

  /** Starts reading credit frames from `framed` (the reverse direction carries nothing else). */
  constructor(framed: FramedStream, signal: AbortSignal) {
    void (async () => {
      for (;;) {
        const { header } = await framed.read(signal);
        const frames = header.frames;
        if (header.t !== "credit" || typeof frames !== "number" || !Number.isSafeInteger(frames) || frames < 1) {
          throw new ProtocolError("expected a `credit` frame with a positive `frames`", { code: "bad-credit" });
        }
        this.granted += frames;
        this.wake?.();
      }
    })().catch((error: unknown) => {
      // The reader closing its side after the last frame ends the loop too; only a wait still pending fails.
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.wake?.();
    });
  }

  /** Resolves once one more data frame may be sent (counting it as sent). */
  async take(signal: AbortSignal): Promise<void> {
    while (this.sent >= this.granted) {
      if (this.failure) throw this.failure;
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        this.wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
    this.sent += 1;
  }
}

/** Reader side: grants the window, checks the sender stays inside it, re-grants as frames are consumed. */
export class ReceiveCredit {
  private granted = 0;
  private received = 0;
  private consumedSinceGrant = 0;

  constructor(private readonly framed: FramedStream, private readonly size: CreditWindowSize) {}

  /** Grants the first window. */
  async open(signal: AbortSignal): Promise<void> {
    await this.grant(this.size.window, signal);
  }

  /** Call for each data frame read: a sender beyond its credit is refused. */
  arrived(): void {
    this.received += 1;
    if (this.received > this.granted) throw new ProtocolError(`sender exceeded its credit of ${this.granted} frames`, { code: "window-exceeded" });
  }

  /** Call once a data frame was consumed (written out): re-grants in batches. */
  async consumed(signal: AbortSignal): Promise<void> {
    this.consumedSinceGrant += 1;
    if (this.consumedSinceGrant >= this.size.batch) {
      const frames = this.consumedSinceGrant;
      this.consumedSinceGrant = 0;
      await this.grant(frames, signal);
    }
  }

  private async grant(frames: number, signal: AbortSignal): Promise<void> {
    this.granted += frames;
    await this.framed.write({ t: "credit", frames } as { t: string }, undefined, signal);
  }
}
