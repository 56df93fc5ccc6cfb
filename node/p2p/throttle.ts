/**
 * Token-bucket bandwidth cap shared by everything a node sends in bulk (chunks, probes). A node may cap
 * its own upload (a user on a metered link); the tests and the bench use it to emulate slow peers.
 */
export class Throttle {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  /** @param bytesPerSecond cap; Infinity disables it. @param burst bucket size in bytes. */
  constructor(readonly bytesPerSecond: number, private readonly burst = Math.min(bytesPerSecond / 10, 1 << 20)) {
    this.tokens = this.burst;
  }

  get unlimited(): boolean {
    return !Number.isFinite(this.bytesPerSecond);
  }

  /** Waits until `bytes` may be sent. Callers are served in order so one big sender cannot starve others. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.unlimited) return Promise.resolve();
    const turn = this.queue.then(() => this.wait(bytes, signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async wait(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const delayMs = (-this.tokens / this.bytesPerSecond) * 1000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, delayMs);
      signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
    });
  }
}
