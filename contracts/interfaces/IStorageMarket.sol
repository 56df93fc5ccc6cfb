// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IStorageMarket
/// @notice Storage deals proven in sectors (docs/protocol.md §10, §12): a client escrows the whole payment for
/// `replicas` sealed copies of a file (commD, size) over `durationPeriods` proving periods. A lessor packs the
/// slots it takes (pieces) into a sector it seals once (one replicaId, one commR, one PoRep), locking each
/// piece's collateral, and proves all its sectors with one PoSt per period whose challenges fall on its
/// bytes in proportion to size. A piece is paid, slashed for missed periods or failed when it is settled
/// (settleReplica), from the lessor's proven periods: misses are derived from time, nobody reports them.
/// Payments are pull payments in the MarketVault (approve the vault, not the market, for deposits).
interface IStorageMarket {
    // ------------------------------------------------------------------ types

    /// @notice Deploy-time parameters (docs/protocol.md §9).
    struct Params {
        /// Seconds per proving period.
        uint64 periodLength;
        /// PoSt challenges per lessor per period, drawn over all its proving sectors in proportion to size;
        /// also the segments an on-chain challenge opens in one piece.
        uint16 kPoSt;
        /// PoRep challenges per sector.
        uint16 kPoRep;
        /// Sealing rounds r (§4.2).
        uint16 sealRounds;
        /// Seconds a lessor has to answer a sector's PoRep after committing it.
        uint64 porepTimeout;
        /// Missed periods after which a piece fails.
        uint16 maxMisses;
        /// Share of a piece's collateral slashed per missed period and for an expired PoRep, basis points.
        uint16 missSlashBps;
        /// Share of an expired challenge's slash paid to the challenger, basis points.
        uint16 bountyBps;
        /// Share of a failed piece's remaining collateral kept as the slot's repair reward, basis points.
        uint16 repairBps;
        /// Minimum collateral per GiB of piece (token units); a deal may ask for more.
        uint128 collateralPerGiB;
        /// Blocks a lessor has to answer an on-chain challenge, counted from the challenge's block (§7.2).
        uint16 challengeWindow;
        /// Tokens a challenger escrows per on-chain challenge: paid to the lessor if it answers in time,
        /// returned to the challenger otherwise.
        uint128 challengeBond;
        /// Smallest deal, in 32-byte segments: a smaller file is padded by its client (§2.1).
        uint48 minSegments;
        /// Smallest sector, log2 of its segments (§12.2).
        uint8 minSectorLog;
        /// Largest sector, log2 of its segments; maxSectorLog - minSectorLog < 16.
        uint8 maxSectorLog;
    }

    enum DealState {
        /// Running, no replica proving yet.
        Pending,
        /// Running, at least one replica proving.
        Active,
        /// Ended with at least one replica proving at the end.
        Finished,
        /// Ended with no replica proving (data lost or never stored).
        Failed,
        /// Cancelled by the client before any fill.
        Cancelled
    }

    enum ReplicaState {
        /// Never filled, or reopened after settlement of a failure: any active lessor may put it in a sector.
        Open,
        /// In a committed sector whose PoRep is pending and not late.
        Committed,
        /// Its sector is proving; the piece's periods are proven by its lessor's PoSts until the deal ends.
        Proving,
        /// Lost (sector PoRep late, maxMisses missed periods, sector dropped, challenge expired): settleReplica
        /// settles it and reopens the slot for repair.
        Failed,
        /// The deal ended while the piece was proving (settled or settleable).
        Finished
    }

    enum SectorState {
        /// No such sector.
        None,
        /// Committed, PoRep pending and not late.
        Committed,
        /// PoRep accepted: in its lessor's proving set.
        Proving,
        /// PoRep late: its pieces failed.
        Expired,
        /// Given up by its lessor: out of the proving set; its pieces still running failed.
        Dropped
    }

    /// @notice A deal as stored (field order packs what a proof reads into one slot).
    struct Deal {
        address client;
        uint8 replicas;
        bool cancelled;
        bool refunded;
        bool everFilled;
        bytes32 commD;
        uint48 segments;
        uint8 depth;
        uint32 endPeriod;
        /// Payment per replica per proven period.
        uint128 pricePerPeriod;
        uint64 size;
        uint32 startPeriod;
        /// Collateral each replica's lessor locks.
        uint128 collateral;
        /// Everything the client (and top-ups) put in.
        uint128 escrow;
    }

