/**
 * What `coffer start --role ... --rpc ...` runs: one role (lessor, user or watcher) against a JSON-RPC chain,
 * its chain key in the data dir, plus the control routes the CLI's buy-deal / get call. Also `coffer register`
 * and `coffer fund` (local chains): staking and funding an account whose key lives in the data dir.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { Logger } from "pino";
import { createPublicClient, createWalletClient, formatEther, http, parseEther, type Hex } from "viem";
import { cofferTokenAbi } from "../chain/abi/cofferToken.js";
import { lessorRegistryAbi } from "../chain/abi/lessorRegistry.js";
import { storageMarketAbi } from "../chain/abi/storageMarket.js";
import { mintFromFaucet } from "../chain/actions/mintFromFaucet.js";
import { registerLessor } from "../chain/actions/registerLessor.js";
import { loadOrCreateChainAccount } from "../chain/client.js";
import type { CofferClients } from "../chain/clients.js";
import { parseDeployment, readDeployment, type CofferDeployment } from "../chain/deployments.js";
import { checkOutputPath } from "../download/output-path.js";
import { decodeContractRevert } from "../chain/errors.js";
import { CofferError } from "../errors.js";
import { parseRoot } from "../p2p/hex.js";
import { loadOrCreatePeerKey } from "../p2p/identity.js";
import type { CofferNode } from "../assembly/coffer-node.js";
import { ReplicaState } from "../chain/states.js";
import { LessorRole } from "../roles/lessor.js";
import { UserRole } from "../roles/user.js";
import { WatcherRole } from "../roles/watcher.js";
import type { ControlExtensions, ControlRoute } from "./control.js";
import type { ChainMismatchError } from "../chain/chain-health.js";

/** Chain ids where `hardhat_setBalance` and the token faucet exist (npm run chain). */
const LOCAL_CHAIN_IDS = [31337, 1337];
const ZERO = "0x0000000000000000000000000000000000000000";

export interface ChainTarget {
  rpcUrl: string;
  network: string;
  /** Path of a deployment JSON; default deployments/<network>.json. */
  deploymentFile?: string;
}

export async function loadDeploymentFor(target: ChainTarget): Promise<CofferDeployment> {
  if (!target.deploymentFile) return readDeployment(target.network);
  let text: string;
  try {
    text = await readFile(resolve(target.deploymentFile), "utf8");
  } catch (cause) {
    throw new CofferError(`cannot read the deployment file ${target.deploymentFile}`, { code: "not-found", cause, details: "deploy first: npm run deploy -- --network <name>" });
  }
  try {
    return parseDeployment(JSON.parse(text), target.deploymentFile);
  } catch (cause) {
    throw new CofferError(`${target.deploymentFile} is not a Coffer deployment: ${(cause as Error).message}`, { code: "bad-request", cause });
  }
}

/** Clients for the data dir's chain key over `rpcUrl` (the key is read here and never printed). */
export async function clientsForDataDir(dataDir: string, rpcUrl: string): Promise<CofferClients> {
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ transport, pollingInterval: 250 });
  const walletClient = createWalletClient({ account: await loadOrCreateChainAccount(dataDir), transport, pollingInterval: 250 });
  return { publicClient, walletClient };
}

/**
 * Local chains only: gives the data dir's account gas (hardhat_setBalance) and `cfr` CFR from the faucet.
 * Public networks: refuses, the operator funds the printed address.
 */
export async function fundLocally(clients: CofferClients, deployment: CofferDeployment, cfr: bigint): Promise<{ eth: bigint; cfr: bigint }> {
  const chainId = await clients.publicClient.getChainId();
  const address = clients.walletClient.account.address;
  if (!LOCAL_CHAIN_IDS.includes(chainId)) {
    throw new CofferError(`chain ${chainId} is not a local chain: send ETH for gas and CFR to ${address} yourself`, { code: "bad-request" });
  }
  const gas = parseEther("100");
  if ((await clients.publicClient.getBalance({ address })) < gas) {
    await clients.publicClient.request({ method: "hardhat_setBalance" as never, params: [address, `0x${gas.toString(16)}`] as never });
  }
  const token = { address: deployment.contracts.CofferToken.address, abi: cofferTokenAbi } as const;
  const [balance, maxPerCall] = await Promise.all([
    clients.publicClient.readContract({ ...token, functionName: "balanceOf", args: [address] }),
    clients.publicClient.readContract({ ...token, functionName: "FAUCET_MAX_PER_CALL" }),
  ]);
  for (let missing = cfr - balance; missing > 0n; missing -= maxPerCall) {
    await mintFromFaucet(clients, { token: token.address, amount: missing < maxPerCall ? missing : maxPerCall });
  }
  return { eth: await clients.publicClient.getBalance({ address }), cfr: await clients.publicClient.readContract({ ...token, functionName: "balanceOf", args: [address] }) };
}

