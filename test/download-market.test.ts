import assert from "node:assert/strict";
import { bytesToHex, encodeAbiParameters, getAddress, hexToBytes, type Hex } from "viem";
import { network } from "hardhat";
import { GIB, TEST_POD_PARAMS, deployMarketSystem } from "./helpers/market-fixture.js";
import { createDeal, fillAndProve } from "./helpers/market-actions.js";
import { dataTree, encryptForDownload, opening, pseudoRandomBytes, receiptChallenge, type Tree } from "./helpers/proofs.js";
import { sha256 } from "../node/proofs/hash.js";
import { DownloadStage } from "../node/chain/states.js";

const { viem, networkHelpers } = await network.create();

const FILE = pseudoRandomBytes(1000, "download-file");
const DATA = dataTree(FILE);
const KEY = pseudoRandomBytes(32, "download-key");
const KEY_HASH = bytesToHex(sha256(KEY));
const PRICE = 50_000n;


async function servingFixture() {
  const system = await deployMarketSystem(viem);
  const dealId = await createDeal(system, { bytes: FILE, replicas: 1, duration: 5, pricePerGiB: GIB, collateral: 10_000_000n });
  await fillAndProve(system, system.lessorA, dealId, 0, FILE);
  return { ...system, dealId };
}

async function openedFixture() {
  const s = await servingFixture();
  const { downloads, downloader, dealId } = s;
  const args = [dealId, 0n, PRICE] as const;
  const { result: downloadId } = await downloads.simulate.openDownload(args, { account: downloader.account.address });
  await downloads.write.openDownload(args, { account: downloader.account });
  return { ...s, downloadId };
}

async function committedFixture(cipher: Tree) {
  const s = await openedFixture();
  await s.downloads.write.commitDownload([s.downloadId, cipher.root, KEY_HASH], { account: s.lessorA.account });
  await networkHelpers.mine(1);
  return s;
}

const honestCipher = encryptForDownload(DATA, KEY);
const corruptCipher = encryptForDownload(DATA, KEY, 7);
async function committedHonestFixture() {
  return committedFixture(honestCipher);
}
async function committedCorruptFixture() {
  return committedFixture(corruptCipher);
}

type S = Awaited<ReturnType<typeof openedFixture>>;

/** The receipt challenge, computed from the chain (an eth_call at "latest" cannot see the latest block's hash). */
async function challengeOf(s: S) {
  const download = await s.downloads.read.getDownload([s.downloadId]);
  const publicClient = await viem.getPublicClient();
  const block = await publicClient.getBlock({ blockNumber: download.commitBlock + 1n });
  return receiptChallenge(block.hash, s.downloadId, DATA.n);
}

async function confirm(s: S, cipher: Tree) {
  const c = await challengeOf(s);
  return s.downloads.write.confirmReceipt([s.downloadId, opening(cipher, c)], { account: s.downloader.account });
}

