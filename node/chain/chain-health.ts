/**
 * The node's link to its chain: a viem transport that watches every JSON-RPC request (docs/protocol.md §9.1).
 *
 * - Outages: the first failed request marks the chain down and logs ONE line; while it is down every request
 *   fails at once with {@link ChainUnavailableError} (no RPC traffic, nothing for the roles to log), except
 *   one probe let through after a back-off that doubles from 1 s to 30 s. The first probe that succeeds logs
 *   "back" (after re-checking the deployment, below); a long outage logs "still down" every few minutes.
 * - Resets: the chain must still be the one of the deployment file: same chain id, same genesis block hash,
 *   same hash at the deploy block (recorded by the deploy) and code at every contract address. It is checked
 *   when the node starts ({@link verifyDeployment}), after every outage, every few seconds while up, and at
 *   once when an eth_call returns no data. A mismatch is fatal: every request then fails with
 *   {@link ChainMismatchError} and the `onFatal` listeners run (the CLI stops the node with exit code 8).
 */
import { HttpRequestError, TimeoutError, custom, http, type EIP1193RequestFn, type Transport } from "viem";
import type { Logger } from "pino";
import type { CofferDeployment } from "./deployments.js";
import { CofferChainError } from "./errors.js";

/** The chain's JSON-RPC endpoint cannot be reached (refused, timed out, HTTP error). */
export class ChainUnavailableError extends CofferChainError {
  override name = "ChainUnavailableError";
  constructor(
    readonly rpcUrl: string,
    readonly downSince: Date,
    options: { cause?: unknown } = {},
  ) {
    super(
      `the chain at ${rpcUrl} is unreachable (since ${downSince.toISOString()}); retrying with back-off. ` +
        `Start it (npm run chain) or check --rpc`,
      options,
    );
  }
}

export type ChainMismatchReason = "chain-id" | "genesis" | "deploy-block" | "no-code";

/** The chain answering at the RPC URL is not the one the deployment file describes (restarted empty, another chain). */
export class ChainMismatchError extends CofferChainError {
  override name = "ChainMismatchError";
  constructor(
    readonly rpcUrl: string,
    readonly network: string,
    readonly reason: ChainMismatchReason,
    readonly problem: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `the chain at ${rpcUrl} is not the one the "${network}" deployment was made on: ${problem}. ` +
        `It was probably restarted empty (\`npm run chain\` keeps no state between runs). ` +
        `Redeploy (npm run deploy -- --network ${network}), register/fund again, then restart the node; ` +
        `or point --rpc / --deployment at the right chain`,
      options,
    );
  }
}

/** True when `error` (or one of its causes) says the chain cannot be reached, or it was found reset. */
export function isChainUnavailable(error: unknown): boolean {
  return findChainLinkError(error) !== undefined;
}

/** The outage or reset error inside `error`'s cause chain (viem wraps it in its own errors), if any. */
export function findChainLinkError(error: unknown): ChainUnavailableError | ChainMismatchError | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ChainUnavailableError || e instanceof ChainMismatchError) return e;
  }
  return undefined;
}

type Request = (args: { method: string; params?: unknown }) => Promise<unknown>;

/**
 * Checks that the chain behind `request` is the deployment's: chain id, genesis hash and deploy block hash (when
 * the deployment file recorded them), and code at every contract address.
 * @throws ChainMismatchError
 */
export async function verifyDeployment(request: Request, deployment: CofferDeployment, rpcUrl: string): Promise<void> {
  const fail = (reason: ChainMismatchReason, problem: string): never => {
    throw new ChainMismatchError(rpcUrl, deployment.network, reason, problem);
  };
  const chainId = Number(await request({ method: "eth_chainId" }));
  if (chainId !== deployment.chainId) fail("chain-id", `its chain id is ${chainId}, the deployment's is ${deployment.chainId}`);
  const blockHash = async (n: number) => ((await request({ method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] })) as { hash?: string } | null)?.hash;
  if (deployment.genesisHash !== undefined) {
    const genesis = await blockHash(0);
    if (genesis?.toLowerCase() !== deployment.genesisHash.toLowerCase()) fail("genesis", `its genesis block is ${genesis}, the deployment's ${deployment.genesisHash}`);
  }
  if (deployment.deployedAtBlockHash !== undefined) {
    const hash = await blockHash(deployment.deployedAtBlock);
    if (hash === undefined) fail("deploy-block", `it has no block ${deployment.deployedAtBlock} (the deploy block) yet`);
    if (hash!.toLowerCase() !== deployment.deployedAtBlockHash.toLowerCase()) fail("deploy-block", `its block ${deployment.deployedAtBlock} is ${hash}, the deployment's ${deployment.deployedAtBlockHash}`);
  }
  const entries = Object.entries(deployment.contracts);
  const codes = await Promise.all(entries.map(([, c]) => request({ method: "eth_getCode", params: [c.address, "latest"] })));
  const missing = entries.filter((_, i) => codes[i] === "0x" || codes[i] === undefined || codes[i] === null).map(([name, c]) => `${name} (${c.address})`);
  if (missing.length > 0) fail("no-code", `no contract code at ${missing.join(", ")}`);
}

export interface ChainHealthOptions {
  rpcUrl: string;
  deployment: CofferDeployment;
  logger: Logger;
  /** Back-off between probes while down: doubles from the first value up to the second (ms). */
  backoffMs?: [number, number];
  /** While down, one "still down" line this often (ms). */
  stillDownEveryMs?: number;
  /** While up, re-check the deployment at most this often (ms). */
  verifyEveryMs?: number;
  /** The inner transport (default: viem's http with its own short retries). */
  inner?: Transport;
}

