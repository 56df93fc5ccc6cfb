// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CofferTest} from "../test/CofferTest.sol";
import {Vm} from "../test/Vm.sol";
import {CofferToken} from "../token/CofferToken.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";
import {LessorRegistry} from "./LessorRegistry.sol";

/// Shared fixtures: a token whose whole supply sits in the test contract, and a registry whose
/// admin is the test contract.
abstract contract RegistryFixture is CofferTest {
    uint256 internal constant MIN_STAKE = 100 ether;
    uint256 internal constant UNBONDING_DELAY = 7 days;
    uint256 internal constant MAX_FUZZ_STAKE = 1e30;

    CofferToken internal token;
    LessorRegistry internal registry;

    function _deploy() internal {
        token = new CofferToken(address(this), type(uint128).max, false);
        registry = new LessorRegistry(token, MIN_STAKE, UNBONDING_DELAY, address(this));
    }

    /// A well-formed Ed25519-style peer id: identity multihash of a 36-byte "public key".
    function _peerId(uint256 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes2(0x0024), bytes4(0x08011220), keccak256(abi.encode(seed)));
    }

    function _multiaddrs() internal pure returns (string[] memory addrs) {
        addrs = new string[](1);
        addrs[0] = "/ip4/127.0.0.1/tcp/4001";
    }

    /// Funds `lessor` with `stake` tokens and registers it.
    function _register(address lessor, uint256 stake, uint256 peerSeed) internal {
        token.transfer(lessor, stake);
        vm.startPrank(lessor);
        token.approve(address(registry), stake);
        registry.register(stake, 1 << 40, 1 gwei, _peerId(peerSeed), _multiaddrs());
        vm.stopPrank();
    }

    function _bonded(address lessor) internal view returns (uint256) {
        return registry.freeStakeOf(lessor) + registry.lockedStakeOf(lessor);
    }
}

