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

/// @dev The handler's own record of a sector it committed (compared with the market's by the invariants).
struct GhostSector {
    address lessor;
    uint8 log2;
    /// 0 none, 1 committed, 2 proving, 3 dropped (SlotStatus).
    uint8 status;
    uint32 firstPeriod;
    uint32 dropPeriod;
    uint64 commitBlock;
    uint64 commitTime;
}

/// @dev The handler's record of a slot's current filling.
struct GhostSlot {
    address lessor;
    /// 0 open, 1 filled, 2 finished (SlotStatus).
    uint8 status;
    bytes32 sector;
    uint64 offset;
    uint64 fillBlock;
}

/// @dev An expired challenge whose failure waits for the slot's other challenges.
struct GhostDeferred {
    address challenger;
    uint64 periodPlusOne;
}

/// @dev What settling a slot now should do, by the handler's model (docs/protocol.md §10.4, §12.5).
struct Expect {
    bool due;
    bool failed;
    bool expired;
    uint256 proven;
    uint256 missed;
    uint256 payment;
    uint256 slashed;
    uint256 repair;
    uint256 released;
    uint256 bounty;
    address challenger;
}

/// @dev A challenge the handler opened and has not seen closed.
struct OpenChallenge {
    bytes32 dealId;
    uint256 index;
    address challenger;
    address lessor;
    uint64 fillBlock;
    uint64 openedBlock;
}

