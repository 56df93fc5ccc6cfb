import type { PeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr } from "@multiformats/multiaddr";
import type { Logger } from "pino";
import { CofferNode, EMBEDDED_LISTEN, type CofferNodeOptions } from "../assembly/coffer-node.js";
import { ChainClient, type ChainClientOptions } from "../chain/client.js";
import { isChainUnavailable } from "../chain/chain-health.js";
import { MarketActionError } from "../chain/actions/market-call.js";
import type { LessorEndpoint } from "../chain/actions/getLessorEndpoint.js";

/** Options every role takes: where its node lives, how it reaches the network and the chain. */
export interface RoleOptions {
  dataDir: string;
  listen?: string[];
  bootstrap?: string[];
  /** Chain options (deployment, rpcUrl or injected clients); `db` and `dataDir` are filled in by the role. */
  chain: Omit<ChainClientOptions, "db" | "dataDir" | "logger">;
  logger: Logger;
  /** Milliseconds between two passes of the role's loop. */
  tickMs?: number;
  node?: Partial<CofferNodeOptions>;
}

/** Creates the node first (its LevelDB holds the chain state), then the chain client over it. */
export async function createNodeAndChain(options: RoleOptions, role: CofferNodeOptions["role"], extra: Partial<CofferNodeOptions> = {}) {
  const node = await CofferNode.create({
    dataDir: options.dataDir,
    role,
    listen: options.listen ?? [...EMBEDDED_LISTEN],
    bootstrap: options.bootstrap,
    allowPrivateAddresses: true,
    logger: options.logger,
    ...options.node,
    ...extra,
  });
  try {
    const chain = await ChainClient.create({ ...options.chain, db: node.db, dataDir: options.dataDir, logger: options.logger });
    return { node, chain };
  } catch (error) {
    await node.stop();
    throw error;
  }
}

/** A loop that runs `step` every `ms` without overlapping itself, until stopped. */
export class RoleLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly step: () => Promise<void>, private readonly ms: number, private readonly logger: Logger, private readonly name: string) {}

  start(): void {
    this.stopped = false;
    const run = async () => {
      if (this.stopped) return;
      this.running = this.step().catch((err) => logStepError(this.logger, err, { role: this.name }, `${this.name} step failed`));
      await this.running;
      if (!this.stopped) this.timer = setTimeout(run, this.ms);
    };
    this.timer = setTimeout(run, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

/**
 * Logs a failed step, except when the chain is down or was found reset: the chain link logs those once per
 * state change (node/chain/chain-health.ts), not once per failed call.
 */
export function logStepError(logger: Logger, err: unknown, fields: Record<string, unknown>, message: string): void {
  if (isChainUnavailable(err)) logger.debug({ ...fields, err: (err as Error).message }, message);
  // A named refusal is one line (its stack and the whole call data stay at debug).
  else if (err instanceof MarketActionError) {
    logger.warn({ ...fields, err: `${err.errorName}(${err.args.map(String).join(", ")})` }, message);
    logger.debug({ ...fields, err }, message);
  } else logger.warn({ err, ...fields }, message);
}

export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

export const GIB = 1n << 30n;

/**
 * Dials every registered multiaddr of a lessor (failures are fine: one that works is enough) and returns its peer
 * id, for the user's download and the watcher's timed challenge.
 */
export async function connectToLessor(node: CofferNode, endpoint: LessorEndpoint, timeoutMs: number): Promise<PeerId> {
  for (const addr of endpoint.multiaddrs) await node.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
  return peerIdFromString(endpoint.peerId);
}
