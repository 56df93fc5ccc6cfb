import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { pino } from "pino";
import { parseEther, type Hex } from "viem";
import { cofferTokenAbi } from "../node/chain/abi/cofferToken.js";
import { downloadMarketAbi } from "../node/chain/abi/downloadMarket.js";
import { storageMarketAbi } from "../node/chain/abi/storageMarket.js";
import { approveVault } from "../node/chain/actions/approveVault.js";
import { createDeal } from "../node/chain/actions/createDeal.js";
import { mintFromFaucet } from "../node/chain/actions/mintFromFaucet.js";
import { openDownload } from "../node/chain/actions/openDownload.js";
import { ReceiveCredit } from "../node/p2p/flow-control.js";
import { openFramed } from "../node/protocols/serve.js";
import { POD_CREDIT, POD_MAX_FRAME, POD_PROTOCOL } from "../node/protocols/pod/constants.js";
import { fileLayout } from "../node/proofs/index.js";
import { UserRole } from "../node/roles/user.js";
import { clientsForAccount } from "../scripts/lib/network-cli.js";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";

const connection = await network.create("hardhat");
const MiB = 1 << 20;

/**
 * The everyday data path on a whole system (harness: a block per second): large PoD downloads with a reader
 * that pauses, nothing left behind by failed downloads, output paths checked before paying, idempotent buys.
 */