type State = "up" | "down" | "fatal";

/** Watches the node's JSON-RPC link; `transport` is what the node's viem clients use. */
export class ChainHealth {
  state: State = "up";
  /** The mismatch that made the chain unusable (then every request fails with it). */
  fatal?: ChainMismatchError;
  private downSince?: Date;
  private lastDownLog = 0;
  private nextProbe = 0;
  private backoff: number;
  private lastVerified = 0;
  private verifying?: Promise<void>;
  private probing = false;
  private readonly fatalListeners: ((error: ChainMismatchError) => void)[] = [];
  private readonly request: Request;
  private readonly o: Required<Omit<ChainHealthOptions, "inner">>;

  constructor(options: ChainHealthOptions) {
    this.o = { backoffMs: [1000, 30_000], stillDownEveryMs: 5 * 60_000, verifyEveryMs: 5_000, ...options };
    this.backoff = this.o.backoffMs[0];
    const inner = (options.inner ?? http(options.rpcUrl, { retryCount: 1 }))({ retryCount: 1 });
    this.request = inner.request as Request;
  }

  /** A viem transport over the inner one, with the outage and reset handling above. */
  get transport(): Transport {
    return custom({ request: ((args: { method: string; params?: unknown }) => this.send(args)) as EIP1193RequestFn }, { retryCount: 0 });
  }

  /** Called once when the chain is found not to be the deployment's. */
  onFatal(listener: (error: ChainMismatchError) => void): void {
    this.fatalListeners.push(listener);
    if (this.fatal) listener(this.fatal);
  }

  /** The start-up check: the chain is reachable and is the deployment's. */
  async verifyNow(): Promise<void> {
    try {
      await verifyDeployment(this.request, this.o.deployment, this.o.rpcUrl);
      this.lastVerified = Date.now();
    } catch (error) {
      if (error instanceof ChainMismatchError) throw error;
      throw new ChainUnavailableError(this.o.rpcUrl, new Date(), { cause: error });
    }
  }

  private async send(args: { method: string; params?: unknown }): Promise<unknown> {
    if (this.state === "fatal") throw this.fatal!;
    if (this.state === "down") {
      const now = Date.now();
      if (now - this.lastDownLog >= this.o.stillDownEveryMs) {
        this.lastDownLog = now;
        this.o.logger.warn({ rpcUrl: this.o.rpcUrl, downForS: Math.round((now - this.downSince!.getTime()) / 1000) }, `chain still down after ${Math.round((now - this.downSince!.getTime()) / 60_000)} min`);
      }
      if (this.probing || now < this.nextProbe) throw new ChainUnavailableError(this.o.rpcUrl, this.downSince!);
      this.probing = true; // this request is the probe
    }
    let result: unknown;
    try {
      result = await this.request(args);
    } catch (error) {
      if (this.probing) this.probing = false;
      if (isConnectivityError(error)) {
        this.markDown(error);
        throw new ChainUnavailableError(this.o.rpcUrl, this.downSince!, { cause: error });
      }
      throw error;
    }
    const wasDown = this.state === "down";
    // Back from an outage, every few seconds, and whenever a call found no contract: is it still our chain?
    if (wasDown || Date.now() - this.lastVerified >= this.o.verifyEveryMs || (args.method === "eth_call" && result === "0x")) {
      try {
        await this.verifyShared();
      } finally {
        this.probing = false;
      }
    }
    if (wasDown) this.markUp();
    return result;
  }

  private verifyShared(): Promise<void> {
    this.verifying ??= (async () => {
      try {
        await verifyDeployment(this.request, this.o.deployment, this.o.rpcUrl);
        this.lastVerified = Date.now();
      } catch (error) {
        if (error instanceof ChainMismatchError) this.markFatal(error);
        else if (isConnectivityError(error)) this.markDown(error);
        throw error instanceof ChainMismatchError || !isConnectivityError(error) ? error : new ChainUnavailableError(this.o.rpcUrl, this.downSince!, { cause: error });
      } finally {
        this.verifying = undefined;
      }
    })();
    return this.verifying;
  }

  private markDown(error: unknown): void {
    const now = Date.now();
    if (this.state === "up") {
      this.state = "down";
      this.downSince = new Date(now);
      this.lastDownLog = now;
      this.backoff = this.o.backoffMs[0];
      const reason = (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
      this.o.logger.warn({ rpcUrl: this.o.rpcUrl, reason: reason.split("\n")[0] }, "chain unreachable: pausing chain work, retrying with back-off");
    } else {
      this.backoff = Math.min(this.backoff * 2, this.o.backoffMs[1]);
    }
    this.nextProbe = now + this.backoff;
  }

  private markUp(): void {
    if (this.state !== "down") return;
    const downForS = Math.round((Date.now() - this.downSince!.getTime()) / 1000);
    this.state = "up";
    this.downSince = undefined;
    this.o.logger.warn({ rpcUrl: this.o.rpcUrl, downForS }, `chain back after ${downForS} s`);
  }

  private markFatal(error: ChainMismatchError): void {
    if (this.state === "fatal") return;
    this.state = "fatal";
    this.fatal = error;
    this.o.logger.error({ rpcUrl: this.o.rpcUrl, reason: error.reason }, error.shortMessage);
    for (const listener of this.fatalListeners) listener(error);
  }
}

/** A failure to reach the RPC server at all (refused, reset, timed out, HTTP 5xx), as viem's http transport reports it. */
function isConnectivityError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TimeoutError) return true;
    if (e instanceof HttpRequestError) return e.status === undefined || e.status >= 500;
  }
  return false;
}
