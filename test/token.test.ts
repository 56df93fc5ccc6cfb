import assert from "node:assert/strict";
import { network } from "hardhat";
import { getAddress, parseEther, parseSignature, zeroAddress } from "viem";

const { viem, networkHelpers } = await network.create();

const FAUCET_MAX = parseEther("1000000");
const INITIAL_SUPPLY = parseEther("5000");

async function deployTokenFixture() {
  const [holder, alice, bob] = await viem.getWalletClients();
  const token = await viem.deployContract("CofferToken", [holder.account.address, INITIAL_SUPPLY, true]);
  const tokenWithoutFaucet = await viem.deployContract("CofferToken", [holder.account.address, INITIAL_SUPPLY, false]);
  return {
    token,
    tokenWithoutFaucet,
    holder: getAddress(holder.account.address),
    alice: getAddress(alice.account.address),
    bob: getAddress(bob.account.address),
  };
}

describe("CofferToken", () => {
  describe("constructor", () => {
    it("sets name, symbol, decimals and mints the initial supply to the holder", async () => {
      const { token, holder } = await networkHelpers.loadFixture(deployTokenFixture);
      assert.equal(await token.read.name(), "Coffer");
      assert.equal(await token.read.symbol(), "CFR");
      assert.equal(await token.read.decimals(), 18);
      assert.equal(await token.read.totalSupply(), INITIAL_SUPPLY);
      assert.equal(await token.read.balanceOf([holder]), INITIAL_SUPPLY);
      assert.equal(await token.read.faucetEnabled(), true);
      assert.equal(await token.read.FAUCET_MAX_PER_CALL(), FAUCET_MAX);
    });

    it("can deploy with no initial supply and no holder", async () => {
      const token = await viem.deployContract("CofferToken", [zeroAddress, 0n, false]);
      assert.equal(await token.read.totalSupply(), 0n);
      assert.equal(await token.read.faucetEnabled(), false);
    });

    it("refuses an initial supply without a holder: ERC20InvalidReceiver", async () => {
      const { token } = await networkHelpers.loadFixture(deployTokenFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("CofferToken", [zeroAddress, 1n, false]),
        token,
        "ERC20InvalidReceiver",
        [zeroAddress],
      );
    });

    it("refuses to enable the faucet on a non-local chain id", async () => {
      const { token } = await networkHelpers.loadFixture(deployTokenFixture);
      const publicChain = await network.create({ network: "hardhat", override: { chainId: 11155111 } });
      try {
        await viem.assertions.revertWithCustomErrorWithArgs(
          publicChain.viem.deployContract("CofferToken", [zeroAddress, 0n, true]),
          token,
          "CofferTokenFaucetNotAllowedOnChain",
          [11155111n],
        );
        // The same token without faucet deploys there.
        const plain = await publicChain.viem.deployContract("CofferToken", [zeroAddress, 0n, false]);
        assert.equal(await plain.read.faucetEnabled(), false);
      } finally {
        await publicChain.close();
      }
    });
  });

  describe("faucet", () => {
    it("mints to any address and emits Transfer from zero", async () => {
      const { token, alice, bob } = await networkHelpers.loadFixture(deployTokenFixture);
      const amount = parseEther("1234");
      const asAlice = await viem.getContractAt("CofferToken", token.address, {
        client: { wallet: (await viem.getWalletClients())[1]! },
      });
      await viem.assertions.emitWithArgs(asAlice.write.faucet([bob, amount]), token, "Transfer", [zeroAddress, bob, amount]);
      assert.equal(await token.read.balanceOf([bob]), amount);
      assert.equal(await token.read.balanceOf([alice]), 0n);
      assert.equal(await token.read.totalSupply(), INITIAL_SUPPLY + amount);
    });

    it("mints exactly the per-call cap", async () => {
      const { token, alice } = await networkHelpers.loadFixture(deployTokenFixture);
      await token.write.faucet([alice, FAUCET_MAX]);
      assert.equal(await token.read.balanceOf([alice]), FAUCET_MAX);
    });

    it("refuses more than the per-call cap: CofferTokenFaucetAmountTooLarge", async () => {
      const { token, alice } = await networkHelpers.loadFixture(deployTokenFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.faucet([alice, FAUCET_MAX + 1n]),
        token,
        "CofferTokenFaucetAmountTooLarge",
        [FAUCET_MAX + 1n, FAUCET_MAX],
      );
    });

    it("refuses when disabled: CofferTokenFaucetDisabled", async () => {
      const { tokenWithoutFaucet, alice } = await networkHelpers.loadFixture(deployTokenFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        tokenWithoutFaucet.write.faucet([alice, 1n]),
        tokenWithoutFaucet,
        "CofferTokenFaucetDisabled",
        [alice, 1n],
      );
    });

    it("refuses the zero address as receiver: ERC20InvalidReceiver", async () => {
      const { token } = await networkHelpers.loadFixture(deployTokenFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(token.write.faucet([zeroAddress, 1n]), token, "ERC20InvalidReceiver", [
        zeroAddress,
      ]);
    });
  });

  describe("ERC-20 and permit", () => {
    it("transfers and reports ERC20InsufficientBalance", async () => {
      const { token, holder, alice } = await networkHelpers.loadFixture(deployTokenFixture);
      await viem.assertions.emitWithArgs(token.write.transfer([alice, 10n]), token, "Transfer", [holder, alice, 10n]);
      assert.equal(await token.read.balanceOf([alice]), 10n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        token.write.transfer([alice, INITIAL_SUPPLY]),
        token,
        "ERC20InsufficientBalance",
        [holder, INITIAL_SUPPLY - 10n, INITIAL_SUPPLY],
      );
    });

    it("accepts an EIP-2612 permit signed by the owner", async () => {
      const { token, holder, alice } = await networkHelpers.loadFixture(deployTokenFixture);
      const [holderWallet] = await viem.getWalletClients();
      const publicClient = await viem.getPublicClient();
      const value = parseEther("42");
      const deadline = BigInt(await networkHelpers.time.latest()) + 3600n;
      const signature = await holderWallet!.signTypedData({
        domain: { name: "Coffer", version: "1", chainId: await publicClient.getChainId(), verifyingContract: token.address },
        types: {
          Permit: [
            { name: "owner", type: "address" },
            { name: "spender", type: "address" },
            { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" },
            { name: "deadline", type: "uint256" },
          ],
        },
        primaryType: "Permit",
        message: { owner: holder, spender: alice, value, nonce: 0n, deadline },
      });
      const { v, r, s } = parseSignature(signature);
      await viem.assertions.emitWithArgs(
        token.write.permit([holder, alice, value, deadline, Number(v), r, s]),
        token,
        "Approval",
        [holder, alice, value],
      );
      assert.equal(await token.read.allowance([holder, alice]), value);
      assert.equal(await token.read.nonces([holder]), 1n);
    });
  });
});