/// @notice Drives the market through random sequences of real actions (the invariant target): deals of one or
/// two piece sizes, sectors of one or two pieces or none (capacity) committed by several lessors (one short of
/// stake), PoReps in time, early or late, PoSts per lessor over sectors of several sizes, period seeds requested
/// early (locking proving sets), drops, challenges by watchers and lessors (their own pieces too), settlements,
/// refunds and cancels in every state, time jumps across deals' ends and the blockhash horizon; and invalid
/// variants of each proof and commit, which must fail. It keeps its own model of every sector, slot, proven
/// period and credit, and predicts whether each call must pass or fail: a call that passes when the model says
/// it must not (or the reverse) is counted as a broken rule, since a revert inside a handler is discarded.
contract MarketHandler is CofferTest {
    enum Action {
        CreateDeal,
        CancelDeal,
        ClaimRefund,
        CommitSector,
        BadCommit,
        AnswerPoRep,
        BadPoRep,
        SubmitPoSt,
        BadPoSt,
        SeedPeriod,
        DropSector,
        Challenge,
        AnswerChallenge,
        BadChallengeAnswer,
        ExpireChallenge,
        SettleReplica,
        Advance,
        JumpPeriods,
        JumpToDealEdge,
        RollPastHorizon,
        Withdraw
    }

    uint256 public constant ACTION_COUNT = 21;

    uint8 internal constant OPEN = 0;
    uint8 internal constant FILLED = 1;
    uint8 internal constant FINISHED = 2;
    uint8 internal constant COMMITTED = 1;
    uint8 internal constant PROVING = 2;
    uint8 internal constant DROPPED = 3;
    uint256 internal constant BPS_ = 10_000;
    uint256 internal constant HORIZON = 256;
    uint256 internal constant MAX_DEALS = 6;
    /// Sector sizes the handler commits: 4 to 32 segments.
    uint256 internal constant MAX_LOG2 = 5;

    StorageMarket internal immutable market;
    MarketVault internal immutable vault;
    LessorRegistry internal immutable registry;
    IERC20 internal immutable token;
    uint256 internal immutable bond;
    uint256 internal immutable periodLength;
    uint256 internal immutable kPoSt;
    uint256 internal immutable kPoRep;
    uint256 internal immutable sealRounds;
    uint256 internal immutable porepTimeout;
    uint256 internal immutable maxMisses;
    uint256 internal immutable missSlashBps;
    uint256 internal immutable bountyBps;
    uint256 internal immutable repairBps;
    uint256 internal immutable collateralPerGiB;
    uint256 internal immutable challengeWindow;
    uint256 internal immutable minSectorLog;

    address[2] internal clients = [address(0xC11E47), address(0xC11E48)];
    address[2] internal watchers = [address(0x3A7C4), address(0x3A7C5)];
    /// The last one is staked for a few pieces only (MarketInvariantTest.setUp).
    address[4] internal lessors = [address(0x1E550A), address(0x1E550B), address(0x1E550C), address(0x1E550D)];

    bytes32[] public deals;
    bytes32[] public sectors;
    mapping(bytes32 dealId => bytes32) internal saltOf;
    mapping(bytes32 sector => bytes32[]) internal dataOf;
    mapping(bytes32 sector => bytes32[]) internal sealedOf;
    mapping(address lessor => uint256) internal nextNumber;
    OpenChallenge[] internal openChallenges;

    uint256[ACTION_COUNT] internal calledCount;
    uint256[ACTION_COUNT] internal succeededCount;

    /// Rare paths reached (logged with the action counts): a refund returning an unearned repair reward, a
    /// piece failed by an expired challenge, a failure deferred behind another challenge, a repair reward paid,
    /// a piece failed by misses, a drop that moved another sector in its lessor's array.
    enum Path {
        RefundReward,
        ChallengeFailure,
        DeferredFailure,
        RepairPaid,
        MissFailure,
        DropMoved
    }

    uint256 public constant PATH_COUNT = 6;
    uint256[PATH_COUNT] internal pathCount;

    // ------------------------------------------------------------ ghost state (the model)

    mapping(bytes32 sector => GhostSector) internal ghostSector;
    mapping(bytes32 dealId => mapping(uint256 => GhostSlot)) internal ghostSlot;
    mapping(bytes32 dealId => mapping(uint256 => GhostDeferred)) internal ghostDeferred;
    /// Periods paid per slot across its fillings, and the repair reward it holds.
    mapping(bytes32 dealId => mapping(uint256 => uint256)) public ghostPaid;
    mapping(bytes32 dealId => mapping(uint256 => uint256)) public ghostRepair;
    mapping(bytes32 dealId => mapping(address => bool)) public ghostFailedLessor;
    mapping(bytes32 dealId => bool) public ghostRefunded;
    mapping(bytes32 dealId => bool) public ghostCancelled;
    mapping(bytes32 dealId => bool) public ghostEverFilled;
    /// Periods each lessor proved (PoSts the handler saw accepted).
    mapping(address lessor => mapping(uint256 => bool)) public ghostProven;
    /// Proving sectors per lessor and size.
    mapping(address lessor => mapping(uint256 => uint256)) public ghostCount;
    /// What the vault must have credited each account (payments, slashes, refunds, bonds, bounties).
    mapping(address account => uint256) public ghostCredited;
    mapping(address account => uint256) public ghostWithdrawnBy;
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    /// Rules the market must enforce; any call whose outcome contradicts the model is counted here.
    uint256 public brokenRules;
    string public lastBrokenRule;

    constructor(StorageMarket market_, MarketVault vault_, LessorRegistry registry_) {
        market = market_;
        vault = vault_;
        registry = registry_;
        token = IERC20(vault_.token());
        IStorageMarket.Params memory p = market_.params();
        bond = p.challengeBond;
        periodLength = p.periodLength;
        kPoSt = p.kPoSt;
        kPoRep = p.kPoRep;
        sealRounds = p.sealRounds;
        porepTimeout = p.porepTimeout;
        maxMisses = p.maxMisses;
        missSlashBps = p.missSlashBps;
        bountyBps = p.bountyBps;
        repairBps = p.repairBps;
        collateralPerGiB = p.collateralPerGiB;
        challengeWindow = p.challengeWindow;
        minSectorLog = p.minSectorLog;
    }

    // ------------------------------------------------------------ views for the invariants

    function lessorAt(uint256 i) external view returns (address) {
        return lessors[i];
    }

    function clientAt(uint256 i) external view returns (address) {
        return clients[i];
    }

    function watcherAt(uint256 i) external view returns (address) {
        return watchers[i];
    }

    /// Lessors, clients, watchers: everyone the vault may credit.
    function actorAt(uint256 i) public view returns (address) {
        if (i < 4) return lessors[i];
        if (i < 6) return clients[i - 4];
        return watchers[i - 6];
    }

    function dealCount() external view returns (uint256) {
        return deals.length;
    }

    function sectorCount() external view returns (uint256) {
        return sectors.length;
    }

    function sectorOf(bytes32 sectorId) external view returns (GhostSector memory) {
        return ghostSector[sectorId];
    }

    function slotOf(bytes32 dealId, uint256 index) external view returns (GhostSlot memory) {
        return ghostSlot[dealId][index];
    }

    function openChallengeCount() external view returns (uint256) {
        return openChallenges.length;
    }

    /// The action names, in order (for the deep run's report).
    function actionNames() external pure returns (string[ACTION_COUNT] memory) {
        return [
            "createDeal", "cancelDeal", "claimRefund", "commitSector", "badCommit", "answerPoRep", "badPoRep",
            "submitPoSt", "badPoSt", "seedPeriod", "dropSector", "challenge", "answerChallenge", "badChallengeAnswer",
            "expireChallenge", "settleReplica", "advance", "jumpPeriods", "jumpToDealEdge", "rollPastHorizon", "withdraw"
        ];
    }

    function counts(uint256 action) external view returns (uint256 called, uint256 succeeded) {
        return (calledCount[action], succeededCount[action]);
    }

    function pathNames() external pure returns (string[PATH_COUNT] memory) {
        return ["path:refundReward", "path:challengeFailure", "path:deferredFailure", "path:repairPaid", "path:missFailure", "path:dropMoved"];
    }

    function paths(uint256 path) external view returns (uint256) {
        return pathCount[path];
    }

    /// The selectors the fuzzer calls (the actions; not the views above).
    function actionSelectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](ACTION_COUNT);
        s[0] = this.createDeal.selector;
        s[1] = this.cancelDeal.selector;
        s[2] = this.claimRefund.selector;
        s[3] = this.commitSector.selector;
        s[4] = this.badCommit.selector;
        s[5] = this.answerPoRep.selector;
        s[6] = this.badPoRep.selector;
        s[7] = this.submitPoSt.selector;
        s[8] = this.badPoSt.selector;
        s[9] = this.seedPeriod.selector;
        s[10] = this.dropSector.selector;
        s[11] = this.challenge.selector;
        s[12] = this.answerChallenge.selector;
        s[13] = this.badChallengeAnswer.selector;
        s[14] = this.expireChallenge.selector;
        s[15] = this.settleReplica.selector;
        s[16] = this.advance.selector;
        s[17] = this.jumpPeriods.selector;
        s[18] = this.jumpToDealEdge.selector;
        s[19] = this.rollPastHorizon.selector;
        s[20] = this.withdraw.selector;
    }

    // ------------------------------------------------------------ the model

    function _late(GhostSector memory s) internal view returns (bool) {
        return vm.getBlockTimestamp() > uint256(s.commitTime) + porepTimeout || vm.getBlockNumber() > uint256(s.commitBlock) + HORIZON;
    }

    /// What settling the slot now must do; `forcedBy` is the challenger whose expiry fails it now.
    function expectSettle(bytes32 dealId, uint256 index, address forcedBy) public view returns (Expect memory e) {
        GhostSlot memory slot = ghostSlot[dealId][index];
        if (slot.status != FILLED) return e;
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        GhostSector memory s = ghostSector[slot.sector];
        uint256 left = deal.collateral;
        uint256 current = market.currentPeriod();
        if (s.status == COMMITTED) {
            // A pending PoRep fails its pieces only once late, with one miss's share of the collateral.
            if (!_late(s)) return e;
            e.due = true;
            e.failed = true;
            e.expired = true;
            e.slashed = _min(left, uint256(deal.collateral) * missSlashBps / BPS_);
            e.released = left - e.slashed;
            return e;
        }
        uint256 failAt = type(uint256).max;
        if (s.status == DROPPED && s.dropPeriod < deal.endPeriod) failAt = s.dropPeriod;
        GhostDeferred memory deferred = ghostDeferred[dealId][index];
        if (deferred.periodPlusOne != 0 && deferred.periodPlusOne - 1 < failAt) failAt = deferred.periodPlusOne - 1;
        if (forcedBy != address(0) && current < failAt) failAt = current;
        uint256 stop = _min(_min(deal.endPeriod, current), failAt);
        // Every closed period counts: a filling failed by misses is paid what it proved until settlement.
        for (uint256 p = _max(deal.startPeriod, s.firstPeriod); p < stop; ++p) {
            if (ghostProven[slot.lessor][p]) ++e.proven;
            else ++e.missed;
        }
        e.failed = e.missed >= maxMisses || failAt != type(uint256).max;
        // The sector proved: the slot's repair reward goes with the payment.
        e.payment = e.proven * deal.pricePerPeriod + ghostRepair[dealId][index];
        uint256 missSlash = _min(left, e.missed * uint256(deal.collateral) * missSlashBps / BPS_);
        if (e.failed) {
            e.due = true;
            e.slashed = left;
            if (current + 1 < deal.endPeriod) e.repair = (left - missSlash) * repairBps / BPS_;
        } else {
            e.due = current >= deal.endPeriod;
            e.slashed = missSlash;
            e.released = left - missSlash;
        }
        e.challenger = forcedBy != address(0) ? forcedBy : deferred.challenger;
        // No bounty for a lessor expiring its own challenge.
        if (e.challenger != address(0) && e.challenger != slot.lessor && e.failed) e.bounty = e.slashed * bountyBps / BPS_;
    }

    /// The slot's state by the model (compared with market.replicaState by the invariants).
    function modelState(bytes32 dealId, uint256 index) public view returns (IStorageMarket.ReplicaState) {
        GhostSlot memory slot = ghostSlot[dealId][index];
        if (slot.status == OPEN) return IStorageMarket.ReplicaState.Open;
        if (slot.status == FINISHED) return IStorageMarket.ReplicaState.Finished;
        GhostSector memory s = ghostSector[slot.sector];
        if (s.status == COMMITTED) return _late(s) ? IStorageMarket.ReplicaState.Failed : IStorageMarket.ReplicaState.Committed;
        Expect memory e = expectSettle(dealId, index, address(0));
        if (e.failed) return IStorageMarket.ReplicaState.Failed;
        return e.due ? IStorageMarket.ReplicaState.Finished : IStorageMarket.ReplicaState.Proving;
    }

    function _applySettle(bytes32 dealId, uint256 index, Expect memory e) internal {
        if (!e.expired && ghostRepair[dealId][index] > 0) ++pathCount[uint256(Path.RepairPaid)];
        if (e.missed >= maxMisses) ++pathCount[uint256(Path.MissFailure)];
        GhostSlot storage slot = ghostSlot[dealId][index];
        address lessor = slot.lessor;
        ghostCredited[lessor] += e.payment;
        ghostPaid[dealId][index] += e.proven;
        if (!e.expired) ghostRepair[dealId][index] = 0;
        ghostCredited[market.getDeal(dealId).client] += e.slashed - e.bounty - e.repair;
        if (e.bounty > 0) ghostCredited[e.challenger] += e.bounty;
        if (e.failed) {
            if (!e.expired) ghostFailedLessor[dealId][lessor] = true;
            ghostRepair[dealId][index] += e.repair;
            delete ghostDeferred[dealId][index];
            slot.status = OPEN;
            slot.lessor = address(0);
        } else {
            slot.status = FINISHED;
        }
    }

    function provingTotal(address lessor) public view returns (uint256 sectorsProving) {
        for (uint256 log2 = minSectorLog; log2 <= MAX_LOG2; ++log2) sectorsProving += ghostCount[lessor][log2];
    }

    /// §12.4: the set changes only before the current period's seed block is mined, once the lessor proved it, or
    /// once the period's seed is lost.
    function _setUnlocked(address lessor) internal view returns (bool) {
        if (provingTotal(lessor) == 0) return true;
        uint256 current = market.currentPeriod();
        uint256 seedBlock = market.periodSeedBlock(current);
        if (seedBlock == 0 || vm.getBlockNumber() <= seedBlock || ghostProven[lessor][current]) return true;
        // A lost seed (never stored, its block past blockhash's reach: periodSeed reads zero) unlocks it too.
        return market.periodSeed(current) == bytes32(0);
    }

    /// True while the slot still holds the challenged filling as Proving, or Finished but not settled (no
    /// failure recorded): a challenge stays live after the deal's end until the filling is settled.
    function _held(OpenChallenge memory c) internal view returns (bool) {
        GhostSlot memory slot = ghostSlot[c.dealId][c.index];
        IStorageMarket.ReplicaState state = modelState(c.dealId, c.index);
        return slot.status == FILLED && slot.lessor == c.lessor && slot.fillBlock == c.fillBlock
            && ghostDeferred[c.dealId][c.index].periodPlusOne == 0
            && (state == IStorageMarket.ReplicaState.Proving || state == IStorageMarket.ReplicaState.Finished);
    }

    function openCountOf(bytes32 dealId, uint256 index) public view returns (uint256 n) {
        for (uint256 i; i < openChallenges.length; ++i) {
            if (openChallenges[i].dealId == dealId && openChallenges[i].index == index) ++n;
        }
    }

    /// Whether `lessor` may put slot (dealId, index) in a sector now, given the slots already taken in this commit.
    function _fillable(address lessor, bytes32 dealId, uint256 index, bytes32[] memory takenIds, uint256 taken)
        internal
        view
        returns (bool)
    {
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        if (ghostCancelled[dealId] || market.currentPeriod() + 1 >= deal.endPeriod) return false;
        if (index >= deal.replicas || ghostSlot[dealId][index].status != OPEN) return false;
        if (ghostFailedLessor[dealId][lessor]) return false;
        for (uint256 j; j < deal.replicas; ++j) {
            GhostSlot memory other = ghostSlot[dealId][j];
            if (other.status == FILLED && other.lessor == lessor) return false;
        }
        // A slot taken earlier in the same commit is filled (and held by this lessor: the Sybil rule).
        for (uint256 t; t < taken; ++t) if (takenIds[t] == dealId) return false;
        return true;
    }

    /// Whether commitSector(number, log2, ids, indexes) by `lessor` must pass.
    function _commitValid(address lessor, uint256 number, uint256 log2, bytes32[] memory ids, bytes memory indexes)
        internal
        view
        returns (bool)
    {
        if (!registry.isActiveLessor(lessor)) return false;
        if (log2 < minSectorLog || log2 > 17) return false;
        if (ids.length != indexes.length) return false;
        if (ghostSector[ProofMath.sectorId(lessor, number)].lessor != address(0)) return false;
        uint256 last = log2;
        uint256 cursor;
        uint256 collateral;
        for (uint256 i; i < ids.length; ++i) {
            IStorageMarket.Deal memory deal = market.getDeal(ids[i]);
            if (deal.depth > last) return false;
            cursor += uint256(1) << deal.depth;
            if (cursor > uint256(1) << log2) return false;
            if (!_fillable(lessor, ids[i], uint8(indexes[i]), ids, i)) return false;
            collateral += deal.collateral;
            last = deal.depth;
        }
        return collateral <= registry.freeStakeOf(lessor);
    }

    // ------------------------------------------------------------ deals

    /// A client creates a deal (4 or 8 segments); two times in three lessors commit all its slots at once
    /// (sometimes with another deal's slot in the same sector), so that runs have pieces to prove and fail.
    function createDeal(uint256 clientSeed, uint256 replicasSeed, uint256 durationSeed, uint256 priceSeed, uint256 sizeSeed)
        external
    {
        if (deals.length >= MAX_DEALS) return;
        _called(Action.CreateDeal);
        address client = clients[clientSeed % 2];
        uint8 replicas = uint8(bound(replicasSeed, 1, 3));
        uint32 duration = uint32(bound(durationSeed, 1, 8));
        uint128 price = uint128(bound(priceSeed, 1, 1e24));
        uint256 depth = sizeSeed % 4 == 0 ? 3 : 2;
        // Sizes that round to the same piece but change the price per period.
        uint64 size = uint64(depth == 2 ? bound(sizeSeed >> 8, 97, 128) : bound(sizeSeed >> 8, 225, 256));
        uint256 minCollateral = (uint256(size) * collateralPerGiB + (1 << 30) - 1) >> 30;
        uint128 collateral = uint128(bound(sizeSeed >> 128, minCollateral, 2_000_000));
        bytes32 salt = bytes32(deals.length + 1);
        bytes32 commD = TestSector.root(TestSector.pieceData(salt, depth));
        uint256 before = token.balanceOf(address(vault));
        uint256 current = market.currentPeriod();
        vm.prank(client);
        try market.createDeal(commD, size, replicas, duration, price, collateral) returns (bytes32 dealId) {
            _succeeded(Action.CreateDeal);
            uint256 perPeriod = (uint256(size) * price + (1 << 30) - 1) >> 30;
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            if (deal.escrow != perPeriod * replicas * duration) _broke("escrow");
            if (deal.startPeriod != current + 1 || deal.endPeriod != current + 1 + duration) _broke("deal periods");
            if (deal.depth != depth) _broke("deal depth");
            ghostDeposited += token.balanceOf(address(vault)) - before;
            deals.push(dealId);
            saltOf[dealId] = salt;
            if (clientSeed % 3 != 0) {
                for (uint256 i; i < replicas; ++i) {
                    commitSector((clientSeed >> 8) + i, uint256(keccak256(abi.encode(clientSeed, i))), deals.length - 1, i);
                }
            }
        } catch {
            _broke("createDeal refused");
        }
    }

    /// Any client (the deal's or another) cancels a deal in whatever state it is in.
    function cancelDeal(uint256 dealSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        _called(Action.CancelDeal);
        bytes32 dealId = deals[dealSeed % deals.length];
        address caller = clients[callerSeed % 2];
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        bool valid = caller == deal.client && !ghostCancelled[dealId] && !ghostEverFilled[dealId] && !ghostRefunded[dealId];
        vm.prank(caller);
        try market.cancelDeal(dealId) {
            _succeeded(Action.CancelDeal);
            if (!valid) _broke("cancel accepted");
            ghostCancelled[dealId] = true;
            ghostRefunded[dealId] = true;
            ghostCredited[deal.client] += deal.escrow;
        } catch {
            if (valid) _broke("cancel refused");
        }
    }

    /// Anyone claims a deal's refund: it settles every filled slot, then refunds escrow - paid + rewards.
    function claimRefund(uint256 dealSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        _called(Action.ClaimRefund);
        bytes32 dealId = deals[dealSeed % deals.length];
        // Three times in four the first deal from there that has ended and is not refunded yet.
        if ((callerSeed >> 8) % 4 != 0) {
            uint256 current = market.currentPeriod();
            for (uint256 i; i < deals.length; ++i) {
                bytes32 candidate = deals[(dealSeed + i) % deals.length];
                if (!ghostRefunded[candidate] && market.getDeal(candidate).endPeriod <= current) {
                    dealId = candidate;
                    break;
                }
            }
        }
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        bool valid = !ghostCancelled[dealId] && !ghostRefunded[dealId] && market.currentPeriod() >= deal.endPeriod;
        Expect[] memory expects = new Expect[](deal.replicas);
        for (uint256 r; r < deal.replicas; ++r) {
            if (ghostSlot[dealId][r].status != FILLED) continue;
            expects[r] = expectSettle(dealId, r, address(0));
            if (!expects[r].due || openCountOf(dealId, r) != 0) valid = false;
        }
        vm.prank(watchers[callerSeed % 2]);
        try market.claimRefund(dealId) returns (uint256 amount) {
            _succeeded(Action.ClaimRefund);
            if (!valid) _broke("refund accepted");
            uint256 paid;
            uint256 rewards;
            for (uint256 r; r < deal.replicas; ++r) {
                if (ghostSlot[dealId][r].status == FILLED) _applySettle(dealId, r, expects[r]);
                paid += ghostPaid[dealId][r];
                rewards += ghostRepair[dealId][r];
                ghostRepair[dealId][r] = 0;
            }
            if (amount != deal.escrow - paid * deal.pricePerPeriod + rewards) _broke("refund amount");
            if (rewards > 0) ++pathCount[uint256(Path.RefundReward)];
            ghostCredited[deal.client] += amount;
            ghostRefunded[dealId] = true;
        } catch {
            if (valid) _broke("refund refused");
        }
    }

    // ------------------------------------------------------------ sectors and PoRep

    /// A lessor commits a sector: capacity (no pieces), one piece, or two pieces of different deals (largest
    /// first), sometimes with a zero tail; mostly slots it may fill, sometimes any slot (which must fail unless
    /// fillable). Three times in four it answers the PoRep at once.
    function commitSector(uint256 lessorSeed, uint256 kindSeed, uint256 dealSeed, uint256 indexSeed) public {
        _called(Action.CommitSector);
        address lessor = lessors[lessorSeed % 4];
        (bytes32[] memory ids, bytes memory indexes, uint256 log2) = _choosePieces(lessor, kindSeed, dealSeed, indexSeed);
        uint256 number = nextNumber[lessor];
        bool valid = _commitValid(lessor, number, log2, ids, indexes);
        bytes32 sectorId = ProofMath.sectorId(lessor, number);
        bytes32[] memory d = _layout(log2, ids);
        bytes32[] memory s = TestSector.seal(d, sectorId, sealRounds);
        bytes32 commR = TestSector.root(s);
        vm.prank(lessor);
        try market.commitSector(number, uint8(log2), commR, ids, indexes) returns (bytes32 got) {
            _succeeded(Action.CommitSector);
            if (!valid) _broke("invalid commit accepted");
            if (got != sectorId) _broke("sector id");
            if (market.getSector(sectorId).commD != TestSector.root(d)) _broke("commD != full tree");
            _recordCommit(lessor, number, log2, ids, indexes, d, s);
            if ((kindSeed >> 24) % 4 != 0) _answerPoRep(sectorId, true);
        } catch {
            if (valid) _broke("valid commit refused");
        }
    }

    function _recordCommit(
        address lessor,
        uint256 number,
        uint256 log2,
        bytes32[] memory ids,
        bytes memory indexes,
        bytes32[] memory d,
        bytes32[] memory s
    ) internal {
        bytes32 sectorId = ProofMath.sectorId(lessor, number);
        nextNumber[lessor] = number + 1;
        sectors.push(sectorId);
        dataOf[sectorId] = d;
        sealedOf[sectorId] = s;
        ghostSector[sectorId] = GhostSector({
            lessor: lessor,
            log2: uint8(log2),
            status: COMMITTED,
            firstPeriod: 0,
            dropPeriod: 0,
            commitBlock: uint64(vm.getBlockNumber()),
            commitTime: uint64(vm.getBlockTimestamp())
        });
        uint256 offset;
        for (uint256 i; i < ids.length; ++i) {
            uint256 index = uint8(indexes[i]);
            ghostSlot[ids[i]][index] = GhostSlot({
                lessor: lessor, status: FILLED, sector: sectorId, offset: uint64(offset), fillBlock: uint64(vm.getBlockNumber())
            });
            ghostEverFilled[ids[i]] = true;
            if (market.getReplica(ids[i], index).offset != offset) _broke("piece offset");
            offset += uint256(1) << market.getDeal(ids[i]).depth;
        }
    }

    /// A commit that must fail: a used sector number, pieces out of order, too many pieces, lists of different
    /// lengths, or a size out of bounds.
    function badCommit(uint256 lessorSeed, uint256 kindSeed, uint256 dealSeed) external {
        address lessor = lessors[lessorSeed % 4];
        uint256 kind = kindSeed % 5;
        uint256 number = nextNumber[lessor];
        uint256 log2 = 3;
        bytes32[] memory ids = new bytes32[](0);
        bytes memory indexes = "";
        if (kind == 0) {
            if (number == 0) return;
            number = (kindSeed >> 8) % number;
        } else if (kind == 1 || kind == 2) {
            // Two fillable slots of different deals: out of order (small before big) or overfull.
            (bool found, bytes32 a, uint256 ia) = _findFillable(lessor, dealSeed, bytes32(0));
            if (!found) return;
            (bool foundB, bytes32 b, uint256 ib) = _findFillable(lessor, dealSeed + 1, a);
            if (!foundB) return;
            uint256 da = market.getDeal(a).depth;
            uint256 db = market.getDeal(b).depth;
            if (kind == 1) {
                if (da == db) return;
                if (da > db) (a, ia, b, ib, da, db) = (b, ib, a, ia, db, da);
                log2 = db + 1;
            } else {
                log2 = da > db ? da : db;
            }
            ids = new bytes32[](2);
            (ids[0], ids[1]) = (a, b);
            indexes = abi.encodePacked(uint8(ia), uint8(ib));
        } else if (kind == 3) {
            if (deals.length == 0) return;
            ids = new bytes32[](1);
            ids[0] = deals[dealSeed % deals.length];
            indexes = (kindSeed >> 8) % 2 == 0 ? bytes("") : bytes(hex"0000");
        } else {
            log2 = (kindSeed >> 8) % 2 == 0 ? minSectorLog - 1 : 18;
        }
        _called(Action.BadCommit);
        vm.prank(lessor);
        try market.commitSector(number, uint8(log2), bytes32(kindSeed), ids, indexes) {
            _succeeded(Action.BadCommit);
            _broke("bad commit accepted");
        } catch {}
    }

    /// The lessor answers a committed sector's PoRep, mostly after waiting for its seed block.
    function answerPoRep(uint256 sectorSeed, uint256 waitSeed) external {
        if (sectors.length == 0) return;
        for (uint256 i; i < sectors.length; ++i) {
            bytes32 sectorId = sectors[(sectorSeed + i) % sectors.length];
            if (ghostSector[sectorId].status == COMMITTED) return _answerPoRep(sectorId, waitSeed % 4 != 0);
        }
    }

    function _answerPoRep(bytes32 sectorId, bool wait) internal {
        _called(Action.AnswerPoRep);
        GhostSector memory s = ghostSector[sectorId];
        if (wait && vm.getBlockNumber() < uint256(s.commitBlock) + 2) vm.roll(uint256(s.commitBlock) + 2);
        bytes32[] memory proof = _porepProof(sectorId, blockhash(uint256(s.commitBlock) + 1), sectorId);
        bool valid = s.status == COMMITTED && !_late(s) && vm.getBlockNumber() >= uint256(s.commitBlock) + 2
            && _setUnlocked(s.lessor);
        uint256 current = market.currentPeriod();
        vm.prank(s.lessor);
        try market.answerPoRep(sectorId, proof) {
            _succeeded(Action.AnswerPoRep);
            if (!valid) _broke("PoRep accepted out of turn");
            ghostSector[sectorId].status = PROVING;
            ghostSector[sectorId].firstPeriod = uint32(current + 1);
            ++ghostCount[s.lessor][s.log2];
        } catch {
            if (valid) _broke("valid PoRep refused");
        }
    }

    /// A PoRep that must be refused: a flipped word, a truncated proof, the wrong seed block, another replicaId.
    function badPoRep(uint256 sectorSeed, uint256 kindSeed) external {
        if (sectors.length == 0) return;
        bytes32 sectorId = sectors[sectorSeed % sectors.length];
        GhostSector memory s = ghostSector[sectorId];
        if (s.status != COMMITTED) return;
        _called(Action.BadPoRep);
        if (vm.getBlockNumber() < uint256(s.commitBlock) + 2) vm.roll(uint256(s.commitBlock) + 2);
        uint256 kind = kindSeed % 4;
        bytes32 seed = blockhash(uint256(s.commitBlock) + 1);
        bytes32[] memory valid = _porepProof(sectorId, seed, sectorId);
        bytes32[] memory proof;
        if (kind == 0) {
            proof = _copy(valid);
            proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1) << ((kindSeed >> 16) % 256));
        } else if (kind == 1) {
            proof = _copy(valid);
            _truncate(proof);
        } else if (kind == 2) {
            proof = _porepProof(sectorId, blockhash(s.commitBlock), sectorId);
        } else {
            // The same data sealed to another lessor's sector of the same number.
            proof = _porepProof(sectorId, seed, ProofMath.sectorId(lessors[(_indexOf(s.lessor) + 1) % 4], 1 << 40));
        }
        // A wrong seed can pick the same few segments: that proof is the valid one.
        if (_same(proof, valid)) return;
        vm.prank(s.lessor);
        try market.answerPoRep(sectorId, proof) {
            _succeeded(Action.BadPoRep);
            _broke("bad PoRep accepted");
        } catch {}
    }

    /// The lessor of a proving sector (or of any sector, which must fail unless proving) drops it.
    function dropSector(uint256 sectorSeed, uint256 anySeed) external {
        if (sectors.length == 0) return;
        bytes32 sectorId = sectors[sectorSeed % sectors.length];
        if (anySeed % 4 != 0) {
            // Half of these drops take a sector that is not the last of its size in its lessor's array, so
            // swap-and-pop moves another one.
            bool notLast = (anySeed >> 8) % 2 == 0;
            for (uint256 i; i < sectors.length; ++i) {
                bytes32 candidate = sectors[(sectorSeed + i) % sectors.length];
                GhostSector memory g = ghostSector[candidate];
                if (g.status != PROVING) continue;
                sectorId = candidate;
                if (!notLast || market.getSector(candidate).index + 1 < ghostCount[g.lessor][g.log2]) break;
            }
        }
        _called(Action.DropSector);
        GhostSector memory s = ghostSector[sectorId];
        bool valid = s.status == PROVING && _setUnlocked(s.lessor);
        uint256 current = market.currentPeriod();
        bool moves = s.status == PROVING && market.getSector(sectorId).index + 1 < ghostCount[s.lessor][s.log2];
        vm.prank(s.lessor);
        try market.dropSector(sectorId) {
            _succeeded(Action.DropSector);
            if (moves) ++pathCount[uint256(Path.DropMoved)];
            if (!valid) _broke("drop accepted");
            ghostSector[sectorId].status = DROPPED;
            ghostSector[sectorId].dropPeriod = uint32(current);
            --ghostCount[s.lessor][s.log2];
        } catch {
            if (valid) _broke("drop refused");
            return;
        }
        // Half the time a watcher settles the dropped sector's pieces at once (failed ones reopen for repair).
        if ((anySeed >> 16) % 2 == 0) {
            for (uint256 d; d < deals.length; ++d) {
                uint256 replicas = market.getDeal(deals[d]).replicas;
                for (uint256 r; r < replicas; ++r) {
                    GhostSlot memory slot = ghostSlot[deals[d]][r];
                    if (slot.status == FILLED && slot.sector == sectorId) {
                        _settle(deals[d], r, 6);
                        if ((anySeed >> 24) % 2 == 0) _repair(deals[d], r, anySeed >> 32);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ proving periods

    /// The first lessor from `lessorSeed` on with proving sectors and the current period unproven proves it.
    function submitPoSt(uint256 lessorSeed) external {
        uint256 current = market.currentPeriod();
        for (uint256 i; i < 4; ++i) {
            address lessor = lessors[(lessorSeed + i) % 4];
            if (provingTotal(lessor) > 0 && !ghostProven[lessor][current]) return _prove(lessor);
        }
    }

    function _prove(address lessor) internal {
        _called(Action.SubmitPoSt);
        if (!_countsMatch(lessor)) return _broke("proving counts");
        bytes32 seed = _seed();
        if (seed == bytes32(0)) return;
        bytes32[] memory proof = TestSector.postProof(market, sealedOf, lessor, seed, kPoSt, minSectorLog);
        uint256 current = market.currentPeriod();
        bool valid = provingTotal(lessor) > 0 && !ghostProven[lessor][current];
        vm.prank(lessor);
        try market.submitPoSt(current, proof) {
            _succeeded(Action.SubmitPoSt);
            if (!valid) _broke("PoSt accepted twice");
            ghostProven[lessor][current] = true;
        } catch {
            if (valid) _broke("valid PoSt refused");
        }
    }

    /// A PoSt that must be refused: a flipped bit, a truncated or padded proof, the wrong seed, a replay of an
    /// accepted one, every challenge answered with the first one's opening, or the wrong period.
    function badPoSt(uint256 lessorSeed, uint256 kindSeed) external {
        address lessor = lessors[lessorSeed % 4];
        uint256 current = market.currentPeriod();
        if (provingTotal(lessor) == 0 || ghostProven[lessor][current] || !_countsMatch(lessor)) return;
        _called(Action.BadPoSt);
        bytes32 seed = _seed();
        if (seed == bytes32(0)) return;
        uint256 kind = kindSeed % 7;
        bytes32[] memory valid = TestSector.postProof(market, sealedOf, lessor, seed, kPoSt, minSectorLog);
        bytes32[] memory proof = kind == 3 ? TestSector.postProof(market, sealedOf, lessor, sha256(abi.encode(seed)), kPoSt, minSectorLog) : _copy(valid);
        uint256 submitPeriod = current;
        if (kind == 0) proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1) << ((kindSeed >> 16) % 256));
        if (kind == 1) _truncate(proof);
        if (kind == 2) proof = _padded(proof);
        if (kind == 4) {
            // The replay's original is a valid submission.
            vm.prank(lessor);
            try market.submitPoSt(current, valid) {
                ghostProven[lessor][current] = true;
            } catch {
                return _broke("valid PoSt refused");
            }
        }
        if (kind == 5) proof = _swapFirstTwo(lessor, seed, valid);
        if (kind == 6) submitPeriod = (kindSeed >> 8) % 2 == 0 || current == 0 ? current + 1 : current - 1;
        if (kind != 4 && _same(proof, valid) && submitPeriod == current) return;
        vm.prank(lessor);
        try market.submitPoSt(submitPeriod, proof) {
            _succeeded(Action.BadPoSt);
            _broke("bad PoSt accepted");
        } catch {}
    }

    /// A watcher requests (or stores) the current period's seed early: once mined, it locks every lessor's set.
    function seedPeriod(uint256 callerSeed) external {
        _called(Action.SeedPeriod);
        vm.prank(watchers[callerSeed % 2]);
        try market.seedPeriod() {
            _succeeded(Action.SeedPeriod);
        } catch {}
    }

    // ------------------------------------------------------------ on-chain challenges

    /// A watcher or a lessor (the piece's own: a self-challenge) challenges a slot in whatever state it is in.
    function challenge(uint256 dealSeed, uint256 indexSeed, uint256 challengerSeed) external {
        if (deals.length == 0) return;
        _called(Action.Challenge);
        (bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        // Three times in four a proving slot, from the picked one on.
        if ((challengerSeed >> 40) % 4 != 0) (dealId, index) = _findProving(dealSeed, indexSeed);
        address challenger = _challenger(dealId, index, challengerSeed);
        bool valid = modelState(dealId, index) == IStorageMarket.ReplicaState.Proving
            && market.getChallenge(dealId, index, challenger).challenger == address(0);
        GhostSlot memory slot = ghostSlot[dealId][index];
        uint256 opened = vm.getBlockNumber();
        uint256 before = token.balanceOf(address(vault));
        bool ok;
        vm.prank(challenger);
        try market.challengeReplica(dealId, index) {
            _succeeded(Action.Challenge);
            if (!valid) _broke("challenge accepted");
            openChallenges.push(OpenChallenge(dealId, index, challenger, slot.lessor, slot.fillBlock, uint64(opened)));
            ok = true;
        } catch {
            if (valid) _broke("challenge refused");
        }
        ghostDeposited += token.balanceOf(address(vault)) - before;
        if (!ok || !valid) return;
        // Half the time the lessor is online and answers as soon as the seed block is mined; a quarter of the
        // time it is offline and the challenge is expired after its deadline; otherwise it is left open.
        uint256 fate = (challengerSeed >> 16) % 4;
        if (fate < 2) {
            _answerChallenge(openChallenges.length - 1, true);
        } else if (fate == 2) {
            address other = challenger == watchers[0] ? watchers[1] : watchers[0];
            bool second = (challengerSeed >> 32) % 2 == 0 && market.getChallenge(dealId, index, other).challenger == address(0);
            if (second) {
                uint256 vaultBefore = token.balanceOf(address(vault));
                vm.prank(other);
                try market.challengeReplica(dealId, index) {
                    openChallenges.push(OpenChallenge(dealId, index, other, slot.lessor, slot.fillBlock, uint64(opened)));
                } catch {
                    _broke("second challenge refused");
                }
                ghostDeposited += token.balanceOf(address(vault)) - vaultBefore;
            }
            vm.roll(opened + 2 + challengeWindow);
            _expireChallenge(_openAt(dealId, index, challenger), challengerSeed >> 24);
            if (second) {
                // The first expiry recorded the failure; the second challenge is void; the settlement pays the bounty.
                _expireChallenge(_openAt(dealId, index, other), 0);
                _settle(dealId, index, 7);
            }
        }
    }

    /// The challenged lessor answers with valid openings; `waitForSeed` decides whether it waits for the seed block.
    function answerChallenge(uint256 openSeed, bool waitForSeed) external {
        if (openChallenges.length == 0) return;
        _answerChallenge(openSeed % openChallenges.length, waitForSeed);
    }

    function _answerChallenge(uint256 at, bool waitForSeed) internal {
        _called(Action.AnswerChallenge);
        OpenChallenge memory c = openChallenges[at];
        if (waitForSeed && vm.getBlockNumber() < uint256(c.openedBlock) + 2) vm.roll(uint256(c.openedBlock) + 2);
        bytes32[] memory proof = _challengeAnswer(c, market.getChallenge(c.dealId, c.index, c.challenger).seed);
        uint256 blockNumber = vm.getBlockNumber();
        bool valid = _held(c) && blockNumber >= uint256(c.openedBlock) + 2 && blockNumber <= uint256(c.openedBlock) + 1 + challengeWindow;
        vm.prank(c.lessor);
        try market.answerChallenge(c.dealId, c.index, c.challenger, proof) {
            _succeeded(Action.AnswerChallenge);
            if (!valid) _broke("challenge answer accepted");
            ghostCredited[c.lessor] += bond;
            _closed(at);
        } catch {
            if (valid) _broke("valid challenge answer refused");
        }
    }

    /// An answer that must be refused: a flipped word, truncated, or openings for another seed.
    function badChallengeAnswer(uint256 openSeed, uint256 kindSeed) external {
        if (openChallenges.length == 0) return;
        OpenChallenge memory c = openChallenges[openSeed % openChallenges.length];
        if (!_held(c)) return;
        _called(Action.BadChallengeAnswer);
        if (vm.getBlockNumber() < uint256(c.openedBlock) + 2) vm.roll(uint256(c.openedBlock) + 2);
        bytes32 seed = market.getChallenge(c.dealId, c.index, c.challenger).seed;
        bytes32[] memory valid = _challengeAnswer(c, seed);
        uint256 kind = kindSeed % 3;
        bytes32[] memory proof = kind == 2 ? _challengeAnswer(c, sha256(abi.encode(seed))) : _copy(valid);
        if (kind == 0) proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1));
        if (kind == 1) _truncate(proof);
        // Another seed can pick the same segments: that answer is the valid one.
        if (_same(proof, valid)) return;
        vm.prank(c.lessor);
        try market.answerChallenge(c.dealId, c.index, c.challenger, proof) {
            _succeeded(Action.BadChallengeAnswer);
            _broke("bad challenge answer accepted");
        } catch {}
    }

    /// Anyone expires a challenge: after its deadline it fails the piece (or records the failure while other
    /// challenges are open); a challenge of a piece no longer held as Proving is voided at any time.
    function expireChallenge(uint256 openSeed, uint256 callerSeed) external {
        if (openChallenges.length == 0) return;
        _expireChallenge(openSeed % openChallenges.length, callerSeed);
    }

    function _expireChallenge(uint256 at, uint256 callerSeed) internal {
        _called(Action.ExpireChallenge);
        OpenChallenge memory c = openChallenges[at];
        bool held = _held(c);
        bool valid = !held || vm.getBlockNumber() > uint256(c.openedBlock) + 1 + challengeWindow;
        uint256 others = openCountOf(c.dealId, c.index) - 1;
        Expect memory e;
        if (held && others == 0) e = expectSettle(c.dealId, c.index, c.challenger);
        uint256 current = market.currentPeriod();
        vm.prank(callerSeed % 2 == 0 ? watchers[0] : clients[0]);
        try market.expireChallenge(c.dealId, c.index, c.challenger) {
            _succeeded(Action.ExpireChallenge);
            if (!valid) _broke("challenge expired early");
            ghostCredited[c.challenger] += bond;
            if (held && others == 0) {
                ++pathCount[uint256(Path.ChallengeFailure)];
                _applySettle(c.dealId, c.index, e);
            } else if (held) {
                ++pathCount[uint256(Path.DeferredFailure)];
                ghostDeferred[c.dealId][c.index] = GhostDeferred(c.challenger, uint64(current + 1));
            }
            _closed(at);
        } catch {
            if (valid) _broke("expiry refused");
        }
    }

    // ------------------------------------------------------------ settlement

    /// Anyone settles a slot: it must pass exactly when the model says it is due and no challenge is open.
    function settleReplica(uint256 dealSeed, uint256 indexSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        (bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        _settle(dealId, index, callerSeed);
        if ((callerSeed >> 8) % 2 == 0) _repair(dealId, index, callerSeed >> 16);
    }

    /// A slot that reopened with a repair reward is refilled at once by a lessor that may fill it and change
    /// its proving set now (the PoRep follows), so repairers get paid within a run.
    function _repair(bytes32 dealId, uint256 index, uint256 lessorSeed) internal {
        if (ghostSlot[dealId][index].status != OPEN || ghostRepair[dealId][index] == 0) return;
        uint256 d;
        while (deals[d] != dealId) ++d;
        bytes32[] memory none = new bytes32[](0);
        for (uint256 i; i < 4; ++i) {
            uint256 l = (lessorSeed + i) % 4;
            if (_fillable(lessors[l], dealId, index, none, 0) && _setUnlocked(lessors[l])) {
                return commitSector(l, 1 | (1 << 24), d, index);
            }
        }
    }

    function _settle(bytes32 dealId, uint256 index, uint256 callerSeed) internal {
        _called(Action.SettleReplica);
        Expect memory e = expectSettle(dealId, index, address(0));
        bool valid = ghostSlot[dealId][index].status == FILLED && e.due && openCountOf(dealId, index) == 0;
        address lessor = ghostSlot[dealId][index].lessor;
        uint256 lessorBefore = vault.withdrawableOf(lessor);
        uint256 lockedBefore = registry.lockedStakeOf(lessor);
        vm.prank(_actor(callerSeed));
        try market.settleReplica(dealId, index) {
            _succeeded(Action.SettleReplica);
            if (!valid) _broke("settled early");
            // A self-challenger is its own bounty's recipient.
            uint256 bounty = e.challenger == lessor ? e.bounty : 0;
            if (vault.withdrawableOf(lessor) - lessorBefore != e.payment + bounty) _broke("settlement payment");
            if (lockedBefore - registry.lockedStakeOf(lessor) != e.slashed + e.released) _broke("settlement collateral");
            _applySettle(dealId, index, e);
        } catch {
            if (valid) _broke("settle refused");
        }
    }

    // ------------------------------------------------------------ time

    function advance(uint256 secondsSeed) external {
        _called(Action.Advance);
        vm.warp(vm.getBlockTimestamp() + bound(secondsSeed, 1, 60));
        vm.roll(vm.getBlockNumber() + 1);
        _succeeded(Action.Advance);
    }

    /// One period, rarely three: deals last 1 to 8 periods and should not all be over in a few calls. Half the
    /// time every lessor first proves the period (diligent lessors), otherwise periods go unproven.
    function jumpPeriods(uint256 periodsSeed, uint256 blocksSeed) external {
        _called(Action.JumpPeriods);
        if ((periodsSeed >> 8) % 2 == 0) {
            uint256 current = market.currentPeriod();
            for (uint256 i; i < 4; ++i) {
                if (provingTotal(lessors[i]) > 0 && !ghostProven[lessors[i]][current]) _prove(lessors[i]);
            }
        }
        vm.warp(vm.getBlockTimestamp() + (periodsSeed % 8 == 0 ? 3 : 1) * periodLength);
        vm.roll(vm.getBlockNumber() + bound(blocksSeed, 1, 4));
        _succeeded(Action.JumpPeriods);
    }

    /// Lands in a deal's last period, its end period (refund) or the one after, never backwards.
    function jumpToDealEdge(uint256 dealSeed, uint256 edgeSeed, uint256 offsetSeed) external {
        if (deals.length == 0) return;
        _called(Action.JumpToDealEdge);
        bytes32 dealId = deals[dealSeed % deals.length];
        // Half the time a deal holding a repair reward nobody earned yet (its refund must return it).
        if ((edgeSeed >> 8) % 2 == 0) {
            for (uint256 i; i < deals.length; ++i) {
                bytes32 candidate = deals[(dealSeed + i) % deals.length];
                if (!ghostRefunded[candidate] && _rewardsOf(candidate) > 0) {
                    dealId = candidate;
                    break;
                }
            }
        }
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        uint256 targetPeriod = uint256(deal.endPeriod) - 1 + edgeSeed % 3;
        uint256 target = market.startTime() + targetPeriod * periodLength + bound(offsetSeed, 0, periodLength - 1);
        if (target <= vm.getBlockTimestamp()) return;
        vm.warp(target);
        vm.roll(vm.getBlockNumber() + 1);
        _succeeded(Action.JumpToDealEdge);
    }

    /// Crosses the 256-block horizon of blockhash (lost period seeds, late PoReps and challenges).
    function rollPastHorizon(uint256 blocksSeed) external {
        _called(Action.RollPastHorizon);
        vm.roll(vm.getBlockNumber() + bound(blocksSeed, 200, 300));
        _succeeded(Action.RollPastHorizon);
    }

    function withdraw(uint256 actorSeed) external {
        _called(Action.Withdraw);
        address actor = _actor(actorSeed);
        vm.prank(actor);
        try vault.withdraw() returns (uint256 amount) {
            _succeeded(Action.Withdraw);
            ghostWithdrawn += amount;
            ghostWithdrawnBy[actor] += amount;
        } catch {}
    }

    // ------------------------------------------------------------ helpers

    function _called(Action action) internal {
        ++calledCount[uint256(action)];
    }

    function _succeeded(Action action) internal {
        ++succeededCount[uint256(action)];
    }

    function _broke(string memory rule) internal {
        ++brokenRules;
        lastBrokenRule = rule;
    }

    function _pick(uint256 dealSeed, uint256 indexSeed) internal view returns (bytes32 dealId, uint256 index) {
        dealId = deals[dealSeed % deals.length];
        index = indexSeed % market.getDeal(dealId).replicas;
    }

    function _rewardsOf(bytes32 dealId) internal view returns (uint256 rewards) {
        uint256 replicas = market.getDeal(dealId).replicas;
        for (uint256 r; r < replicas; ++r) rewards += ghostRepair[dealId][r];
    }

    /// The first slot from (dealSeed, indexSeed) on that is Proving by the model, else the picked one.
    function _findProving(uint256 dealSeed, uint256 indexSeed) internal view returns (bytes32, uint256) {
        for (uint256 i; i < deals.length; ++i) {
            bytes32 dealId = deals[(dealSeed + i) % deals.length];
            uint256 replicas = market.getDeal(dealId).replicas;
            for (uint256 j; j < replicas; ++j) {
                uint256 index = (indexSeed + j) % replicas;
                if (modelState(dealId, index) == IStorageMarket.ReplicaState.Proving) return (dealId, index);
            }
        }
        return _pick(dealSeed, indexSeed);
    }

    /// Position of the handler's open challenge (dealId, index, challenger) in openChallenges.
    function _openAt(bytes32 dealId, uint256 index, address challenger) internal view returns (uint256 at) {
        for (at = 0; at < openChallenges.length; ++at) {
            OpenChallenge storage c = openChallenges[at];
            if (c.dealId == dealId && c.index == index && c.challenger == challenger) return at;
        }
        revert AssertionFailed("open challenge not found", 0, 1);
    }

    function _closed(uint256 at) internal {
        openChallenges[at] = openChallenges[openChallenges.length - 1];
        openChallenges.pop();
    }

    /// Index in `lessors`, or 4 for an address that is not a lessor.
    function _indexOf(address account) internal view returns (uint256) {
        for (uint256 i; i < 4; ++i) if (lessors[i] == account) return i;
        return 4;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actorAt(seed % 8);
    }

    /// A watcher, the slot's own lessor (a self-challenge), or any lessor.
    function _challenger(bytes32 dealId, uint256 index, uint256 seed) internal view returns (address) {
        uint256 pick = seed % 4;
        if (pick < 2) return watchers[pick];
        if (pick == 3) return lessors[(seed >> 8) % 4];
        address lessor = ghostSlot[dealId][index].lessor;
        return lessor == address(0) ? watchers[0] : lessor;
    }

    /// The first slot from (dealSeed, 0) on, in deals other than `exclude`, that `lessor` may fill now.
    function _findFillable(address lessor, uint256 dealSeed, bytes32 exclude)
        internal
        view
        returns (bool found, bytes32 dealId, uint256 index)
    {
        bytes32[] memory none = new bytes32[](0);
        for (uint256 i; i < deals.length; ++i) {
            dealId = deals[(dealSeed + i) % deals.length];
            if (dealId == exclude) continue;
            uint256 replicas = market.getDeal(dealId).replicas;
            for (index = 0; index < replicas; ++index) {
                if (_fillable(lessor, dealId, index, none, 0)) return (true, dealId, index);
            }
        }
        return (false, bytes32(0), 0);
    }

    /// kind 0: capacity; 1-4: one piece; 5-7: two pieces of different deals. The first piece is slot
    /// (dealSeed, indexSeed) when fillable, else (two times in three) the first fillable slot from there.
    function _choosePieces(address lessor, uint256 kindSeed, uint256 dealSeed, uint256 indexSeed)
        internal
        view
        returns (bytes32[] memory ids, bytes memory indexes, uint256 log2)
    {
        uint256 kind = kindSeed % 8;
        if (kind == 0 || deals.length == 0) return (new bytes32[](0), "", minSectorLog + (kindSeed >> 8) % 2);
        (bytes32 a, uint256 ia) = _pick(dealSeed, indexSeed);
        bytes32[] memory none = new bytes32[](0);
        if (!_fillable(lessor, a, ia, none, 0) && (kindSeed >> 32) % 3 != 0) {
            (bool found, bytes32 fa, uint256 fia) = _findFillable(lessor, dealSeed, bytes32(0));
            if (found) (a, ia) = (fa, fia);
        }
        uint256 da = market.getDeal(a).depth;
        (bool two, bytes32 b, uint256 ib) = kind >= 5 ? _findFillable(lessor, dealSeed + 1, a) : (false, bytes32(0), 0);
        if (!two) {
            ids = new bytes32[](1);
            ids[0] = a;
            indexes = abi.encodePacked(uint8(ia));
            log2 = da < minSectorLog ? minSectorLog : da;
        } else {
            uint256 db = market.getDeal(b).depth;
            if (db > da) (a, ia, b, ib, da, db) = (b, ib, a, ia, db, da);
            ids = new bytes32[](2);
            (ids[0], ids[1]) = (a, b);
            indexes = abi.encodePacked(uint8(ia), uint8(ib));
            log2 = da + 1;
        }
        // Sometimes a zero tail after the pieces.
        if ((kindSeed >> 16) % 4 == 0 && log2 < MAX_LOG2) ++log2;
    }

    /// The unsealed sector: the deals' pieces in the order given when they fit, zeros otherwise (a commit that
    /// does not fit fails before its commR matters).
    function _layout(uint256 log2, bytes32[] memory ids) internal view returns (bytes32[] memory) {
        bytes32[][] memory pieces = new bytes32[][](ids.length);
        uint256 cursor;
        for (uint256 i; i < ids.length; ++i) {
            uint256 depth = market.getDeal(ids[i]).depth;
            pieces[i] = TestSector.pieceData(saltOf[ids[i]], depth);
            cursor += uint256(1) << depth;
        }
        if (cursor > uint256(1) << log2) pieces = new bytes32[][](0);
        return TestSector.layout(log2, pieces);
    }

    /// The PoRep of `sectorId`'s data sealed to `replica` (the sector itself, or another for a foreign proof).
    function _porepProof(bytes32 sectorId, bytes32 seed, bytes32 replica) internal view returns (bytes32[] memory) {
        bytes32[] memory d = dataOf[sectorId];
        bytes32[] memory s = replica == sectorId ? sealedOf[sectorId] : TestSector.seal(d, replica, sealRounds);
        return TestSector.porepProof(d, s, seed, replica, kPoRep);
    }

    /// Openings of the slot's current sector for `seed` (garbage once the slot changed hands: it must fail then).
    function _challengeAnswer(OpenChallenge memory c, bytes32 seed) internal view returns (bytes32[] memory) {
        GhostSlot memory slot = ghostSlot[c.dealId][c.index];
        if (slot.status != FILLED) return new bytes32[](kPoSt * 3);
        return TestSector.challengeProof(
            sealedOf[slot.sector], seed, slot.sector, slot.offset, market.getDeal(c.dealId).segments, kPoSt
        );
    }

    /// The current period's seed: the first call fixes the seed block, one block later it can be stored.
    function _seed() internal returns (bytes32 seed) {
        try market.seedPeriod() returns (bytes32 got) {
            seed = got;
        } catch {
            return bytes32(0);
        }
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = market.periodSeedBlock(market.currentPeriod());
        if (seedBlock >= vm.getBlockNumber()) vm.roll(seedBlock + 1);
        try market.seedPeriod() returns (bytes32 stored) {
            seed = stored;
        } catch {}
    }

    function _countsMatch(address lessor) internal view returns (bool) {
        uint256 expected;
        for (uint256 log2 = minSectorLog; log2 <= MAX_LOG2; ++log2) {
            expected |= ghostCount[lessor][log2] << (16 * (log2 - minSectorLog));
        }
        return market.provingCounts(lessor) == expected;
    }

    /// The proof with challenges 0 and 1's openings swapped, when both fall in sectors of one size (else as is).
    function _swapFirstTwo(address lessor, bytes32 seed, bytes32[] memory proof) internal view returns (bytes32[] memory out) {
        out = _copy(proof);
        if (kPoSt < 2) return out;
        uint256 counts_ = market.provingCounts(lessor);
        uint256 total;
        for (uint256 c; c < 16; ++c) total += ((counts_ >> (16 * c)) & 0xffff) << (minSectorLog + c);
        (uint256 log2a,,) = ProofMath.postLocate(counts_, minSectorLog, ProofMath.postDraw(seed, lessor, 0, total));
        (uint256 log2b,,) = ProofMath.postLocate(counts_, minSectorLog, ProofMath.postDraw(seed, lessor, 1, total));
        if (log2a != log2b) return out;
        uint256 stride = log2a + 1;
        for (uint256 w; w < stride; ++w) (out[w], out[stride + w]) = (proof[stride + w], proof[w]);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }

    function _same(bytes32[] memory a, bytes32[] memory b) internal pure returns (bool) {
        return keccak256(abi.encode(a)) == keccak256(abi.encode(b));
    }

    function _copy(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i; i < a.length; ++i) b[i] = a[i];
    }

    function _truncate(bytes32[] memory proof) internal pure {
        assembly ("memory-safe") {
            mstore(proof, sub(mload(proof), 1))
        }
    }

    function _padded(bytes32[] memory proof) internal pure returns (bytes32[] memory longer) {
        longer = new bytes32[](proof.length + 1);
        for (uint256 i; i < proof.length; ++i) longer[i] = proof[i];
    }
}

/// @notice The market's books and the handler's model after random action sequences. One invariant function
/// checks everything after every call, so the deep run spends its budget on many long sequences instead of
/// repeating them per check.
contract MarketInvariantTest is MarketSetup {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    /// Stake of the short lessor: two or three pieces' collateral.
    uint256 internal constant SHORT_STAKE = 4_000_000;

    MarketHandler internal handler;
    uint256 internal initialStake;

    function setUp() public {
        _deploy();
        handler = new MarketHandler(market, vault, registry);
        for (uint256 i; i < 2; ++i) {
            _fund(handler.clientAt(i), 1e60);
            _fund(handler.watcherAt(i), 1e30); // challenge bonds
        }
        for (uint256 i; i < 4; ++i) {
            address lessor = handler.lessorAt(i);
            _stake(lessor, i < 3 ? STAKE : SHORT_STAKE);
            _fund(lessor, 1e30); // self-challenge bonds
        }
        initialStake = token.balanceOf(address(registry));
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), handler.actionSelectors());
    }

    /// hardhat-config: default.invariant.runs = 96
    /// hardhat-config: default.invariant.depth = 64
    function invariant_marketBooksBalance() public view {
        _checkVaultBacked();
        _checkTokensConserved();
        _checkEscrowIsClaimable();
        _checkStakeBacksCollateral();
        _checkProvingSets();
        _checkSlotsMatchModel();
        _checkCredits();
        _checkProvenPeriods();
        assertEq(handler.brokenRules(), 0, handler.lastBrokenRule());
    }

    /// With COFFER_ACTION_LOG set (npm run test:deep), appends this run's per-action counts to that file.
    function afterInvariant() public {
        string memory path = vm.envOr("COFFER_ACTION_LOG", string(""));
        if (bytes(path).length == 0) return;
        string[21] memory names = handler.actionNames();
        string memory line = "MarketHandler";
        for (uint256 a; a < names.length; ++a) {
            (uint256 called, uint256 succeeded) = handler.counts(a);
            line = string.concat(line, " ", names[a], "=", vm.toString(called), "/", vm.toString(succeeded));
        }
        // Rare paths: reached / reached (the report's two columns).
        string[6] memory pathNames = handler.pathNames();
        for (uint256 p; p < pathNames.length; ++p) {
            string memory n = vm.toString(handler.paths(p));
            line = string.concat(line, " ", pathNames[p], "=", n, "/", n);
        }
        vm.writeLine(path, line);
    }

    /// The vault holds exactly its escrow plus what accounts can withdraw.
    function _checkVaultBacked() internal view {
        assertEq(token.balanceOf(address(vault)), vault.escrowed() + vault.totalWithdrawable(), "vault balance");
    }

    /// Tokens in (deposits, slashed stake) == tokens out (withdrawals) + tokens held by the vault.
    function _checkTokensConserved() internal view {
        uint256 slashedIn = initialStake - token.balanceOf(address(registry));
        assertEq(
            handler.ghostDeposited() + slashedIn, handler.ghostWithdrawn() + token.balanceOf(address(vault)), "token conservation"
        );
    }

    /// Every escrowed token is claimable by someone: a deal's unpaid escrow and repair rewards by its client
    /// (claimRefund) or a lessor (settlement) while it is not refunded, an open challenge's bond by its lessor
    /// or challenger. A refunded (or cancelled) deal has nothing left attributed to it and no filled slot.
    function _checkEscrowIsClaimable() internal view {
        uint256 claimable;
        uint256 openTotal;
        for (uint256 d; d < handler.dealCount(); ++d) {
            bytes32 dealId = handler.deals(d);
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            uint256 paid;
            uint256 rewards;
            for (uint256 r; r < deal.replicas; ++r) {
                IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                paid += replica.paidPeriods;
                rewards += replica.repairReward;
                openTotal += replica.openChallenges;
                if (deal.refunded) assertTrue(replica.status != 1, "a refunded deal has no filled slot");
            }
            assertLe(paid * deal.pricePerPeriod, deal.escrow, "paid <= escrow");
            if (deal.refunded) assertEq(rewards, 0, "repair reward escrowed on a refunded deal: nobody can claim it");
            else claimable += deal.escrow - paid * deal.pricePerPeriod + rewards;
        }
        assertEq(openTotal, handler.openChallengeCount(), "open challenges == the handler's");
        assertEq(vault.escrowed(), claimable + openTotal * BOND, "escrowed == what parties can still claim");
    }

    /// The registry holds exactly the stakes, and each lessor's locked stake is the collateral left in its
    /// filled slots; a slot not filled has none left, a filled one its whole collateral (settlement takes it).
    function _checkStakeBacksCollateral() internal view {
        uint256 stakes;
        for (uint256 i; i < 4; ++i) {
            address lessor = handler.lessorAt(i);
            ILessorRegistry.LessorInfo memory info = registry.getLessor(lessor);
            stakes += info.freeStake + info.lockedStake + info.unbondingStake;
            uint256 locked;
            for (uint256 d; d < handler.dealCount(); ++d) {
                bytes32 dealId = handler.deals(d);
                IStorageMarket.Deal memory deal = market.getDeal(dealId);
                for (uint256 r; r < deal.replicas; ++r) {
                    IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                    if (replica.status == 1) {
                        if (replica.lessor == lessor) locked += replica.collateralLeft;
                        assertEq(replica.collateralLeft, deal.collateral, "a filled slot holds its whole collateral");
                    } else {
                        assertEq(replica.collateralLeft, 0, "no collateral left outside a filling");
                    }
                }
            }
            assertEq(info.lockedStake, locked, "locked stake == collateral of filled slots");
        }
        assertEq(token.balanceOf(address(registry)), stakes, "registry balance == stakes");
    }

    /// provingCounts matches the provingSectorAt arrays (dense, each entry a proving sector of that lessor and
    /// size at its recorded index) and the handler's own count of proving sectors.
    function _checkProvingSets() internal view {
        for (uint256 i; i < 4; ++i) {
            address lessor = handler.lessorAt(i);
            uint256 counts = market.provingCounts(lessor);
            for (uint256 c; c < 16; ++c) {
                uint256 n = (counts >> (16 * c)) & 0xffff;
                uint8 log2 = uint8(MIN_SECTOR_LOG + c);
                if (c > 3) {
                    assertEq(n, 0, "no sizes the handler never commits");
                    continue;
                }
                assertEq(n, handler.ghostCount(lessor, log2), "proving count == the handler's");
                for (uint256 index; index < n; ++index) {
                    bytes32 sectorId = market.provingSectorAt(lessor, log2, index);
                    IStorageMarket.Sector memory sector = market.getSector(sectorId);
                    assertTrue(sector.lessor == lessor, "array entry: the lessor's sector");
                    assertEq(sector.log2Segments, log2, "array entry: of that size");
                    assertEq(sector.status, 2, "array entry: proving");
                    assertEq(sector.index, index, "array entry: at its index");
                }
                try market.provingSectorAt(lessor, log2, n) returns (bytes32) {
                    revert AssertionFailed("proving array longer than its count", n + 1, n);
                } catch {}
            }
        }
        for (uint256 s; s < handler.sectorCount(); ++s) {
            bytes32 sectorId = handler.sectors(s);
            GhostSector memory ghost = handler.sectorOf(sectorId);
            IStorageMarket.Sector memory sector = market.getSector(sectorId);
            assertEq(sector.status, ghost.status, "sector status == the handler's");
            assertEq(sector.firstPeriod, ghost.firstPeriod, "sector first period");
            if (ghost.status == 3) assertEq(sector.dropPeriod, ghost.dropPeriod, "sector drop period");
        }
    }

    /// Every slot is as the handler's model says: state, holder, sector, paid periods (never more than the
    /// deal's duration), repair reward.
    function _checkSlotsMatchModel() internal view {
        for (uint256 d; d < handler.dealCount(); ++d) {
            bytes32 dealId = handler.deals(d);
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            for (uint256 r; r < deal.replicas; ++r) {
                IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                GhostSlot memory ghost = handler.slotOf(dealId, r);
                assertEq(uint256(market.replicaState(dealId, r)), uint256(handler.modelState(dealId, r)), "replica state == model");
                assertEq(replica.status, ghost.status, "slot status == model");
                if (ghost.status == 1) {
                    assertTrue(replica.lessor == ghost.lessor && replica.sector == ghost.sector, "slot holder == model");
                    assertEq(replica.offset, ghost.offset, "slot offset == model");
                }
                assertLe(replica.paidPeriods, deal.endPeriod - deal.startPeriod, "paid periods <= duration");
                assertEq(replica.paidPeriods, handler.ghostPaid(dealId, r), "paid periods == model");
                assertEq(replica.repairReward, handler.ghostRepair(dealId, r), "repair reward == model");
            }
        }
    }

    /// No account is credited more (or less) than the model says: payments, slashes, refunds, bonds, bounties.
    function _checkCredits() internal view {
        for (uint256 i; i < 8; ++i) {
            address account = handler.actorAt(i);
            assertEq(
                vault.withdrawableOf(account) + handler.ghostWithdrawnBy(account), handler.ghostCredited(account), "credited == model"
            );
        }
    }

    /// The proven bits of the last periods are exactly the PoSts the handler saw accepted.
    function _checkProvenPeriods() internal view {
        uint256 current = market.currentPeriod();
        uint256 from = current > 3 ? current - 3 : 0;
        for (uint256 i; i < 4; ++i) {
            address lessor = handler.lessorAt(i);
            for (uint256 p = from; p <= current + 1; ++p) {
                assertTrue(market.isPeriodProven(lessor, p) == handler.ghostProven(lessor, p), "proven bit == accepted PoSts");
            }
        }
    }
}