    /// @notice One replica slot as stored: a piece of a sector while filled.
    struct Replica {
        address lessor;
        /// SlotStatus: open, filled, finished.
        uint8 status;
        /// On-chain challenges of this slot not yet answered, expired or voided (settlement waits for none).
        uint16 openChallenges;
        /// Periods paid for this slot, across lessors.
        uint32 paidPeriods;
        /// Periods already paid to the current filling (claimEarnings before settlement).
        uint32 claimedPeriods;
        /// The sector holding the piece (sha256(abi.encode(lessor, sectorNumber))).
        bytes32 sector;
        /// The piece's first segment in the sector (a multiple of 2^depth).
        uint64 offset;
        /// Block of the sector's commit (a challenge never reaches a later filling).
        uint64 fillBlock;
        /// Collateral still locked in the registry for the current lessor.
        uint128 collateralLeft;
        /// Reward escrowed for the next lessor that fills the slot and proves its sector.
        uint128 repairReward;
    }

    /// @notice A sector as stored.
    struct Sector {
        address lessor;
        /// log2 of its segments.
        uint8 log2Segments;
        /// SectorStatus (the public SectorState adds lateness).
        uint8 status;
        /// First period its pieces are proven (PoRep period + 1); zero before the PoRep.
        uint32 firstPeriod;
        /// Period it was dropped in (pieces running then failed at it).
        uint32 dropPeriod;
        /// Pieces not settled yet.
        uint16 livePieces;
        bytes32 commR;
        /// Recomputed on commit from its pieces' commDs (§12.2).
        bytes32 commD;
        uint64 commitBlock;
        uint64 commitTime;
        /// Its position in the lessor's proving array of its size.
        uint32 index;
        /// Pieces committed into it.
        uint16 pieces;
    }

    /// @notice An open on-chain challenge of one replica by one challenger (docs/protocol.md §7.2). Zero
    /// challenger: none open. Each challenger has its own, so nobody can keep a replica challenged to shut others out.
    struct Challenge {
        address challenger;
        /// Block the challenge was opened in. Its seed is fixed by block openedBlock + 1; the answer is due by
        /// block openedBlock + 1 + challengeWindow.
        uint64 openedBlock;
        /// The lessor challenged (the slot may change hands before the challenge is settled).
        address lessor;
        /// The challenged filling of the slot (its fillBlock).
        uint64 fillBlock;
        /// sha256(abi.encode(blockhash(openedBlock + 1), dealId, replicaIndex, challenger)): never stored, filled
        /// in by getChallenge once block openedBlock + 1 exists (zero before).
        bytes32 seed;
    }

    // ------------------------------------------------------------------ events

