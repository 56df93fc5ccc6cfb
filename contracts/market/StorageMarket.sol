// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";
import {IMarketVault} from "../interfaces/IMarketVault.sol";
import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {DelayedSeed} from "../libraries/DelayedSeed.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {ProofVerifier} from "../libraries/ProofVerifier.sol";
import {SectorTree} from "../libraries/SectorTree.sol";
import {Sha256Merkle} from "../libraries/Sha256Merkle.sol";
import {LessorPeriods} from "./LessorPeriods.sol";
import {SlotStatus} from "./SlotStatus.sol";

/// @title StorageMarket
/// @notice Deals, replica slots as pieces of sectors, sector PoRep, one PoSt per lessor per period, settlement
/// and repair (IStorageMarket, docs/protocol.md §5, §6, §10, §12). Tokens live in the MarketVault; collateral
/// stays in the lessor registry.
contract StorageMarket is IStorageMarket, ReentrancyGuardTransient {
    using LessorPeriods for mapping(uint256 => uint256);

    uint256 private constant GIB = 1 << 30;
    uint256 private constant BPS = 10_000;
    /// @dev Largest deal: 1 PiB (segments fit uint48, depth <= 45).
    uint256 private constant MAX_SIZE = 1 << 50;
    uint256 private constant MAX_REPLICAS = 10;
    /// @dev blockhash() only reaches this many blocks back.
    uint256 private constant BLOCKHASH_WINDOW = DelayedSeed.HORIZON;
    /// @dev Sector sizes a lessor's proving counts word holds: 16 counts of 16 bits.
    uint256 private constant SIZE_CLASSES = 16;
    uint256 private constant COUNT_MASK = 0xffff;

    /// @dev A period's seed: its seed block (fixed by the first seedPeriod() of the period), then the seed.
    struct PeriodSeed {
        uint64 seedBlock;
        bytes32 seed;
    }

    /// @dev An expired challenge whose piece is settled once the slot's other challenges are closed.
    struct ChallengeFailure {
        address challenger;
        /// The period the piece failed in, plus one (zero: none).
        uint64 periodPlusOne;
    }

    /// @dev What settling a filled slot now would do (one computation for settleReplica, the views and refunds).
    struct Settlement {
        bool due;
        bool failed;
        /// Failed by an expired PoRep: only missSlashBps slashed, the lessor may fill the deal again.
        bool expired;
        uint256 proven;
        uint256 missed;
        uint256 payment;
        uint256 slashed;
        uint256 repair;
        uint256 released;
        ReplicaState state;
    }

    ILessorRegistry private immutable _registry;
    IMarketVault private immutable _vault;
    uint256 private immutable _startTime;
    uint256 private immutable _periodLength;
    uint256 private immutable _kPoSt;
    uint256 private immutable _kPoRep;
    uint256 private immutable _sealRounds;
    uint256 private immutable _porepTimeout;
    uint256 private immutable _maxMisses;
    uint256 private immutable _missSlashBps;
    uint256 private immutable _bountyBps;
    uint256 private immutable _repairBps;
    uint256 private immutable _collateralPerGiB;
    uint256 private immutable _challengeWindow;
    uint256 private immutable _challengeBond;
    uint256 private immutable _minSegments;
    uint256 private immutable _minSectorLog;
    uint256 private immutable _maxSectorLog;

    mapping(bytes32 dealId => Deal) private _deals;
    mapping(bytes32 dealId => mapping(uint256 replicaIndex => Replica)) private _replicas;
    mapping(bytes32 sector => Sector) private _sectors;
    /// @dev Dense arrays of a lessor's proving sectors per size (swap-and-pop on drop: never iterated).
    mapping(address lessor => mapping(uint256 log2Segments => bytes32[])) private _proving;
    /// @dev Count of proving sectors per size class (log2Segments - minSectorLog), 16 bits each.
    mapping(address lessor => uint256) private _counts;
    /// @dev One bit per (lessor, period): proven. See LessorPeriods.
    mapping(address lessor => mapping(uint256 word => uint256)) private _proven;
    mapping(uint256 period => PeriodSeed) private _seeds;
    mapping(address client => uint256) private _nonces;
    mapping(bytes32 dealId => mapping(uint256 replicaIndex => mapping(address challenger => Challenge))) private _challenges;
    /// @dev Lessors that lost a replica of the deal (misses, drop, expired challenge): they never fill a slot of it again.
    mapping(bytes32 dealId => mapping(address lessor => bool)) private _failedLessors;
    /// @dev Set when an on-chain challenge of the slot's current filling expired while others were open.
    mapping(bytes32 dealId => mapping(uint256 replicaIndex => ChallengeFailure)) private _challengeFailures;

    constructor(ILessorRegistry registry_, IMarketVault vault_, Params memory p) {
        if (p.periodLength == 0) revert MarketInvalidParameter("periodLength");
        if (p.kPoSt == 0) revert MarketInvalidParameter("kPoSt");
        if (p.kPoRep == 0) revert MarketInvalidParameter("kPoRep");
        if (p.sealRounds == 0) revert MarketInvalidParameter("sealRounds");
        if (p.porepTimeout == 0) revert MarketInvalidParameter("porepTimeout");
        if (p.maxMisses == 0) revert MarketInvalidParameter("maxMisses");
        if (p.missSlashBps > BPS) revert MarketInvalidParameter("missSlashBps");
        if (p.bountyBps > BPS) revert MarketInvalidParameter("bountyBps");
        if (p.repairBps > BPS) revert MarketInvalidParameter("repairBps");
        // A failed challenge pays both shares out of the same collateral.
        if (uint256(p.bountyBps) + p.repairBps > BPS) revert MarketInvalidParameter("bountyBps+repairBps");
        // The answer's last block must still read blockhash(openedBlock + 1).
        if (p.challengeWindow == 0 || p.challengeWindow > BLOCKHASH_WINDOW) revert MarketInvalidParameter("challengeWindow");
        if (p.minSegments == 0) revert MarketInvalidParameter("minSegments");
        if (p.minSectorLog > p.maxSectorLog || p.maxSectorLog > 45) revert MarketInvalidParameter("maxSectorLog");
        if (p.maxSectorLog - p.minSectorLog >= SIZE_CLASSES) revert MarketInvalidParameter("minSectorLog");
        if (vault_.token() != address(registry_.stakeToken())) revert MarketInvalidParameter("vault");
        _registry = registry_;
        _vault = vault_;
        _startTime = block.timestamp;
        _periodLength = p.periodLength;
        _kPoSt = p.kPoSt;
        _kPoRep = p.kPoRep;
        _sealRounds = p.sealRounds;
        _porepTimeout = p.porepTimeout;
        _maxMisses = p.maxMisses;
        _missSlashBps = p.missSlashBps;
        _bountyBps = p.bountyBps;
        _repairBps = p.repairBps;
        _collateralPerGiB = p.collateralPerGiB;
        _challengeWindow = p.challengeWindow;
        _challengeBond = p.challengeBond;
        _minSegments = p.minSegments;
        _minSectorLog = p.minSectorLog;
        _maxSectorLog = p.maxSectorLog;
    }

    // ================================================================== deals

    /// @inheritdoc IStorageMarket
    function createDeal(
        bytes32 commD,
        uint64 size,
        uint8 replicas,
        uint32 durationPeriods,
        uint128 pricePerGiBPerPeriod,
        uint128 collateralPerReplica
    ) external nonReentrant returns (bytes32 dealId) {
        if (replicas == 0 || replicas > MAX_REPLICAS) revert MarketInvalidReplicaCount(replicas);
        if (size == 0 || size > MAX_SIZE) revert MarketInvalidSize(size);
        if (pricePerGiBPerPeriod == 0) revert MarketInvalidPrice(pricePerGiBPerPeriod);
        uint256 minCollateral = Math.mulDiv(size, _collateralPerGiB, GIB, Math.Rounding.Ceil);
        if (collateralPerReplica < minCollateral) revert MarketCollateralTooLow(collateralPerReplica, minCollateral);
        uint256 startPeriod = currentPeriod() + 1;
        uint256 endPeriod = startPeriod + durationPeriods;
        if (durationPeriods == 0 || endPeriod > type(uint32).max) revert MarketInvalidDuration(durationPeriods);
        // Rounded up: a lessor is never paid less than the quoted rate.
        uint256 pricePerPeriod = Math.mulDiv(size, pricePerGiBPerPeriod, GIB, Math.Rounding.Ceil);
        uint256 escrow = pricePerPeriod * replicas * durationPeriods;
        if (escrow > type(uint128).max) revert MarketInvalidPrice(pricePerGiBPerPeriod);

        uint256 segments = ProofMath.segmentCount(size);
        if (segments < _minSegments) revert MarketDealTooSmall(size, _minSegments * 32);
        dealId = sha256(abi.encode(msg.sender, _nonces[msg.sender]++));
        Deal storage deal = _deals[dealId];
        deal.client = msg.sender;
        deal.replicas = replicas;
        deal.commD = commD;
        deal.segments = uint48(segments);
        deal.depth = uint8(ProofMath.depthOf(segments));
        deal.endPeriod = uint32(endPeriod);
        deal.pricePerPeriod = uint128(pricePerPeriod);
        deal.size = size;
        deal.startPeriod = uint32(startPeriod);
        deal.collateral = collateralPerReplica;
        deal.escrow = uint128(escrow);
        emit DealCreated(
            dealId, msg.sender, commD, size, replicas, uint32(startPeriod), uint32(endPeriod), uint128(pricePerPeriod), collateralPerReplica
        );
        _vault.deposit(msg.sender, escrow);
    }

    /// @inheritdoc IStorageMarket
    function cancelDeal(bytes32 dealId) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (deal.client != msg.sender) revert MarketNotDealClient(dealId, msg.sender);
        if (deal.cancelled) revert MarketDealCancelled(dealId);
        if (deal.everFilled) revert MarketDealAlreadyFilled(dealId);
        _markRefunded(dealId, deal);
        deal.cancelled = true;
        uint256 refund = deal.escrow;
        emit DealCancelled(dealId, refund);
        _vault.credit(msg.sender, refund);
    }

    /// @inheritdoc IStorageMarket
    function claimRefund(bytes32 dealId) external nonReentrant returns (uint256 amount) {
        Deal storage deal = _existingDeal(dealId);
        if (deal.cancelled) revert MarketDealCancelled(dealId);
        uint256 current = currentPeriod();
        if (current < deal.endPeriod) revert MarketDealNotEnded(dealId, deal.endPeriod, current);
        _markRefunded(dealId, deal);
        uint256 replicas = deal.replicas;
        uint256 paidPeriods;
        uint256 rewards;
        // Bounded: replicas <= 10. After the end every filled slot is settleable (or has a challenge open).
        for (uint256 j; j < replicas; ++j) {
            Replica storage replica = _replicas[dealId][j];
            if (replica.status == SlotStatus.FILLED) _settle(dealId, deal, j, replica, false, address(0));
            paidPeriods += replica.paidPeriods;
            rewards += replica.repairReward;
            if (replica.repairReward > 0) replica.repairReward = 0;
        }
        amount = deal.escrow - paidPeriods * deal.pricePerPeriod + rewards;
        emit DealRefunded(dealId, deal.client, amount);
        if (amount > 0) _vault.credit(deal.client, amount);
    }

    // ================================================================== sectors and PoRep

    /// @inheritdoc IStorageMarket
    function commitSector(
        uint256 sectorNumber,
        uint8 log2Segments,
        bytes32 commR,
        bytes32[] calldata dealIds,
        bytes calldata replicaIndexes
    ) external nonReentrant returns (bytes32 sectorId) {
        if (!_registry.isActiveLessor(msg.sender)) revert MarketLessorNotActive(msg.sender);
        if (log2Segments < _minSectorLog || log2Segments > _maxSectorLog) revert MarketInvalidSectorSize(log2Segments);
        uint256 count = dealIds.length;
        if (count != replicaIndexes.length) revert MarketPieceListMismatch(count, replicaIndexes.length);
        sectorId = ProofMath.sectorId(msg.sender, sectorNumber);
        Sector storage sector = _sectors[sectorId];
        if (sector.lessor != address(0)) revert MarketSectorExists(sectorId);

        uint256 capacity = uint256(1) << log2Segments;
        SectorTree.Fold memory fold = SectorTree.start(log2Segments);
        uint256 current = currentPeriod();
        uint256 lastDepth = log2Segments;
        uint256 collateral;
        for (uint256 i; i < count; ++i) {
            bytes32 dealId = dealIds[i];
            Deal storage deal = _existingDeal(dealId);
            uint256 depth = deal.depth;
            if (depth > lastDepth) revert MarketPiecesOutOfOrder(i);
            uint256 offset = fold.cursor;
            if (offset + (uint256(1) << depth) > capacity) revert MarketSectorOverfull(offset + (uint256(1) << depth), capacity);
            collateral += _fill(dealId, deal, uint8(replicaIndexes[i]), sectorId, offset, current);
            SectorTree.push(fold, deal.commD, depth);
            fold.cursor = offset + (uint256(1) << depth);
            lastDepth = depth;
        }
        bytes32 commD = SectorTree.finish(fold, log2Segments);
        sector.lessor = msg.sender;
        sector.log2Segments = log2Segments;
        sector.status = SlotStatus.COMMITTED;
        sector.livePieces = uint16(count);
        sector.pieces = uint16(count);
        sector.commR = commR;
        sector.commD = commD;
        sector.commitBlock = uint64(block.number);
        sector.commitTime = uint64(block.timestamp);
        emit SectorCommitted(sectorId, msg.sender, sectorNumber, log2Segments, commR, commD, count);
        if (collateral > 0) _registry.lockStake(msg.sender, collateral);
    }

    /// @inheritdoc IStorageMarket
    function answerPoRep(bytes32 sectorId, bytes32[] calldata proof) external nonReentrant {
        Sector storage sector = _ownSector(sectorId);
        SectorState state = _sectorState(sector);
        if (state != SectorState.Committed) revert MarketSectorWrongState(sectorId, state);
        uint256 commitBlock = sector.commitBlock;
        if (block.number < commitBlock + 2) revert MarketPoRepSeedNotReady(sectorId, commitBlock + 2);
        uint256 current = currentPeriod();
        _requireSetUnlocked(msg.sender, current);
        uint256 log2Segments = sector.log2Segments;
        ProofVerifier.PoRepClaim memory claim = ProofVerifier.PoRepClaim({
            commR: sector.commR,
            commD: sector.commD,
            seed: blockhash(commitBlock + 1),
            replica: sectorId,
            segments: uint256(1) << log2Segments,
            depth: log2Segments,
            challenges: _kPoRep,
            sealRounds: _sealRounds
        });
        if (!ProofVerifier.verifyPoRep(claim, proof)) revert MarketInvalidPoRep(sectorId);

        uint256 shift = (log2Segments - _minSectorLog) * 16;
        uint256 counts = _counts[msg.sender];
        uint256 index = (counts >> shift) & COUNT_MASK;
        if (index == COUNT_MASK) revert MarketTooManySectors(msg.sender, log2Segments);
        _proving[msg.sender][log2Segments].push(sectorId);
        _counts[msg.sender] = counts + (uint256(1) << shift);
        sector.status = SlotStatus.PROVING;
        sector.index = uint32(index);
        sector.firstPeriod = uint32(current + 1);
        emit PoRepAccepted(sectorId, msg.sender, uint32(current + 1));
    }

    /// @inheritdoc IStorageMarket
    function dropSector(bytes32 sectorId) external nonReentrant {
        Sector storage sector = _ownSector(sectorId);
        if (sector.status != SlotStatus.PROVING) revert MarketSectorWrongState(sectorId, _sectorState(sector));
        uint256 current = currentPeriod();
        _requireSetUnlocked(msg.sender, current);
        uint256 log2Segments = sector.log2Segments;
        bytes32[] storage list = _proving[msg.sender][log2Segments];
        uint256 index = sector.index;
        uint256 last = list.length - 1;
        if (index != last) {
            bytes32 moved = list[last];
            list[index] = moved;
            _sectors[moved].index = uint32(index);
        }
        list.pop();
        // The sector was counted when it joined.
        unchecked {
            _counts[msg.sender] -= uint256(1) << ((log2Segments - _minSectorLog) * 16);
        }
        sector.status = SlotStatus.DROPPED;
        sector.dropPeriod = uint32(current);
        emit SectorDropped(sectorId, msg.sender, uint32(current), sector.livePieces);
    }

    // ================================================================== proving periods

    /// @inheritdoc IStorageMarket
    function seedPeriod() external returns (bytes32 seed) {
        uint256 period = currentPeriod();
        PeriodSeed storage entry = _seeds[period];
        seed = entry.seed;
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = entry.seedBlock;
        if (seedBlock == 0) {
            // The seed is the hash of a block that does not exist yet: no caller can see its indices now, and
            // reverting this call (to retry later) leaves the next caller the same position.
            seedBlock = block.number + 1;
            entry.seedBlock = uint64(seedBlock);
            emit PeriodSeedRequested(period, seedBlock);
            return bytes32(0);
        }
        DelayedSeed.Status status = DelayedSeed.status(seedBlock);
        if (status == DelayedSeed.Status.Pending) return bytes32(0);
        if (status == DelayedSeed.Status.Lost) revert MarketPeriodSeedLost(period, seedBlock);
        seed = _storeSeed(entry, period, seedBlock);
    }

    /// @inheritdoc IStorageMarket
    function submitPoSt(uint256 period, bytes32[] calldata proof) external nonReentrant {
        uint256 current = currentPeriod();
        if (period != current) revert MarketWrongPeriod(period, current);
        bytes32 seed = _seedForProof(period);
        uint256 counts = _counts[msg.sender];
        if (counts == 0) revert MarketNothingToProve(msg.sender);
        if (!_proven[msg.sender].set(period)) revert MarketPeriodAlreadyProven(msg.sender, period);
        (uint256 total, uint256 sectors) = _totals(counts);
        uint256 cursor;
        for (uint256 j; j < _kPoSt; ++j) {
            (uint256 log2Segments, uint256 index, uint256 offset) =
                ProofMath.postLocate(counts, _minSectorLog, ProofMath.postDraw(seed, msg.sender, j, total));
            uint256 next = cursor + log2Segments + 1;
            if (proof.length < next) revert MarketPoStLengthMismatch(next, proof.length);
            bytes32 commR = _sectors[_proving[msg.sender][log2Segments][index]].commR;
            if (!Sha256Merkle.verifyOpening(commR, offset, proof, cursor, log2Segments)) {
                revert MarketInvalidPoSt(msg.sender, period, j);
            }
            cursor = next;
        }
        if (cursor != proof.length) revert MarketPoStLengthMismatch(cursor, proof.length);
        emit PoStSubmitted(msg.sender, period, sectors, total * 32);
    }

    /// @inheritdoc IStorageMarket
    function settleReplica(bytes32 dealId, uint256 replicaIndex) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.FILLED) {
            revert MarketReplicaNotSettleable(dealId, replicaIndex, _replicaState(dealId, deal, replicaIndex, replica));
        }
        _settle(dealId, deal, replicaIndex, replica, false, address(0));
    }

    // ================================================================== on-chain challenges (§7.2)

    /// @inheritdoc IStorageMarket
    function challengeReplica(bytes32 dealId, uint256 replicaIndex) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        ReplicaState state = _replicaState(dealId, deal, replicaIndex, replica);
        if (state != ReplicaState.Proving) revert MarketReplicaNotProving(dealId, replicaIndex, state);
        Challenge storage challenge = _challenges[dealId][replicaIndex][msg.sender];
        if (challenge.challenger != address(0)) {
            revert MarketChallengeOpen(dealId, replicaIndex, msg.sender, _challengeDeadline(challenge.openedBlock));
        }
        address lessor = replica.lessor;
        challenge.challenger = msg.sender;
        challenge.openedBlock = uint64(block.number);
        challenge.lessor = lessor;
        challenge.fillBlock = replica.fillBlock;
        replica.openChallenges += 1;
        // The seed is blockhash(block.number + 1) (§7.2): neither the challenger nor the lessor knows it now.
        emit ReplicaChallenged(
            dealId, replicaIndex, lessor, msg.sender, block.number + 1, _challengeDeadline(block.number), _challengeBond
        );
        if (_challengeBond > 0) _vault.deposit(msg.sender, _challengeBond);
    }

    /// @inheritdoc IStorageMarket
    function answerChallenge(bytes32 dealId, uint256 replicaIndex, address challenger, bytes32[] calldata proof)
        external
        nonReentrant
    {
        Challenge storage challenge = _openChallenge(dealId, replicaIndex, challenger);
        address lessor = challenge.lessor;
        Deal storage deal = _deals[dealId];
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (!_holds(dealId, deal, replicaIndex, replica, challenge)) revert MarketChallengeVoid(dealId, replicaIndex, lessor);
        uint256 openedBlock = challenge.openedBlock;
        if (block.number < openedBlock + 2) revert MarketChallengeSeedNotReady(dealId, replicaIndex, openedBlock + 2);
        uint256 deadline = _challengeDeadline(openedBlock);
        if (block.number > deadline) revert MarketChallengeLate(dealId, replicaIndex, deadline);
        Sector storage sector = _sectors[replica.sector];
        bool ok = ProofVerifier.verifyChallenge(
            ProofVerifier.PieceClaim({
                commR: sector.commR,
                seed: _challengeSeed(openedBlock, dealId, replicaIndex, challenger),
                sector: replica.sector,
                offset: replica.offset,
                segments: deal.segments,
                depth: sector.log2Segments,
                k: _kPoSt
            }),
            proof
        );
        if (!ok) revert MarketInvalidChallengeAnswer(dealId, replicaIndex);
        _closeChallenge(dealId, replicaIndex, challenger, replica);
        emit ChallengeAnswered(dealId, replicaIndex, lessor, challenger, _challengeBond);
        if (_challengeBond > 0) _vault.credit(lessor, _challengeBond);
    }

    /// @inheritdoc IStorageMarket
    function expireChallenge(bytes32 dealId, uint256 replicaIndex, address challenger) external nonReentrant {
        Challenge storage challenge = _openChallenge(dealId, replicaIndex, challenger);
        address lessor = challenge.lessor;
        uint256 deadline = _challengeDeadline(challenge.openedBlock);
        Deal storage deal = _deals[dealId];
        Replica storage replica = _replicas[dealId][replicaIndex];
        bool held = _holds(dealId, deal, replicaIndex, replica, challenge);
        if (held && block.number <= deadline) revert MarketChallengeNotExpired(dealId, replicaIndex, deadline);
        _closeChallenge(dealId, replicaIndex, challenger, replica);
        uint256 bond = _challengeBond;
        if (!held) {
            emit ChallengeVoided(dealId, replicaIndex, challenger, bond);
        } else if (replica.openChallenges != 0) {
            // Others' challenges of the same filling are still open (they are void now, see _holds): the
            // failure is recorded and settled once they are closed, with this challenger's bounty.
            _challengeFailures[dealId][replicaIndex] = ChallengeFailure(challenger, uint64(currentPeriod() + 1));
            emit ChallengeExpired(dealId, replicaIndex, lessor, challenger, 0, 0);
        } else {
            // The lessor could not open its own sealed piece in time: the piece fails outright.
            (uint256 slashed, uint256 bounty) = _settle(dealId, deal, replicaIndex, replica, true, challenger);
            emit ChallengeExpired(dealId, replicaIndex, lessor, challenger, slashed, bounty);
        }
        if (bond > 0) _vault.credit(challenger, bond);
    }

    // ================================================================== views

    function params() external view returns (Params memory) {
        return Params({
            periodLength: uint64(_periodLength),
            kPoSt: uint16(_kPoSt),
            kPoRep: uint16(_kPoRep),
            sealRounds: uint16(_sealRounds),
            porepTimeout: uint64(_porepTimeout),
            maxMisses: uint16(_maxMisses),
            missSlashBps: uint16(_missSlashBps),
            bountyBps: uint16(_bountyBps),
            repairBps: uint16(_repairBps),
            collateralPerGiB: uint128(_collateralPerGiB),
            challengeWindow: uint16(_challengeWindow),
            challengeBond: uint128(_challengeBond),
            minSegments: uint48(_minSegments),
            minSectorLog: uint8(_minSectorLog),
            maxSectorLog: uint8(_maxSectorLog)
        });
    }

    function startTime() external view returns (uint256) {
        return _startTime;
    }

    function currentPeriod() public view returns (uint256) {
        return (block.timestamp - _startTime) / _periodLength;
    }

    function periodSeed(uint256 period) public view returns (bytes32) {
        PeriodSeed storage entry = _seeds[period];
        if (entry.seed != bytes32(0)) return entry.seed;
        bytes32 hash = DelayedSeed.hashOf(entry.seedBlock);
        return hash == bytes32(0) || entry.seedBlock == 0 ? bytes32(0) : _periodSeedOf(hash, period);
    }

    function periodSeedBlock(uint256 period) external view returns (uint256) {
        return _seeds[period].seedBlock;
    }

    function getDeal(bytes32 dealId) external view returns (Deal memory) {
        return _existingDeal(dealId);
    }

    function getReplica(bytes32 dealId, uint256 replicaIndex) external view returns (Replica memory) {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        return _replicas[dealId][replicaIndex];
    }

    function dealState(bytes32 dealId) external view returns (DealState) {
        Deal storage deal = _existingDeal(dealId);
        if (deal.cancelled) return DealState.Cancelled;
        bool proving;
        // Bounded: replicas <= 10.
        for (uint256 j; j < deal.replicas; ++j) {
            ReplicaState state = _replicaState(dealId, deal, j, _replicas[dealId][j]);
            if (state == ReplicaState.Proving || state == ReplicaState.Finished) {
                proving = true;
                break;
            }
        }
        if (currentPeriod() >= deal.endPeriod) return proving ? DealState.Finished : DealState.Failed;
        return proving ? DealState.Active : DealState.Pending;
    }

    function replicaState(bytes32 dealId, uint256 replicaIndex) external view returns (ReplicaState) {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        return _replicaState(dealId, deal, replicaIndex, _replicas[dealId][replicaIndex]);
    }

    function getSector(bytes32 sectorId) external view returns (Sector memory) {
        return _sectors[sectorId];
    }

    function sectorState(bytes32 sectorId) external view returns (SectorState) {
        return _sectorState(_sectors[sectorId]);
    }

    function porepSeed(bytes32 sectorId) external view returns (bytes32) {
        Sector storage sector = _sectors[sectorId];
        if (_sectorState(sector) != SectorState.Committed) return bytes32(0);
        return blockhash(uint256(sector.commitBlock) + 1);
    }

    function provingCounts(address lessor) external view returns (uint256) {
        return _counts[lessor];
    }

    function provenCapacityOf(address lessor) external view returns (uint256) {
        uint256 current = currentPeriod();
        bool recent = _proven[lessor].isSet(current) || (current > 0 && _proven[lessor].isSet(current - 1));
        if (!recent) return 0;
        (uint256 total,) = _totals(_counts[lessor]);
        return total * 32;
    }

    function provingSectorAt(address lessor, uint8 log2Segments, uint256 index) external view returns (bytes32) {
        return _proving[lessor][log2Segments][index];
    }

    function isPeriodProven(address lessor, uint256 period) external view returns (bool) {
        return _proven[lessor].isSet(period);
    }

    function servingLessor(bytes32 dealId, uint256 replicaIndex) external view returns (address) {
        Deal storage deal = _deals[dealId];
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.FILLED) return address(0);
        if (_replicaState(dealId, deal, replicaIndex, replica) != ReplicaState.Proving) return address(0);
        return replica.lessor;
    }

    function getChallenge(bytes32 dealId, uint256 replicaIndex, address challenger)
        external
        view
        returns (Challenge memory challenge)
    {
        challenge = _challenges[dealId][replicaIndex][challenger];
        if (challenge.challenger != address(0) && DelayedSeed.status(uint256(challenge.openedBlock) + 1) == DelayedSeed.Status.Ready) {
            challenge.seed = _challengeSeed(challenge.openedBlock, dealId, replicaIndex, challenger);
        }
    }

    function vault() external view returns (address) {
        return address(_vault);
    }

    function registry() external view returns (address) {
        return address(_registry);
    }

    // ================================================================== internals: slots

    /// @dev Puts one slot into the sector being committed; returns the collateral to lock.
    function _fill(bytes32 dealId, Deal storage deal, uint256 replicaIndex, bytes32 sectorId, uint256 offset, uint256 current)
        private
        returns (uint256 collateral)
    {
        if (deal.cancelled) revert MarketDealCancelled(dealId);
        if (!_refillable(deal, current)) revert MarketDealEnded(dealId, deal.endPeriod, current);
        uint256 replicas = deal.replicas;
        if (replicaIndex >= replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.OPEN) {
            revert MarketReplicaNotOpen(dealId, replicaIndex, _replicaState(dealId, deal, replicaIndex, replica));
        }
        // A lessor never earns a repair reward carved from its own slash (§10.4).
        if (_failedLessors[dealId][msg.sender]) revert MarketLessorFailedDeal(dealId, msg.sender);
        // Sybil rule (§4.1): one identity holds at most one live replica of a deal. Bounded: replicas <= 10.
        for (uint256 j; j < replicas; ++j) {
            Replica storage other = _replicas[dealId][j];
            if (other.lessor == msg.sender && other.status == SlotStatus.FILLED) {
                revert MarketLessorAlreadyHoldsReplica(dealId, msg.sender, j);
            }
        }
        collateral = deal.collateral;
        replica.lessor = msg.sender;
        replica.status = SlotStatus.FILLED;
        replica.sector = sectorId;
        replica.offset = uint64(offset);
        replica.fillBlock = uint64(block.number);
        replica.collateralLeft = uint128(collateral);
        deal.everFilled = true;
        emit ReplicaFilled(dealId, replicaIndex, msg.sender, sectorId, uint64(offset), collateral);
    }

    /// @dev What settling the filled slot now would do. `forceFail`: an expired challenge fails it now.
    function _settlement(bytes32 dealId, Deal storage deal, uint256 replicaIndex, Replica storage replica, bool forceFail)
        private
        view
        returns (Settlement memory s)
    {
        Sector storage sector = _sectors[replica.sector];
        uint256 current = currentPeriod();
        uint256 end = deal.endPeriod;
        uint256 left = replica.collateralLeft;
        if (sector.status == SlotStatus.COMMITTED) {
            // PoRep pending: the piece fails only once its sector's PoRep is late.
            if (!_porepLate(sector)) {
                s.state = ReplicaState.Committed;
                return s;
            }
            s.due = true;
            s.failed = true;
            s.expired = true;
            s.slashed = Math.min(left, uint256(deal.collateral) * _missSlashBps / BPS);
            s.released = left - s.slashed;
            s.state = ReplicaState.Failed;
            return s;
        }
        uint256 first = Math.max(deal.startPeriod, sector.firstPeriod);
        // Periods count once closed; a drop or an expired challenge stops them at that period.
        uint256 stop = Math.min(end, current);
        uint256 failAt = type(uint256).max;
        if (sector.status == SlotStatus.DROPPED && sector.dropPeriod < end) failAt = sector.dropPeriod;
        uint256 challengeFail = _challengeFailures[dealId][replicaIndex].periodPlusOne;
        if (forceFail) challengeFail = current + 1;
        if (challengeFail != 0 && challengeFail - 1 < failAt) failAt = challengeFail - 1;
        if (failAt < stop) stop = failAt;
        uint256 scanned;
        if (first < stop) (s.proven, s.missed, scanned) = _proven[replica.lessor].scan(first, stop, _maxMisses);
        bool failedByMisses = s.missed >= _maxMisses;
        s.failed = failedByMisses || failAt != type(uint256).max;
        s.payment = s.proven * deal.pricePerPeriod;
        uint256 missSlash = Math.min(left, s.missed * uint256(deal.collateral) * _missSlashBps / BPS);
        if (s.failed) {
            s.due = true;
            s.slashed = left;
            // The failure's share is escrowed for a repairer only while the slot can still be refilled.
            if (_refillable(deal, current)) s.repair = (left - missSlash) * _repairBps / BPS;
            s.state = ReplicaState.Failed;
        } else {
            s.due = current >= end;
            s.slashed = missSlash;
            s.released = left - missSlash;
            s.state = s.due ? ReplicaState.Finished : ReplicaState.Proving;
        }
        // A repairer earns the slot's reward once its sector proved (a failure by PoRep returns above).
        if (replica.repairReward > 0) s.payment += replica.repairReward;
    }

    /// @dev The one place a filling's money moves: pays its proven periods (and any repair reward), slashes,
    /// releases, reopens a failed slot. Returns the slashed amount and the challenger's bounty.
    function _settle(
        bytes32 dealId,
        Deal storage deal,
        uint256 replicaIndex,
        Replica storage replica,
        bool forceFail,
        address challenger
    ) private returns (uint256 slashed, uint256 bounty) {
        if (replica.openChallenges != 0) revert MarketChallengesOpen(dealId, replicaIndex, replica.openChallenges);
        Settlement memory s = _settlement(dealId, deal, replicaIndex, replica, forceFail);
        if (!s.due) revert MarketReplicaNotSettleable(dealId, replicaIndex, s.state);
        address lessor = replica.lessor;
        // An expired challenge whose settlement waited for other challenges pays its bounty now.
        if (challenger == address(0)) challenger = _challengeFailures[dealId][replicaIndex].challenger;
        if (challenger != address(0) && s.failed && !s.expired) bounty = s.slashed * _bountyBps / BPS;
        slashed = s.slashed;

        Sector storage sector = _sectors[replica.sector];
        // Every settled piece was counted live when committed.
        unchecked {
            sector.livePieces -= 1;
        }
        replica.paidPeriods += uint32(s.proven);
        replica.collateralLeft = 0;
        if (s.payment > s.proven * deal.pricePerPeriod) replica.repairReward = 0;
        if (s.failed) {
            if (!s.expired) _failedLessors[dealId][lessor] = true;
            replica.status = SlotStatus.OPEN;
            replica.lessor = address(0);
            replica.repairReward += uint128(s.repair);
            delete _challengeFailures[dealId][replicaIndex];
        } else {
            replica.status = SlotStatus.FINISHED;
        }
        emit ReplicaSettled(dealId, replicaIndex, lessor, s.proven, s.missed, s.payment, slashed, s.released, s.failed);
        if (s.payment > 0) _vault.credit(lessor, s.payment);
        if (slashed > 0) {
            _registry.slashStake(lessor, slashed, address(_vault));
            if (bounty > 0) _vault.creditIncoming(challenger, bounty);
            if (s.repair > 0) _vault.escrowIncoming(s.repair);
            // bounty <= bountyBps and repair <= repairBps of the slash, bountyBps + repairBps <= BPS.
            uint256 toClient = slashed - bounty - s.repair;
            if (toClient > 0) _vault.creditIncoming(deal.client, toClient);
        }
        if (s.released > 0) _registry.unlockStake(lessor, s.released);
    }

    function _replicaState(bytes32 dealId, Deal storage deal, uint256 replicaIndex, Replica storage replica)
        private
        view
        returns (ReplicaState)
    {
        uint8 status = replica.status;
        if (status == SlotStatus.OPEN) return ReplicaState.Open;
        if (status == SlotStatus.FINISHED) return ReplicaState.Finished;
        Sector storage sector = _sectors[replica.sector];
        if (sector.status == SlotStatus.COMMITTED) return _porepLate(sector) ? ReplicaState.Failed : ReplicaState.Committed;
        return _settlement(dealId, deal, replicaIndex, replica, false).state;
    }

    /// @dev True while the slot still holds the filling that was challenged, as Proving.
    function _holds(bytes32 dealId, Deal storage deal, uint256 replicaIndex, Replica storage replica, Challenge storage challenge)
        private
        view
        returns (bool)
    {
        return replica.lessor == challenge.lessor && replica.fillBlock == challenge.fillBlock && replica.status == SlotStatus.FILLED
            && _challengeFailures[dealId][replicaIndex].periodPlusOne == 0
            && _replicaState(dealId, deal, replicaIndex, replica) == ReplicaState.Proving;
    }

    // ================================================================== internals: sectors and periods

    function _ownSector(bytes32 sectorId) private view returns (Sector storage sector) {
        sector = _sectors[sectorId];
        if (sector.lessor == address(0)) revert MarketUnknownSector(sectorId);
        if (sector.lessor != msg.sender) revert MarketNotSectorLessor(sectorId, msg.sender);
    }

    function _sectorState(Sector storage sector) private view returns (SectorState) {
        uint8 status = sector.status;
        if (status == SlotStatus.COMMITTED) return _porepLate(sector) ? SectorState.Expired : SectorState.Committed;
        if (status == SlotStatus.PROVING) return SectorState.Proving;
        if (status == SlotStatus.DROPPED) return SectorState.Dropped;
        return SectorState.None;
    }

    function _porepLate(Sector storage sector) private view returns (bool) {
        return block.timestamp > uint256(sector.commitTime) + _porepTimeout
            || block.number > uint256(sector.commitBlock) + BLOCKHASH_WINDOW;
    }

    /// @dev A lessor's proving set changes only while nobody can see this period's challenges yet (its seed
    /// block not mined) or after the lessor proved the period (§12.4): nobody remaps challenges it has seen.
    function _requireSetUnlocked(address lessor, uint256 current) private view {
        if (_counts[lessor] == 0) return;
        uint256 seedBlock = _seeds[current].seedBlock;
        if (seedBlock == 0 || block.number <= seedBlock) return;
        if (_proven[lessor].isSet(current)) return;
        revert MarketProvingSetLocked(lessor, current);
    }

    /// @dev Total proving segments and sectors of a counts word.
    function _totals(uint256 counts) private view returns (uint256 total, uint256 sectors) {
        for (uint256 c; c < SIZE_CLASSES; ++c) {
            uint256 n = (counts >> (c * 16)) & COUNT_MASK;
            total += n << (_minSectorLog + c);
            sectors += n;
        }
    }

    // ================================================================== internals: seeds, challenges, deals

    function _existingDeal(bytes32 dealId) private view returns (Deal storage deal) {
        deal = _deals[dealId];
        if (deal.client == address(0)) revert MarketUnknownDeal(dealId);
    }

    function _openChallenge(bytes32 dealId, uint256 replicaIndex, address challenger)
        private
        view
        returns (Challenge storage challenge)
    {
        challenge = _challenges[dealId][replicaIndex][challenger];
        if (challenge.challenger == address(0)) revert MarketNoChallenge(dealId, replicaIndex, challenger);
    }

    function _closeChallenge(bytes32 dealId, uint256 replicaIndex, address challenger, Replica storage replica) private {
        delete _challenges[dealId][replicaIndex][challenger];
        // Every open challenge was counted when opened.
        unchecked {
            replica.openChallenges -= 1;
        }
    }

    /// @dev The answer's last block: the seed block (openedBlock + 1) plus the window.
    function _challengeDeadline(uint256 openedBlock) private view returns (uint256) {
        return openedBlock + 1 + _challengeWindow;
    }

    /// @dev sha256(abi.encode(blockhash(openedBlock + 1), dealId, replicaIndex, challenger)) (§7.2). Callers
    /// check that the block is readable (challengeWindow <= 256 keeps it so until the deadline).
    function _challengeSeed(uint256 openedBlock, bytes32 dealId, uint256 replicaIndex, address challenger)
        private
        view
        returns (bytes32)
    {
        return sha256(abi.encode(blockhash(openedBlock + 1), dealId, replicaIndex, challenger));
    }

    /// @dev The stored seed of `period`, storing it now if its block is readable; reverts when it cannot be had.
    function _seedForProof(uint256 period) private returns (bytes32 seed) {
        PeriodSeed storage entry = _seeds[period];
        seed = entry.seed;
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = entry.seedBlock;
        if (seedBlock == 0) revert MarketPeriodNotSeeded(period, 0);
        DelayedSeed.Status status = DelayedSeed.status(seedBlock);
        if (status == DelayedSeed.Status.Pending) revert MarketPeriodNotSeeded(period, seedBlock + 1);
        if (status == DelayedSeed.Status.Lost) revert MarketPeriodSeedLost(period, seedBlock);
        seed = _storeSeed(entry, period, seedBlock);
    }

    function _storeSeed(PeriodSeed storage entry, uint256 period, uint256 seedBlock) private returns (bytes32 seed) {
        seed = _periodSeedOf(blockhash(seedBlock), period);
        entry.seed = seed;
        emit PeriodSeeded(period, seed);
    }

    /// @dev seed[p] = sha256(abi.encode(blockhash(seedBlock), p)) (§6.1).
    function _periodSeedOf(bytes32 seedBlockHash, uint256 period) private pure returns (bytes32) {
        return sha256(abi.encode(seedBlockHash, period));
    }

    /// @dev A slot can be (re)filled while at least one whole period remains after the current one.
    function _refillable(Deal storage deal, uint256 current) private view returns (bool) {
        return current + 1 < deal.endPeriod;
    }

    /// @dev The one gate of both client payouts of a deal's escrow (cancelDeal, claimRefund): at most one runs.
    function _markRefunded(bytes32 dealId, Deal storage deal) private {
        if (deal.refunded) revert MarketAlreadyRefunded(dealId);
        deal.refunded = true;
    }
}
