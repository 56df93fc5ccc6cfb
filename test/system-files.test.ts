import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { network } from "hardhat";
import { pino } from "pino";
import { createWalletClient, custom, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { mintFromFaucet } from "../node/chain/actions/mintFromFaucet.js";
import { keysFromPhrase, newPhrase, writeUserKeys } from "../node/files/secret.js";
import { FramedStream } from "../node/p2p/framing.js";
import { commitFile, toHex } from "../node/proofs/index.js";
import { UserRole } from "../node/roles/user.js";
import { startSystem, type RunningSystem } from "../scripts/lib/system-harness.js";
import { treeOf } from "./helpers/tree.js";

const connection = await network.create("hardhat");

/** Every file under `dir` (LevelDB, chunks, sealed replicas...) that contains `needle`. */
async function filesContaining(dir: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path).catch(() => Buffer.alloc(0));
    if (bytes.indexOf(needle) >= 0) hits.push(path);
  }
  return hits;
}

/** Spies on every frame any node of this process reads (lessors and watcher included): payloads, concatenated per frame. */
function tapFrames(): { frames: Buffer[]; stop(): void } {
  const original = FramedStream.prototype.read;
  const frames: Buffer[] = [];
  FramedStream.prototype.read = async function (this: FramedStream, signal: AbortSignal) {
    const frame = await original.call(this, signal);
    frames.push(Buffer.concat([Buffer.from(JSON.stringify(frame.header)), Buffer.from(frame.body.subarray())]));
    return frame;
  };
  return { frames, stop: () => void (FramedStream.prototype.read = original) };
}

/** A copy of an installed package tree plus the edge cases: empty file and folder, spaces, non-ASCII, a symlink. */
async function realFolder(root: string, name: string): Promise<string> {
  const dir = join(root, name);
  await cp(join(process.cwd(), "node_modules", "@libp2p", "kad-dht"), dir, { recursive: true, verbatimSymlinks: true });
  await mkdir(join(dir, "empty folder", "nested empty"), { recursive: true });
  await writeFile(join(dir, "empty file"), "");
  await mkdir(join(dir, "dossier été 日本"), { recursive: true });
  await writeFile(join(dir, "dossier été 日本", "naïve résumé.txt"), "ça marche\n");
  await symlink("package.json", join(dir, "a symlink"));
  return dir;
}

