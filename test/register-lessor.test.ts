import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { network } from "hardhat";
import {
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
  http,
  parseEther,
  type Address,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { cofferTokenAbi } from "../node/chain/abi/cofferToken.js";
import { lessorRegistryAbi } from "../node/chain/abi/lessorRegistry.js";
import { mintFromFaucet } from "../node/chain/actions/mintFromFaucet.js";
import { registerLessor } from "../node/chain/actions/registerLessor.js";
import type { CofferClients } from "../node/chain/clients.js";
import { readDeployment, writeDeployment } from "../node/chain/deployments.js";
import {
  CofferChainError,
  decodeContractRevert,
  DeploymentInvalidError,
  DeploymentNotFoundError,
  FaucetUnavailableError,
  InsufficientGasFundsError,
  InsufficientTokenBalanceError,
  InvalidLessorTermsError,
  InvalidMultiaddrError,
  InvalidPeerIdError,
  LessorAlreadyRegisteredError,
  PeerIdTakenError,
  StakeBelowMinimumError,
} from "../node/chain/errors.js";
import { encodePeerId } from "../node/chain/lessor-profile.js";
import { deployCoffer } from "../scripts/lib/deploy-coffer.js";
import { runRegisterLessorCli } from "../scripts/lib/register-lessor-cli.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const connection = await network.create("hardhat");
const { viem } = connection;
const MIN_STAKE = parseEther("1000");

async function freshPeerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString();
}

async function clientsFor(index: number): Promise<CofferClients> {
  const wallets = await viem.getWalletClients();
  return { publicClient: await viem.getPublicClient(), walletClient: wallets[index]! };
}

async function runCli(args: string[], useConnection = true) {
  let stdout = "";
  let stderr = "";
  const io = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } };
  const code = await runRegisterLessorCli(args, { io, connection: useConnection ? connection : undefined });
  return { code, stdout, stderr };
}

