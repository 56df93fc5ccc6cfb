// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";
import {IMarketVault} from "../interfaces/IMarketVault.sol";
import {MarketVault} from "../market/MarketVault.sol";
import {StorageMarket} from "../market/StorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {LessorRegistry} from "../registry/LessorRegistry.sol";
import {CofferToken} from "../token/CofferToken.sol";
import {TinyReplica} from "./TinyReplica.sol";
import {CofferTest} from "./CofferTest.sol";
import {Vm} from "./Vm.sol";

/// @dev Deploys token, registry, vault and market with short periods; shared by the fuzz and invariant tests.
abstract contract MarketSetup is CofferTest {
    uint256 internal constant PERIOD = 100;
    uint256 internal constant K_POST = 2;
    uint256 internal constant K_POREP = 2;
    uint256 internal constant COLLATERAL = 1_000_000;
    uint256 internal constant STAKE = 1e30;

    CofferToken internal token;
    LessorRegistry internal registry;
    MarketVault internal vault;
    StorageMarket internal market;

    function _deploy() internal {
        vm.warp(1_000_000);
        vm.roll(100);
        token = new CofferToken(address(this), 1e70, false);
        registry = new LessorRegistry(IERC20(address(token)), 1, 0, address(this));
        vault = new MarketVault(IERC20(address(token)), address(this));
        market = new StorageMarket(
            ILessorRegistry(address(registry)),
            IMarketVault(address(vault)),
            IStorageMarket.Params({
                periodLength: uint64(PERIOD),
                kPoSt: uint16(K_POST),
                kPoRep: uint16(K_POREP),
                sealRounds: 1,
                porepTimeout: 60,
                maxMisses: 2,
                missSlashBps: 2000,
                bountyBps: 2500,
                repairBps: 5000,
                collateralPerGiB: 0,
                challengeWindow: 3,
                challengeBond: 1_000,
                // TinyReplica is 4 segments: the minimum-size rule (§2.1) has its own tests.
                minSegments: 4,
                revealFactor: 0
            })
        );
        vault.grantRole(vault.OPERATOR_ROLE(), address(market));
        registry.grantRole(registry.MARKET_ROLE(), address(market));
    }

    /// @dev Requests the current period's seed, mines its seed block and stores it (§6.1).
    function _seedNow() internal returns (bytes32 seed) {
        seed = market.seedPeriod();
        if (seed != bytes32(0)) return seed;
        vm.roll(block.number + 2);
        seed = market.seedPeriod();
    }

    function _fund(address account, uint256 amount) internal {
        token.transfer(account, amount);
        vm.prank(account);
        token.approve(address(vault), type(uint256).max);
    }

    function _stake(address lessor) internal {
        token.transfer(lessor, STAKE);
        vm.startPrank(lessor);
        token.approve(address(registry), STAKE);
        string[] memory multiaddrs = new string[](1);
        multiaddrs[0] = "/ip4/127.0.0.1/tcp/4001";
        registry.register(STAKE, 1 << 40, 1, abi.encodePacked(hex"1220", keccak256(abi.encode(lessor))), multiaddrs);
        vm.stopPrank();
    }
}