describe("files on the whole system: encrypted by default, folders, ls, get, recovery from a phrase", function () {
  this.timeout(420_000);
  let system: RunningSystem;
  const extra: UserRole[] = [];
  before(async () => {
    system = await startSystem(connection, { periodLength: 20, lessors: 2 });
  });
  after(async () => {
    for (const u of extra) await u.stop().catch(() => undefined);
    await system?.stopAll();
    await connection.close();
  });

  it("a bought file is encrypted: commD is not the plaintext's root, and a planted marker reaches no lessor's or watcher's disk nor any frame", async function () {
    const { user, lessors } = system;
    const marker = Buffer.from(`MARKER-${randomBytes(12).toString("hex")}`);
    const file = join(system.root, "secret.bin");
    const bytes = Buffer.concat([randomBytes(100_000), marker, randomBytes(200_000), marker]);
    await writeFile(file, bytes);
    const tap = tapFrames();
    let deal;
    try {
      deal = await user.buyDeal({ file, replicas: 2, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: lessors.map((l) => l.node.peerId) });
      await user.waitUntilProving(deal.dealId);
      await new Promise((r) => setTimeout(r, 2_000)); // a few watcher challenges
    } finally {
      tap.stop();
    }
    assert.notEqual(deal.commD, toHex((await commitFile(file)).root).toLowerCase(), "commD is not the Merkle root of the plaintext");
    const frameBytes = tap.frames.reduce((a, f) => a + f.length, 0);
    assert.ok(frameBytes >= 2 * deal.size, `the tap saw the uploads (${frameBytes} bytes of frames)`);
    assert.equal(tap.frames.filter((f) => f.indexOf(marker) >= 0).length, 0, "no frame carries the marker");
    for (const dir of [join(system.root, "lessor-0"), join(system.root, "lessor-1"), join(system.root, "watcher")]) {
      assert.deepEqual(await filesContaining(dir, marker), [], `no file under ${dir} holds the marker`);
    }
    const out = join(system.root, "secret.out");
    const got = await user.get(deal.dealId, out);
    assert.equal(got.bytes, bytes.length);
    assert.deepEqual(await readFile(out), bytes, "get decrypts and hands back the file byte-identical");

    // The control: the same checks find a plaintext deal's marker (so they can fail).
    const plainMarker = Buffer.from(`PLAIN-${randomBytes(12).toString("hex")}`);
    const plainFile = join(system.root, "plain.bin");
    await writeFile(plainFile, Buffer.concat([randomBytes(1000), plainMarker]));
    const plain = await user.buyDeal({ file: plainFile, replicas: 1, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessors[0]!.node.peerId], encrypt: false });
    assert.ok((await filesContaining(join(system.root, "lessor-0"), plainMarker)).length > 0, "a plaintext deal's marker is found on the lessor");
    assert.equal(plain.commD, toHex((await commitFile(join(user.options.dataDir, "padded", `${plain.commD.slice(2)}.bin`))).root).toLowerCase());
  });

  it("puts a real folder (an installed package tree + edge cases) as one deal, lists it, gets one file, then the whole folder byte-identical", async function () {
    const { user, lessors } = system;
    const src = await realFolder(system.root, "kad dht copy");
    const lines: string[] = [];
    const started = performance.now();
    const put = await user.putFiles({ paths: [src], replicas: 2, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: lessors.map((l) => l.node.peerId), onProgress: (l) => lines.push(l) });
    const putMs = performance.now() - started;
    assert.ok(lines.some((l) => l.includes("a symlink") && l.includes("symbolic link")), "the symlink is skipped with a message");
    const expected = await treeOf(system.root, "kad dht copy");
    expected.delete("kad dht copy/a symlink");
    expected.set("kad dht copy", "dir");
    const fileCount = [...expected.values()].filter((v) => v !== "dir").length;
    assert.equal(put.files, fileCount);
    assert.ok(fileCount > 300, `${fileCount} files`);
    await user.waitUntilProving(put.dealId);

    const ls = await user.listFiles();
    const vol = ls.volumes.find((v) => v.dealId === put.dealId)!;
    assert.equal(vol.files, fileCount);
    assert.deepEqual(vol.replicas.map((r) => r.state), ["Proving", "Proving"]);
    assert.ok(vol.expiresAt > Date.now() / 1000, "expiry is in the future");
    assert.ok(ls.entries.some((e) => e.path === "kad dht copy/empty folder/nested empty" && e.type === "dir"));
    assert.ok(ls.entries.some((e) => e.path === "kad dht copy/dossier été 日本/naïve résumé.txt" && e.size === 11));

    const one = join(system.root, "one");
    const gotOne = await user.getFiles("kad dht copy/package.json", one);
    assert.equal(gotOne.files, 1);
    assert.deepEqual(await readdir(one), ["package.json"]);
    assert.deepEqual(await readFile(join(one, "package.json")), expected.get("kad dht copy/package.json"));

    const all = join(system.root, "all");
    const getStarted = performance.now();
    const gotAll = await user.getFiles("kad dht copy", all);
    const getMs = performance.now() - getStarted;
    assert.equal(gotAll.files, fileCount);
    const restored = await treeOf(all);
    assert.deepEqual([...restored.keys()].sort(), [...expected.keys()].sort(), "same files and folders (empty ones included)");
    for (const [k, v] of expected) assert.deepEqual(restored.get(k), v, k);
    // A second get into the same folder refuses to overwrite.
    await assert.rejects(user.getFiles("kad dht copy/package.json", one), { code: "output-exists" });
    await assert.rejects(user.getFiles("no/such/path", all), { code: "not-found" });
    console.log(`      real folder: ${fileCount} files, ${put.bytes} bytes in a ${put.size}-byte volume; put ${(putMs / 1000).toFixed(1)} s (pack + deal + 2 uploads), get ${(getMs / 1000).toFixed(1)} s (PoD + decrypt + restore)`);
  });

  it("recovers from the phrase alone: a new data dir finds the deal on-chain, fetches the manifest, lists and gets the folder back byte-identical", async function () {
    const { lessors, deployment } = system;
    const phrase = newPhrase();
    const keys = keysFromPhrase(phrase);
    const publicClient = await connection.viem.getPublicClient();
    const testClient = await connection.viem.getTestClient();
    await testClient.setBalance({ address: keys.address, value: parseEther("100") });
    const walletClient = createWalletClient({ account: privateKeyToAccount(keys.chainKey), chain: publicClient.chain, transport: custom(connection.provider) });
    await mintFromFaucet({ publicClient, walletClient }, { token: deployment.contracts.CofferToken.address, amount: parseEther("10000") });
    const bootstrap = lessors.map((l) => `${l.node.addresses().find((a) => a.includes("127.0.0.1"))!.split("/p2p/")[0]}/p2p/${l.node.peerId}`);
    const make = async (dataDir: string) => {
      const u = await UserRole.create({ dataDir, chain: { deployment, publicClient, walletClient }, logger: pino({ level: "warn" }), bootstrap });
      extra.push(u);
      await u.start();
      return u;
    };
    const dir = join(system.root, "phrase-user");
    await writeUserKeys(dir, keys);
    const first = await make(dir);
    assert.equal(first.address, keys.address, "the chain address is the phrase's");
    const src = join(system.root, "photos");
    await mkdir(join(src, "2024", "empty"), { recursive: true });
    await writeFile(join(src, "2024", "a b.jpg"), randomBytes(70_000));
    await writeFile(join(src, "ß.txt"), "x");
    await writeFile(join(src, "big.bin"), randomBytes(600_000));
    const put = await first.putFiles({ paths: [src], replicas: 1, durationPeriods: 6, maxPricePerGiBPerPeriod: parseEther("2"), lessors: [lessors[1]!.node.peerId] });
    await first.waitUntilProving(put.dealId);
    await first.stop();
    await rm(dir, { recursive: true, force: true });

    // Only the phrase is left.
    await writeUserKeys(dir, keysFromPhrase(phrase));
    const second = await make(dir);
    assert.deepEqual((await second.listFiles()).entries, [], "a new data dir knows no files");
    const recovered = await second.recoverFromChain();
    assert.equal(recovered.recovered, 1);
    const ls = await second.listFiles();
    assert.deepEqual(ls.entries.map((e) => e.path).sort(), ["photos", "photos/2024", "photos/2024/a b.jpg", "photos/2024/empty", "photos/big.bin", "photos/ß.txt"]);
    const out = join(system.root, "recovered");
    await second.getFiles("photos", out);
    const expected = await treeOf(system.root, "photos");
    expected.set("photos", "dir");
    const got = await treeOf(out);
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [k, v] of expected) assert.deepEqual(got.get(k), v, k);
    assert.equal((await stat(join(out, "photos", "2024", "empty"))).isDirectory(), true);
  });
});