contract LessorRegistryFuzzTest is RegistryFixture {
    address internal constant LESSOR = address(0x1E55);
    address internal constant MARKET = address(0x3A4E);
    address internal constant SLASH_RECIPIENT = address(0xB0B);

    function setUp() public {
        _deploy();
        registry.grantRole(registry.MARKET_ROLE(), MARKET);
    }

    /// A whole life cycle with fuzzed amounts: register, add, lock, slash, unlock, unstake, withdraw.
    /// Every token staked ends up in exactly one place.
    function test_fuzz_stakeAccounting(
        uint256 stake,
        uint256 extra,
        uint256 lockAmount,
        uint256 slashAmount,
        uint256 unlockAmount,
        uint256 unstakeAmount
    ) public {
        stake = bound(stake, MIN_STAKE, MAX_FUZZ_STAKE);
        extra = bound(extra, 1, MAX_FUZZ_STAKE);
        _register(LESSOR, stake, 1);
        token.transfer(LESSOR, extra);
        vm.startPrank(LESSOR);
        token.approve(address(registry), extra);
        registry.addStake(extra);
        vm.stopPrank();
        uint256 staked = stake + extra;

        lockAmount = bound(lockAmount, 1, staked);
        vm.prank(MARKET);
        registry.lockStake(LESSOR, lockAmount);

        slashAmount = bound(slashAmount, 0, lockAmount);
        if (slashAmount != 0) {
            vm.prank(MARKET);
            registry.slashStake(LESSOR, slashAmount, SLASH_RECIPIENT);
        }
        unlockAmount = bound(unlockAmount, 0, lockAmount - slashAmount);
        if (unlockAmount != 0) {
            vm.prank(MARKET);
            registry.unlockStake(LESSOR, unlockAmount);
        }

        uint256 free = registry.freeStakeOf(LESSOR);
        uint256 bonded = _bonded(LESSOR);
        uint256 maxUnstake = bonded < MIN_STAKE ? 0 : bonded - MIN_STAKE;
        if (maxUnstake > free) maxUnstake = free;
        uint256 withdrawn;
        if (maxUnstake != 0) {
            unstakeAmount = bound(unstakeAmount, 1, maxUnstake);
            vm.prank(LESSOR);
            registry.requestUnstake(unstakeAmount);
            vm.warp(block.timestamp + UNBONDING_DELAY);
            vm.prank(LESSOR);
            registry.withdraw();
            withdrawn = unstakeAmount;
        }

        ILessorRegistry.LessorInfo memory info = registry.getLessor(LESSOR);
        uint256 held = info.freeStake + info.lockedStake + info.unbondingStake;
        assertEq(held + withdrawn + slashAmount, staked, "free + locked + unbonding + withdrawn + slashed");
        assertEq(token.balanceOf(address(registry)), held, "registry balance");
        assertEq(token.balanceOf(SLASH_RECIPIENT), slashAmount, "slash recipient balance");
        assertEq(token.balanceOf(LESSOR), withdrawn, "lessor balance");
        assertEq(info.lockedStake, lockAmount - slashAmount - unlockAmount, "locked");
        (uint256 totalFree, uint256 totalLocked, uint256 totalUnbonding) = registry.stakeTotals();
        assertEq(totalFree, info.freeStake, "total free");
        assertEq(totalLocked, info.lockedStake, "total locked");
        assertEq(totalUnbonding, info.unbondingStake, "total unbonding");
    }

    /// Unstaking that would leave bonded stake below the minimum is refused with the exact shortfall.
    function test_fuzz_requestUnstakeKeepsMinimum(uint256 stake, uint256 lockAmount, uint256 unstakeAmount) public {
        stake = bound(stake, MIN_STAKE, MAX_FUZZ_STAKE);
        _register(LESSOR, stake, 1);
        lockAmount = bound(lockAmount, 0, stake - 1);
        if (lockAmount != 0) {
            vm.prank(MARKET);
            registry.lockStake(LESSOR, lockAmount);
        }
        uint256 free = stake - lockAmount;
        // Smallest amount that drops bonded stake below the minimum.
        uint256 firstBad = stake - MIN_STAKE + 1;
        vm.assume(firstBad <= free);
        unstakeAmount = bound(unstakeAmount, firstBad, free);

        vm.prank(LESSOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILessorRegistry.RegistryStakeBelowMinimum.selector, LESSOR, stake - unstakeAmount, MIN_STAKE
            )
        );
        registry.requestUnstake(unstakeAmount);
    }

    /// Locking then unlocking any amount leaves the lessor exactly as before.
    function test_fuzz_lockUnlockRoundTrip(uint256 stake, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, MAX_FUZZ_STAKE);
        amount = bound(amount, 1, stake);
        _register(LESSOR, stake, 1);
        vm.startPrank(MARKET);
        registry.lockStake(LESSOR, amount);
        assertEq(registry.freeStakeOf(LESSOR), stake - amount, "free after lock");
        assertEq(registry.lockedStakeOf(LESSOR), amount, "locked after lock");
        registry.unlockStake(LESSOR, amount);
        vm.stopPrank();
        assertEq(registry.freeStakeOf(LESSOR), stake, "free after unlock");
        assertEq(registry.lockedStakeOf(LESSOR), 0, "locked after unlock");
    }

    /// Locking more than is free reports the free balance and the amount asked for.
    function test_fuzz_lockMoreThanFreeReverts(uint256 stake, uint256 amount) public {
        stake = bound(stake, MIN_STAKE, MAX_FUZZ_STAKE);
        amount = bound(amount, stake + 1, type(uint256).max);
        _register(LESSOR, stake, 1);
        vm.prank(MARKET);
        vm.expectRevert(
            abi.encodeWithSelector(ILessorRegistry.RegistryInsufficientFreeStake.selector, LESSOR, stake, amount)
        );
        registry.lockStake(LESSOR, amount);
    }

    /// Any byte string is accepted as a peer id exactly when it is a well-formed multihash.
    function test_fuzz_peerIdValidation(bytes calldata peerId) public {
        bool wellFormed = peerId.length >= 3 && peerId.length <= 64
            && (uint8(peerId[0]) == 0x00 || uint8(peerId[0]) == 0x12) && uint8(peerId[1]) == peerId.length - 2;
        token.transfer(LESSOR, MIN_STAKE);
        vm.startPrank(LESSOR);
        token.approve(address(registry), MIN_STAKE);
        if (!wellFormed) {
            vm.expectRevert(abi.encodeWithSelector(ILessorRegistry.RegistryInvalidPeerId.selector, peerId));
        }
        registry.register(MIN_STAKE, 1, 1, peerId, _multiaddrs());
        vm.stopPrank();
        if (wellFormed) assertEq(uint160(registry.lessorByPeerId(peerId)), uint160(LESSOR), "peer id owner");
    }

    /// Well-formed peer ids of every allowed length and code are accepted.
    function test_fuzz_wellFormedPeerIdAccepted(uint256 digestLength, bool sha256Code, bytes32 fill) public {
        digestLength = bound(digestLength, 1, 62);
        bytes memory peerId = new bytes(digestLength + 2);
        peerId[0] = sha256Code ? bytes1(0x12) : bytes1(0x00);
        peerId[1] = bytes1(uint8(digestLength));
        for (uint256 i = 0; i < digestLength; ++i) {
            peerId[i + 2] = fill[i % 32];
        }
        token.transfer(LESSOR, MIN_STAKE);
        vm.startPrank(LESSOR);
        token.approve(address(registry), MIN_STAKE);
        registry.register(MIN_STAKE, 1, 1, peerId, _multiaddrs());
        vm.stopPrank();
        assertTrue(registry.isActiveLessor(LESSOR), "registered");
    }

    /// A page never holds more than MAX_PAGE_SIZE entries, whatever the limit.
    function test_pageSizeIsCapped() public {
        uint256 maxPage = registry.MAX_PAGE_SIZE();
        for (uint256 i = 0; i <= maxPage; ++i) {
            _register(address(uint160(0x1000 + i)), MIN_STAKE, i);
        }
        assertEq(registry.lessorCount(), maxPage + 1, "count");
        assertEq(registry.lessorsPage(0, type(uint256).max).length, maxPage, "capped page");
        assertEq(registry.lessorInfosPage(0, maxPage + 1).length, maxPage, "capped info page");
        assertEq(registry.lessorsPage(maxPage, type(uint256).max).length, 1, "last page");
    }

    /// Pages cover the list exactly: size = min(limit, count - offset, MAX_PAGE_SIZE).
    function test_fuzz_pagination(uint256 count, uint256 offset, uint256 limit) public {
        count = bound(count, 0, 6);
        offset = bound(offset, 0, 8);
        limit = bound(limit, 0, 8);
        for (uint256 i = 0; i < count; ++i) {
            _register(address(uint160(0x1000 + i)), MIN_STAKE, i);
        }
        address[] memory page = registry.lessorsPage(offset, limit);
        uint256 expected = offset >= count ? 0 : (limit < count - offset ? limit : count - offset);
        assertEq(page.length, expected, "page size");
        for (uint256 i = 0; i < page.length; ++i) {
            assertEq(uint160(page[i]), 0x1000 + offset + i, "page entry");
        }
    }
}