    event DealCreated(
        bytes32 indexed dealId,
        address indexed client,
        bytes32 commD,
        uint64 size,
        uint8 replicas,
        uint32 startPeriod,
        uint32 endPeriod,
        uint128 pricePerPeriod,
        uint128 collateral
    );
    event DealCancelled(bytes32 indexed dealId, uint256 refund);
    event DealRefunded(bytes32 indexed dealId, address indexed client, uint256 amount);
    event SectorCommitted(
        bytes32 indexed sector, address indexed lessor, uint256 sectorNumber, uint8 log2Segments, bytes32 commR, bytes32 commD, uint256 pieces
    );
    event ReplicaFilled(
        bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, bytes32 indexed sector, uint64 offset, uint256 collateral
    );
    event PoRepAccepted(bytes32 indexed sector, address indexed lessor, uint32 firstPeriod);
    event SectorDropped(bytes32 indexed sector, address indexed lessor, uint32 period, uint256 livePieces);
    /// @notice The first seedPeriod() call of `period` fixed its seed block: seed = H(abi(blockhash(seedBlock), period)).
    event PeriodSeedRequested(uint256 indexed period, uint256 seedBlock);
    event PeriodSeeded(uint256 indexed period, bytes32 seed);
    /// @notice `lessor` proved `period` for its `sectors` proving sectors (`bytesProven` bytes) in one submission.
    event PoStSubmitted(address indexed lessor, uint256 indexed period, uint256 sectors, uint256 bytesProven);
    /// @notice A piece's lessor was paid and its collateral settled. `failed`: the slot reopened for repair.
    event ReplicaSettled(
        bytes32 indexed dealId,
        uint256 replicaIndex,
        address indexed lessor,
        uint256 provenPeriods,
        uint256 missedPeriods,
        uint256 payment,
        uint256 slashed,
        uint256 released,
        bool failed
    );
    event EarningsClaimed(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint256 periods, uint256 amount);
    event ReplicaChallenged(
        bytes32 indexed dealId,
        uint256 replicaIndex,
        address indexed lessor,
        address indexed challenger,
        uint256 seedBlock,
        uint256 deadlineBlock,
        uint256 bond
    );
    event ChallengeAnswered(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, address indexed challenger, uint256 bond);
    /// @notice The lessor did not answer in time: the piece failed and was settled, `bounty` to the challenger.
    event ChallengeExpired(
        bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, address indexed challenger, uint256 slashed, uint256 bounty
    );
    /// @notice The challenged lessor lost the slot otherwise before answering; the bond went back.
    event ChallengeVoided(bytes32 indexed dealId, uint256 replicaIndex, address indexed challenger, uint256 bond);

    // ------------------------------------------------------------------ errors