describe("register-lessor (in-process network)", () => {
  let dir: string;
  let registry: Address;
  let token: Address;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "coffer-register-"));
    const { deployment } = await deployCoffer(connection, { location: { dir } });
    registry = deployment.contracts.LessorRegistry.address;
    token = deployment.contracts.CofferToken.address;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("deployCoffer wrote a valid deployments file", async () => {
    const deployment = await readDeployment("hardhat", { dir });
    assert.equal(deployment.network, "hardhat");
    assert.equal(deployment.chainId, 31337);
    assert.ok(deployment.deployedAtBlock >= 1);
    assert.equal(deployment.contracts.LessorRegistry.artifact, "LessorRegistry");
    assert.equal(deployment.contracts.CofferToken.address, token);
    const publicClient = await viem.getPublicClient();
    assert.equal(await publicClient.readContract({ address: token, abi: cofferTokenAbi, functionName: "faucetEnabled" }), true);
  });

  it("registers an account from flags, funding it from the faucet, and prints a summary", async () => {
    const peerId = await freshPeerId();
    const { code, stdout, stderr } = await runCli([
      "--deployments-dir", dir,
      "--account", "1",
      "--stake", "1500",
      "--capacity", "2TiB",
      "--price", "0.002",
      "--peer-id", peerId,
      "--multiaddr", "/ip4/127.0.0.1/tcp/4001",
      "--multiaddr", "/ip4/127.0.0.1/udp/4001/quic-v1",
    ]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const { walletClient, publicClient } = await clientsFor(1);
    const lessor = getAddress(walletClient.account.address);
    assert.match(stdout, new RegExp(`Funding ${lessor} with 1500 CFR from the local faucet`));
    assert.match(stdout, new RegExp(`Registered lessor ${lessor} on hardhat \\(chain 31337\\)`));
    assert.match(stdout, /capacity\s+2 TiB \(2199023255552 bytes\)/);
    assert.match(stdout, /stake\s+1500 CFR free, 0 CFR locked/);
    assert.match(stdout, /active\s+yes/);

    const info = await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "getLessor", args: [lessor] });
    assert.equal(info.freeStake, parseEther("1500"));
    assert.equal(info.capacityBytes, 2n << 40n);
    assert.equal(info.pricePerGiBPerPeriod, parseEther("0.002"));
    assert.equal(info.peerId, encodePeerId(peerId));
    assert.deepEqual(info.multiaddrs, ["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"]);
    assert.equal(await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "isActiveLessor", args: [lessor] }), true);
  });

  it("reads COFFER_* environment variables", async () => {
    const env = {
      COFFER_ACCOUNT: "5",
      COFFER_STAKE: "1000",
      COFFER_CAPACITY: "750GiB",
      COFFER_PRICE: "0.0005",
      COFFER_MULTIADDRS: "/ip4/127.0.0.2/tcp/4001,/ip4/127.0.0.3/tcp/4001",
    };
    Object.assign(process.env, env);
    try {
      const { code, stdout } = await runCli(["--deployments-dir", dir]);
      assert.equal(code, 0, stdout);
      assert.match(stdout, /No --peer-id given: using a fresh one for this local chain, 12D3KooW/);
    } finally {
      for (const key of Object.keys(env)) delete process.env[key];
    }
    const { walletClient, publicClient } = await clientsFor(5);
    const info = await publicClient.readContract({
      address: registry,
      abi: lessorRegistryAbi,
      functionName: "getLessor",
      args: [walletClient.account.address],
    });
    assert.equal(info.capacityBytes, 750n << 30n);
    assert.equal(info.pricePerGiBPerPeriod, parseEther("0.0005"));
    assert.deepEqual(info.multiaddrs, ["/ip4/127.0.0.2/tcp/4001", "/ip4/127.0.0.3/tcp/4001"]);
  });

  it("refuses an account that is already registered (exit 1)", async () => {
    const { code, stderr } = await runCli(["--deployments-dir", dir, "--account", "1"]);
    assert.equal(code, 1);
    assert.match(stderr, /is already registered as a lessor/);
  });

  it("refuses a stake below the minimum before funding anything (exit 1)", async () => {
    const { walletClient, publicClient } = await clientsFor(3);
    const before = await publicClient.readContract({ address: token, abi: cofferTokenAbi, functionName: "balanceOf", args: [walletClient.account.address] });
    const { code, stderr } = await runCli(["--deployments-dir", dir, "--account", "3", "--stake", "999.5"]);
    assert.equal(code, 1);
    assert.match(stderr, /Stake 999500000000000000000 is below the registry's minimum of 1000000000000000000000/);
    const after = await publicClient.readContract({ address: token, abi: cofferTokenAbi, functionName: "balanceOf", args: [walletClient.account.address] });
    assert.equal(after, before);
  });

  it("refuses a bad peer id (exit 1)", async () => {
    const { code, stderr } = await runCli(["--deployments-dir", dir, "--account", "3", "--peer-id", "not-a-peer-id"]);
    assert.equal(code, 1);
    assert.match(stderr, /Invalid libp2p peer id "not-a-peer-id": it does not parse as a libp2p peer id/);
  });

  it("refuses a bad multiaddr (exit 1)", async () => {
    const { code, stderr } = await runCli(["--deployments-dir", dir, "--account", "3", "--multiaddr", "/ip4/999.1.1.1/tcp/1"]);
    assert.equal(code, 1);
    assert.match(stderr, /Invalid multiaddr "\/ip4\/999.1.1.1\/tcp\/1": it does not parse as a multiaddr/);
  });

  it("reports missing funds when the faucet is not used (exit 1)", async () => {
    const { code, stderr } = await runCli(["--deployments-dir", dir, "--account", "4", "--no-faucet"]);
    assert.equal(code, 1);
    assert.match(stderr, /holds 0 CFR wei but 1000000000000000000000 are needed. Fund the account with CFR first/);
  });

  it("reports bad flags with exit 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--capacity", "lots"], /--capacity must be a size like 500GiB/],
      [["--price", "-1"], /--price must be a CFR amount/],
      [["--account", "99"], /Account 99 does not exist: network "hardhat" has 20 account\(s\)/],
      [["--capacity", "0"], /capacityBytes must be between 1 and/],
      [["--frobnicate"], /unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await runCli(["--deployments-dir", dir, ...args]);
      assert.match(stderr, message);
      // Invalid terms are a CofferChainError (exit 1); the rest are usage errors.
      assert.equal(code, args[1] === "0" ? 1 : 2, `${args.join(" ")}: ${stderr}`);
    }
  });

  it("prints help with exit 0", async () => {
    const { code, stdout } = await runCli(["--help"]);
    assert.equal(code, 0);
    assert.match(stdout, /--peer-id <id>/);
    assert.match(stdout, /COFFER_STAKE/);
  });

  it("deploys by itself on an in-process chain without a usable deployments file", async () => {
    const emptyDir = await mkdtemp(path.join(os.tmpdir(), "coffer-register-empty-"));
    try {
      const own = await network.create();
      try {
        let stdout = "";
        const io = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stdout += t) } };
        const code = await runRegisterLessorCli(["--deployments-dir", emptyDir, "--account", "2"], { io, connection: own });
        assert.equal(code, 0, stdout);
        assert.match(stdout, /In-process chain: deployed CofferToken at 0x[0-9a-fA-F]{40}, LessorRegistry at 0x[0-9a-fA-F]{40}/);
      } finally {
        await own.close();
      }
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });

  describe("registerLessor action", () => {
    it("throws typed errors for what the registry would refuse", async () => {
      const registered = await clientsFor(1);
      const fresh = await clientsFor(6);
      await mintFromFaucet(fresh, { token, amount: MIN_STAKE });
      const base = { registry, stake: MIN_STAKE, capacityBytes: 1n << 30n, pricePerGiBPerPeriod: 1n, multiaddrs: ["/ip4/127.0.0.1/tcp/4001"] };
      const peerId = await freshPeerId();

      await assert.rejects(registerLessor(registered, { ...base, peerId }), LessorAlreadyRegisteredError);
      await assert.rejects(registerLessor(fresh, { ...base, peerId, stake: MIN_STAKE - 1n }), (error: unknown) => {
        assert.ok(error instanceof StakeBelowMinimumError);
        assert.equal(error.minStake, MIN_STAKE);
        assert.equal(error.stake, MIN_STAKE - 1n);
        return true;
      });
      await assert.rejects(registerLessor(fresh, { ...base, peerId: new Uint8Array([0x13, 1, 0]) }), InvalidPeerIdError);
      await assert.rejects(registerLessor(fresh, { ...base, peerId, multiaddrs: [] }), InvalidMultiaddrError);
      await assert.rejects(registerLessor(fresh, { ...base, peerId, pricePerGiBPerPeriod: 0n }), InvalidLessorTermsError);
      await assert.rejects(registerLessor(fresh, { ...base, peerId, stake: MIN_STAKE + 1n }), InsufficientTokenBalanceError);

      // A peer id already claimed by account 1.
      const { publicClient } = registered;
      const taken = await publicClient.readContract({
        address: registry,
        abi: lessorRegistryAbi,
        functionName: "getLessor",
        args: [registered.walletClient.account.address],
      });
      await assert.rejects(registerLessor(fresh, { ...base, peerId: Buffer.from(taken.peerId.slice(2), "hex") }), PeerIdTakenError);

      // And all of them are CofferChainErrors with a one-line shortMessage.
      await assert.rejects(registerLessor(registered, { ...base, peerId }), (error: unknown) => {
        assert.ok(error instanceof CofferChainError);
        assert.ok(!error.shortMessage.includes("\n"));
        return true;
      });

      const result = await registerLessor(fresh, { ...base, peerId });
      assert.equal(result.info.freeStake, MIN_STAKE);
      assert.notEqual(result.approvalHash, undefined);
    });

    it("throws InsufficientGasFundsError for an account without native currency", async () => {
      const account = privateKeyToAccount(generatePrivateKey());
      const walletClient = createWalletClient({ account, transport: custom(connection.provider) });
      const publicClient = await viem.getPublicClient();
      await mintFromFaucet(await clientsFor(0), { token, to: account.address, amount: MIN_STAKE });
      await assert.rejects(
        registerLessor(
          { publicClient, walletClient },
          { registry, stake: MIN_STAKE, capacityBytes: 1n, pricePerGiBPerPeriod: 1n, peerId: await freshPeerId(), multiaddrs: ["/ip4/127.0.0.1/tcp/1"] },
        ),
        (error: unknown) => error instanceof InsufficientGasFundsError && error.balance === 0n,
      );
    });

    it("mintFromFaucet refuses above the per-call cap", async () => {
      await assert.rejects(mintFromFaucet(await clientsFor(0), { token, amount: parseEther("1000001") }), FaucetUnavailableError);
    });

    it("decodeContractRevert extracts the registry's custom error", async () => {
      const { publicClient, walletClient } = await clientsFor(7);
      const error = await publicClient
        .simulateContract({
          address: registry,
          abi: lessorRegistryAbi,
          functionName: "register",
          args: [1n, 1n, 1n, encodePeerId(await freshPeerId()), ["/ip4/127.0.0.1/tcp/1"]],
          account: walletClient.account,
        })
        .then(() => undefined, (e: unknown) => e);
      assert.deepEqual(decodeContractRevert(error), {
        errorName: "RegistryStakeBelowMinimum",
        args: [getAddress(walletClient.account.address), 1n, MIN_STAKE],
      });
      assert.equal(decodeContractRevert(new Error("not a viem error")), undefined);
    });
  });

  describe("deployments file", () => {
    it("reports a missing file and malformed contents clearly", async () => {
      await assert.rejects(readDeployment("nowhere", { dir }), (error: unknown) => {
        assert.ok(error instanceof DeploymentNotFoundError);
        assert.match(error.shortMessage, /No Coffer deployment for network "nowhere".*npm run deploy -- --network nowhere/);
        return true;
      });
      await assert.rejects(
        writeDeployment({ network: "bad", chainId: 1, deployedAtBlock: 0, contracts: {} as never }, { dir }),
        (error: unknown) => error instanceof DeploymentInvalidError && /contracts.CofferToken is missing/.test(error.shortMessage),
      );
      await assert.rejects(readDeployment("../etc", { dir }), DeploymentInvalidError);
    });
  });
});

