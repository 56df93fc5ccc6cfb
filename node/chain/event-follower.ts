import type { Abi, Address, Log, PublicClient } from "viem";
import { parseEventLogs } from "viem";
import type { Logger } from "pino";
import { isChainUnavailable } from "./chain-health.js";

/** Where a follower remembers the last block it fully processed (persisted by the node). */
export interface BlockCheckpoint {
  load(): Promise<bigint | undefined>;
  save(block: bigint): Promise<void>;
}

export interface EventFollowerInit<TAbi extends Abi> {
  client: PublicClient;
  abi: TAbi;
  addresses: Address[];
  checkpoint: BlockCheckpoint;
  /** First block to read when the checkpoint is empty (the deployment block). */
  startBlock: bigint;
  /** Called with the decoded logs of each block range, in order; the checkpoint advances after it resolves. */
  onLogs(logs: Log[], range: { fromBlock: bigint; toBlock: bigint }): Promise<void>;
  logger: Logger;
  pollIntervalMs?: number;
  /** Largest block range per eth_getLogs call. */
  maxRange?: bigint;
  /** Blocks to stay behind the head (reorg safety on real networks; 0 on a local chain). */
  confirmations?: bigint;
  /** Back-off after an RPC failure: doubles from the first value up to the second. */
  backoffMs?: [number, number];
}

/**
 * Follows contract events from the last processed block, persisting progress after each range, so a node
 * that restarts (or whose RPC restarts) catches up from where it stopped and never skips a range.
 */
export class EventFollower<TAbi extends Abi> {
  private readonly init: Required<Omit<EventFollowerInit<TAbi>, "backoffMs">> & { backoffMs: [number, number] };
  private controller?: AbortController;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(init: EventFollowerInit<TAbi>) {
    this.init = { pollIntervalMs: 1000, maxRange: 2000n, confirmations: 0n, backoffMs: [250, 30_000], ...init };
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  /** Processes everything up to the current head once (used at start-up and in tests). */
  async catchUp(signal?: AbortSignal): Promise<bigint | undefined> {
    const { client, checkpoint, startBlock, maxRange, confirmations, abi, addresses } = this.init;
    const head = (await client.getBlockNumber({ cacheTime: 0 })) - confirmations;
    let last = await checkpoint.load();
    let from = last === undefined ? startBlock : last + 1n;
    while (from <= head && !signal?.aborted) {
      const to = from + maxRange - 1n < head ? from + maxRange - 1n : head;
      const raw = await client.getLogs({ address: addresses, fromBlock: from, toBlock: to });
      const logs = parseEventLogs({ abi, logs: raw, strict: false }) as unknown as Log[];
      await this.init.onLogs(logs, { fromBlock: from, toBlock: to });
      await checkpoint.save(to);
      last = to;
      from = to + 1n;
    }
    return last;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const [firstBackoff, maxBackoff] = this.init.backoffMs;
    let backoff = firstBackoff;
    while (!signal.aborted) {
      try {
        await this.catchUp(signal);
        backoff = firstBackoff;
        await this.sleep(this.init.pollIntervalMs, signal);
      } catch (error) {
        if (signal.aborted) break;
        // A chain that is down (or was found reset) is logged once by the chain link (chain-health.ts).
        if (isChainUnavailable(error)) this.init.logger.debug({ retryInMs: backoff }, "event follower: chain unavailable, retrying");
        else this.init.logger.warn({ err: error, retryInMs: backoff }, "event follower: RPC failed, retrying");
        await this.sleep(backoff, signal);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      this.wake = done;
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}