export interface RegisterFromDataDirParameters {
  stake?: bigint;
  capacityBytes: bigint;
  pricePerGiBPerPeriod: bigint;
  /** Where other nodes reach this one; `/p2p/<peer id>` is appended when missing. */
  announce: string[];
}

/** Registers the data dir's chain key as the lessor of the data dir's peer id (funding it first on local chains). */
export async function registerFromDataDir(dataDir: string, target: ChainTarget, params: RegisterFromDataDirParameters) {
  const deployment = await loadDeploymentFor(target);
  const clients = await clientsForDataDir(dataDir, target.rpcUrl);
  const peerId = peerIdFromPrivateKey(await loadOrCreatePeerKey(dataDir));
  const registry = deployment.contracts.LessorRegistry.address;
  const stake = params.stake ?? (await clients.publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "minStake" }));
  if (LOCAL_CHAIN_IDS.includes(await clients.publicClient.getChainId())) await fundLocally(clients, deployment, stake);
  const multiaddrs = params.announce.map((a) => (a.includes("/p2p/") ? a : `${a}/p2p/${peerId.toString()}`));
  const result = await registerLessor(clients, { registry, stake, capacityBytes: params.capacityBytes, pricePerGiBPerPeriod: params.pricePerGiBPerPeriod, peerId, multiaddrs });
  return { lessor: result.lessor, peerId: peerId.toString(), multiaddrs, stake: formatEther(stake), transaction: result.registrationHash };
}

export interface RunningRole {
  node: CofferNode;
  address: Hex;
  control: ControlExtensions;
  stop(): Promise<void>;
}

export interface StartRoleOptions extends ChainTarget {
  role: "lessor" | "user" | "watcher";
  dataDir: string;
  listen: string[];
  bootstrap: string[];
  logger: Logger;
  allowPrivateAddresses: boolean;
  uploadLimit?: number;
  /** Lessor terms (CFR wei per GiB per period, bytes). */
  pricePerGiBPerPeriod: bigint;
  capacityBytes: bigint;
  /** Lessor: empty sectors to keep sealed and proven as proven capacity (§12.3). */
  capacitySectors?: number;
  /** Watcher: escalate failed timed challenges to on-chain challenges (§7.2; needs CFR for bonds). Default true. */
  onChainChallenges?: boolean;
  /** Called once if the chain turns out not to be the deployment's (reset, another chain): the caller stops. */
  onFatal?: (error: ChainMismatchError) => void;
}

/**
 * `coffer put` on a lessor or watcher node: they buy no deals (plain p2p storage has no agreement with the
 * market's lessors either), so it is refused up front with the command to use instead.
 */
function putRefused(role: string): ControlRoute {
  return async () => {
    throw new CofferError(
      `this node runs the ${role} role, which buys no deals: run \`coffer put <file|folder>... --replicas <n> --periods <n> --max-price <CFR>\` ` +
        "on a user node (coffer start --role user --rpc <url>)",
      { code: "wrong-command" },
    );
  };
}

