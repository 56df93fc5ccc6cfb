import { parentPort } from "node:worker_threads";

/**
 * A hash worker (see worker-pool.ts). Loaded as a .ts file straight by Node (type stripping) or tsx, so it
 * imports only kernels.ts, itself import-free apart from npm packages.
 */
type Kernels = typeof import("./kernels.js");
const kernels: Kernels = await import(new URL("./kernels.ts", import.meta.url).href);

interface RootsTask {
  kind: "roots";
  id: number;
  data: Uint8Array;
  height: number;
}
interface UnsealTask {
  kind: "unseal";
  id: number;
  sealed: Uint8Array;
  prefix: number;
  firstIndex: number;
  replicaId: Uint8Array;
  rounds: number;
  window: number;
  /** With `roots`: also the subtree roots over the decoded data (kernels.unsealBatchWithRoots). */
  roots?: { height: number; dataBytes: number };
}

parentPort!.on("message", (task: RootsTask | UnsealTask) => {
  try {
    if (task.kind === "roots") {
      const roots = kernels.subtreeRoots(task.data, task.height);
      parentPort!.postMessage({ id: task.id, result: roots }, [roots.buffer as ArrayBuffer]);
    } else if (task.roots) {
      const { data, roots } = kernels.unsealBatchWithRoots(task.sealed, task.prefix, task.firstIndex, task.replicaId, task.rounds, task.window, task.roots.height, task.roots.dataBytes);
      parentPort!.postMessage({ id: task.id, result: data, roots }, [data.buffer as ArrayBuffer, roots.buffer as ArrayBuffer]);
    } else {
      const data = kernels.unsealBatch(task.sealed, task.prefix, task.firstIndex, task.replicaId, task.rounds, task.window);
      // `data` is a view into the transferred-in buffer; the clone keeps its offset and length.
      parentPort!.postMessage({ id: task.id, result: data }, [data.buffer as ArrayBuffer]);
    }
  } catch (error) {
    parentPort!.postMessage({ id: task.id, error: error instanceof Error ? error.message : String(error) });
  }
});
