import { open, type FileHandle } from "node:fs/promises";

interface PooledHandle {
  handle: Promise<FileHandle>;
  users: number;
  /** Dropped from the pool (evicted or forgotten): close once the last user is done. */
  retired: boolean;
}

/**
 * Keeps read/write handles to the store's data files open between chunk reads and writes (an open, fstat
 * and close per 256 KiB chunk cost more CPU than the copy itself), with at most `maxOpen` handles: the
 * least recently used idle one is closed when a new file is needed. Handles in use are never closed
 * under their user.
 */
export class FileHandlePool {
  private readonly handles = new Map<string, PooledHandle>();

  constructor(private readonly maxOpen = 64) {}

  /** Runs `use` with an open `r+` handle to `path` (which must exist). */
  async with<T>(path: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    let pooled = this.handles.get(path);
    if (pooled === undefined) {
      this.evictIdle();
      pooled = { handle: open(path, "r+"), users: 0, retired: false };
      this.handles.set(path, pooled);
      pooled.handle.catch(() => this.handles.get(path) === pooled && this.handles.delete(path));
    } else {
      // Map order is recency order: move it to the end.
      this.handles.delete(path);
      this.handles.set(path, pooled);
    }
    pooled.users++;
    try {
      return await use(await pooled.handle);
    } finally {
      pooled.users--;
      if (pooled.retired && pooled.users === 0) await closeQuietly(pooled.handle);
    }
  }

  /** Closes the handle to `path` (after its current users): call before renaming or deleting the file. */
  async forget(path: string): Promise<void> {
    const pooled = this.handles.get(path);
    if (pooled === undefined) return;
    this.handles.delete(path);
    pooled.retired = true;
    if (pooled.users === 0) await closeQuietly(pooled.handle);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.handles.keys()].map((path) => this.forget(path)));
  }

  private evictIdle(): void {
    if (this.handles.size < this.maxOpen) return;
    for (const [path, pooled] of this.handles) {
      if (pooled.users > 0) continue;
      void this.forget(path);
      if (this.handles.size < this.maxOpen) return;
    }
  }
}

async function closeQuietly(handle: Promise<FileHandle>): Promise<void> {
  try {
    await (await handle).close();
  } catch {
    // opening failed (reported to its user) or already closed
  }
}
