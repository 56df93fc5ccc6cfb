import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { subtreeRoots, unsealBatch, unsealBatchWithRoots } from "./kernels.js";
import { proofsLogger } from "./logger.js";

/**
 * A small pool of hash workers (worker_threads) for the batch work that parallelises: subtree roots while
 * committing and decoding while unsealing. Sealing itself is one dependent chain and stays on the caller's
 * thread. Workers are unref'd while idle so they never keep a process alive.
 */

/** Inputs below this size are hashed on the calling thread: posting them costs more than it saves. */
const INLINE_BYTES = 512 * 1024;

interface Pending {
  resolve: (value: { result: Uint8Array; roots?: Uint8Array }) => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class HashWorkerPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;

  constructor(readonly size: number) {}

  /** Roots of the subtrees of `height` over `data` (see kernels.subtreeRoots). `data` is transferred away. */
  subtreeRoots(data: Uint8Array, height: number): Promise<Uint8Array> {
    if (this.size === 0 || data.length < INLINE_BYTES) return Promise.resolve(subtreeRoots(data, height));
    const own = owned(data);
    return this.run({ kind: "roots", data: own, height }, [transferable(own)]).then(({ result }) => result);
  }

  /** Decodes a batch of sealed segments (see kernels.unsealBatch). `sealed` is transferred away. */
  unseal(sealed: Uint8Array, prefix: number, firstIndex: number, replicaId: Uint8Array, rounds: number, window: number): Promise<Uint8Array> {
    if (this.size === 0 || sealed.length < INLINE_BYTES) {
      return Promise.resolve(unsealBatch(sealed, prefix, firstIndex, replicaId, rounds, window));
    }
    const own = owned(sealed);
    return this.run({ kind: "unseal", sealed: own, prefix, firstIndex, replicaId: new Uint8Array(replicaId), rounds, window }, [transferable(own)]).then(({ result }) => result);
  }

  /**
   * {@link unseal} plus, in the same worker trip, the roots of the subtrees of `roots.height` over the decoded
   * data with the bytes from `roots.dataBytes` on read as zeros (see kernels.unsealBatchWithRoots).
   */
  unsealWithRoots(
    sealed: Uint8Array,
    prefix: number,
    firstIndex: number,
    replicaId: Uint8Array,
    rounds: number,
    window: number,
    roots: { height: number; dataBytes: number },
  ): Promise<{ data: Uint8Array; roots: Uint8Array }> {
    if (this.size === 0 || sealed.length < INLINE_BYTES) {
      return Promise.resolve(unsealBatchWithRoots(sealed, prefix, firstIndex, replicaId, rounds, window, roots.height, roots.dataBytes));
    }
    const own = owned(sealed);
    const task = { kind: "unseal", sealed: own, prefix, firstIndex, replicaId: new Uint8Array(replicaId), rounds, window, roots };
    return this.run(task, [transferable(own)]).then(({ result, roots }) => ({ data: result, roots: roots! }));
  }

  /** Stops every worker; a later call starts new ones. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map(({ worker }) => worker.terminate()));
  }

  private run(task: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<{ result: Uint8Array; roots?: Uint8Array }> {
    const target = this.pickWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.ref();
      target.worker.postMessage({ ...task, id }, transfer);
    });
  }

  private pickWorker(): PoolWorker {
    if (this.workers.length < this.size) {
      const started = this.startWorker();
      this.workers.push(started);
      return started;
    }
    return this.workers.reduce((best, w) => (w.pending.size < best.pending.size ? w : best));
  }

  private startWorker(): PoolWorker {
    const worker = new Worker(new URL("./hash-worker.ts", import.meta.url));
    const entry: PoolWorker = { worker, pending: new Map() };
    worker.unref();
    worker.on("message", (message: { id: number; result?: Uint8Array; roots?: Uint8Array; error?: string }) => {
      const pending = entry.pending.get(message.id);
      if (!pending) return;
      entry.pending.delete(message.id);
      if (entry.pending.size === 0) worker.unref();
      if (message.error !== undefined) pending.reject(new Error(message.error));
      else pending.resolve({ result: message.result!, roots: message.roots });
    });
    const fail = (error: Error) => {
      proofsLogger.error({ err: error }, "hash worker failed");
      for (const pending of entry.pending.values()) pending.reject(error);
      entry.pending.clear();
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (entry.pending.size > 0) fail(new Error(`hash worker exited with code ${code}`));
    });
    return entry;
  }
}

/** The ArrayBuffer behind a view that owns it (see owned()); it is transferred away. */
function transferable(view: Uint8Array): ArrayBuffer {
  return view.buffer as ArrayBuffer;
}

/** `view` itself when it owns its whole ArrayBuffer (so it can be transferred), else a copy that does. */
function owned(view: Uint8Array): Uint8Array {
  const whole = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
  return whole ? view : new Uint8Array(view);
}

let sharedPool: HashWorkerPool | undefined;

/** The process-wide pool: COFFER_HASH_WORKERS workers (default: min(2, cores)); 0 hashes on the caller's thread. */
export function hashWorkerPool(): HashWorkerPool {
  if (!sharedPool) {
    const configured = process.env.COFFER_HASH_WORKERS;
    const size = configured !== undefined ? Number(configured) : Math.min(2, availableParallelism());
    sharedPool = new HashWorkerPool(Number.isInteger(size) && size >= 0 ? size : 0);
  }
  return sharedPool;
}

/** Terminates the shared pool's workers (tests and CLIs call this before exiting). */
export async function closeHashWorkers(): Promise<void> {
  await sharedPool?.close();
}
