import type { Hash } from "viem";
import type { BlockCheckpoint } from "./event-follower.js";
import type { TransactionLedger } from "./transactions.js";

/** The slice of an abstract-level database (e.g. a classic-level sublevel) the chain state needs. */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
}

/** The event follower's last processed block, persisted under `key`. */
export function storedCheckpoint(store: KeyValueStore, key = "events:lastBlock"): BlockCheckpoint {
  return {
    async load() {
      const value = await store.get(key);
      return value === undefined ? undefined : BigInt(value);
    },
    async save(block) {
      await store.put(key, block.toString());
    },
  };
}

/** Sent transactions by idempotency key, so a restarted node never sends the same proof twice. */
export function storedTransactionLedger(store: KeyValueStore, prefix = "tx:"): TransactionLedger {
  return {
    async get(key) {
      return (await store.get(prefix + key)) as Hash | undefined;
    },
    async put(key, hash) {
      await store.put(prefix + key, hash);
    },
  };
}