/// Drives the registry with random but valid-looking calls from a few lessors; acts as the market
/// itself. Keeps ghost totals of what went in and out so the invariants can check conservation.
contract RegistryHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant ACTORS = 4;
    uint256 internal constant MAX_DEPOSIT = 1e24;

    CofferToken public immutable token;
    LessorRegistry public immutable registry;
    uint256 public immutable minStake;
    address public constant SLASH_RECIPIENT = address(0xB0B);

    uint256 public deposited;
    uint256 public withdrawn;
    uint256 public slashed;
    uint256 public calls;

    constructor(CofferToken token_, LessorRegistry registry_) {
        token = token_;
        registry = registry_;
        minStake = registry_.minStake();
    }

    function actor(uint256 index) public pure returns (address) {
        return address(uint160(0xA000 + (index % ACTORS)));
    }

    function actorCount() external pure returns (uint256) {
        return ACTORS;
    }

    function register(uint256 actorSeed, uint256 stake, uint256 peerSeed) external {
        address lessor = actor(actorSeed);
        if (registry.getLessor(lessor).registeredAt != 0) return;
        stake = _bound(stake, minStake, MAX_DEPOSIT);
        bytes memory peerId = abi.encodePacked(bytes2(0x0024), bytes4(0x08011220), keccak256(abi.encode(peerSeed)));
        if (registry.lessorByPeerId(peerId) != address(0)) return;
        string[] memory addrs = new string[](1);
        addrs[0] = "/ip4/127.0.0.1/tcp/4001";
        _fund(lessor, stake);
        vm.prank(lessor);
        registry.register(stake, 1 << 30, 1, peerId, addrs);
        deposited += stake;
        ++calls;
    }

    function addStake(uint256 actorSeed, uint256 amount) external {
        address lessor = actor(actorSeed);
        if (registry.getLessor(lessor).registeredAt == 0) return;
        amount = _bound(amount, 1, MAX_DEPOSIT);
        _fund(lessor, amount);
        vm.prank(lessor);
        registry.addStake(amount);
        deposited += amount;
        ++calls;
    }

    function requestUnstake(uint256 actorSeed, uint256 amount) external {
        address lessor = actor(actorSeed);
        if (registry.getLessor(lessor).registeredAt == 0) return;
        uint256 free = registry.freeStakeOf(lessor);
        uint256 bonded = free + registry.lockedStakeOf(lessor);
        uint256 maxAmount = bonded <= minStake ? 0 : bonded - minStake;
        if (maxAmount > free) maxAmount = free;
        if (maxAmount == 0) return;
        vm.prank(lessor);
        registry.requestUnstake(_bound(amount, 1, maxAmount));
        ++calls;
    }

    function deregister(uint256 actorSeed) external {
        address lessor = actor(actorSeed);
        ILessorRegistry.LessorInfo memory info = registry.getLessor(lessor);
        if (info.registeredAt == 0 || info.lockedStake != 0) return;
        vm.prank(lessor);
        registry.deregister();
        ++calls;
    }

    function withdraw(uint256 actorSeed) external {
        address lessor = actor(actorSeed);
        ILessorRegistry.LessorInfo memory info = registry.getLessor(lessor);
        if (info.unbondingStake == 0) return;
        if (block.timestamp < info.unbondingReleaseAt) vm.warp(info.unbondingReleaseAt);
        vm.prank(lessor);
        registry.withdraw();
        withdrawn += info.unbondingStake;
        ++calls;
    }

    function lockStake(uint256 actorSeed, uint256 amount) external {
        address lessor = actor(actorSeed);
        uint256 free = registry.freeStakeOf(lessor);
        if (free == 0) return;
        registry.lockStake(lessor, _bound(amount, 1, free));
        ++calls;
    }

    function unlockStake(uint256 actorSeed, uint256 amount) external {
        address lessor = actor(actorSeed);
        uint256 locked = registry.lockedStakeOf(lessor);
        if (locked == 0) return;
        registry.unlockStake(lessor, _bound(amount, 1, locked));
        ++calls;
    }

    function slashStake(uint256 actorSeed, uint256 amount) external {
        address lessor = actor(actorSeed);
        uint256 locked = registry.lockedStakeOf(lessor);
        if (locked == 0) return;
        amount = _bound(amount, 1, locked);
        registry.slashStake(lessor, amount, SLASH_RECIPIENT);
        slashed += amount;
        ++calls;
    }

    function _fund(address lessor, uint256 amount) private {
        token.transfer(lessor, amount);
        vm.prank(lessor);
        token.approve(address(registry), amount);
    }

    function _bound(uint256 x, uint256 min, uint256 max) private pure returns (uint256) {
        return min + (x % (max - min + 1));
    }
}