/// @notice Drives the market through random sequences of real actions with valid proofs (the invariant target).
contract MarketHandler is CofferTest {
    StorageMarket internal immutable market;
    MarketVault internal immutable vault;
    LessorRegistry internal immutable registry;
    IERC20 internal immutable token;

    address internal constant CLIENT = address(0xC11E47);
    address internal constant WATCHER = address(0x3A7C4);
    address[3] internal lessors = [address(0x1E550A), address(0x1E550B), address(0x1E550C)];

    uint256 internal constant MAX_DEALS = 6;
    bytes32[] public deals;
    mapping(bytes32 => uint256) public replicaCount;
    /// Sealed segments of each slot's current lessor.
    mapping(bytes32 => mapping(uint256 => bytes32[4])) internal sealedOf;
    /// Periods proven per slot as seen by the handler (a submission it made succeeded).
    mapping(bytes32 => mapping(uint256 => uint256)) public ghostProven;
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;

    constructor(StorageMarket market_, MarketVault vault_, LessorRegistry registry_) {
        market = market_;
        vault = vault_;
        registry = registry_;
        token = IERC20(vault_.token());
    }

    function lessorAt(uint256 i) external view returns (address) {
        return lessors[i];
    }

    function dealCount() external view returns (uint256) {
        return deals.length;
    }

    // ------------------------------------------------------------ actions

    function createDeal(uint256 replicasSeed, uint256 durationSeed, uint256 priceSeed) external {
        if (deals.length >= MAX_DEALS) return;
        uint8 replicas = uint8(bound(replicasSeed, 1, 3));
        uint32 duration = uint32(bound(durationSeed, 1, 6));
        uint128 price = uint128(bound(priceSeed, 1, 1e24));
        bytes32 salt = bytes32(deals.length);
        bytes32 commD = TinyReplica.root(TinyReplica.data(salt));
        uint256 before = token.balanceOf(address(vault));
        vm.prank(CLIENT);
        bytes32 dealId = market.createDeal(commD, uint64(TinyReplica.SIZE), replicas, duration, price, uint128(1_000_000));
        ghostDeposited += token.balanceOf(address(vault)) - before;
        deals.push(dealId);
        replicaCount[dealId] = replicas;
    }

    function fill(uint256 dealSeed, uint256 indexSeed, uint256 lessorSeed) external {
        if (deals.length == 0) return;
        uint256 d = dealSeed % deals.length;
        bytes32 dealId = deals[d];
        uint256 index = indexSeed % replicaCount[dealId];
        address lessor = lessors[lessorSeed % 3];
        bytes32[4] memory s = TinyReplica.seal(TinyReplica.data(bytes32(d)), ProofMath.replicaId(lessor, dealId, index), 1);
        bytes32 commR = TinyReplica.root(s); // before the prank: a precompile call would consume it
        vm.prank(lessor);
        try market.fillReplica(dealId, index, commR) {
            sealedOf[dealId][index] = s;
        } catch {}
    }

    function answerPoRep(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        uint256 d = dealSeed % deals.length;
        bytes32 dealId = deals[d];
        uint256 index = indexSeed % replicaCount[dealId];
        IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
        if (replica.status != 1) return;
        if (block.number < replica.fillBlock + 2) vm.roll(replica.fillBlock + 2);
        bytes32 seed = blockhash(replica.fillBlock + 1);
        bytes32[] memory proof = TinyReplica.porepProof(
            TinyReplica.data(bytes32(d)), sealedOf[dealId][index], seed, ProofMath.replicaId(replica.lessor, dealId, index), K_POREP_
        );
        vm.prank(replica.lessor);
        try market.answerPoRep(dealId, index, proof) {} catch {}
    }

    uint256 internal constant K_POREP_ = 2;
    uint256 internal constant K_POST_ = 2;

    /// @dev The chosen lessor proves every replica it holds that is due this period, in one submission.
    function provePeriod(uint256 lessorSeed) external {
        address lessor = lessors[lessorSeed % 3];
        uint256 period = market.currentPeriod();
        bytes32 seed = _seed();
        if (seed == bytes32(0)) return;
        bytes32[] memory ids = new bytes32[](deals.length * 3);
        bytes memory indexes = new bytes(deals.length * 3);
        uint256[] memory which = new uint256[](deals.length * 3);
        uint256 count;
        for (uint256 d; d < deals.length; ++d) {
            bytes32 dealId = deals[d];
            for (uint256 index; index < replicaCount[dealId]; ++index) {
                IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
                if (replica.lessor != lessor || replica.status != 2) continue;
                if (period < replica.firstPeriod || period >= market.getDeal(dealId).endPeriod) continue;
                if (market.isPeriodProven(dealId, index, period)) continue;
                ids[count] = dealId;
                indexes[count] = bytes1(uint8(index));
                which[count] = index;
                ++count;
            }
        }
        if (count == 0) return;
        bytes32[] memory proof = new bytes32[](count * K_POST_ * 3);
        uint256 cursor;
        for (uint256 r; r < count; ++r) {
            cursor = TinyReplica.postProof(sealedOf[ids[r]][which[r]], seed, ProofMath.replicaId(lessor, ids[r], which[r]), K_POST_, proof, cursor);
        }
        assembly ("memory-safe") {
            mstore(ids, count)
            mstore(indexes, count)
        }
        vm.prank(lessor);
        market.submitPoSt(period, ids, indexes, proof);
        for (uint256 r; r < count; ++r) ++ghostProven[ids[r]][which[r]];
    }

    /// @dev The current period's seed: the first call fixes the seed block, one block later it can be stored.
    function _seed() internal returns (bytes32 seed) {
        seed = market.seedPeriod();
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = market.periodSeedBlock(market.currentPeriod());
        if (seedBlock >= block.number) vm.roll(seedBlock + 1);
        try market.seedPeriod() returns (bytes32 stored) {
            seed = stored;
        } catch {}
    }

    function markMissing(uint256 dealSeed, uint256 indexSeed, uint256 back) external {
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        uint256 current = market.currentPeriod();
        if (current == 0) return;
        uint256 period = current - 1 - (back % (current < 4 ? current : 4));
        vm.prank(WATCHER);
        try market.markProofMissing(dealId, indexSeed % replicaCount[dealId], period) {} catch {}
    }

    function expirePoRep(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        vm.prank(WATCHER);
        try market.expirePoRep(dealId, indexSeed % replicaCount[dealId]) {} catch {}
    }

    function challenge(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        uint256 before = token.balanceOf(address(vault));
        vm.prank(WATCHER);
        try market.challengeReplica(dealId, indexSeed % replicaCount[dealId]) {} catch {}
        ghostDeposited += token.balanceOf(address(vault)) - before;
    }

    /// @dev The challenged lessor answers with valid openings (it holds its sealed replica), when still in time.
    function answerChallenge(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        uint256 d = dealSeed % deals.length;
        bytes32 dealId = deals[d];
        uint256 index = indexSeed % replicaCount[dealId];
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, index, WATCHER);
        if (c.challenger == address(0)) return;
        if (block.number < c.openedBlock + 2) {
            vm.roll(c.openedBlock + 2);
            c = market.getChallenge(dealId, index, WATCHER);
        }
        bytes32[] memory proof = TinyReplica.challengeProof(sealedOf[dealId][index], c.seed, ProofMath.replicaId(c.lessor, dealId, index), K_POST_);
        vm.prank(c.lessor);
        try market.answerChallenge(dealId, index, WATCHER, proof) {} catch {}
    }

    function expireChallenge(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        vm.prank(CLIENT);
        try market.expireChallenge(dealId, indexSeed % replicaCount[dealId], WATCHER) {} catch {}
    }

    function advance(uint256 secondsSeed) external {
        vm.warp(block.timestamp + bound(secondsSeed, 1, 2 * 100));
        vm.roll(block.number + 1);
    }

    function settle(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        try market.claimRefund(dealId) {} catch {}
        try market.finishReplica(dealId, indexSeed % replicaCount[dealId]) {} catch {}
    }

    function cancel(uint256 dealSeed) external {
        if (deals.length == 0) return;
        vm.prank(CLIENT);
        try market.cancelDeal(deals[dealSeed % deals.length]) {} catch {}
    }

    function topUp(uint256 dealSeed, uint256 periodsSeed) external {
        if (deals.length == 0) return;
        uint256 before = token.balanceOf(address(vault));
        vm.prank(CLIENT);
        try market.topUp(deals[dealSeed % deals.length], uint32(bound(periodsSeed, 1, 3))) {} catch {}
        ghostDeposited += token.balanceOf(address(vault)) - before;
    }

    function withdraw(uint256 actorSeed) external {
        uint256 pick = actorSeed % 5;
        address actor = pick < 3 ? lessors[pick] : (pick == 3 ? CLIENT : WATCHER);
        if (vault.withdrawableOf(actor) == 0) return;
        vm.prank(actor);
        ghostWithdrawn += vault.withdraw();
    }
}

