import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AbstractSublevel } from "abstract-level";
import { pino, type Logger } from "pino";
import {
  type LocalAccount,
  type SignableMessage,
  createPublicClient,
  createWalletClient,
  http,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { downloadMarketAbi } from "./abi/downloadMarket.js";
import { storageMarketAbi } from "./abi/storageMarket.js";
import type { MarketActionContext, MarketAddresses } from "./actions/market-call.js";
import { storedCheckpoint, storedTransactionLedger, type KeyValueStore } from "./chain-state.js";
import { readDeployment, type CofferDeployment, type DeploymentsLocation } from "./deployments.js";
import { DeploymentInvalidError } from "./errors.js";
import { EventFollower } from "./event-follower.js";
import { ChainHealth } from "./chain-health.js";
import type { TransactionLedger } from "./transactions.js";
import type { Database } from "../store/database.js";
import { periodAt } from "./periods.js";

export const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
/** File in the data dir holding the node's chain key (hex, mode 0600). Never printed. */
export const CHAIN_KEY_FILE = "chain-key";

export interface MarketParameters {
  periodLength: bigint;
  kPoSt: number;
  kPoRep: number;
  sealRounds: number;
  porepTimeout: bigint;
  maxMisses: number;
  missSlashBps: number;
  bountyBps: number;
  repairBps: number;
  collateralPerGiB: bigint;
  /** Blocks to answer an on-chain challenge (§7.2). */
  challengeWindow: number;
  challengeBond: bigint;
  /** Smallest deal in segments (§2.1): clients pad smaller files. */
  minSegments: number;
  /** Sector sizes a lessor may seal, log2 of segments (§12.2). */
  minSectorLog: number;
  maxSectorLog: number;
}

export interface PodParameters {
  commitTimeout: bigint;
  receiptTimeout: bigint;
  revealTimeout: bigint;
  disputeWindow: bigint;
}

export interface ChainClientOptions {
  /** The deployment (addresses), or the network whose deployments/<network>.json to read. */
  deployment?: CofferDeployment;
  network?: string;
  deploymentsLocation?: DeploymentsLocation;
  /** JSON-RPC endpoint (default http://127.0.0.1:8545) when no clients are injected. */
  rpcUrl?: string;
  /** Injected clients (tests and the demo pass Hardhat's in-process ones). */
  publicClient?: PublicClient<Transport, Chain | undefined>;
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
  /** Where the chain key lives when no wallet client is injected (created on first use). */
  dataDir?: string;
  /** The node's LevelDB: the chain state (ledger, event checkpoints) lives in its `chain` sublevel. */
  db?: Database;
  logger?: Logger;
}

/** Reads or creates `<dataDir>/chain-key`; returns the account (the key itself never leaves this function). */
export async function loadOrCreateChainAccount(dataDir: string): Promise<Account> {
  const path = join(dataDir, CHAIN_KEY_FILE);
  let key: Hex;
  try {
    key = (await readFile(path, "utf8")).trim() as Hex;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    key = generatePrivateKey();
    await writeFile(path, `${key}\n`, { mode: 0o600 });
  }
  await chmod(path, 0o600).catch(() => undefined);
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new DeploymentInvalidError(path, "the chain key file does not hold a 32-byte hex key");
  return privateKeyToAccount(key);
}

/**
 * The node's view of the chain: clients, the market addresses and parameters, a per-account transaction
 * queue (one nonce at a time), the idempotency ledger and event checkpoints persisted in the node's LevelDB.
 */
export class ChainClient implements MarketActionContext {
  readonly logger: Logger;
  ledger?: TransactionLedger;
  /** The JSON-RPC link's watcher (outages, resets); undefined with injected clients. */
  health?: ChainHealth;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly chainStore?: KeyValueStore;

  private constructor(
    readonly deployment: CofferDeployment,
    readonly publicClient: PublicClient<Transport, Chain | undefined>,
    readonly walletClient: WalletClient<Transport, Chain | undefined, Account>,
    readonly addresses: MarketAddresses,
    readonly params: MarketParameters,
    readonly podParams: PodParameters,
    readonly startTime: bigint,
    db: Database | undefined,
    logger: Logger,
  ) {
    this.logger = logger;
    if (db) {
      const sub = db.sublevel<string, string>("chain", { valueEncoding: "utf8" }) as unknown as AbstractSublevel<Database, string | Uint8Array, string, string>;
      this.chainStore = { get: async (key) => (await sub.get(key)) ?? undefined, put: (key, value) => sub.put(key, value) };
      this.ledger = storedTransactionLedger(this.chainStore);
    }
  }

  static async create(options: ChainClientOptions): Promise<ChainClient> {
    const logger = options.logger ?? pino({ level: process.env.COFFER_LOG ?? "warn" });
    const deployment = options.deployment ?? (await readDeployment(options.network ?? "localhost", options.deploymentsLocation));
    const rpcUrl = options.rpcUrl ?? DEFAULT_RPC_URL;
    // Over JSON-RPC the node watches its link (outages, a chain reset under it); injected clients are the caller's.
    const health = options.publicClient ? undefined : new ChainHealth({ rpcUrl, deployment, logger });
    const transport = health?.transport ?? http(rpcUrl);
    if (health) await health.verifyNow();
    const publicClient = options.publicClient ?? createPublicClient({ transport, pollingInterval: 250 });
    let walletClient = options.walletClient;
    if (!walletClient) {
      if (!options.dataDir) throw new DeploymentInvalidError("<options>", "give a walletClient or a dataDir holding the chain key");
      walletClient = createWalletClient({ account: await loadOrCreateChainAccount(options.dataDir), transport, pollingInterval: 250 });
    }
    const c = deployment.contracts;
    for (const name of ["MarketVault", "StorageMarket", "DownloadMarket"]) {
      if (!c[name]) throw new DeploymentInvalidError(deployment.network, `contracts.${name} is missing (deploy the whole CofferSystem)`);
    }
    const addresses: MarketAddresses = {
      token: c.CofferToken.address,
      registry: c.LessorRegistry.address,
      vault: c.MarketVault!.address,
      market: c.StorageMarket!.address,
      downloads: c.DownloadMarket!.address,
    };
    const [params, podParams, startTime] = await Promise.all([
      publicClient.readContract({ address: addresses.market, abi: storageMarketAbi, functionName: "params" }),
      publicClient.readContract({ address: addresses.downloads, abi: downloadMarketAbi, functionName: "params" }),
      publicClient.readContract({ address: addresses.market, abi: storageMarketAbi, functionName: "startTime" }),
    ]);
    const client = new ChainClient(deployment, publicClient, walletClient, addresses, { ...params }, { ...podParams }, startTime, options.db, logger);
    client.health = health;
    return client;
  }

  get address(): Address {
    return this.walletClient.account.address;
  }

  /**
   * The chain key as an EIP-191 message signer for off-chain evidence (offers, timed challenges). Works for
   * a local key and for an RPC-held account alike; the key itself never leaves the wallet client.
   */
  messageSigner(): LocalAccount {
    const walletClient = this.walletClient;
    return {
      address: walletClient.account.address,
      signMessage: ({ message }: { message: SignableMessage }) => walletClient.signMessage({ account: walletClient.account, message }),
    } as unknown as LocalAccount;
  }

  /** Runs transactions of this account one at a time (sendContractTransaction picks the pending nonce). */
  serialize = <T>(task: () => Promise<T>): Promise<T> => {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  };

  /** The chain's current period, from the latest block's timestamp. */
  async currentPeriod(): Promise<bigint> {
    const block = await this.publicClient.getBlock({ blockTag: "latest" });
    return this.periodAt(block.timestamp);
  }

  periodAt(timestamp: bigint): bigint {
    return periodAt({ startTime: this.startTime, periodLength: this.params.periodLength }, timestamp);
  }

  /** The latest block's timestamp: chain time, in seconds. */
  async latestTimestamp(): Promise<bigint> {
    return (await this.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  }

  /** Persistent small state of a role (JSON values under `key`), in the chain sublevel. */
  async getState<T>(key: string): Promise<T | undefined> {
    const value = await this.chainStore?.get(`state:${key}`);
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  async putState(key: string, value: unknown): Promise<void> {
    // bigints are stored as decimal strings: callers convert them back.
    await this.chainStore?.put(`state:${key}`, JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  }

  /** An EventFollower over both markets that resumes from the block persisted under `name`. */
  followMarketEvents(name: string, onLogs: ConstructorParameters<typeof EventFollower>[0]["onLogs"], pollIntervalMs = 500) {
    const memory = new Map<string, string>();
    const store: KeyValueStore = this.chainStore ?? { get: async (k) => memory.get(k), put: async (k, v) => void memory.set(k, v) };
    return new EventFollower({
      client: this.publicClient as PublicClient,
      abi: [...storageMarketAbi, ...downloadMarketAbi],
      addresses: [this.addresses.market, this.addresses.downloads],
      checkpoint: storedCheckpoint(store, `events:${name}:lastBlock`),
      startBlock: BigInt(this.deployment.deployedAtBlock),
      onLogs,
      logger: this.logger,
      pollIntervalMs,
    });
  }
}