describe("DownloadMarket: PoD fair exchange", function () {
  it("happy path: escrow, commit with bond, receipt, key, dispute window, payment", async function () {
    const s = await networkHelpers.loadFixture(committedHonestFixture);
    const { downloads, vault, registry, lessorA, downloader, downloadId } = s;
    const lessor = lessorA.account.address;
    // downloadId = H(abi(market, downloader, nonce)): the downloader's first download id is not a deal id.
    const expectedId = bytesToHex(sha256(hexToBytes(encodeAbiParameters([{ type: "address" }, { type: "address" }, { type: "uint256" }], [downloads.address, downloader.account.address, 0n]))));
    assert.equal(downloadId, expectedId);
    const firstDealIdOfDownloader = bytesToHex(sha256(hexToBytes(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [downloader.account.address, 0n]))));
    assert.notEqual(downloadId, firstDealIdOfDownloader);
    assert.equal(await registry.read.lockedStakeOf([lessor]), 10_000_000n + PRICE);
    await viem.assertions.emit(confirm(s, honestCipher), downloads, "DownloadReceived");
    await viem.assertions.emitWithArgs(downloads.write.revealKey([downloadId, bytesToHex(KEY)], { account: lessorA.account }), downloads, "DownloadKeyRevealed", [
      downloadId,
      bytesToHex(KEY),
    ]);
    const revealed = await downloads.read.getDownload([downloadId]);
    const deadline = revealed.stageTime + TEST_POD_PARAMS.disputeWindow;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.claimDownload([downloadId]), downloads, "MarketDisputeWindowOpen", [downloadId, deadline]);
    // An honest cipher cannot be disputed.
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.disputeDownload([downloadId, 7n, [...opening(honestCipher, 7), ...opening(DATA, 7)]], { account: downloader.account }),
      downloads,
      "MarketDisputeRejected",
      [downloadId, 7n],
    );
    await networkHelpers.time.increaseTo(deadline + 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.disputeDownload([downloadId, 7n, []], { account: downloader.account }),
      downloads,
      "MarketDownloadLate",
      [downloadId, deadline],
    );
    await viem.assertions.emitWithArgs(downloads.write.claimDownload([downloadId]), downloads, "DownloadPaid", [downloadId, getAddress(lessor), PRICE]);
    assert.equal(await vault.read.withdrawableOf([lessor]), PRICE);
    assert.equal(await registry.read.lockedStakeOf([lessor]), 10_000_000n);
    assert.equal((await downloads.read.getDownload([downloadId])).stage, DownloadStage.Paid);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.claimDownload([downloadId]), downloads, "MarketDownloadWrongStage", [downloadId, DownloadStage.Paid]);
  });

  it("dispute won by the downloader: refund plus the lessor's bond", async function () {
    const s = await networkHelpers.loadFixture(committedCorruptFixture);
    const { downloads, vault, registry, lessorA, downloader, downloadId } = s;
    await confirm(s, corruptCipher);
    await downloads.write.revealKey([downloadId, bytesToHex(KEY)], { account: lessorA.account });
    const dispute = (index: bigint, proof: Hex[]) => downloads.write.disputeDownload([downloadId, index, proof], { account: downloader.account });
    // A segment that decrypts correctly, a bad opening, a short proof, an index beyond the data: rejected.
    await viem.assertions.revertWithCustomErrorWithArgs(dispute(6n, [...opening(corruptCipher, 6), ...opening(DATA, 6)]), downloads, "MarketDisputeRejected", [downloadId, 6n]);
    const bad = [...opening(corruptCipher, 7), ...opening(DATA, 7)];
    bad[2] = `0x${"00".repeat(32)}`;
    await viem.assertions.revertWithCustomErrorWithArgs(dispute(7n, bad), downloads, "MarketDisputeRejected", [downloadId, 7n]);
    await viem.assertions.revertWithCustomErrorWithArgs(dispute(7n, opening(corruptCipher, 7)), downloads, "MarketDisputeRejected", [downloadId, 7n]);
    await viem.assertions.revertWithCustomErrorWithArgs(dispute(32n, [...opening(corruptCipher, 7), ...opening(DATA, 7)]), downloads, "MarketDisputeRejected", [downloadId, 32n]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.disputeDownload([downloadId, 7n, []], { account: lessorA.account }),
      downloads,
      "MarketNotDownloader",
      [downloadId, getAddress(lessorA.account.address)],
    );
    await viem.assertions.emitWithArgs(dispute(7n, [...opening(corruptCipher, 7), ...opening(DATA, 7)]), downloads, "DownloadDisputed", [downloadId, 7n, PRICE, PRICE]);
    assert.equal(await vault.read.withdrawableOf([downloader.account.address]), 2n * PRICE);
    assert.equal(await registry.read.lockedStakeOf([lessorA.account.address]), 10_000_000n);
  });

  it("refuses bad opens, commits, receipts and keys", async function () {
    const s = await networkHelpers.loadFixture(openedFixture);
    const { downloads, lessorA, lessorB, downloader, downloadId, dealId } = s;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.openDownload([dealId, 1n, PRICE], { account: downloader.account }), downloads, "MarketReplicaNotServing", [
      dealId,
      1n,
    ]);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.openDownload([dealId, 0n, 0n], { account: downloader.account }), downloads, "MarketInvalidDownloadPrice", [0n]);
    const unknown = `0x${"cd".repeat(32)}` as Hex;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.read.getDownload([unknown]), downloads, "MarketUnknownDownload", [unknown]);
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.commitDownload([downloadId, honestCipher.root, KEY_HASH], { account: lessorB.account }),
      downloads,
      "MarketNotDownloadLessor",
      [downloadId, getAddress(lessorB.account.address)],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.confirmReceipt([downloadId, []], { account: downloader.account }), downloads, "MarketDownloadWrongStage", [
      downloadId,
      DownloadStage.Opened,
    ]);
    await downloads.write.commitDownload([downloadId, honestCipher.root, KEY_HASH], { account: lessorA.account });
    const commitBlock = (await downloads.read.getDownload([downloadId])).commitBlock;
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.confirmReceipt([downloadId, []], { account: downloader.account }),
      downloads,
      "MarketDownloadChallengeNotReady",
      [downloadId, commitBlock + 2n],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.confirmReceipt([downloadId, []], { account: lessorA.account }), downloads, "MarketNotDownloader", [
      downloadId,
      getAddress(lessorA.account.address),
    ]);
    await networkHelpers.mine(2);
    const c = await challengeOf(s);
    // The view agrees once the seed block is behind the latest one.
    assert.equal(await downloads.read.receiptChallenge([downloadId]), BigInt(c));
    const other = (c + 1) % DATA.n;
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.confirmReceipt([downloadId, opening(honestCipher, other)], { account: downloader.account }),
      downloads,
      "MarketInvalidReceipt",
      [downloadId, BigInt(c)],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.confirmReceipt([downloadId, opening(honestCipher, c).slice(0, -1)], { account: downloader.account }),
      downloads,
      "MarketInvalidReceipt",
      [downloadId, BigInt(c)],
    );
    await confirm(s, honestCipher);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.revealKey([downloadId, KEY_HASH], { account: lessorA.account }), downloads, "MarketWrongKey", [
      downloadId,
      KEY_HASH,
    ]);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.revealKey([downloadId, bytesToHex(KEY)], { account: downloader.account }), downloads, "MarketNotDownloadLessor", [
      downloadId,
      getAddress(downloader.account.address),
    ]);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.cancelDownload([downloadId], { account: downloader.account }), downloads, "MarketDownloadWrongStage", [
      downloadId,
      DownloadStage.Received,
    ]);
  });

  it("timeouts: no commit, no receipt, no key — each refunds the downloader", async function () {
    const s = await networkHelpers.loadFixture(openedFixture);
    const { downloads, vault, registry, lessorA, downloader, stranger, downloadId, dealId } = s;
    const lessor = lessorA.account.address;
    const refunded = () => vault.read.withdrawableOf([downloader.account.address]);

    // 1. The lessor never commits.
    let download = await downloads.read.getDownload([downloadId]);
    let deadline = download.stageTime + TEST_POD_PARAMS.commitTimeout;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.expireDownload([downloadId]), downloads, "MarketDownloadNotExpired", [downloadId, deadline]);
    await networkHelpers.time.increaseTo(deadline + 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(
      downloads.write.commitDownload([downloadId, honestCipher.root, KEY_HASH], { account: lessorA.account }),
      downloads,
      "MarketDownloadLate",
      [downloadId, deadline],
    );
    await viem.assertions.emitWithArgs(downloads.write.expireDownload([downloadId], { account: stranger.account }), downloads, "DownloadRefunded", [
      downloadId,
      getAddress(downloader.account.address),
      PRICE,
      DownloadStage.Opened,
    ]);
    assert.equal(await refunded(), PRICE);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.expireDownload([downloadId]), downloads, "MarketDownloadWrongStage", [downloadId, DownloadStage.Refunded]);

    // 2. The downloader never confirms receipt.
    const open = async () => {
      const { result } = await downloads.simulate.openDownload([dealId, 0n, PRICE], { account: downloader.account.address });
      await downloads.write.openDownload([dealId, 0n, PRICE], { account: downloader.account });
      return result;
    };
    const second = await open();
    await downloads.write.commitDownload([second, honestCipher.root, KEY_HASH], { account: lessorA.account });
    download = await downloads.read.getDownload([second]);
    deadline = download.stageTime + TEST_POD_PARAMS.receiptTimeout;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.expireDownload([second]), downloads, "MarketDownloadNotExpired", [second, deadline]);
    await networkHelpers.time.increaseTo(deadline + 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.confirmReceipt([second, []], { account: downloader.account }), downloads, "MarketDownloadLate", [
      second,
      deadline,
    ]);
    await downloads.write.expireDownload([second]);
    assert.equal(await refunded(), 2n * PRICE);
    assert.equal(await registry.read.lockedStakeOf([lessor]), 10_000_000n);

    // 3. The lessor never reveals the key.
    const third = await open();
    await downloads.write.commitDownload([third, honestCipher.root, KEY_HASH], { account: lessorA.account });
    await networkHelpers.mine(1);
    await confirm({ ...s, downloadId: third }, honestCipher);
    download = await downloads.read.getDownload([third]);
    deadline = download.stageTime + TEST_POD_PARAMS.revealTimeout;
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.expireDownload([third]), downloads, "MarketDownloadNotExpired", [third, deadline]);
    await networkHelpers.time.increaseTo(deadline + 1n);
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.revealKey([third, bytesToHex(KEY)], { account: lessorA.account }), downloads, "MarketDownloadLate", [
      third,
      deadline,
    ]);
    await downloads.write.expireDownload([third]);
    assert.equal(await refunded(), 3n * PRICE);
    assert.equal(await registry.read.lockedStakeOf([lessor]), 10_000_000n);

    // 4. The downloader withdraws an offer before any commit.
    const fourth = await open();
    await viem.assertions.revertWithCustomErrorWithArgs(downloads.write.cancelDownload([fourth], { account: stranger.account }), downloads, "MarketNotDownloader", [
      fourth,
      getAddress(stranger.account.address),
    ]);
    await downloads.write.cancelDownload([fourth], { account: downloader.account });
    assert.equal(await refunded(), 4n * PRICE);
    assert.equal(await vault.read.escrowed(), (await s.market.read.getDeal([dealId])).escrow);
  });

  it("rejects bad deploy parameters", async function () {
    const s = await networkHelpers.loadFixture(servingFixture);
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("DownloadMarket", [s.market.address, { ...TEST_POD_PARAMS, disputeWindow: 0n }]),
      s.downloads,
      "MarketInvalidParameter",
      ["disputeWindow"],
    );
  });
});
