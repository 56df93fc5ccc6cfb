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
import {PeriodBits} from "./PeriodBits.sol";
import {SlotStatus} from "./SlotStatus.sol";

/// @title StorageMarket
/// @notice Deals, replica slots, PoRep, PoSt periods, missed-proof slashing and repair (IStorageMarket,
/// docs/protocol.md §5, §6, §10). Tokens live in the MarketVault; collateral stays in the lessor registry.
contract StorageMarket is IStorageMarket, ReentrancyGuardTransient {
    using PeriodBits for mapping(uint256 => uint256);

    uint256 private constant GIB = 1 << 30;
    uint256 private constant BPS = 10_000;
    /// @dev Largest deal: 1 PiB (segments fit uint48, depth <= 45).
    uint256 private constant MAX_SIZE = 1 << 50;
    uint256 private constant MAX_REPLICAS = 10;
    /// @dev blockhash() only reaches this many blocks back.
    uint256 private constant BLOCKHASH_WINDOW = DelayedSeed.HORIZON;
    /// @dev A miss of period p is reportable until the end of period p + MISS_REPORT_PERIODS (§10.4); the
    /// replica is finishable from then on, so its last period's misses are reportable too.
    uint256 private constant MISS_REPORT_PERIODS = 1;

    /// @dev A period's seed: its seed block (fixed by the first seedPeriod() of the period), then the seed.
    struct PeriodSeed {
        uint64 seedBlock;
        bytes32 seed;
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
    uint256 private immutable _revealFactor;

    mapping(bytes32 dealId => Deal) private _deals;
    mapping(bytes32 dealId => mapping(uint256 replicaIndex => Replica)) private _replicas;
    /// @dev Two bits per (replica slot, period): proven, missed. See PeriodBits.
    mapping(bytes32 dealId => mapping(uint256 key => uint256)) private _periodBits;
    mapping(uint256 period => PeriodSeed) private _seeds;
    mapping(address client => uint256) private _nonces;
    mapping(bytes32 dealId => mapping(uint256 replicaIndex => mapping(address challenger => Challenge))) private _challenges;
    /// @dev Lessors that lost a replica of the deal (misses, expired challenge): they never fill a slot of it again.
    mapping(bytes32 dealId => mapping(address lessor => bool)) private _failedLessors;

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
        _revealFactor = p.revealFactor;
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
        uint256 minSegments = _minSegmentsFor(durationPeriods);
        if (segments < minSegments) revert MarketDealTooSmall(size, minSegments * 32);
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
            dealId,
            msg.sender,
            commD,
            size,
            replicas,
            uint32(startPeriod),
            uint32(endPeriod),
            uint128(pricePerPeriod),
            collateralPerReplica
        );
        _vault.deposit(msg.sender, escrow);
    }

    /// @inheritdoc IStorageMarket
    function topUp(bytes32 dealId, uint32 extraPeriods) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (deal.cancelled) revert MarketDealCancelled(dealId);
        // A lessor agreed to the deal's end when it filled: extending would bind it (and its collateral) to
        // periods it never accepted. A running deal is renewed with a new deal instead.
        if (deal.everFilled) revert MarketDealAlreadyFilled(dealId);
        uint256 current = currentPeriod();
        if (current >= deal.endPeriod) revert MarketDealEnded(dealId, deal.endPeriod, current);
        uint256 endPeriod = uint256(deal.endPeriod) + extraPeriods;
        if (extraPeriods == 0 || endPeriod > type(uint32).max) revert MarketInvalidDuration(extraPeriods);
        // A longer deal publishes more openings: the replica must still be large enough (§2.1).
        uint256 minSegments = _minSegmentsFor(endPeriod - deal.startPeriod);
        if (deal.segments < minSegments) revert MarketDealTooSmall(deal.size, minSegments * 32);
        uint256 amount = uint256(deal.pricePerPeriod) * deal.replicas * extraPeriods;
        uint256 escrow = deal.escrow + amount;
        if (escrow > type(uint128).max) revert MarketInvalidDuration(extraPeriods);
        deal.endPeriod = uint32(endPeriod);
        deal.escrow = uint128(escrow);
        emit DealToppedUp(dealId, msg.sender, extraPeriods, amount, uint32(endPeriod));
        _vault.deposit(msg.sender, amount);
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
        amount = _unspentView(dealId, deal);
        _clearRepairRewards(dealId, deal.replicas);
        emit DealRefunded(dealId, deal.client, amount);
        if (amount > 0) _vault.credit(deal.client, amount);
    }

    // ================================================================== replicas and PoRep

    /// @inheritdoc IStorageMarket
    function fillReplica(bytes32 dealId, uint256 replicaIndex, bytes32 commR) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (deal.cancelled) revert MarketDealCancelled(dealId);
        uint256 current = currentPeriod();
        if (!_refillable(deal, current)) revert MarketDealEnded(dealId, deal.endPeriod, current);
        uint256 replicas = deal.replicas;
        if (replicaIndex >= replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        uint8 status = replica.status;
        if (status != SlotStatus.OPEN && status != SlotStatus.FAILED) {
            revert MarketReplicaNotOpen(dealId, replicaIndex, _replicaState(deal, replica, current));
        }
        if (!_registry.isActiveLessor(msg.sender)) revert MarketLessorNotActive(msg.sender);
        // A lessor never earns a repair reward carved from its own slash (§10.4).
        if (_failedLessors[dealId][msg.sender]) revert MarketLessorFailedDeal(dealId, msg.sender);
        // Sybil rule (§4.1): one identity holds at most one live replica of a deal. Bounded: replicas <= 10.
        for (uint256 j; j < replicas; ++j) {
            Replica storage other = _replicas[dealId][j];
            if (
                other.lessor == msg.sender && (other.status == SlotStatus.COMMITTED || other.status == SlotStatus.PROVING)
            ) revert MarketLessorAlreadyHoldsReplica(dealId, msg.sender, j);
        }
        uint128 collateral = deal.collateral;
        replica.lessor = msg.sender;
        replica.firstPeriod = 0;
        replica.misses = 0;
        replica.status = SlotStatus.COMMITTED;
        replica.commR = commR;
        replica.fillBlock = uint64(block.number);
        replica.fillTime = uint64(block.timestamp);
        replica.collateralLeft = collateral;
        deal.everFilled = true;
        emit ReplicaFilled(dealId, replicaIndex, msg.sender, commR, collateral);
        if (collateral > 0) _registry.lockStake(msg.sender, collateral);
    }

    /// @inheritdoc IStorageMarket
    function answerPoRep(bytes32 dealId, uint256 replicaIndex, bytes32[] calldata proof) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        Replica storage replica = _committedReplica(dealId, deal, replicaIndex);
        uint256 fillBlock = replica.fillBlock;
        if (block.number < fillBlock + 2) revert MarketPoRepSeedNotReady(dealId, replicaIndex, fillBlock + 2);
        uint256 deadline = replica.fillTime + _porepTimeout;
        if (block.timestamp > deadline || block.number > fillBlock + BLOCKHASH_WINDOW) {
            revert MarketPoRepLate(dealId, replicaIndex, deadline, fillBlock + BLOCKHASH_WINDOW);
        }
        address lessor = replica.lessor;
        ProofVerifier.PoRepClaim memory claim = ProofVerifier.PoRepClaim({
            commR: replica.commR,
            commD: deal.commD,
            seed: blockhash(fillBlock + 1),
            replica: ProofMath.replicaId(lessor, dealId, replicaIndex),
            segments: deal.segments,
            depth: deal.depth,
            challenges: _kPoRep,
            sealRounds: _sealRounds
        });
        if (!ProofVerifier.verifyPoRep(claim, proof)) revert MarketInvalidPoRep(dealId, replicaIndex);

        uint256 firstPeriod = Math.max(deal.startPeriod, currentPeriod() + 1);
        uint256 reward = replica.repairReward;
        replica.status = SlotStatus.PROVING;
        replica.firstPeriod = uint32(firstPeriod);
        replica.repairReward = 0;
        emit PoRepAccepted(dealId, replicaIndex, lessor, uint32(firstPeriod), reward);
        if (reward > 0) _vault.credit(lessor, reward);
    }

    /// @inheritdoc IStorageMarket
    function expirePoRep(bytes32 dealId, uint256 replicaIndex) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        Replica storage replica = _committedReplica(dealId, deal, replicaIndex);
        uint256 deadline = replica.fillTime + _porepTimeout;
        uint256 lastBlock = replica.fillBlock + BLOCKHASH_WINDOW;
        if (block.timestamp <= deadline && block.number <= lastBlock) {
            revert MarketPoRepNotExpired(dealId, replicaIndex, deadline, lastBlock);
        }
        address lessor = replica.lessor;
        uint256 left = replica.collateralLeft;
        uint256 slashed = Math.min(left, deal.collateral * _missSlashBps / BPS);
        uint256 bounty = slashed * _bountyBps / BPS;
        replica.lessor = address(0);
        replica.status = SlotStatus.OPEN;
        replica.commR = bytes32(0);
        replica.collateralLeft = 0;
        emit PoRepExpired(dealId, replicaIndex, lessor, slashed, bounty, msg.sender);
        _slash(lessor, slashed, msg.sender, bounty, deal.client, 0);
        // slashed <= left (min above).
        unchecked {
            if (left - slashed > 0) _registry.unlockStake(lessor, left - slashed);
        }
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
    function submitPoSt(uint256 period, bytes32[] calldata dealIds, bytes calldata replicaIndexes, bytes32[] calldata proof)
        external
        nonReentrant
    {
        uint256 current = currentPeriod();
        if (period != current) revert MarketWrongPeriod(period, current);
        bytes32 seed = _seedForProof(period);
        uint256 count = dealIds.length;
        if (count != replicaIndexes.length) revert MarketPoStBatchMismatch(count, replicaIndexes.length);
        if (count == 0) revert MarketEmptyPoSt(period);

        uint256 cursor;
        uint256 payment;
        for (uint256 r; r < count; ++r) {
            uint256 price;
            (cursor, price) = _provePeriod(dealIds[r], uint8(replicaIndexes[r]), period, seed, proof, cursor);
            payment += price;
        }
        if (cursor != proof.length) revert MarketPoStLengthMismatch(cursor, proof.length);
        emit PoStSubmitted(msg.sender, period, count, payment);
        _vault.credit(msg.sender, payment);
    }

    /// @inheritdoc IStorageMarket
    function markProofMissing(bytes32 dealId, uint256 replicaIndex, uint256 period) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        uint256 current = currentPeriod();
        if (replica.status != SlotStatus.PROVING) {
            revert MarketReplicaNotProving(dealId, replicaIndex, _replicaState(deal, replica, current));
        }
        if (period >= current) revert MarketPeriodNotClosed(period, current);
        if (period < replica.firstPeriod || period >= deal.endPeriod) revert MarketPeriodNotDue(dealId, replicaIndex, period);
        // Bounded: a lessor's liability for a period ends, and a watcher cannot save up misses to fail a
        // replica long after the fact.
        if (current > period + MISS_REPORT_PERIODS) revert MarketMissReportClosed(dealId, replicaIndex, period, current);
        mapping(uint256 => uint256) storage bits = _periodBits[dealId];
        (bool proven, bool missed) = bits.get(replicaIndex, period);
        if (proven) revert MarketPeriodAlreadyProven(dealId, replicaIndex, period);
        if (missed) revert MarketMissAlreadyMarked(dealId, replicaIndex, period);
        bits.setMissed(replicaIndex, period);

        address lessor = replica.lessor;
        uint256 misses = replica.misses + 1;
        uint256 left = replica.collateralLeft;
        uint256 slashed = Math.min(left, deal.collateral * _missSlashBps / BPS);
        uint256 bounty = slashed * _bountyBps / BPS;
        // slashed <= left (min above).
        unchecked {
            left -= slashed;
        }
        replica.misses = uint16(misses);
        emit ProofMissed(dealId, replicaIndex, lessor, period, slashed, bounty, msg.sender);
        uint256 repair;
        if (misses >= _maxMisses) {
            repair = _failReplica(dealId, deal, replicaIndex, replica, left, current);
            slashed += left;
        } else {
            replica.collateralLeft = uint128(left);
        }
        _slash(lessor, slashed, msg.sender, bounty, deal.client, repair);
    }

    // ================================================================== on-chain challenges (§7.2)

    /// @inheritdoc IStorageMarket
    function challengeReplica(bytes32 dealId, uint256 replicaIndex) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        ReplicaState state = _replicaState(deal, replica, currentPeriod());
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
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (!_holds(replica, challenge)) revert MarketChallengeVoid(dealId, replicaIndex, lessor);
        uint256 openedBlock = challenge.openedBlock;
        if (block.number < openedBlock + 2) revert MarketChallengeSeedNotReady(dealId, replicaIndex, openedBlock + 2);
        uint256 deadline = _challengeDeadline(openedBlock);
        if (block.number > deadline) revert MarketChallengeLate(dealId, replicaIndex, deadline);
        Deal storage deal = _deals[dealId];
        bool ok = ProofVerifier.verifyChallenge(
            replica.commR,
            _challengeSeed(openedBlock, dealId, replicaIndex, challenger),
            ProofMath.replicaId(lessor, dealId, replicaIndex),
            deal.segments,
            deal.depth,
            _kPoSt,
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
        Replica storage replica = _replicas[dealId][replicaIndex];
        bool held = _holds(replica, challenge);
        if (held && block.number <= deadline) revert MarketChallengeNotExpired(dealId, replicaIndex, deadline);
        _closeChallenge(dealId, replicaIndex, challenger, replica);
        uint256 bond = _challengeBond;
        if (!held) {
            emit ChallengeVoided(dealId, replicaIndex, challenger, bond);
        } else {
            // The lessor could not open its own sealed replica in time: the replica fails outright.
            Deal storage deal = _deals[dealId];
            uint256 slashed = replica.collateralLeft;
            uint256 bounty = slashed * _bountyBps / BPS;
            emit ChallengeExpired(dealId, replicaIndex, lessor, challenger, slashed, bounty);
            uint256 repair = _failReplica(dealId, deal, replicaIndex, replica, slashed, currentPeriod());
            _slash(lessor, slashed, challenger, bounty, deal.client, repair);
        }
        if (bond > 0) _vault.credit(challenger, bond);
    }

    /// @inheritdoc IStorageMarket
    function finishReplica(bytes32 dealId, uint256 replicaIndex) external nonReentrant {
        Deal storage deal = _existingDeal(dealId);
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        Replica storage replica = _replicas[dealId][replicaIndex];
        uint256 current = currentPeriod();
        if (replica.status != SlotStatus.PROVING) {
            revert MarketReplicaNotProving(dealId, replicaIndex, _replicaState(deal, replica, current));
        }
        // The report window of the last period's misses (§10.4) must close first.
        uint256 finishPeriod = uint256(deal.endPeriod) + MISS_REPORT_PERIODS;
        if (current < finishPeriod) revert MarketReplicaNotFinishable(dealId, replicaIndex, finishPeriod);
        if (replica.openChallenges != 0) revert MarketChallengesOpen(dealId, replicaIndex, replica.openChallenges);
        address lessor = replica.lessor;
        uint256 amount = replica.collateralLeft;
        replica.status = SlotStatus.FINISHED;
        replica.collateralLeft = 0;
        emit ReplicaFinished(dealId, replicaIndex, lessor, amount);
        if (amount > 0) _registry.unlockStake(lessor, amount);
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
            revealFactor: uint16(_revealFactor)
        });
    }

    function startTime() external view returns (uint256) {
        return _startTime;
    }

    function currentPeriod() public view returns (uint256) {
        return (block.timestamp - _startTime) / _periodLength;
    }

    function periodSeed(uint256 period) external view returns (bytes32) {
        PeriodSeed storage entry = _seeds[period];
        if (entry.seed != bytes32(0)) return entry.seed;
        bytes32 hash = DelayedSeed.hashOf(entry.seedBlock);
        return hash == bytes32(0) || entry.seedBlock == 0 ? bytes32(0) : _periodSeedOf(hash, period);
    }

    function periodSeedBlock(uint256 period) external view returns (uint256) {
        return _seeds[period].seedBlock;
    }

    function minimumSize(uint256 durationPeriods) external view returns (uint256) {
        return _minSegmentsFor(durationPeriods) * 32;
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
            uint8 status = _replicas[dealId][j].status;
            if (status == SlotStatus.PROVING || status == SlotStatus.FINISHED) {
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
        return _replicaState(deal, _replicas[dealId][replicaIndex], currentPeriod());
    }

    function replicaIdOf(bytes32 dealId, uint256 replicaIndex) external view returns (bytes32) {
        return ProofMath.replicaId(_replicas[dealId][replicaIndex].lessor, dealId, replicaIndex);
    }

    function porepSeed(bytes32 dealId, uint256 replicaIndex) external view returns (bytes32) {
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.COMMITTED) return bytes32(0);
        return blockhash(uint256(replica.fillBlock) + 1);
    }

    function isPeriodProven(bytes32 dealId, uint256 replicaIndex, uint256 period) external view returns (bool proven) {
        (proven,) = _periodBits[dealId].get(replicaIndex, period);
    }

    function isPeriodMarkedMissed(bytes32 dealId, uint256 replicaIndex, uint256 period) external view returns (bool missed) {
        (, missed) = _periodBits[dealId].get(replicaIndex, period);
    }

    function refundable(bytes32 dealId) external view returns (uint256) {
        Deal storage deal = _existingDeal(dealId);
        if (deal.cancelled || deal.refunded || currentPeriod() < deal.endPeriod) return 0;
        return _unspentView(dealId, deal);
    }

    function servingLessor(bytes32 dealId, uint256 replicaIndex) external view returns (address) {
        Replica storage replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.PROVING || currentPeriod() >= _deals[dealId].endPeriod) return address(0);
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

    // ================================================================== internals

    function _existingDeal(bytes32 dealId) private view returns (Deal storage deal) {
        deal = _deals[dealId];
        if (deal.client == address(0)) revert MarketUnknownDeal(dealId);
    }

    function _committedReplica(bytes32 dealId, Deal storage deal, uint256 replicaIndex)
        private
        view
        returns (Replica storage replica)
    {
        if (replicaIndex >= deal.replicas) revert MarketInvalidReplicaIndex(dealId, replicaIndex, deal.replicas);
        replica = _replicas[dealId][replicaIndex];
        if (replica.status != SlotStatus.COMMITTED) {
            revert MarketReplicaNotCommitted(dealId, replicaIndex, _replicaState(deal, replica, currentPeriod()));
        }
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

    /// @dev max(minSegments, revealFactor · kPoSt · durationPeriods) (§2.1).
    function _minSegmentsFor(uint256 durationPeriods) private view returns (uint256) {
        return Math.max(_minSegments, _revealFactor * _kPoSt * durationPeriods);
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

    /// @dev True while the slot still holds the filling that was challenged (same lessor, same fill, Proving).
    function _holds(Replica storage replica, Challenge storage challenge) private view returns (bool) {
        return replica.lessor == challenge.lessor && replica.fillBlock == challenge.fillBlock && replica.status == SlotStatus.PROVING;
    }

    /// @dev The replica fails (too many misses, or an on-chain challenge left unanswered): all `amount` still
    /// locked is slashed by the caller; `repairBps` of it becomes the slot's repair reward while the slot can
    /// still be refilled, and goes to the client with the rest otherwise (nobody could ever earn it, and a
    /// refund may have been paid already). The failed lessor may not fill a slot of this deal again.
    function _failReplica(
        bytes32 dealId,
        Deal storage deal,
        uint256 replicaIndex,
        Replica storage replica,
        uint256 amount,
        uint256 current
    ) private returns (uint256 repair) {
        if (_refillable(deal, current)) repair = amount * _repairBps / BPS;
        _failedLessors[dealId][replica.lessor] = true;
        replica.status = SlotStatus.FAILED;
        replica.collateralLeft = 0;
        replica.repairReward += uint128(repair);
        emit ReplicaFailed(dealId, replicaIndex, replica.lessor, amount, repair);
    }

    /// @dev Verifies and records one replica of a PoSt submission; O(1) storage work. Returns the cursor past
    /// its openings and the price earned.
    function _provePeriod(
        bytes32 dealId,
        uint256 replicaIndex,
        uint256 period,
        bytes32 seed,
        bytes32[] calldata proof,
        uint256 cursor
    ) private returns (uint256 next, uint256 price) {
        Replica storage replica = _replicas[dealId][replicaIndex];
        // An unknown deal or slot has no lessor, so this also rejects those.
        if (replica.lessor != msg.sender) revert MarketNotReplicaLessor(dealId, replicaIndex, msg.sender);
        Deal storage deal = _deals[dealId];
        if (replica.status != SlotStatus.PROVING) {
            revert MarketReplicaNotProving(dealId, replicaIndex, _replicaState(deal, replica, period));
        }
        if (period < replica.firstPeriod || period >= deal.endPeriod) revert MarketPeriodNotDue(dealId, replicaIndex, period);
        if (!_periodBits[dealId].setProven(replicaIndex, period)) revert MarketPeriodAlreadyProven(dealId, replicaIndex, period);
        replica.paidPeriods += 1;
        bool ok;
        (ok, next) = ProofVerifier.verifyPoSt(
            replica.commR,
            seed,
            ProofMath.replicaId(msg.sender, dealId, replicaIndex),
            deal.segments,
            deal.depth,
            _kPoSt,
            proof,
            cursor
        );
        if (!ok) revert MarketInvalidPoSt(dealId, replicaIndex);
        emit PoStAccepted(dealId, replicaIndex, period);
        price = deal.pricePerPeriod;
    }

    /// @dev Slashes `amount` of `lessor`'s locked stake into the vault: `bounty` to `reporter`, `repair` to escrow
    /// (the slot's repair reward), the rest to `client`.
    function _slash(address lessor, uint256 amount, address reporter, uint256 bounty, address client, uint256 repair)
        private
    {
        if (amount == 0) return;
        _registry.slashStake(lessor, amount, address(_vault));
        if (bounty > 0) _vault.creditIncoming(reporter, bounty);
        if (repair > 0) _vault.escrowIncoming(repair);
        // bounty <= slashed share and repair <= failure share, both parts of amount.
        uint256 toClient = amount - bounty - repair;
        if (toClient > 0) _vault.creditIncoming(client, toClient);
    }

    /// @dev Zeroes the slots' unclaimed repair rewards (they are refunded with the rest). Bounded: replicas <= 10.
    function _clearRepairRewards(bytes32 dealId, uint256 replicas) private {
        for (uint256 j; j < replicas; ++j) {
            Replica storage replica = _replicas[dealId][j];
            if (replica.repairReward > 0) replica.repairReward = 0;
        }
    }

    /// @dev The escrow not paid to lessors plus unclaimed repair rewards.
    function _unspentView(bytes32 dealId, Deal storage deal) private view returns (uint256 amount) {
        uint256 paidPeriods;
        uint256 rewards;
        // Bounded: replicas <= 10.
        for (uint256 j; j < deal.replicas; ++j) {
            Replica storage replica = _replicas[dealId][j];
            paidPeriods += replica.paidPeriods;
            rewards += replica.repairReward;
        }
        amount = deal.escrow - paidPeriods * deal.pricePerPeriod + rewards;
    }

    function _replicaState(Deal storage deal, Replica storage replica, uint256 current)
        private
        view
        returns (ReplicaState)
    {
        uint8 status = replica.status;
        if (status == SlotStatus.OPEN) return ReplicaState.Open;
        if (status == SlotStatus.COMMITTED) {
            bool late = block.timestamp > replica.fillTime + _porepTimeout
                || block.number > uint256(replica.fillBlock) + BLOCKHASH_WINDOW;
            return late ? ReplicaState.Failed : ReplicaState.Committed;
        }
        if (status == SlotStatus.PROVING) return current >= deal.endPeriod ? ReplicaState.Finished : ReplicaState.Proving;
        if (status == SlotStatus.FAILED) return ReplicaState.Failed;
        return ReplicaState.Finished;
    }
}