/** Starts the role; its control routes: user `/buy-deal` and `/get` (a deal id or a commD of one of its deals). */
export async function startRole(o: StartRoleOptions): Promise<RunningRole> {
  const deployment = await loadDeploymentFor(o);
  const common = {
    dataDir: o.dataDir,
    listen: o.listen,
    bootstrap: o.bootstrap,
    chain: { deployment, rpcUrl: o.rpcUrl },
    logger: o.logger,
    node: { allowPrivateAddresses: o.allowPrivateAddresses, uploadLimit: o.uploadLimit, overlay: { enabled: true } },
  };
  if (o.role === "lessor") {
    const lessor = await LessorRole.create({ ...common, pricePerGiBPerPeriod: o.pricePerGiBPerPeriod, capacityBytes: o.capacityBytes, capacitySectors: o.capacitySectors });
    if (o.onFatal) lessor.chain.health?.onFatal(o.onFatal);
    await lessor.start();
    const registered = await lessor.chain.publicClient.readContract({ address: deployment.contracts.LessorRegistry.address, abi: lessorRegistryAbi, functionName: "getLessor", args: [lessor.address] });
    if (registered.registeredAt === 0n) o.logger.warn({ address: lessor.address }, "this lessor is not registered yet: run `coffer register` (users only pick registered lessors)");
    return {
      node: lessor.node,
      address: lessor.address,
      control: {
        status: async () => ({
          chainAddress: lessor.address,
          pieces: lessor.pieces(),
          sectors: lessor.sectors().map((x) => ({ number: x.number, id: x.id, log2Segments: x.log2Segments, bytes: 2 ** x.log2Segments * 32, pieces: x.pieces.length, stage: x.stage })),
          provenCapacityBytes: (await lessor.provenCapacity()).toString(),
          stats: lessor.stats,
          onChainChallenges: { answered: lessor.onChainChallenges.answered.length, missed: lessor.onChainChallenges.missed.length },
        }),
        routes: { "/put": putRefused("lessor") },
      },
      stop: () => lessor.stop(),
    };
  }
  if (o.role === "watcher") {
    const watcher = await WatcherRole.create({ ...common, ...(o.onChainChallenges === false ? { onChainChallenges: false as const } : {}) });
    if (o.onFatal) watcher.chain.health?.onFatal(o.onFatal);
    await watcher.start();
    return {
      node: watcher.node,
      address: watcher.chain.address,
      control: {
        status: async () => ({
          chainAddress: watcher.chain.address,
          reports: watcher.reports.length,
          suspects: watcher.suspects(),
          onChainChallenges: { open: watcher.onChain.openChallenges(), settled: watcher.onChain.settled.map((c) => ({ ...c, openedBlock: c.openedBlock.toString(), slashed: c.slashed.toString(), bounty: c.bounty.toString() })) },
        }),
        routes: { "/put": putRefused("watcher") },
      },
      stop: () => watcher.stop(),
    };
  }
  const user = await UserRole.create(common);
  if (o.onFatal) user.chain.health?.onFatal(o.onFatal);
  await user.start();
  const market = { address: user.chain.addresses.market, abi: storageMarketAbi } as const;
  return {
    node: user.node,
    address: user.address,
    control: {
      status: async () => ({ chainAddress: user.address, deals: user.trackedDeals().map((d) => ({ dealId: d.dealId, commD: d.commD, size: d.size, replicas: d.replicas.length })) }),
      routes: {
        "/put": async (body, emit, signal) => {
          const paths = Array.isArray(body.paths) && body.paths.every((p) => typeof p === "string") ? (body.paths as string[]) : [requireString(body, "path")];
          if (body.replicas === undefined || body.periods === undefined || body.maxPrice === undefined) {
            throw new CofferError("a put on a user node buys a deal: give --replicas <n> --periods <n> --max-price <CFR>", { code: "bad-request" });
          }
          const put = await user.putFiles({ paths: paths.map((p) => resolve(p)), replicas: requireInteger(body, "replicas"), durationPeriods: requireInteger(body, "periods"), maxPricePerGiBPerPeriod: parseWei(body.maxPrice), signal, onProgress: (message) => emit({ message }) });
          const replicasNow = await Promise.all(put.replicas.map(async (r) => ({
            ...r,
            state: ReplicaState[await user.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [put.dealId, BigInt(r.replicaIndex)] })],
          })));
          return { ...put, replicas: replicasNow, pricePerGiBPerPeriod: put.pricePerGiBPerPeriod.toString() };
        },
        "/ls": async () => user.listFiles(),
        "/recover": async (_body, emit) => user.recoverFromChain((message) => emit({ message })),
        "/get-files": async (body, emit) => {
          const selector = requireString(body, "path");
          const out = resolve(requireString(body, "out"));
          emit({ message: `restoring ${selector} under ${out}` });
          const got = await user.getFiles(selector, out, { force: body.force === true });
          return { files: got.files, bytes: got.bytes, out, volumes: got.volumes.map((v) => ({ ...v, price: v.price.toString() })) };
        },
        "/buy-deal": async (body, emit, signal) => {
          const file = requireString(body, "file");
          const replicas = requireInteger(body, "replicas");
          const periods = requireInteger(body, "periods");
          const maxPrice = parseWei(body.maxPrice);
          const deal = await user.buyDeal({ file: resolve(file), replicas, durationPeriods: periods, maxPricePerGiBPerPeriod: maxPrice, signal, onProgress: (message) => emit({ message }) });
          if (body.wait === true) {
            emit({ message: "waiting until every replica is Proving" });
            await user.waitUntilProving(deal.dealId, typeof body.waitMs === "number" ? body.waitMs : 600_000);
          }
          // The final on-chain state of every slot, waited for or not.
          const replicasNow = await Promise.all(deal.replicas.map(async (r) => ({
            ...r,
            state: ReplicaState[await user.chain.publicClient.readContract({ ...market, functionName: "replicaState", args: [deal.dealId, BigInt(r.replicaIndex)] })],
          })));
          return { ...deal, replicas: replicasNow, pricePerGiBPerPeriod: deal.pricePerGiBPerPeriod.toString() };
        },
        "/cancel-deal": async (body) => {
          const dealId = requireDealId(body);
          return refundAnswer(dealId, await user.cancelDeal(dealId));
        },
        "/claim-refund": async (body) => {
          const dealId = requireDealId(body);
          return refundAnswer(dealId, await user.claimRefund(dealId));
        },
        "/get": async (body, emit) => {
          const id = requireString(body, "root").toLowerCase() as Hex;
          const out = resolve(requireString(body, "out"));
          const force = body.force === true;
          await checkOutputPath(out, { force });
          let dealId: Hex | undefined = user.trackedDeals().find((d) => d.commD === id)?.dealId;
          if (!dealId) {
            if (!parseRoot(id)) throw new CofferError(`not a root or deal id: ${id}`, { code: "bad-root" });
            // On-chain first: a deal id nobody created is answered at once, not after a DHT search for providers.
            const deal = await user.chain.publicClient.readContract({ ...market, functionName: "getDeal", args: [id] }).catch((error: unknown) => {
              if (decodeContractRevert(error)?.errorName === "MarketUnknownDeal") return undefined;
              throw error;
            });
            if (!deal || deal.client === ZERO) {
              throw new CofferError(
                `no such deal: ${id} is neither a deal on chain ${user.chain.deployment.chainId} (StorageMarket ${market.address}) nor the commD of one of this node's deals. ` +
                  "Give the deal id printed by buy-deal (or `coffer status` lists this node's deals)",
                { code: "no-such-deal" },
              );
            }
            dealId = id;
          }
          emit({ message: `PoD download of deal ${dealId}` });
          const got = await user.get(dealId, out, { force });
          return { dealId, downloadId: got.downloadId, lessor: got.lessor, price: got.price.toString(), size: got.bytes, out, sources: 1, disputed: got.disputed };
        },
      },
    },
    stop: () => user.stop(),
  };
}