    /// @param name The deploy parameter out of range.
    error MarketInvalidParameter(string name);
    /// @param dealId No deal has this id.
    error MarketUnknownDeal(bytes32 dealId);
    /// @param replicas Asked replica count (1..10).
    error MarketInvalidReplicaCount(uint256 replicas);
    /// @param size Asked size in bytes (1 .. 32 · 2^maxSectorLog: a piece fits the largest sector).
    error MarketInvalidSize(uint256 size);
    /// @param size Asked size in bytes.
    /// @param minimumSize Smallest deal (minSegments · 32): pad the file to it.
    error MarketDealTooSmall(uint256 size, uint256 minimumSize);
    /// @param periods Asked duration or extension in periods.
    error MarketInvalidDuration(uint256 periods);
    /// @param pricePerGiBPerPeriod Asked price (zero, or an escrow above 2^128).
    error MarketInvalidPrice(uint256 pricePerGiBPerPeriod);
    /// @param collateral Offered collateral per replica.
    /// @param minimum ceil(size · collateralPerGiB / 2^30).
    error MarketCollateralTooLow(uint256 collateral, uint256 minimum);
    /// @param dealId The deal.
    /// @param caller Who called (not the client).
    error MarketNotDealClient(bytes32 dealId, address caller);
    /// @param dealId A deal some slot of which was filled once.
    error MarketDealAlreadyFilled(bytes32 dealId);
    /// @param dealId A cancelled deal.
    error MarketDealCancelled(bytes32 dealId);
    /// @param dealId The deal.
    /// @param endPeriod Its end.
    /// @param currentPeriod Now.
    error MarketDealEnded(bytes32 dealId, uint256 endPeriod, uint256 currentPeriod);
    /// @param dealId The deal.
    /// @param endPeriod Its end.
    /// @param currentPeriod Now.
    error MarketDealNotEnded(bytes32 dealId, uint256 endPeriod, uint256 currentPeriod);
    /// @param dealId A deal whose escrow went back to its client already (refund or cancel).
    error MarketAlreadyRefunded(bytes32 dealId);
    /// @param dealId The deal.
    /// @param replicaIndex Asked slot.
    /// @param replicas The deal's slot count.
    error MarketInvalidReplicaIndex(bytes32 dealId, uint256 replicaIndex, uint256 replicas);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param state Its state (not Open: a Failed slot is settled first, settleReplica).
    error MarketReplicaNotOpen(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param lessor Not an active registry lessor.
    error MarketLessorNotActive(address lessor);
    /// @param dealId The deal.
    /// @param lessor Holds a live replica of it already.
    /// @param heldIndex That replica's slot.
    error MarketLessorAlreadyHoldsReplica(bytes32 dealId, address lessor, uint256 heldIndex);
    /// @param dealId The deal.
    /// @param lessor Lost a replica of this deal before (misses, a drop or an expired challenge): never again a slot of it.
    error MarketLessorFailedDeal(bytes32 dealId, address lessor);
    /// @param log2Segments Asked sector size, outside [minSectorLog, maxSectorLog].
    error MarketInvalidSectorSize(uint256 log2Segments);
    /// @param sector Committed already (a lessor's sector numbers are used once).
    error MarketSectorExists(bytes32 sector);
    /// @param dealCount dealIds.length.
    /// @param indexCount replicaIndexes.length.
    error MarketPieceListMismatch(uint256 dealCount, uint256 indexCount);
    /// @param position The piece larger than the one before it (pieces go in non-increasing size).
    error MarketPiecesOutOfOrder(uint256 position);
    /// @param needed Segments the pieces take.
    /// @param capacity The sector's segments.
    error MarketSectorOverfull(uint256 needed, uint256 capacity);
    /// @param sector No such sector.
    error MarketUnknownSector(bytes32 sector);
    /// @param sector The sector.
    /// @param caller Not its lessor.
    error MarketNotSectorLessor(bytes32 sector, address caller);
    /// @param sector The sector.
    /// @param state Its state (not what the call needs).
    error MarketSectorWrongState(bytes32 sector, SectorState state);
    /// @param sector The sector.
    /// @param readyBlock First block that can answer (commitBlock + 2).
    error MarketPoRepSeedNotReady(bytes32 sector, uint256 readyBlock);
    /// @param sector The sector whose PoRep failed.
    error MarketInvalidPoRep(bytes32 sector);
    /// @param lessor The lessor: its proving set changes only before the current period's seed is readable or
    /// after it proved the period (§12.4), so nobody remaps challenges it has seen.
    /// @param period The current period.
    error MarketProvingSetLocked(address lessor, uint256 period);
    /// @param lessor The lessor.
    /// @param log2Segments A size it already proves 65,535 sectors of.
    error MarketTooManySectors(address lessor, uint256 log2Segments);
    /// @param period Asked period.
    /// @param currentPeriod Now.
    error MarketWrongPeriod(uint256 period, uint256 currentPeriod);
    /// @param period The period.
    /// @param readyBlock First block in which its seed can be used; zero: nobody called seedPeriod() yet.
    error MarketPeriodNotSeeded(uint256 period, uint256 readyBlock);
    /// @param period The period: nobody stored its seed while blockhash(seedBlock) was readable, so it can no
    /// longer be proven (its pieces miss it).
    /// @param seedBlock The block whose hash was the seed.
    error MarketPeriodSeedLost(uint256 period, uint256 seedBlock);
    /// @param lessor Has no proving sector.
    error MarketNothingToProve(address lessor);
    /// @param lessor The lessor.
    /// @param period Proven already.
    error MarketPeriodAlreadyProven(address lessor, uint256 period);
    /// @param lessor The lessor.
    /// @param period The period.
    /// @param challenge The first challenge whose opening failed.
    error MarketInvalidPoSt(address lessor, uint256 period, uint256 challenge);
    /// @param used Words the challenges needed.
    /// @param length Words sent.
    error MarketPoStLengthMismatch(uint256 used, uint256 length);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param state Its state (not Proving).
    error MarketReplicaNotProving(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param dealId The deal.
    /// @param replicaIndex The slot: still proving a running deal, or not filled.
    /// @param state Its state.
    error MarketReplicaNotSettleable(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param openChallenges Challenges of it still open (answer, expire or void them first).
    error MarketChallengesOpen(bytes32 dealId, uint256 replicaIndex, uint256 openChallenges);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param challenger Has an open challenge of it already.
    /// @param deadlineBlock That challenge's deadline.
    error MarketChallengeOpen(bytes32 dealId, uint256 replicaIndex, address challenger, uint256 deadlineBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param challenger Has no open challenge of it.
    error MarketNoChallenge(bytes32 dealId, uint256 replicaIndex, address challenger);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param readyBlock First block that can answer (openedBlock + 2).
    error MarketChallengeSeedNotReady(bytes32 dealId, uint256 replicaIndex, uint256 readyBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param deadlineBlock Passed.
    error MarketChallengeLate(bytes32 dealId, uint256 replicaIndex, uint256 deadlineBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param deadlineBlock Not passed yet.
    error MarketChallengeNotExpired(bytes32 dealId, uint256 replicaIndex, uint256 deadlineBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param challengedLessor No longer holds the challenged filling as Proving.
    error MarketChallengeVoid(bytes32 dealId, uint256 replicaIndex, address challengedLessor);
    /// @param dealId The deal.
    /// @param replicaIndex The slot whose answer failed.
    error MarketInvalidChallengeAnswer(bytes32 dealId, uint256 replicaIndex);

    // ------------------------------------------------------------------ deals

    /// @notice Creates a deal and escrows `replicas * durationPeriods * pricePerPeriod` from the caller, where
    /// pricePerPeriod = ceil(size * pricePerGiBPerPeriod / 2^30). The deal runs from the next period for
    /// `durationPeriods` periods. dealId = sha256(abi.encode(caller, nonce)). At least minSegments segments.
    /// @param collateralPerReplica What each lessor must lock; at least ceil(size * collateralPerGiB / 2^30).
    function createDeal(
        bytes32 commD,
        uint64 size,
        uint8 replicas,
        uint32 durationPeriods,
        uint128 pricePerGiBPerPeriod,
        uint128 collateralPerReplica
    ) external returns (bytes32 dealId);

    /// @notice The client cancels a deal no replica was ever filled for; the whole escrow is refunded. Refused once
    /// the escrow went back by claimRefund (the two are the only client payouts of an escrow, and exclusive).
    function cancelDeal(bytes32 dealId) external;

    /// @notice After the deal ends: settles every filled slot, then credits the client the escrow not paid to
    /// lessors (unfilled, lost or missed periods) plus unclaimed repair rewards. Anyone may call, once.
    function claimRefund(bytes32 dealId) external returns (uint256 amount);

    // ------------------------------------------------------------------ sectors and PoRep

    /// @notice The caller (an active lessor) commits sector sha256(abi.encode(caller, sectorNumber)) of
    /// 2^log2Segments segments, sealed to `commR`, holding the pieces (dealIds[i], uint8(replicaIndexes[i])) in
    /// non-increasing size, each at the next offset (aligned to its size); the rest is zeros. The sector's commD
    /// is recomputed from the pieces' commDs (§12.2). Each slot must be Open and refillable; each piece's
    /// collateral is locked. No pieces: a capacity sector (§12.3). The PoRep seed is blockhash(this block + 1).
    function commitSector(
        uint256 sectorNumber,
        uint8 log2Segments,
        bytes32 commR,
        bytes32[] calldata dealIds,
        bytes calldata replicaIndexes
    ) external returns (bytes32 sector);

    /// @notice Answers the sector's PoRep (docs/protocol.md §5; layout in ProofVerifier.verifyPoRep), from block
    /// commitBlock + 2 until commitTime + porepTimeout and block commitBlock + 256, while the lessor's proving
    /// set may change (§12.4). The sector joins the lessor's proving set; its pieces prove from the next period.
    function answerPoRep(bytes32 sector, bytes32[] calldata proof) external;

    /// @notice The lessor gives a proving sector up (while its proving set may change): it leaves the proving
    /// set; its pieces whose deals still run fail at this period (settleReplica slashes them in full). A
    /// sector without running pieces (capacity, or all ended) is dropped without penalty.
    function dropSector(bytes32 sector) external;

    // ------------------------------------------------------------------ proving periods

    /// @notice The current period's seed (docs/protocol.md §6.1). The first call of a period fixes its seed block
    /// (this block + 1) and returns zero; a call once that block is mined (and within 256 blocks of it) stores
    /// seed = sha256(abi.encode(blockhash(seedBlock), period)) and returns it. submitPoSt stores it as well.
    function seedPeriod() external returns (bytes32 seed);

    /// @notice Proves every proving sector of the caller for the current `period` in one transaction: for
    /// j < kPoSt, `proof` holds the opening (segment + log2 siblings) of challenge j, located by ProofMath.postDraw
    /// and ProofMath.postLocate over the caller's proving counts and provingSectorAt.
    function submitPoSt(uint256 period, bytes32[] calldata proof) external;

    /// @notice Settles a filled slot (anyone): once its deal ended, or once it failed (sector PoRep late,
    /// maxMisses unproven periods, sector dropped). Pays the lessor its proven periods, slashes missSlashBps of
    /// the collateral per missed period (to the client) and, on failure, everything left (repairBps of it to
    /// the slot's repair reward while the slot can be refilled, the rest to the client), releases the rest and
    /// reopens a failed slot. Refused while a challenge of the slot is open.
    function settleReplica(bytes32 dealId, uint256 replicaIndex) external;

    /// @notice The piece's lessor is paid now for the periods it proved so far and was not paid for yet (a running
    /// piece; settleReplica pays the rest). Anyone may call; the payment goes to the lessor.
    function claimEarnings(bytes32 dealId, uint256 replicaIndex) external returns (uint256 amount);

    // ------------------------------------------------------------------ on-chain challenges (§7.2)

    /// @notice Anyone challenges a Proving replica: its seed is fixed by the next block's hash, and its lessor must
    /// open kPoSt stratified segments of the piece in its sealed sector (ProofVerifier.verifyChallenge) from block
    /// `block.number + 2` to `block.number + 1 + challengeWindow`. The caller escrows challengeBond in the vault.
    function challengeReplica(bytes32 dealId, uint256 replicaIndex) external;

    /// @notice Answers `challenger`'s open challenge: for j < kPoSt the opening of sector segment
    /// offset + ProofMath.spotChallenge(seed, sector, j, kPoSt, segments) (segment + log2 siblings). The bond is
    /// credited to the lessor.
    function answerChallenge(bytes32 dealId, uint256 replicaIndex, address challenger, bytes32[] calldata proof) external;

    /// @notice Settles an unanswered challenge after its window: the piece fails and is settled at once, its
    /// whole remaining collateral slashed (bountyBps to the challenger); the bond returns to the challenger. If
    /// the challenged lessor no longer holds the piece as Proving, the challenge is voided and the bond returned.
    function expireChallenge(bytes32 dealId, uint256 replicaIndex, address challenger) external;

    // ------------------------------------------------------------------ views

    function params() external view returns (Params memory);
    function startTime() external view returns (uint256);
    function currentPeriod() external view returns (uint256);
    /// @notice The period's seed: stored, or computed while blockhash(seedBlock) is readable; zero otherwise.
    function periodSeed(uint256 period) external view returns (bytes32);
    /// @notice The block whose hash seeds `period` (zero until seedPeriod() is first called in it).
    function periodSeedBlock(uint256 period) external view returns (uint256);
    function getDeal(bytes32 dealId) external view returns (Deal memory);
    function getReplica(bytes32 dealId, uint256 replicaIndex) external view returns (Replica memory);
    function dealState(bytes32 dealId) external view returns (DealState);
    function replicaState(bytes32 dealId, uint256 replicaIndex) external view returns (ReplicaState);
    function getSector(bytes32 sector) external view returns (Sector memory);
    function sectorState(bytes32 sector) external view returns (SectorState);
    /// @notice The PoRep seed blockhash(commitBlock + 1), zero while not available.
    function porepSeed(bytes32 sector) external view returns (bytes32);
    /// @notice The lessor's proving sectors of each size: count of 2^(minSectorLog + c) sectors at bits 16c..16c+15.
    function provingCounts(address lessor) external view returns (uint256);
    /// @notice The lessor's `index`-th proving sector of 2^log2Segments segments.
    function provingSectorAt(address lessor, uint8 log2Segments, uint256 index) external view returns (bytes32);
    function isPeriodProven(address lessor, uint256 period) external view returns (bool);
    /// @notice Lessor of a replica currently in the Proving state, zero otherwise (used by the download market).
    function servingLessor(bytes32 dealId, uint256 replicaIndex) external view returns (address);
    /// @notice `challenger`'s open challenge of the replica (zero challenger when none), with its seed once readable.
    function getChallenge(bytes32 dealId, uint256 replicaIndex, address challenger) external view returns (Challenge memory);
    function vault() external view returns (address);
    function registry() external view returns (address);
}