describe("the data path: bounded PoD streams, no leftovers, safe output paths, idempotent buys", function () {
  this.timeout(240_000);
  let system: RunningSystem;
  let dealId: Hex;
  let dealSize: number;
  let file: string;
  const extraUsers: UserRole[] = [];
  const ciphertextsOf = async (i: number) => (await readdir(join(system.root, `lessor-${i}`, "sectors"))).filter((n) => n.endsWith(".cipher"));
  // Only this file's downloads run on this chain: every DownloadOpened is one of them.
  const downloadsOpened = async () =>
    (await (await connection.viem.getPublicClient()).getContractEvents({ address: system.deployment.contracts.DownloadMarket!.address, abi: downloadMarketAbi, eventName: "DownloadOpened", fromBlock: 0n })).length;
  const newUser = async (account: number, name: string, node = {}) => {
    const { publicClient, walletClient } = await clientsForAccount(connection, account);
    await mintFromFaucet({ publicClient, walletClient }, { token: system.deployment.contracts.CofferToken.address, amount: parseEther("100000") });
    const bootstrap = system.lessors.map((l) => `${l.node.addresses().find((a) => a.includes("127.0.0.1"))!.split("/p2p/")[0]}/p2p/${l.node.peerId}`);
    const user = await UserRole.create({ dataDir: join(system.root, name), chain: { deployment: system.deployment, publicClient, walletClient }, logger: pino({ level: "warn" }), bootstrap, node });
    extraUsers.push(user);
    return user;
  };

  before(async function () {
    system = await startSystem(connection, { periodLength: 20, lessors: 3 });
    file = join(system.root, "file.bin");
    await writeFile(file, randomBytes(24 * MiB));
    const deal = await system.user.buyDeal({ file, replicas: 1, durationPeriods: 8, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [system.lessors[0]!.node.peerId] });
    dealId = deal.dealId;
    // The deal stores the encrypted volume (docs/protocol.md §13.2): a little larger than the file.
    dealSize = deal.size;
    await system.user.waitUntilProving(dealId);
  });
  after(async () => {
    for (const user of extraUsers) await user.stop().catch(() => undefined);
    await system?.stopAll();
    await connection.close();
  });

  it("a 24 MiB PoD stream to a reader that stops reading while its transaction is mined stays within the credit window; a get is byte-identical", async function () {
    const { user, lessors } = system;
    const lessor = lessors[0]!;
    // A second downloader speaks the wire protocol itself so it can pause between reads as long as it likes.
    const { publicClient, walletClient } = await clientsForAccount(connection, 6);
    const ctx = { publicClient, walletClient, addresses: user.chain.addresses };
    await mintFromFaucet(ctx, { token: ctx.addresses.token, amount: parseEther("1") });
    const size = dealSize;
    await approveVault(ctx, { amount: BigInt(size) });
    const { downloadId } = await openDownload(ctx, { dealId, replicaIndex: 0, price: BigInt(size) });
    const signal = AbortSignal.timeout(120_000);
    const framed = await openFramed(user.node.host, lessor.node.peerId, POD_PROTOCOL, POD_MAX_FRAME, signal);
    let arrived = 0;
    framed.stream.addEventListener("message", (event) => (arrived += event.data.byteLength));
    await framed.write({ t: "pod", downloadId } as { t: string }, undefined, signal);
    const { header } = await framed.read(signal);
    assert.equal(header.bytes, fileLayout(size).segmentCount * 32);
    const credit = new ReceiveCredit(framed, POD_CREDIT);
    await credit.open(signal);
    // The reader waits for a transaction of its own to be mined, then three more blocks (~3 s), reading nothing.
    await approveVault(ctx, { amount: BigInt(size) + 1n });
    const block = await publicClient.getBlockNumber({ cacheTime: 0 });
    while ((await publicClient.getBlockNumber({ cacheTime: 0 })) < block + 3n) await new Promise((r) => setTimeout(r, 200));
    const window = POD_CREDIT.window * POD_MAX_FRAME;
    assert.ok(arrived <= window + 4096, `the lessor sent ${arrived} bytes during the pause: more than its ${window}-byte window`);
    let consumed = 0;
    let mostAhead = 0;
    for (;;) {
      const frame = await framed.read(signal);
      if (frame.header.t === "end") break;
      credit.arrived();
      consumed += frame.body.length;
      mostAhead = Math.max(mostAhead, arrived - consumed);
      if (consumed < (header.bytes as number)) await credit.consumed(signal);
    }
    assert.equal(consumed, header.bytes);
    assert.ok(mostAhead <= window + 4096, `at most the window was ever unread (${mostAhead} bytes)`);
    await framed.stream.close({ signal });
    console.log(`      PoD stream paused ~3 s: ${arrived > 0 ? "" : "no "}bytes bounded, at most ${(mostAhead / MiB).toFixed(2)} MiB unread (window ${(window / MiB).toFixed(2)} MiB)`);

    const started = performance.now();
    const out = join(system.root, "out.bin");
    await user.get(dealId, out);
    console.log(`      get of 24 MiB (PoD, 1 s blocks): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(await readFile(out), await readFile(file));
    // Streamed (or abandoned) ciphertexts are not kept by the lessor.
    for (let i = 0; i < 50 && (await ciphertextsOf(0)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await ciphertextsOf(0), []);
  });

  it("a failed get leaves no ciphertext or partial file on the user or the lessor", async function () {
    const { user } = system;
    const outDir = join(system.root, "failed-get");
    await mkdir(outDir);
    // Given up mid-exchange: once the ciphertext has started to arrive (not after a fixed time, which a fast
    // machine outruns), as the CLI's Ctrl-C would.
    const downloads = join(user.options.dataDir, "downloads");
    const giveUp = new AbortController();
    const getting = user.get(dealId, join(outDir, "out.bin"), { signal: giveUp.signal });
    for (let i = 0; i < 600 && !giveUp.signal.aborted; i++) {
      const started = await Promise.all(
        (await readdir(downloads).catch(() => [] as string[])).filter((n) => n.endsWith(".cipher")).map(async (n) => (await stat(join(downloads, n))).size),
      );
      if (started.some((size) => size > 0)) giveUp.abort(new Error("given up by the test"));
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(giveUp.signal.aborted, "the ciphertext started to arrive");
    await assert.rejects(getting);
    assert.deepEqual(await readdir(outDir), [], "no output or partial file");
    assert.deepEqual((await readdir(join(user.options.dataDir, "downloads"))).filter((n) => n.endsWith(".cipher")), [], "no ciphertext on the user");
    // The lessor finds out when its next write to the reset stream fails.
    for (let i = 0; i < 200 && (await ciphertextsOf(0)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await ciphertextsOf(0), [], "no ciphertext on the lessor");
  });

  it("output paths are refused before any download is opened; an existing file only with force", async function () {
    const { user } = system;
    const opened = await downloadsOpened();
    await assert.rejects(user.get(dealId, join(system.root, "no-such-folder", "out.bin")), { name: "OutputPathError", code: "output-folder-missing" });
    await mkdir(join(system.root, "a-dir"));
    await assert.rejects(user.get(dealId, join(system.root, "a-dir")), { name: "OutputPathError", code: "output-is-directory" });
    const existing = join(system.root, "existing.bin");
    await writeFile(existing, "keep me");
    await assert.rejects(user.get(dealId, existing), { name: "OutputPathError", code: "output-exists", message: /pass --force/ });
    assert.equal(await readFile(existing, "utf8"), "keep me");
    assert.equal(await downloadsOpened(), opened, "no DownloadOpened for a refused path");
    await user.get(dealId, existing, { force: true });
    assert.deepEqual(await readFile(existing), await readFile(file));
  });

  it("start-up removes what an unfinished download left: the user's ciphertext and partial, the lessor's ciphertext", async function () {
    const fresh = await newUser(11, "user-restarted");
    const downloads = join(fresh.options.dataDir, "downloads");
    await mkdir(downloads, { recursive: true });
    await writeFile(join(downloads, "0123456789abcdef.cipher"), randomBytes(1000));
    await writeFile(join(downloads, "0123456789abcdef-1.verified"), randomBytes(1000));
    const outDir = join(system.root, "crashed-get");
    await mkdir(outDir);
    const partial = join(outDir, "out.bin.01234567.partial");
    await writeFile(partial, randomBytes(1000));
    await fresh.chain.putState("user:downloads", { ["0x" + "01".repeat(32)]: { cipherPath: join(downloads, "elsewhere.cipher"), partialPath: partial } });
    await fresh.start();
    assert.deepEqual(await readdir(downloads), []);
    assert.deepEqual(await readdir(outDir), []);

    const lessorDir = join(system.root, "lessor-restarted");
    await mkdir(join(lessorDir, "sectors"), { recursive: true });
    await writeFile(join(lessorDir, "sectors", "pod-0123456789abcdef.cipher"), randomBytes(1000));
    const lessor = await system.makeLessor(9, lessorDir);
    system.started.push(lessor);
    assert.deepEqual(await readdir(join(lessorDir, "sectors")), []);
  });

  it("buy-deal retried after a lessor died mid-upload continues the same deal (one DealCreated, escrow paid once) and completes", async function () {
    const { lessors } = system;
    const publicClient = await connection.viem.getPublicClient();
    const market = { address: system.deployment.contracts.StorageMarket!.address, abi: storageMarketAbi } as const;
    // Throttled uploads (2 MiB/s) so the lessor can be stopped with the upload under way.
    const buyer = await newUser(12, "buyer", { uploadLimit: 2 * MiB });
    await buyer.start();
    const data = join(system.root, "buy.bin");
    await writeFile(data, randomBytes(4 * MiB));
    const balance = () => publicClient.readContract({ address: system.deployment.contracts.CofferToken.address, abi: cofferTokenAbi, functionName: "balanceOf", args: [buyer.address] });
    const before = await balance();
    const params = { file: data, replicas: 2, durationPeriods: 8, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessors[0]!.node.peerId, lessors[2]!.node.peerId] };
    const first = buyer.buyDeal(params);
    // lessor-0 (the dearest: the deal's price is its price, so lessor-1 can take its slot) dies mid-upload.
    const victim = lessors[0]!;
    for (let i = 0; i < 200; i++) {
      const held = victim.node.store.roots().map((r) => victim.node.store.info(r)!).find((info) => info.completeChunks > 0 && !info.complete);
      if (held) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await victim.stop();
    await assert.rejects(first, /run buy-deal again to continue this deal/);

    const resumed = await buyer.buyDeal(params);
    assert.equal(resumed.resumed, true);
    await buyer.waitUntilProving(resumed.dealId);
    const created = await publicClient.getContractEvents({ ...market, eventName: "DealCreated", args: { client: buyer.address }, fromBlock: 0n });
    assert.equal(created.length, 1, "one deal for the commD");
    assert.equal(created[0]!.args.dealId, resumed.dealId);
    const deal = await publicClient.readContract({ ...market, functionName: "getDeal", args: [resumed.dealId] });
    assert.equal(before - (await balance()), deal.pricePerPeriod * 2n * 8n, "the escrow was paid once");
    assert.ok(!resumed.replicas.some((r) => r.lessor.toLowerCase() === victim.address.toLowerCase()), "the dead lessor's slot went to another lessor");

    // A third buy of the same commD is refused with the deal's id: nothing left to place.
    await assert.rejects(buyer.buyDeal(params), new RegExp(`already has the live deal ${resumed.dealId} with every replica placed`));
    // Neither cancellable (lessors store it) nor refundable (still running), each said plainly.
    await assert.rejects(buyer.cancelDeal(resumed.dealId), /can no longer be cancelled.*coffer refund/);
    await assert.rejects(buyer.claimRefund(resumed.dealId), /runs until period/);
  });

  it("cancel refunds an unfilled deal in full and withdraws it; cancelling again or refunding a cancelled deal is refused by name", async function () {
    const buyer = extraUsers.find((u) => u.options.dataDir.endsWith("buyer"))!;
    const publicClient = await connection.viem.getPublicClient();
    const escrow = parseEther("0.5");
    await approveVault(buyer.chain, { amount: escrow });
    const { dealId: unfilled } = await createDeal(buyer.chain, { commD: `0x${"ab".repeat(32)}`, size: 1n << 30n, replicas: 1, durationPeriods: 5, pricePerGiBPerPeriod: parseEther("0.1"), collateralPerReplica: parseEther("100") });
    const balance = () => publicClient.readContract({ address: system.deployment.contracts.CofferToken.address, abi: cofferTokenAbi, functionName: "balanceOf", args: [buyer.address] });
    const before = await balance();
    const { refund, withdrawn } = await buyer.cancelDeal(unfilled);
    assert.equal(refund, escrow);
    assert.ok(withdrawn >= refund);
    assert.equal((await balance()) - before, withdrawn);
    await assert.rejects(buyer.cancelDeal(unfilled), /is cancelled: its whole escrow was refunded then/);
    await assert.rejects(buyer.claimRefund(unfilled), /is cancelled/);
    await assert.rejects(buyer.cancelDeal(`0x${"00".repeat(31)}01`), { code: "not-found" });
  });
});
