/**
 * `npm run chain` (the `localchain` network: a block every second plus one block per transaction) keeps chain
 * time on the wall clock: a burst of transactions, each mined in its own block within the same second, must
 * not push block timestamps ahead (they may share a timestamp), or proving periods would end early.
 */
import assert from "node:assert/strict";
import { network } from "hardhat";

describe("chain time on `npm run chain` (localchain network)", function () {
  it("40 transactions in a burst advance chain time no faster than the wall clock", async function () {
    const connection = await network.create("localchain");
    try {
      const [wallet] = await connection.viem.getWalletClients();
      const publicClient = await connection.viem.getPublicClient();
      // Relative to the chain's own start: an in-process chain created late in a test run may start behind.
      await wallet.sendTransaction({ to: wallet.account.address, value: 1n });
      const start = await publicClient.getBlock({ blockTag: "latest" });
      const wallStart = Date.now() / 1000;
      for (let i = 0; i < 40; i++) await wallet.sendTransaction({ to: wallet.account.address, value: 1n });
      const block = await publicClient.getBlock({ blockTag: "latest" });
      const wall = Date.now() / 1000 - wallStart;
      const chain = Number(block.timestamp - start.timestamp);
      assert.ok(block.number >= start.number + 40n, `one block per transaction (${block.number})`);
      assert.ok(chain <= wall + 2, `chain time advanced ${chain} s in ${wall.toFixed(1)} s of wall clock (block ${block.number})`);
    } finally {
      await connection.close();
    }
  });
});
