import { open, type FileHandle } from "node:fs/promises";

interface PooledHandle {
  path: string;
  handle: Promise<FileHandle>;
  users: number;
  /** Dropped from the pool (evicted or forgotten): close once the last user is done. */
  retired: boolean;
}

/**
 * Keeps read/write handles to the store's data files open between chunk reads and writes (an open, fstat
 * and close per 256 KiB chunk cost more CPU than the copy itself), with at most `maxOpen` handles open at
 * any time — counting those dropped from the pool but still in use. A caller that needs a file not in the
 * pool closes the least recently used idle handle, or, when every handle is in use, waits for one to be
 * released. Handles in use are never closed under their user, so `use` must not call `with` again (it
 * could wait for a slot it holds itself).
 */
export class FileHandlePool {
  private readonly handles = new Map<string, PooledHandle>();
  /** Handles opening or open, in the pool or retired; decremented once each is closed (or failed to open). */
  private openCount = 0;
  private peak = 0;
  private closing = false;
  /** Callers waiting for a handle to become idle or closed. */
  private waiters: (() => void)[] = [];

  constructor(readonly maxOpen = 64) {
    if (!Number.isSafeInteger(maxOpen) || maxOpen < 1) throw new RangeError(`maxOpen must be a positive integer, got ${maxOpen}`);
  }

  /** Handles open right now (never more than `maxOpen`). */
  get open(): number {
    return this.openCount;
  }

  /** The most handles that were ever open at once. */
  get peakOpen(): number {
    return this.peak;
  }

  /** Runs `use` with an open `r+` handle to `path` (which must exist). */
  async with<T>(path: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    const pooled = await this.acquire(path);
    try {
      return await use(await pooled.handle);
    } finally {
      pooled.users--;
      if (pooled.users === 0) {
        if (pooled.retired) await this.close(pooled);
        else this.wakeWaiters(); // an idle handle can be evicted now
      }
    }
  }

  /** Closes the handle to `path` (after its current users): call before renaming or deleting the file. */
  async forget(path: string): Promise<void> {
    const pooled = this.handles.get(path);
    if (pooled !== undefined) await this.retire(pooled);
  }

  /**
   * Refuses new users (they get a FileHandlePoolClosedError, including those waiting for a slot) and closes
   * every handle, waiting for the ones in use until their users are done.
   */
  async closeAll(): Promise<void> {
    this.closing = true;
    this.wakeWaiters();
    await Promise.all([...this.handles.values()].map((pooled) => this.retire(pooled)));
    while (this.openCount > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** A pooled handle to `path` with its user counted (no await between finding it and counting its user). */
  private async acquire(path: string): Promise<PooledHandle> {
    for (;;) {
      // (checked again after every wait: a caller woken by closeAll must not reopen a file)
      if (this.closing) throw new FileHandlePoolClosedError(path);
      const pooled = this.handles.get(path);
      if (pooled !== undefined) {
        // Map order is recency order: move it to the end.
        this.handles.delete(path);
        this.handles.set(path, pooled);
        pooled.users++;
        return pooled;
      }
      if (this.openCount < this.maxOpen) {
        const opened: PooledHandle = { path, handle: open(path, "r+"), users: 1, retired: false };
        this.openCount++;
        this.peak = Math.max(this.peak, this.openCount);
        this.handles.set(path, opened);
        opened.handle.catch(() => {
          if (this.handles.get(path) === opened) this.handles.delete(path);
          this.closed();
        });
        return opened;
      }
      let idle: PooledHandle | undefined;
      for (const candidate of this.handles.values()) if (candidate.users === 0) { idle = candidate; break; }
      // Either way, look again afterwards: another caller may have taken the freed slot or opened `path`.
      if (idle !== undefined) await this.retire(idle);
      else await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private async retire(pooled: PooledHandle): Promise<void> {
    if (this.handles.get(pooled.path) === pooled) this.handles.delete(pooled.path);
    if (pooled.retired) return;
    pooled.retired = true;
    if (pooled.users === 0) await this.close(pooled);
  }

  /** Closes a retired handle whose last user is done (exactly once per handle). */
  private async close(pooled: PooledHandle): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await pooled.handle;
    } catch {
      return; // its open failed (reported to its user, and counted as closed then)
    }
    try {
      await handle.close();
    } catch {
      // already closed
    }
    this.closed();
  }

  private closed(): void {
    this.openCount--;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The pool was closed (closeAll): no file is opened for a new user. */
export class FileHandlePoolClosedError extends Error {
  constructor(readonly path: string) {
    super(`file handle pool is closed (${path})`);
    this.name = "FileHandlePoolClosedError";
  }
}