/** The user's cancel / refund answer: amounts in CFR wei (strings) and as CFR text. */
function refundAnswer(dealId: Hex, r: { refund: bigint; withdrawn: bigint }) {
  return { dealId, refund: r.refund.toString(), refundCfr: formatEther(r.refund), withdrawn: r.withdrawn.toString(), withdrawnCfr: formatEther(r.withdrawn) };
}

function requireString(body: Record<string, unknown>, name: string): string {
  if (typeof body[name] !== "string" || body[name] === "") throw new CofferError(`\`${name}\` is required`, { code: "bad-request" });
  return body[name] as string;
}

function requireDealId(body: Record<string, unknown>): Hex {
  const id = requireString(body, "dealId").toLowerCase();
  if (!/^0x[0-9a-f]{64}$/.test(id)) throw new CofferError(`not a deal id: ${id} (expected 0x + 64 hex digits)`, { code: "bad-request" });
  return id as Hex;
}

function requireInteger(body: Record<string, unknown>, name: string): number {
  const value = body[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw new CofferError(`\`${name}\` must be a positive integer`, { code: "bad-request" });
  return value;
}

function parseWei(value: unknown): bigint {
  if (typeof value !== "string" || !/^\d+$/.test(value)) throw new CofferError("`maxPrice` must be a decimal string of CFR wei", { code: "bad-request" });
  return BigInt(value);
}
