/**
 * Starts a whole local Coffer system in one process (demo and system tests): the in-process chain with
 * short periods, the contracts, lessors / user / watcher as real libp2p nodes on 127.0.0.1 in temp dirs.
 * HARNESS ONLY: it mines a block every second so chain time follows the wall clock (node code never mines).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkConnection } from "hardhat/types/network";
import { pino, type Logger } from "pino";
import { parseEther } from "viem";
import { mintFromFaucet } from "../../node/chain/actions/mintFromFaucet.js";
import { registerLessor } from "../../node/chain/actions/registerLessor.js";
import { LessorRole, type LessorOptions } from "../../node/roles/lessor.js";
import { UserRole } from "../../node/roles/user.js";
import { WatcherRole } from "../../node/roles/watcher.js";
import { deployCoffer } from "./deploy-coffer.js";
import { dishonestLessor } from "./dishonest-lessor.js";
import { clientsForAccount } from "./network-cli.js";

/** CFR the harness gives the watcher for on-chain challenge bonds (not earnings). */
export const WATCHER_BOND_FUNDS = parseEther("1000");

export interface SystemOptions {
  periodLength: number;
  lessors: number;
  dishonest?: number[];
  /** Lessors (by index) that serve wrong bytes in PoD downloads. */
  serveWrongBytes?: number[];
  /** Capacity sectors (§12.3) each lessor keeps proven, by index (default none). */
  capacitySectors?: number[];
  /** How long lessors let a ready piece wait for others to share its sector (default 0). */
  sealDelayMs?: number;
  kPoRep?: number;
  kPoSt?: number;
  maxMisses?: number;
  logger?: Logger;
}

export async function startSystem(connection: NetworkConnection, options: SystemOptions) {
  const logger = options.logger ?? pino({ level: process.env.COFFER_LOG ?? "warn" });
  const root = await mkdtemp(join(tmpdir(), "coffer-system-"));
  const { deployment } = await deployCoffer(connection, {
    write: false,
    parameters: { minStake: 1n },
    marketParameters: {
      periodLength: BigInt(options.periodLength),
      kPoRep: options.kPoRep ?? 4,
      kPoSt: options.kPoSt ?? 3,
      sealRounds: 1,
      porepTimeout: 120n,
      maxMisses: options.maxMisses ?? 2,
      collateralPerGiB: parseEther("100"),
      commitTimeout: 120n,
      receiptTimeout: 120n,
      revealTimeout: 120n,
      disputeWindow: BigInt(Math.max(2, Math.floor(options.periodLength / 2))),
    },
  });
  const testClient = await connection.viem.getTestClient();
  const miner = setInterval(() => void testClient.mine({ blocks: 1 }).catch(() => undefined), 1000);
  const chainFor = async (account: number) => {
    const { publicClient, walletClient } = await clientsForAccount(connection, account);
    return { deployment, publicClient, walletClient };
  };
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    clearInterval(miner);
    for (const role of started.reverse()) await role.stop().catch((err) => logger.warn({ err }, "stop failed"));
    await rm(root, { recursive: true, force: true });
  };
  try {
    const lessors: LessorRole[] = [];
    const makeLessor = async (i: number, dataDir = join(root, `lessor-${i}`)) => {
      const opts: LessorOptions = {
        dataDir,
        chain: await chainFor(2 + i),
        logger: logger.child({ role: `lessor-${i}` }),
        pricePerGiBPerPeriod: parseEther("1") - BigInt(i) * parseEther("0.01"),
        capacityBytes: 1n << 34n,
        // Short test deals: claim earnings every period (production lessors claim far less often).
        claimAfterPeriods: 1,
        capacitySectors: options.capacitySectors?.[i],
        sealDelayMs: options.sealDelayMs,
        behaviour: dishonestLessor({ deleteReplicaAfterPoRep: options.dishonest?.includes(i), serveWrongBytes: options.serveWrongBytes?.includes(i) }),
      };
      const lessor = await LessorRole.create(opts);
      await lessor.start();
      return lessor;
    };
    for (let i = 0; i < options.lessors; i++) {
      const lessor = await makeLessor(i);
      lessors.push(lessor);
      started.push(lessor);
      const clients = await clientsForAccount(connection, 2 + i);
      await mintFromFaucet(clients, { token: deployment.contracts.CofferToken.address, amount: parseEther("10000") });
      const addr = lessor.node.addresses().find((a) => a.includes("127.0.0.1"))!;
      await registerLessor(clients, {
        registry: deployment.contracts.LessorRegistry.address,
        stake: parseEther("10000"),
        capacityBytes: 1n << 34n,
        pricePerGiBPerPeriod: parseEther("1") - BigInt(i) * parseEther("0.01"),
        peerId: lessor.node.peerId,
        multiaddrs: [addr.includes("/p2p/") ? addr : `${addr}/p2p/${lessor.node.peerId.toString()}`],
      });
    }
    const bootstrap = lessors.map((l) => { const a = l.node.addresses().find((x) => x.includes("127.0.0.1"))!; return a.includes("/p2p/") ? a : `${a}/p2p/${l.node.peerId}`; });
    const user = await UserRole.create({ dataDir: join(root, "user"), chain: await chainFor(1), logger: logger.child({ role: "user" }), bootstrap });
    await user.start();
    started.push(user);
    await mintFromFaucet(await clientsForAccount(connection, 1), { token: deployment.contracts.CofferToken.address, amount: parseEther("100000") });
    // The watcher escrows a bond for each on-chain challenge it opens (§7.2).
    await mintFromFaucet(await clientsForAccount(connection, 7 + options.lessors), { token: deployment.contracts.CofferToken.address, amount: WATCHER_BOND_FUNDS });
    const watcher = await WatcherRole.create({ dataDir: join(root, "watcher"), chain: await chainFor(7 + options.lessors), logger: logger.child({ role: "watcher" }), bootstrap });
    await watcher.start();
    started.push(watcher);
    return { deployment, root, lessors, user, watcher, stopAll, makeLessor, started, logger };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export type RunningSystem = Awaited<ReturnType<typeof startSystem>>;
