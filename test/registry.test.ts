import assert from "node:assert/strict";
import { network } from "hardhat";
import {
  concatHex,
  getAddress,
  keccak256,
  maxUint256,
  parseEther,
  toHex,
  zeroAddress,
  type Hex,
} from "viem";
import { MARKET_ROLE } from "../ignition/modules/Coffer.js";

const { viem, networkHelpers } = await network.create();

const MIN_STAKE = parseEther("1000");
const UNBONDING_DELAY = 7n * 24n * 3600n;
const MAX_UNBONDING_DELAY = 365n * 24n * 3600n;
const CAPACITY = 500n << 30n; // 500 GiB
const PRICE = parseEther("0.001");
const MAX_CAPACITY = 2n ** 64n - 1n;
const MAX_PRICE = 2n ** 128n - 1n;
const ADDRS = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"];
const DEFAULT_ADMIN_ROLE = `0x${"00".repeat(32)}` as Hex;

/** An Ed25519-style peer id: identity multihash (0x00, 0x24) of a 36-byte protobuf public key. */
function peerId(seed: string): Hex {
  return concatHex(["0x0024", "0x08011220", keccak256(toHex(seed))]);
}

async function deployRegistryFixture() {
  const wallets = await viem.getWalletClients();
  const [admin, lessorA, lessorB, lessorC, market, outsider, recipient] = wallets.map((w) => getAddress(w.account.address));
  const token = await viem.deployContract("CofferToken", [admin!, 0n, true]);
  const registry = await viem.deployContract("LessorRegistry", [token.address, MIN_STAKE, UNBONDING_DELAY, admin!]);
  await registry.write.grantRole([MARKET_ROLE, market!]);
  for (const lessor of [lessorA!, lessorB!, lessorC!]) {
    await token.write.faucet([lessor, parseEther("100000")]);
    await token.write.approve([registry.address, maxUint256], { account: lessor });
  }
  return {
    token,
    registry,
    admin: admin!,
    lessorA: lessorA!,
    lessorB: lessorB!,
    lessorC: lessorC!,
    market: market!,
    outsider: outsider!,
    recipient: recipient!,
  };
}

async function registeredFixture() {
  const f = await deployRegistryFixture();
  await f.registry.write.register([MIN_STAKE * 2n, CAPACITY, PRICE, peerId("A"), ADDRS], { account: f.lessorA });
  return f;
}

