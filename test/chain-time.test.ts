/**
 * `npm run chain` (the `localchain` network: a block every second plus one block per transaction) keeps chain
 * time on the wall clock: a burst of transactions, each mined in its own block within the same second, must
 * not push block timestamps ahead (they may share a timestamp), or proving periods would end early.
 */
import assert from "node:assert/strict";
import { network } from "hardhat";

describe("chain time on `npm run chain` (localchain network)", function () {
  it("40 transactions in a burst leave the latest block's timestamp within 2 s of the wall clock", async function () {
    const connection = await network.create("localchain");
    try {
      const [wallet] = await connection.viem.getWalletClients();
      const publicClient = await connection.viem.getPublicClient();
      for (let i = 0; i < 40; i++) await wallet.sendTransaction({ to: wallet.account.address, value: 1n });
      const block = await publicClient.getBlock({ blockTag: "latest" });
      const now = Math.floor(Date.now() / 1000);
      assert.ok(block.number >= 40n, `one block per transaction (${block.number})`);
      assert.ok(Number(block.timestamp) <= now + 2, `block ${block.number} is ${Number(block.timestamp) - now} s ahead of the wall clock`);
    } finally {
      await connection.close();
    }
  });
});