/// @notice Invariants over random action sequences.
contract MarketInvariantTest is MarketSetup {
    MarketHandler internal handler;
    uint256 internal initialStake;

    function setUp() public {
        _deploy();
        handler = new MarketHandler(market, vault, registry);
        _fund(address(0xC11E47), 1e60);
        _fund(address(0x3A7C4), 1e30); // the watcher: challenge bonds
        for (uint256 i; i < 3; ++i) _stake(handler.lessorAt(i));
        initialStake = token.balanceOf(address(registry));
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Funds in one place: the vault holds exactly its escrow plus what accounts can withdraw.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 40
    function invariant_vaultBalanceEqualsLiabilities() public view {
        assertEq(token.balanceOf(address(vault)), vault.escrowed() + vault.totalWithdrawable(), "vault balance");
    }

    /// The registry holds exactly the stakes, and each lessor's locked stake is the collateral of its live replicas.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 40
    function invariant_collateralBacked() public view {
        uint256 stakes;
        for (uint256 i; i < 3; ++i) {
            address lessor = handler.lessorAt(i);
            stakes += registry.freeStakeOf(lessor) + registry.lockedStakeOf(lessor);
            uint256 locked;
            for (uint256 d; d < handler.dealCount(); ++d) {
                bytes32 dealId = handler.deals(d);
                for (uint256 r; r < handler.replicaCount(dealId); ++r) {
                    IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                    if (replica.lessor == lessor && (replica.status == 1 || replica.status == 2)) locked += replica.collateralLeft;
                }
            }
            assertEq(registry.lockedStakeOf(lessor), locked, "locked stake == live collateral");
        }
        assertEq(token.balanceOf(address(registry)), stakes, "registry balance");
    }

    /// No lessor is paid for a period that was not proven: every paid period has its proven bit, and the
    /// handler saw exactly that many accepted proofs.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 40
    function invariant_paidOnlyForProvenPeriods() public view {
        for (uint256 d; d < handler.dealCount(); ++d) {
            bytes32 dealId = handler.deals(d);
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            for (uint256 r; r < handler.replicaCount(dealId); ++r) {
                uint256 proven;
                for (uint256 p = deal.startPeriod; p < deal.endPeriod; ++p) {
                    if (market.isPeriodProven(dealId, r, p)) ++proven;
                }
                IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                assertEq(replica.paidPeriods, proven, "paid periods == proven periods");
                assertEq(replica.paidPeriods, handler.ghostProven(dealId, r), "paid periods == accepted proofs");
            }
        }
    }

    /// Per deal: paid to lessors + refundable <= escrowed; overall: tokens out + tokens held == tokens in.
    /// hardhat-config: invariant.runs = 24
    /// hardhat-config: invariant.depth = 40
    function invariant_noMoneyFromNowhere() public view {
        for (uint256 d; d < handler.dealCount(); ++d) {
            bytes32 dealId = handler.deals(d);
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            uint256 paid;
            for (uint256 r; r < handler.replicaCount(dealId); ++r) paid += market.getReplica(dealId, r).paidPeriods;
            assertLe(paid * deal.pricePerPeriod, deal.escrow, "paid <= escrow");
        }
        uint256 slashedIn = initialStake - token.balanceOf(address(registry));
        assertEq(
            handler.ghostDeposited() + slashedIn, handler.ghostWithdrawn() + token.balanceOf(address(vault)), "token conservation"
        );
    }
}