/// Sized for a 2-core CI: 128 sequences of 64 calls per invariant.
/// forge-config: default.invariant.runs = 128
/// forge-config: default.invariant.depth = 64
contract LessorRegistryInvariantTest is RegistryFixture {
    RegistryHandler internal handler;

    function setUp() public {
        _deploy();
        handler = new RegistryHandler(token, registry);
        registry.grantRole(registry.MARKET_ROLE(), address(handler));
        token.transfer(address(handler), token.balanceOf(address(this)));
    }

    /// Only the handler is called by the invariant fuzzer.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function _sums() private view returns (uint256 free, uint256 locked, uint256 unbonding, uint256 registered) {
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            ILessorRegistry.LessorInfo memory info = registry.getLessor(handler.actor(i));
            free += info.freeStake;
            locked += info.lockedStake;
            unbonding += info.unbondingStake;
            if (info.registeredAt != 0) ++registered;
        }
    }

    /// free + locked + unbonding + withdrawn + slashed == everything staked.
    function invariant_stakeIsConserved() public view {
        (uint256 free, uint256 locked, uint256 unbonding,) = _sums();
        assertEq(
            free + locked + unbonding + handler.withdrawn() + handler.slashed(),
            handler.deposited(),
            "stake conservation"
        );
    }

    /// The registry holds exactly the stake not yet withdrawn or slashed.
    function invariant_tokenBalanceMatchesStake() public view {
        (uint256 free, uint256 locked, uint256 unbonding,) = _sums();
        assertEq(token.balanceOf(address(registry)), free + locked + unbonding, "registry balance");
        assertEq(
            token.balanceOf(address(registry)),
            handler.deposited() - handler.withdrawn() - handler.slashed(),
            "balance vs ghost"
        );
        assertEq(token.balanceOf(handler.SLASH_RECIPIENT()), handler.slashed(), "slash recipient");
    }

    /// The stored totals equal the per-lessor sums.
    function invariant_totalsMatchSums() public view {
        (uint256 free, uint256 locked, uint256 unbonding,) = _sums();
        (uint256 totalFree, uint256 totalLocked, uint256 totalUnbonding) = registry.stakeTotals();
        assertEq(totalFree, free, "total free");
        assertEq(totalLocked, locked, "total locked");
        assertEq(totalUnbonding, unbonding, "total unbonding");
    }

    /// The discovery list holds exactly the registered lessors; deregistered ones hold nothing bonded.
    function invariant_discoveryListMatchesRegistrations() public view {
        (,,, uint256 registered) = _sums();
        assertEq(registry.lessorCount(), registered, "lessor count");
        address[] memory page = registry.lessorsPage(0, 100);
        for (uint256 i = 0; i < page.length; ++i) {
            assertTrue(registry.getLessor(page[i]).registeredAt != 0, "listed lessor is registered");
        }
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; ++i) {
            ILessorRegistry.LessorInfo memory info = registry.getLessor(handler.actor(i));
            if (info.registeredAt == 0) assertEq(info.freeStake + info.lockedStake, 0, "unregistered bonded stake");
        }
    }
}