async function blockTimeOf(hash: Hex): Promise<bigint> {
  const publicClient = await viem.getPublicClient();
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  return (await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
}

describe("LessorRegistry", () => {
  describe("constructor", () => {
    it("stores token, minimum stake, delay, and makes the admin DEFAULT_ADMIN_ROLE", async () => {
      const { registry, token, admin, market } = await networkHelpers.loadFixture(deployRegistryFixture);
      assert.equal(getAddress(await registry.read.stakeToken()), getAddress(token.address));
      assert.equal(await registry.read.minStake(), MIN_STAKE);
      assert.equal(await registry.read.unbondingDelay(), UNBONDING_DELAY);
      assert.equal(await registry.read.hasRole([DEFAULT_ADMIN_ROLE, admin]), true);
      assert.equal(await registry.read.MARKET_ROLE(), MARKET_ROLE);
      assert.equal(await registry.read.hasRole([MARKET_ROLE, market]), true);
      assert.equal(await registry.read.lessorCount(), 0n);
    });

    it("refuses a zero token, zero minimum, too long delay and zero admin", async () => {
      const { registry, token, admin } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("LessorRegistry", [zeroAddress, MIN_STAKE, UNBONDING_DELAY, admin]),
        registry,
        "RegistryInvalidStakeToken",
        [zeroAddress],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("LessorRegistry", [token.address, 0n, UNBONDING_DELAY, admin]),
        registry,
        "RegistryInvalidMinStake",
        [0n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("LessorRegistry", [token.address, MIN_STAKE, MAX_UNBONDING_DELAY + 1n, admin]),
        registry,
        "RegistryInvalidUnbondingDelay",
        [MAX_UNBONDING_DELAY + 1n, MAX_UNBONDING_DELAY],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("LessorRegistry", [token.address, MIN_STAKE, UNBONDING_DELAY, zeroAddress]),
        registry,
        "RegistryInvalidAdmin",
        [zeroAddress],
      );
    });
  });

  describe("register", () => {
    it("records the lessor, pulls the stake, lists it and emits Registered", async () => {
      const { registry, token, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      const stake = MIN_STAKE + 5n;
      const before = await token.read.balanceOf([lessorA]);
      const tx = registry.write.register([stake, CAPACITY, PRICE, peerId("A"), ADDRS], { account: lessorA });
      await viem.assertions.emitWithArgs(tx, registry, "Registered", [lessorA, stake, CAPACITY, PRICE, peerId("A"), ADDRS]);
      const registeredAt = await blockTimeOf(await tx);

      assert.deepEqual(await registry.read.getLessor([lessorA]), {
        lessor: lessorA,
        peerId: peerId("A"),
        multiaddrs: ADDRS,
        capacityBytes: CAPACITY,
        pricePerGiBPerPeriod: PRICE,
        freeStake: stake,
        lockedStake: 0n,
        unbondingStake: 0n,
        unbondingReleaseAt: 0n,
        registeredAt,
      });
      assert.equal(await token.read.balanceOf([lessorA]), before - stake);
      assert.equal(await token.read.balanceOf([registry.address]), stake);
      assert.equal(await registry.read.isActiveLessor([lessorA]), true);
      assert.equal(await registry.read.freeStakeOf([lessorA]), stake);
      assert.equal(await registry.read.lockedStakeOf([lessorA]), 0n);
      assert.deepEqual(await registry.read.lessorTerms([lessorA]), [CAPACITY, PRICE]);
      assert.equal(await registry.read.lessorCount(), 1n);
      assert.deepEqual(await registry.read.lessorsPage([0n, 10n]), [lessorA]);
      assert.equal(getAddress(await registry.read.lessorByPeerId([peerId("A")])), lessorA);
      assert.deepEqual(await registry.read.stakeTotals(), [stake, 0n, 0n]);
    });

    it("accepts the limits: 4 multiaddrs of 128 bytes, 64-byte sha2-256 peer id, max capacity and price", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      const longAddr = `/dns4/${"a".repeat(128 - 6)}`;
      const addrs = [longAddr, longAddr, longAddr, longAddr];
      const sha256PeerId = concatHex(["0x123e", toHex(new Uint8Array(62).fill(7))]);
      await registry.write.register([MIN_STAKE, MAX_CAPACITY, MAX_PRICE, sha256PeerId, addrs], { account: lessorA });
      const info = await registry.read.getLessor([lessorA]);
      assert.deepEqual(info.multiaddrs, addrs);
      assert.equal(info.peerId, sha256PeerId);
      assert.equal(info.capacityBytes, MAX_CAPACITY);
      assert.equal(info.pricePerGiBPerPeriod, MAX_PRICE);
    });

    it("refuses a second registration: RegistryAlreadyRegistered", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      const { registeredAt } = await registry.read.getLessor([lessorA]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("A2"), ADDRS], { account: lessorA }),
        registry,
        "RegistryAlreadyRegistered",
        [lessorA, registeredAt],
      );
    });

    it("refuses a stake below the minimum: RegistryStakeBelowMinimum", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([MIN_STAKE - 1n, CAPACITY, PRICE, peerId("A"), ADDRS], { account: lessorA }),
        registry,
        "RegistryStakeBelowMinimum",
        [lessorA, MIN_STAKE - 1n, MIN_STAKE],
      );
    });

    it("refuses zero or too large capacity: RegistryInvalidCapacity", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      for (const capacity of [0n, MAX_CAPACITY + 1n]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.register([MIN_STAKE, capacity, PRICE, peerId("A"), ADDRS], { account: lessorA }),
          registry,
          "RegistryInvalidCapacity",
          [capacity, MAX_CAPACITY],
        );
      }
    });

    it("refuses zero or too large price: RegistryInvalidPrice", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      for (const price of [0n, MAX_PRICE + 1n]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.register([MIN_STAKE, CAPACITY, price, peerId("A"), ADDRS], { account: lessorA }),
          registry,
          "RegistryInvalidPrice",
          [price, MAX_PRICE],
        );
      }
    });

    it("refuses malformed peer ids: RegistryInvalidPeerId", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      const malformed: Hex[] = [
        "0x", // empty
        "0x0001", // too short for a digest
        concatHex(["0x0041", toHex(new Uint8Array(65))]), // 67 bytes: too long
        concatHex(["0x1320", keccak256("0x01")]), // sha2-512 code (0x13) is not a peer id hash
        concatHex(["0x1221", keccak256("0x01")]), // length byte 33 but 32 digest bytes
      ];
      for (const bad of malformed) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.register([MIN_STAKE, CAPACITY, PRICE, bad, ADDRS], { account: lessorA }),
          registry,
          "RegistryInvalidPeerId",
          [bad],
        );
      }
    });

    it("refuses a peer id another lessor claimed: RegistryPeerIdTaken", async () => {
      const { registry, lessorA, lessorB } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("A"), ADDRS], { account: lessorB }),
        registry,
        "RegistryPeerIdTaken",
        [peerId("A"), lessorA],
      );
    });

    it("refuses 0 or more than 4 multiaddrs: RegistryInvalidMultiaddrCount", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      for (const addrs of [[], Array(5).fill(ADDRS[0]!)]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("A"), addrs], { account: lessorA }),
          registry,
          "RegistryInvalidMultiaddrCount",
          [BigInt(addrs.length), 4n],
        );
      }
    });

    it("refuses an empty, too long or slash-less multiaddr: RegistryInvalidMultiaddr", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(deployRegistryFixture);
      const cases: Array<[string[], bigint, string]> = [
        [[""], 0n, ""],
        [[ADDRS[0]!, "ip4/1.2.3.4/tcp/1"], 1n, "ip4/1.2.3.4/tcp/1"],
        [[ADDRS[0]!, ADDRS[1]!, `/${"x".repeat(128)}`], 2n, `/${"x".repeat(128)}`],
      ];
      for (const [addrs, index, bad] of cases) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("A"), addrs], { account: lessorA }),
          registry,
          "RegistryInvalidMultiaddr",
          [index, bad],
        );
      }
    });

    it("fails without allowance: the token's ERC20InsufficientAllowance", async () => {
      const { registry, token, outsider } = await networkHelpers.loadFixture(deployRegistryFixture);
      await token.write.faucet([outsider, MIN_STAKE]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("O"), ADDRS], { account: outsider }),
        token,
        "ERC20InsufficientAllowance",
        [registry.address, 0n, MIN_STAKE],
      );
    });
  });

  describe("update", () => {
    it("replaces terms, peer id and multiaddrs, moves the peer id claim, emits Updated", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      const addrs = ["/dns4/lessor-a.example/tcp/4001"];
      await viem.assertions.emitWithArgs(
        registry.write.update([CAPACITY * 2n, PRICE / 2n, peerId("A-new"), addrs], { account: lessorA }),
        registry,
        "Updated",
        [lessorA, CAPACITY * 2n, PRICE / 2n, peerId("A-new"), addrs],
      );
      const info = await registry.read.getLessor([lessorA]);
      assert.equal(info.capacityBytes, CAPACITY * 2n);
      assert.equal(info.pricePerGiBPerPeriod, PRICE / 2n);
      assert.equal(info.peerId, peerId("A-new"));
      assert.deepEqual(info.multiaddrs, addrs);
      assert.equal(info.freeStake, MIN_STAKE * 2n, "stake untouched");
      assert.equal(await registry.read.lessorByPeerId([peerId("A")]), zeroAddress);
      assert.equal(getAddress(await registry.read.lessorByPeerId([peerId("A-new")])), lessorA);
    });

    it("keeps the same peer id when it does not change", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.update([CAPACITY, PRICE * 3n, peerId("A"), ADDRS], { account: lessorA });
      assert.equal(getAddress(await registry.read.lessorByPeerId([peerId("A")])), lessorA);
      assert.equal((await registry.read.getLessor([lessorA])).pricePerGiBPerPeriod, PRICE * 3n);
    });

    it("refuses an unregistered caller: RegistryNotRegistered", async () => {
      const { registry, lessorB } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([CAPACITY, PRICE, peerId("B"), ADDRS], { account: lessorB }),
        registry,
        "RegistryNotRegistered",
        [lessorB],
      );
    });

    it("refuses another lessor's peer id and invalid terms", async () => {
      const { registry, lessorA, lessorB } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("B"), ADDRS], { account: lessorB });
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([CAPACITY, PRICE, peerId("A"), ADDRS], { account: lessorB }),
        registry,
        "RegistryPeerIdTaken",
        [peerId("A"), lessorA],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([0n, PRICE, peerId("B"), ADDRS], { account: lessorB }),
        registry,
        "RegistryInvalidCapacity",
        [0n, MAX_CAPACITY],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.update([CAPACITY, PRICE, peerId("B"), []], { account: lessorB }),
        registry,
        "RegistryInvalidMultiaddrCount",
        [0n, 4n],
      );
    });
  });

  describe("addStake", () => {
    it("adds to free stake, pulls tokens and emits StakeAdded", async () => {
      const { registry, token, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.emitWithArgs(
        registry.write.addStake([parseEther("5")], { account: lessorA }),
        registry,
        "StakeAdded",
        [lessorA, parseEther("5"), MIN_STAKE * 2n + parseEther("5")],
      );
      assert.equal(await registry.read.freeStakeOf([lessorA]), MIN_STAKE * 2n + parseEther("5"));
      assert.equal(await token.read.balanceOf([registry.address]), MIN_STAKE * 2n + parseEther("5"));
      assert.deepEqual(await registry.read.stakeTotals(), [MIN_STAKE * 2n + parseEther("5"), 0n, 0n]);
    });

    it("refuses zero (RegistryZeroAmount) and unregistered callers (RegistryNotRegistered)", async () => {
      const { registry, lessorA, lessorB } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.addStake([0n], { account: lessorA }),
        registry,
        "RegistryZeroAmount",
        [lessorA],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.addStake([1n], { account: lessorB }),
        registry,
        "RegistryNotRegistered",
        [lessorB],
      );
    });
  });

  describe("market entry points", () => {
    it("lockStake moves free to locked and emits StakeLocked", async () => {
      const { registry, lessorA, market } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.emitWithArgs(
        registry.write.lockStake([lessorA, MIN_STAKE / 2n], { account: market }),
        registry,
        "StakeLocked",
        [lessorA, market, MIN_STAKE / 2n],
      );
      assert.equal(await registry.read.freeStakeOf([lessorA]), MIN_STAKE * 2n - MIN_STAKE / 2n);
      assert.equal(await registry.read.lockedStakeOf([lessorA]), MIN_STAKE / 2n);
      assert.deepEqual(await registry.read.stakeTotals(), [MIN_STAKE * 2n - MIN_STAKE / 2n, MIN_STAKE / 2n, 0n]);
      assert.equal(await registry.read.isActiveLessor([lessorA]), true, "locked stake counts as bonded");
    });

    it("lockStake refuses more than free (RegistryInsufficientFreeStake), zero, and unregistered lessors", async () => {
      const { registry, lessorA, lessorB, market } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.lockStake([lessorA, MIN_STAKE * 2n + 1n], { account: market }),
        registry,
        "RegistryInsufficientFreeStake",
        [lessorA, MIN_STAKE * 2n, MIN_STAKE * 2n + 1n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.lockStake([lessorA, 0n], { account: market }),
        registry,
        "RegistryZeroAmount",
        [lessorA],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.lockStake([lessorB, 1n], { account: market }),
        registry,
        "RegistryInsufficientFreeStake",
        [lessorB, 0n, 1n],
      );
    });

    it("unlockStake moves locked back to free and emits StakeUnlocked", async () => {
      const { registry, lessorA, market } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE], { account: market });
      await viem.assertions.emitWithArgs(
        registry.write.unlockStake([lessorA, MIN_STAKE / 4n], { account: market }),
        registry,
        "StakeUnlocked",
        [lessorA, market, MIN_STAKE / 4n],
      );
      assert.equal(await registry.read.lockedStakeOf([lessorA]), MIN_STAKE - MIN_STAKE / 4n);
      assert.equal(await registry.read.freeStakeOf([lessorA]), MIN_STAKE + MIN_STAKE / 4n);
    });

    it("unlockStake refuses more than locked (RegistryInsufficientLockedStake) and zero", async () => {
      const { registry, lessorA, market } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, 10n], { account: market });
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.unlockStake([lessorA, 11n], { account: market }),
        registry,
        "RegistryInsufficientLockedStake",
        [lessorA, 10n, 11n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.unlockStake([lessorA, 0n], { account: market }),
        registry,
        "RegistryZeroAmount",
        [lessorA],
      );
    });

    it("slashStake takes locked stake, pays the recipient and emits StakeSlashed", async () => {
      const { registry, token, lessorA, market, recipient } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE], { account: market });
      const slash = MIN_STAKE / 3n;
      const tx = registry.write.slashStake([lessorA, slash, recipient], { account: market });
      await viem.assertions.emitWithArgs(tx, registry, "StakeSlashed", [lessorA, market, recipient, slash]);
      assert.equal(await token.read.balanceOf([recipient]), slash);
      assert.equal(await token.read.balanceOf([registry.address]), MIN_STAKE * 2n - slash);
      assert.equal(await registry.read.lockedStakeOf([lessorA]), MIN_STAKE - slash);
      assert.equal(await registry.read.freeStakeOf([lessorA]), MIN_STAKE);
      assert.deepEqual(await registry.read.stakeTotals(), [MIN_STAKE, MIN_STAKE - slash, 0n]);
    });

    it("slashing below the minimum makes the lessor inactive", async () => {
      const { registry, lessorA, market, recipient } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE * 2n], { account: market });
      await registry.write.slashStake([lessorA, MIN_STAKE + 1n, recipient], { account: market });
      assert.equal(await registry.read.isActiveLessor([lessorA]), false);
    });

    it("slashStake refuses more than locked, zero, and the zero address or the registry as recipient", async () => {
      const { registry, lessorA, market, recipient } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, 10n], { account: market });
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.slashStake([lessorA, 11n, recipient], { account: market }),
        registry,
        "RegistryInsufficientLockedStake",
        [lessorA, 10n, 11n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.slashStake([lessorA, 0n, recipient], { account: market }),
        registry,
        "RegistryZeroAmount",
        [lessorA],
      );
      for (const bad of [zeroAddress, getAddress(registry.address)]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.slashStake([lessorA, 1n, bad], { account: market }),
          registry,
          "RegistryInvalidSlashRecipient",
          [bad],
        );
      }
    });

    it("refuses callers without MARKET_ROLE: AccessControlUnauthorizedAccount", async () => {
      const { registry, lessorA, outsider, admin, recipient } = await networkHelpers.loadFixture(registeredFixture);
      for (const caller of [outsider, admin, lessorA]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.lockStake([lessorA, 1n], { account: caller }),
          registry,
          "AccessControlUnauthorizedAccount",
          [caller, MARKET_ROLE],
        );
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.unlockStake([lessorA, 1n], { account: caller }),
          registry,
          "AccessControlUnauthorizedAccount",
          [caller, MARKET_ROLE],
        );
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.slashStake([lessorA, 1n, recipient], { account: caller }),
          registry,
          "AccessControlUnauthorizedAccount",
          [caller, MARKET_ROLE],
        );
      }
    });

    it("only the admin grants MARKET_ROLE", async () => {
      const { registry, outsider } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.grantRole([MARKET_ROLE, outsider], { account: outsider }),
        registry,
        "AccessControlUnauthorizedAccount",
        [outsider, DEFAULT_ADMIN_ROLE],
      );
    });
  });

  describe("requestUnstake", () => {
    it("moves free stake to unbonding, sets the release time and emits UnstakeRequested", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      const tx = registry.write.requestUnstake([MIN_STAKE / 2n], { account: lessorA });
      const now = await blockTimeOf(await tx);
      await viem.assertions.emitWithArgs(tx, registry, "UnstakeRequested", [
        lessorA,
        MIN_STAKE / 2n,
        MIN_STAKE / 2n,
        now + UNBONDING_DELAY,
      ]);
      const info = await registry.read.getLessor([lessorA]);
      assert.equal(info.freeStake, MIN_STAKE * 2n - MIN_STAKE / 2n);
      assert.equal(info.unbondingStake, MIN_STAKE / 2n);
      assert.equal(info.unbondingReleaseAt, now + UNBONDING_DELAY);
      assert.deepEqual(await registry.read.stakeTotals(), [MIN_STAKE * 2n - MIN_STAKE / 2n, 0n, MIN_STAKE / 2n]);
    });

    it("a second request adds to the unbonding amount and restarts the delay for all of it", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.requestUnstake([100n], { account: lessorA });
      await networkHelpers.time.increase(3600);
      const tx = registry.write.requestUnstake([200n], { account: lessorA });
      const now = await blockTimeOf(await tx);
      await viem.assertions.emitWithArgs(tx, registry, "UnstakeRequested", [lessorA, 200n, 300n, now + UNBONDING_DELAY]);
      assert.equal((await registry.read.getLessor([lessorA])).unbondingReleaseAt, now + UNBONDING_DELAY);
    });

    it("refuses to leave bonded stake below the minimum: RegistryStakeBelowMinimum", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.requestUnstake([MIN_STAKE + 1n], { account: lessorA }),
        registry,
        "RegistryStakeBelowMinimum",
        [lessorA, MIN_STAKE - 1n, MIN_STAKE],
      );
      // Exactly down to the minimum is fine.
      await registry.write.requestUnstake([MIN_STAKE], { account: lessorA });
      assert.equal(await registry.read.freeStakeOf([lessorA]), MIN_STAKE);
    });

    it("counts locked stake toward the minimum, and a lessor slashed below it cannot unstake", async () => {
      const { registry, lessorA, market, recipient } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE], { account: market });
      // free 1000, locked 1000: all free stake may leave.
      await registry.write.requestUnstake([MIN_STAKE / 2n], { account: lessorA });
      await registry.write.slashStake([lessorA, MIN_STAKE / 2n, recipient], { account: market });
      // bonded = 500 free + 500 locked = 1000: unstaking anything drops below the minimum.
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.requestUnstake([1n], { account: lessorA }),
        registry,
        "RegistryStakeBelowMinimum",
        [lessorA, MIN_STAKE - 1n, MIN_STAKE],
      );
    });

    it("refuses more than free, zero, and unregistered callers", async () => {
      const { registry, lessorA, lessorB, market } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE * 2n - 5n], { account: market });
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.requestUnstake([6n], { account: lessorA }),
        registry,
        "RegistryInsufficientFreeStake",
        [lessorA, 5n, 6n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.requestUnstake([0n], { account: lessorA }),
        registry,
        "RegistryZeroAmount",
        [lessorA],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.requestUnstake([1n], { account: lessorB }),
        registry,
        "RegistryNotRegistered",
        [lessorB],
      );
    });
  });

  describe("deregister", () => {
    it("unbonds all free stake, releases the peer id, leaves discovery and emits Deregistered", async () => {
      const { registry, lessorA, lessorB, lessorC } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("B"), ADDRS], { account: lessorB });
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("C"), ADDRS], { account: lessorC });
      await registry.write.requestUnstake([100n], { account: lessorA });

      const tx = registry.write.deregister({ account: lessorA });
      const now = await blockTimeOf(await tx);
      await viem.assertions.emitWithArgs(tx, registry, "Deregistered", [lessorA, MIN_STAKE * 2n, now + UNBONDING_DELAY]);

      assert.deepEqual(await registry.read.getLessor([lessorA]), {
        lessor: lessorA,
        peerId: "0x",
        multiaddrs: [],
        capacityBytes: 0n,
        pricePerGiBPerPeriod: 0n,
        freeStake: 0n,
        lockedStake: 0n,
        unbondingStake: MIN_STAKE * 2n,
        unbondingReleaseAt: now + UNBONDING_DELAY,
        registeredAt: 0n,
      });
      assert.equal(await registry.read.isActiveLessor([lessorA]), false);
      assert.equal(await registry.read.lessorByPeerId([peerId("A")]), zeroAddress);
      // Swap-and-pop: the last lessor (C) takes A's place.
      assert.deepEqual(await registry.read.lessorsPage([0n, 10n]), [lessorC, lessorB]);
      assert.equal(await registry.read.lessorCount(), 2n);
    });

    it("lets the lessor register again, keeping its unbonding stake", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.deregister({ account: lessorA });
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("A"), ADDRS], { account: lessorA });
      const info = await registry.read.getLessor([lessorA]);
      assert.equal(info.freeStake, MIN_STAKE);
      assert.equal(info.unbondingStake, MIN_STAKE * 2n);
      assert.equal(await registry.read.isActiveLessor([lessorA]), true);
      assert.deepEqual(await registry.read.lessorsPage([0n, 10n]), [lessorA]);
    });

    it("works with no free stake left: nothing unbonds, release time 0", async () => {
      const { registry, lessorA, market, recipient } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, MIN_STAKE * 2n], { account: market });
      await registry.write.slashStake([lessorA, MIN_STAKE * 2n, recipient], { account: market });
      await viem.assertions.emitWithArgs(registry.write.deregister({ account: lessorA }), registry, "Deregistered", [
        lessorA,
        0n,
        0n,
      ]);
      assert.equal((await registry.read.getLessor([lessorA])).lessor, zeroAddress);
    });

    it("refuses while stake is locked (RegistryStakeLocked) and for unregistered callers", async () => {
      const { registry, lessorA, lessorB, market } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.lockStake([lessorA, 7n], { account: market });
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.deregister({ account: lessorA }),
        registry,
        "RegistryStakeLocked",
        [lessorA, 7n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.deregister({ account: lessorB }),
        registry,
        "RegistryNotRegistered",
        [lessorB],
      );
    });
  });

  describe("withdraw", () => {
    it("pays out the unbonding stake after the delay and emits Withdrawn", async () => {
      const { registry, token, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.requestUnstake([MIN_STAKE / 2n], { account: lessorA });
      const { unbondingReleaseAt } = await registry.read.getLessor([lessorA]);
      await networkHelpers.time.increaseTo(unbondingReleaseAt);
      const before = await token.read.balanceOf([lessorA]);
      await viem.assertions.emitWithArgs(registry.write.withdraw({ account: lessorA }), registry, "Withdrawn", [
        lessorA,
        MIN_STAKE / 2n,
      ]);
      assert.equal(await token.read.balanceOf([lessorA]), before + MIN_STAKE / 2n);
      const info = await registry.read.getLessor([lessorA]);
      assert.equal(info.unbondingStake, 0n);
      assert.equal(info.unbondingReleaseAt, 0n);
      assert.deepEqual(await registry.read.stakeTotals(), [MIN_STAKE * 2n - MIN_STAKE / 2n, 0n, 0n]);
    });

    it("completes a full exit after deregister", async () => {
      const { registry, token, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.deregister({ account: lessorA });
      await networkHelpers.time.increase(UNBONDING_DELAY);
      await registry.write.withdraw({ account: lessorA });
      assert.equal(await token.read.balanceOf([registry.address]), 0n);
      assert.equal((await registry.read.getLessor([lessorA])).lessor, zeroAddress);
    });

    it("refuses before the release time: RegistryUnbondingNotElapsed", async () => {
      const { registry, lessorA } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.requestUnstake([1n], { account: lessorA });
      const { unbondingReleaseAt } = await registry.read.getLessor([lessorA]);
      await networkHelpers.time.setNextBlockTimestamp(unbondingReleaseAt - 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.withdraw({ account: lessorA }),
        registry,
        "RegistryUnbondingNotElapsed",
        [lessorA, unbondingReleaseAt, unbondingReleaseAt - 1n],
      );
    });

    it("refuses when nothing is unbonding: RegistryNothingToWithdraw", async () => {
      const { registry, lessorA, outsider } = await networkHelpers.loadFixture(registeredFixture);
      for (const caller of [lessorA, outsider]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.withdraw({ account: caller }),
          registry,
          "RegistryNothingToWithdraw",
          [caller],
        );
      }
    });
  });

  describe("views", () => {
    it("report nothing for an unknown address", async () => {
      const { registry, outsider } = await networkHelpers.loadFixture(registeredFixture);
      assert.equal(await registry.read.isActiveLessor([outsider]), false);
      assert.equal(await registry.read.freeStakeOf([outsider]), 0n);
      assert.equal(await registry.read.lockedStakeOf([outsider]), 0n);
      assert.deepEqual(await registry.read.lessorTerms([outsider]), [0n, 0n]);
      const info = await registry.read.getLessor([outsider]);
      assert.equal(info.lessor, zeroAddress);
      assert.equal(info.registeredAt, 0n);
      assert.equal(await registry.read.lessorByPeerId([peerId("nobody")]), zeroAddress);
    });

    it("page through lessors: offset, limit, past the end", async () => {
      const { registry, lessorA, lessorB, lessorC } = await networkHelpers.loadFixture(registeredFixture);
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE, peerId("B"), ADDRS], { account: lessorB });
      await registry.write.register([MIN_STAKE, CAPACITY, PRICE * 2n, peerId("C"), ADDRS], { account: lessorC });
      assert.equal(await registry.read.lessorCount(), 3n);
      assert.deepEqual(await registry.read.lessorsPage([0n, 2n]), [lessorA, lessorB]);
      assert.deepEqual(await registry.read.lessorsPage([2n, 2n]), [lessorC]);
      assert.deepEqual(await registry.read.lessorsPage([1n, maxUint256]), [lessorB, lessorC]);
      assert.deepEqual(await registry.read.lessorsPage([3n, 10n]), []);
      assert.deepEqual(await registry.read.lessorsPage([maxUint256, maxUint256]), []);
      assert.deepEqual(await registry.read.lessorsPage([0n, 0n]), []);

      const infos = await registry.read.lessorInfosPage([1n, 5n]);
      assert.deepEqual(
        infos.map((info) => [info.lessor, info.peerId, info.pricePerGiBPerPeriod]),
        [
          [lessorB, peerId("B"), PRICE],
          [lessorC, peerId("C"), PRICE * 2n],
        ],
      );
      assert.equal(await registry.read.MAX_PAGE_SIZE(), 100n);
    });
  });
});
