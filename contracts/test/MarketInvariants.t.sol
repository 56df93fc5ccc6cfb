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
import {TestSector} from "./TestSector.sol";
import {CofferTest} from "./CofferTest.sol";

/// @dev Deploys token, registry, vault and market with short periods and small sectors (4 to 2^17 segments, like
/// test/helpers/market-fixture.ts, but deals from 4 segments so TinyReplica's file is one); shared by the rules,
/// fuzz and invariant tests. Keeps the unsealed and sealed leaves of every sector it builds, for the proofs.
abstract contract MarketSetup is CofferTest {
    uint256 internal constant PERIOD = 100;
    uint256 internal constant K_POST = 3;
    uint256 internal constant K_POREP = 2;
    uint256 internal constant SEAL_ROUNDS = 2;
    uint256 internal constant POREP_TIMEOUT = 60;
    uint256 internal constant MAX_MISSES = 2;
    uint256 internal constant MISS_SLASH_BPS = 2000;
    uint256 internal constant BOUNTY_BPS = 2500;
    uint256 internal constant REPAIR_BPS = 5000;
    uint256 internal constant BPS = 10_000;
    /// 1,000 token units per byte of piece.
    uint256 internal constant COLLATERAL_PER_GIB = 1000 << 30;
    uint256 internal constant CHALLENGE_WINDOW = 3;
    uint256 internal constant BOND = 1_000;
    uint256 internal constant MIN_SEGMENTS = 4;
    uint256 internal constant MIN_SECTOR_LOG = 2;
    uint256 internal constant MAX_SECTOR_LOG = 17;

    uint256 internal constant COLLATERAL = 1_000_000;
    uint256 internal constant STAKE = 1e30;
    uint128 internal constant PRICE_PER_GIB = 1e20;

    CofferToken internal token;
    LessorRegistry internal registry;
    MarketVault internal vault;
    StorageMarket internal market;

    /// Each sector's unsealed and sealed leaves, as built by _buildSector.
    mapping(bytes32 sector => bytes32[]) internal dataOf;
    mapping(bytes32 sector => bytes32[]) internal sealedOf;
    /// The data salt of each deal this contract created (its piece is TestSector.pieceData(salt, depth)).
    mapping(bytes32 dealId => bytes32) internal saltOf;

    function _params() internal pure returns (IStorageMarket.Params memory) {
        return IStorageMarket.Params({
            periodLength: uint64(PERIOD),
            kPoSt: uint16(K_POST),
            kPoRep: uint16(K_POREP),
            sealRounds: uint16(SEAL_ROUNDS),
            porepTimeout: uint64(POREP_TIMEOUT),
            maxMisses: uint16(MAX_MISSES),
            missSlashBps: uint16(MISS_SLASH_BPS),
            bountyBps: uint16(BOUNTY_BPS),
            repairBps: uint16(REPAIR_BPS),
            collateralPerGiB: uint128(COLLATERAL_PER_GIB),
            challengeWindow: uint16(CHALLENGE_WINDOW),
            challengeBond: uint128(BOND),
            minSegments: uint48(MIN_SEGMENTS),
            minSectorLog: uint8(MIN_SECTOR_LOG),
            maxSectorLog: uint8(MAX_SECTOR_LOG)
        });
    }

    function _deploy() internal {
        vm.warp(1_000_000);
        vm.roll(100);
        token = new CofferToken(address(this), 1e70, false);
        registry = new LessorRegistry(IERC20(address(token)), 1, 0, address(this));
        vault = new MarketVault(IERC20(address(token)), address(this));
        market = new StorageMarket(ILessorRegistry(address(registry)), IMarketVault(address(vault)), _params());
        vault.grantRole(vault.OPERATOR_ROLE(), address(market));
        registry.grantRole(registry.MARKET_ROLE(), address(market));
    }

    function _fund(address account, uint256 amount) internal {
        token.transfer(account, amount);
        vm.prank(account);
        token.approve(address(vault), type(uint256).max);
    }

    function _stake(address lessor) internal {
        _stake(lessor, STAKE);
    }

    function _stake(address lessor, uint256 amount) internal {
        token.transfer(lessor, amount);
        vm.startPrank(lessor);
        token.approve(address(registry), type(uint256).max);
        string[] memory multiaddrs = new string[](1);
        multiaddrs[0] = "/ip4/127.0.0.1/tcp/4001";
        registry.register(amount, 1 << 40, 1, abi.encodePacked(hex"1220", keccak256(abi.encode(lessor))), multiaddrs);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ time

    function _now() internal view returns (uint256) {
        return vm.getBlockTimestamp();
    }

    function _block() internal view returns (uint256) {
        return vm.getBlockNumber();
    }

    function _roll(uint256 blocks) internal {
        vm.roll(vm.getBlockNumber() + blocks);
    }

    /// One second into `period`, one block later.
    function _toPeriod(uint256 period) internal {
        vm.warp(market.startTime() + period * PERIOD + 1);
        _roll(1);
    }

    /// Requests the current period's seed, mines its seed block and stores it (§6.1).
    function _seedNow() internal returns (bytes32 seed) {
        seed = market.seedPeriod();
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = market.periodSeedBlock(market.currentPeriod());
        if (_block() <= seedBlock) vm.roll(seedBlock + 1);
        seed = market.seedPeriod();
    }

    // ------------------------------------------------------------ deals and sectors

    /// A one-replica deal of TinyReplica's size (4 segments) over `duration` periods.
    function _newDeal(address client, bytes32 salt, uint32 duration) internal returns (bytes32) {
        return _newDeal(client, salt, 2, 1, duration);
    }

    /// A deal whose file is TestSector.pieceData(salt, depth) (2^depth full segments).
    function _newDeal(address client, bytes32 salt, uint256 depth, uint8 replicas, uint32 duration) internal returns (bytes32 dealId) {
        bytes32 commD = TestSector.root(TestSector.pieceData(salt, depth)); // before the prank (sha256 precompile)
        vm.prank(client);
        dealId = market.createDeal(commD, uint64(32 << depth), replicas, duration, PRICE_PER_GIB, uint128(COLLATERAL));
        saltOf[dealId] = salt;
    }

    /// Lays the deals' pieces out in a sector of 2^log2 segments (in the order given), seals it to `lessor`'s
    /// sector `number` and keeps its leaves. Returns the sector id and commR to commit.
    function _buildSector(address lessor, uint256 number, uint256 log2, bytes32[] memory dealIds)
        internal
        returns (bytes32 sectorId, bytes32 commR)
    {
        bytes32[][] memory pieces = new bytes32[][](dealIds.length);
        for (uint256 i; i < dealIds.length; ++i) {
            pieces[i] = TestSector.pieceData(saltOf[dealIds[i]], market.getDeal(dealIds[i]).depth);
        }
        sectorId = ProofMath.sectorId(lessor, number);
        bytes32[] memory d = TestSector.layout(log2, pieces);
        bytes32[] memory s = TestSector.seal(d, sectorId, SEAL_ROUNDS);
        dataOf[sectorId] = d;
        sealedOf[sectorId] = s;
        commR = TestSector.root(s);
    }

    function _commit(address lessor, uint256 number, uint256 log2, bytes32[] memory dealIds, bytes memory indexes)
        internal
        returns (bytes32 sectorId)
    {
        bytes32 commR;
        (sectorId, commR) = _buildSector(lessor, number, log2, dealIds);
        vm.prank(lessor);
        market.commitSector(number, uint8(log2), commR, dealIds, indexes);
    }

    /// The PoRep answer of a committed sector, rolling to its seed block + 1 first if needed.
    function _porepProofFor(bytes32 sectorId) internal returns (bytes32[] memory) {
        uint256 commitBlock = market.getSector(sectorId).commitBlock;
        if (_block() < commitBlock + 2) vm.roll(commitBlock + 2);
        return TestSector.porepProof(dataOf[sectorId], sealedOf[sectorId], blockhash(commitBlock + 1), sectorId, K_POREP);
    }

    function _porep(bytes32 sectorId) internal {
        bytes32[] memory proof = _porepProofFor(sectorId);
        address lessor = market.getSector(sectorId).lessor;
        vm.prank(lessor);
        market.answerPoRep(sectorId, proof);
    }

    function _postProofFor(address lessor) internal returns (bytes32[] memory) {
        return TestSector.postProof(market, sealedOf, lessor, _seedNow(), K_POST, MIN_SECTOR_LOG);
    }

    /// `lessor` proves the current period.
    function _post(address lessor) internal {
        bytes32[] memory proof = _postProofFor(lessor);
        uint256 period = market.currentPeriod();
        vm.prank(lessor);
        market.submitPoSt(period, proof);
    }

    function _ids(bytes32 a) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](1);
        ids[0] = a;
    }

    function _ids(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](2);
        ids[0] = a;
        ids[1] = b;
    }

    function _ids(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](3);
        ids[0] = a;
        ids[1] = b;
        ids[2] = c;
    }

    function _none() internal pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }
}
