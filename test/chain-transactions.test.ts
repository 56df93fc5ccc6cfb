import assert from "node:assert/strict";
import { network } from "hardhat";
import { parseEther, type Hash, type Log } from "viem";
import { pino } from "pino";
import { cofferTokenAbi } from "../node/chain/abi/cofferToken.js";
import { storedCheckpoint, storedTransactionLedger, type KeyValueStore } from "../node/chain/chain-state.js";
import { ContractRevertedError } from "../node/chain/errors.js";
import { EventFollower } from "../node/chain/event-follower.js";
import { asRevertError, sendContractTransaction } from "../node/chain/transactions.js";

const { viem, networkHelpers } = await network.create();
const logger = pino({ level: "silent" });

/** A key-value store in memory, standing in for the node's LevelDB sublevel. */
function memoryStore(): KeyValueStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: async (key) => map.get(key), put: async (key, value) => void map.set(key, value) };
}

async function tokenFixture() {
  const [holder, alice] = await viem.getWalletClients();
  const token = await viem.deployContract("CofferToken", [holder.account.address, 0n, true]);
  const publicClient = await viem.getPublicClient();
  return { token, holder, alice, publicClient, deployBlock: await publicClient.getBlockNumber() };
}

describe("chain transactions and event following", () => {
  it("sends a call, and a second send with the same idempotency key waits for the first instead of resending", async () => {
    const { token, alice, publicClient } = await networkHelpers.loadFixture(tokenFixture);
    const ledger = storedTransactionLedger(memoryStore());
    const send = () =>
      sendContractTransaction({
        publicClient,
        walletClient: alice,
        address: token.address,
        abi: cofferTokenAbi,
        functionName: "faucet",
        args: [alice.account.address, parseEther("5")],
        idempotencyKey: "faucet:once",
        ledger,
      });
    const first = await send();
    const second = await send();
    assert.equal(first.status, "success");
    assert.equal(second.transactionHash, first.transactionHash, "the recorded transaction, not a new one");
    assert.equal(await ledger.get("faucet:once"), first.transactionHash);
    assert.equal(await token.read.balanceOf([alice.account.address]), parseEther("5"), "minted once");
  });

  it("recovers when its nonce was taken by another sender of the same account: re-reads it and sends once", async () => {
    const { token, alice, publicClient } = await networkHelpers.loadFixture(tokenFixture);
    // A stale view of the account's nonce, as when another process sent from it between the read and the send.
    let stale = true;
    const racingClient = new Proxy(publicClient, {
      get(target, property, receiver) {
        if (property === "getTransactionCount") {
          return async (args: Parameters<typeof publicClient.getTransactionCount>[0]) => {
            const count = await target.getTransactionCount(args);
            if (!stale) return count;
            stale = false;
            await token.write.faucet([alice.account.address, 1n], { account: alice.account }); // takes `count`
            return count;
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const before = await token.read.balanceOf([alice.account.address]);
    const receipt = await sendContractTransaction({
      publicClient: racingClient,
      walletClient: alice,
      address: token.address,
      abi: cofferTokenAbi,
      functionName: "faucet",
      args: [alice.account.address, parseEther("2")],
      logger,
    });
    assert.equal(receipt.status, "success");
    assert.equal(await token.read.balanceOf([alice.account.address]), before + 1n + parseEther("2"), "both transfers, the second sent once");
  });

  it("refuses a reverting call before sending it, named by the contract's custom error with its arguments", async () => {
    const { token, alice, publicClient } = await networkHelpers.loadFixture(tokenFixture);
    const nonceBefore = await publicClient.getTransactionCount({ address: alice.account.address });
    const tooMuch = parseEther("2000000");
    await assert.rejects(
      sendContractTransaction({
        publicClient,
        walletClient: alice,
        address: token.address,
        abi: cofferTokenAbi,
        functionName: "faucet",
        args: [alice.account.address, tooMuch],
      }),
      (error: unknown) => {
        assert.ok(error instanceof ContractRevertedError);
        assert.equal(error.errorName, "CofferTokenFaucetAmountTooLarge");
        assert.deepEqual(error.args, [tooMuch, parseEther("1000000")]);
        assert.equal(error.functionName, "faucet");
        assert.ok(error.cause, "keeps the viem error as cause");
        return true;
      },
    );
    assert.equal(await publicClient.getTransactionCount({ address: alice.account.address }), nonceBefore, "nothing was sent");
    assert.equal(asRevertError("faucet", new Error("plain")).message, "plain", "non-revert errors pass through");
  });

  it("follows events from its persisted block: every range once, resuming after a restart", async () => {
    const { token, alice, publicClient, deployBlock } = await networkHelpers.loadFixture(tokenFixture);
    const store = memoryStore();
    const seen: Hash[] = [];
    const follower = () =>
      new EventFollower({
        client: publicClient,
        abi: cofferTokenAbi,
        addresses: [token.address],
        checkpoint: storedCheckpoint(store),
        startBlock: deployBlock,
        logger,
        maxRange: 1n,
        onLogs: async (logs: Log[]) => void seen.push(...logs.map((log) => log.transactionHash!)),
      });
    const first = await token.write.faucet([alice.account.address, 1n]);
    const second = await token.write.faucet([alice.account.address, 2n]);
    const last = await follower().catchUp();
    assert.deepEqual(seen, [first, second], "both Transfer events, in order, over one-block ranges");
    assert.equal(last, await publicClient.getBlockNumber());
    assert.equal(store.map.get("events:lastBlock"), String(last), "the checkpoint is persisted");

    // A new follower (a restarted node) resumes after the checkpoint: old events are not replayed.
    const third = await token.write.faucet([alice.account.address, 3n]);
    await follower().catchUp();
    assert.deepEqual(seen, [first, second, third]);
  });
});
