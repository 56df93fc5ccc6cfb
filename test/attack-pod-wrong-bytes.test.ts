/**
 * PoD with wrong bytes (docs/protocol.md §8): a lessor serves a corrupted file through the real engine
 * (encryptForDownload over its bad copy). The downloader proves it received E, gets the key, finds that the
 * plaintext does not hash to commD, locates a bad segment against a good copy from another source, and wins
 * the dispute with two openings: refund plus the lessor's whole bond.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, getAddress } from "viem";
import { network } from "hardhat";
import { GIB, deployMarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve } from "./helpers/market-actions.js";
import { pseudoRandomBytes } from "./helpers/proofs.js";
import { CommittedFile, commitFile, decryptDownload, encryptForDownload, podDisputeProof, podReceiptChallenge, podTileProof, toHex } from "../node/proofs/index.js";
import { DownloadStage } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(300_000, "pod-attack-file"); // n = 9,375 segments, depth 14, two chunks
const PRICE = 70_000n;
const COLLATERAL = 300_000_000n; // the minimum for 300,000 bytes at 1,000 units per byte
const CORRUPT_SEGMENTS = [4_321, 9_000];

async function servingFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 1, duration: 5, pricePerGiB: GIB, collateral: COLLATERAL });
  await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  return { ...system, dealId };
}

describe("attack: PoD download with wrong bytes", function () {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "coffer-pod-attack-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  it("the lessor that served corrupted data loses the dispute: bond slashed, downloader refunded", async function () {
    const s = await networkHelpers.loadFixture(servingFixture);
    const { downloads, vault, registry, lessorA, downloader, dealId } = s;
    const lessor = getAddress(lessorA.account.address);
    const deal = await s.market.read.getDeal([dealId]);

    // The lessor's copy is damaged (or it cheats): two segments differ from the deal's data.
    const goodPath = join(dir, "good.bin");
    const badPath = join(dir, "bad.bin");
    await writeFile(goodPath, FILE);
    const bad = new Uint8Array(FILE);
    for (const i of CORRUPT_SEGMENTS) bad[32 * i + 5] ^= 0x5a;
    await writeFile(badPath, bad);
    assert.equal(toHex((await commitFile(goodPath)).root), deal.commD);

    // 1. Open; 2. the lessor encrypts its bad copy with a fresh key and commits commE + H(key).
    const args = [dealId, 0n, PRICE] as const;
    const { result: downloadId } = await downloads.simulate.openDownload(args, { account: downloader.account.address });
    await downloads.write.openDownload(args, { account: downloader.account });
    const key = pseudoRandomBytes(32, "pod-attack-key");
    const cipher = await encryptForDownload(badPath, key, { ciphertextPath: join(dir, "cipher.bin") });
    await downloads.write.commitDownload([downloadId, toHex(cipher.commE), toHex(cipher.keyHash)], { account: lessorA.account });
    await networkHelpers.mine(1);
    assert.equal(await registry.read.lockedStakeOf([lessor]), COLLATERAL + PRICE);

    // The downloader received E (the file), recomputes commE and proves the challenged tile.
    const received = join(dir, "received.bin");
    await writeFile(received, await readFile(cipher.ciphertextPath));
    const receivedCommitment = await commitFile(received);
    assert.equal(toHex(receivedCommitment.root), toHex(cipher.commE));
    const download = await downloads.read.getDownload([downloadId]);
    const seed = (await (await viem.getPublicClient()).getBlock({ blockNumber: download.commitBlock + 1n })).hash;
    const ciphertext = await CommittedFile.open(received, receivedCommitment.tree, { kind: "ciphertext" });
    const challenged = podReceiptChallenge(seed, downloadId, Number(deal.segments));
    await downloads.write.confirmReceipt([downloadId, await podTileProof(ciphertext, challenged)], { account: downloader.account });

    // 4. The key is released; the plaintext does not hash to commD.
    await downloads.write.revealKey([downloadId, bytesToHex(key)], { account: lessorA.account });
    const plainPath = join(dir, "plain.bin");
    await decryptDownload(received, key, plainPath, { size: FILE.length });
    assert.notEqual(toHex((await commitFile(plainPath)).root), deal.commD);

    // Locate a wrong segment against a good copy (another replica), then dispute with two openings.
    const plain = await readFile(plainPath);
    const wrong: number[] = [];
    for (let i = 0; i < Number(deal.segments); i++) if (!plain.subarray(32 * i, 32 * i + 32).equals(FILE.subarray(32 * i, 32 * i + 32))) wrong.push(i);
    assert.deepEqual(wrong, CORRUPT_SEGMENTS);
    const goodCommitment = await commitFile(goodPath);
    const data = await CommittedFile.open(goodPath, goodCommitment.tree);
    // A correct segment cannot be disputed…
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.disputeDownload([downloadId, 1n, await podDisputeProof(ciphertext, data, 1)], { account: downloader.account }),
      downloads,
      "MarketDisputeRejected",
      [downloadId, 1n],
    );
    // …a wrong one wins: price refunded and the whole bond (= price) slashed to the downloader.
    const freeBefore = await registry.read.freeStakeOf([lessor]);
    await viem.assertions.emitWithArgs(
      downloads.write.disputeDownload([downloadId, BigInt(wrong[0]), await podDisputeProof(ciphertext, data, wrong[0])], { account: downloader.account }),
      downloads,
      "DownloadDisputed",
      [downloadId, BigInt(wrong[0]), PRICE, PRICE],
    );
    assert.equal((await downloads.read.getDownload([downloadId])).stage, DownloadStage.Disputed);
    assert.equal(await vault.read.withdrawableOf([downloader.account.address]), 2n * PRICE);
    assert.equal(await vault.read.withdrawableOf([lessor]), 0n);
    assert.equal(await registry.read.lockedStakeOf([lessor]), COLLATERAL);
    assert.equal(await registry.read.freeStakeOf([lessor]), freeBefore, "the bond was slashed, not returned");
    // Nothing left to claim: the lessor is never paid.
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.claimDownload([downloadId]), downloads, "MarketDownloadWrongStage", [downloadId, DownloadStage.Disputed]);
    await ciphertext.close();
    await data.close();
  });
});