/** Runs a script the way `npm run deploy/register-lessor -- ...` does: Node + tsx, in a child process. */
function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, COFFER_DEPLOYMENTS_DIR: undefined },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("deploy + register-lessor scripts against a JSON-RPC node (child processes)", function () {
  this.timeout(180_000);
  let server: Awaited<ReturnType<typeof network.createServer>>;
  let rpcUrl: string;
  let dir: string;
  let ignitionDir: string | undefined;

  before(async () => {
    server = await network.createServer("hardhat", "127.0.0.1", 0);
    const { port } = await server.listen();
    rpcUrl = `http://127.0.0.1:${port}`;
    dir = await mkdtemp(path.join(os.tmpdir(), "coffer-scripts-"));
  });

  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
    if (ignitionDir !== undefined) await rm(ignitionDir, { recursive: true, force: true });
  });

  const target = () => ["--network", "localhost", "--rpc-url", rpcUrl, "--deployments-dir", dir];

  it("register-lessor before any deployment exits 1 and says to deploy", async () => {
    const { code, stderr } = await runScript("scripts/register-lessor.ts", target());
    assert.equal(code, 1, stderr);
    assert.match(stderr, /No Coffer deployment for network "localhost".*Deploy first: npm run deploy -- --network localhost/);
  });

  it("deploy writes deployments/localhost.json; register-lessor registers and refuses a repeat", async () => {
    const deployed = await runScript("scripts/deploy.ts", [...target(), "--min-stake", "500", "--unbonding-delay", "60"]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /Deployed Coffer on localhost \(chain 31337/);
    const deployment = JSON.parse(await readFile(path.join(dir, "localhost.json"), "utf8"));
    assert.equal(deployment.network, "localhost");
    assert.equal(deployment.chainId, 31337);

    const publicClient = createPublicClient({ transport: http(rpcUrl) });
    const genesis = await publicClient.getBlock({ blockNumber: 0n });
    ignitionDir = path.join(REPO_ROOT, "ignition", "deployments", `local-31337-${genesis.hash.slice(2, 14)}`);
    const registry = deployment.contracts.LessorRegistry.address as Address;
    assert.equal(await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "minStake" }), parseEther("500"));
    assert.equal(await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "unbondingDelay" }), 60n);

    const peerId = await freshPeerId();
    const registered = await runScript("scripts/register-lessor.ts", [...target(), "--account", "2", "--peer-id", peerId]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stdout, /Registered lessor 0x[0-9a-fA-F]{40} on localhost \(chain 31337\)/);
    assert.match(registered.stdout, /stake\s+500 CFR free/);
    assert.equal(await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "lessorCount" }), 1n);
    assert.equal(
      await publicClient.readContract({ address: registry, abi: lessorRegistryAbi, functionName: "lessorByPeerId", args: [encodePeerId(peerId)] }),
      getAddress(registered.stdout.match(/Registered lessor (0x[0-9a-fA-F]{40})/)![1]!),
    );

    const again = await runScript("scripts/register-lessor.ts", [...target(), "--account", "2"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is already registered as a lessor/);
  });
});
