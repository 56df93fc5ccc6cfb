// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IStorageMarket
/// @notice Storage deals (docs/protocol.md §10): a client escrows the whole payment for `replicas` sealed copies
/// of a file (commD, size) over `durationPeriods` proving periods; lessors fill replica slots with collateral
/// locked from their registry stake, prove each replica once (PoRep, §5) and then every period (PoSt, §6),
/// and are paid per proven period from the escrow. Anyone may report a missed period for a bounty; after
/// `maxMisses` the replica fails and the slot reopens for repair by another lessor.
/// Payments are pull payments in the MarketVault (approve the vault, not the market, for deposits).
interface IStorageMarket {
    // ------------------------------------------------------------------ types

    /// @notice Deploy-time parameters (docs/protocol.md §9).
    struct Params {
        /// Seconds per proving period.
        uint64 periodLength;
        /// PoSt challenges per replica per period.
        uint16 kPoSt;
        /// PoRep challenges per replica.
        uint16 kPoRep;
        /// Sealing rounds r (§4.2).
        uint16 sealRounds;
        /// Seconds a lessor has to answer its PoRep after filling.
        uint64 porepTimeout;
        /// Missed periods after which a replica fails.
        uint16 maxMisses;
        /// Share of a replica's collateral slashed per missed period and per expired PoRep, basis points.
        uint16 missSlashBps;
        /// Share of each slash paid to whoever reported it, basis points.
        uint16 bountyBps;
        /// Share of a failed replica's remaining collateral kept as the slot's repair reward, basis points.
        uint16 repairBps;
        /// Minimum collateral per GiB of replica (token units); a deal may ask for more.
        uint128 collateralPerGiB;
        /// Blocks a lessor has to answer an on-chain challenge, counted from the challenge's block (§7.2).
        uint16 challengeWindow;
        /// Tokens a challenger escrows per on-chain challenge: paid to the lessor if it answers in time,
        /// returned to the challenger otherwise.
        uint128 challengeBond;
        /// Smallest replica, in 32-byte segments (docs/protocol.md §2.1): a smaller file is padded by its client.
        uint48 minSegments;
        /// A deal of d periods needs at least revealFactor · kPoSt · d segments, so that the openings its PoSts
        /// publish stay a small share of the replica (§2.1). Zero turns the rule off (tests of tiny replicas only).
        uint16 revealFactor;
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
        /// Never filled, or reopened after an expired PoRep: any active lessor may fill it.
        Open,
        /// Filled, PoRep pending and not late.
        Committed,
        /// PoRep accepted; periods are proven until the deal ends.
        Proving,
        /// The lessor failed (max misses, or its PoRep is late and awaits expirePoRep); fillable for repair
        /// once failed by misses.
        Failed,
        /// The deal ended while the replica was proving (collateral released or releasable).
        Finished
    }

    /// @notice A deal as stored (field order packs what a PoSt reads into one slot).
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

    /// @notice One replica slot as stored.
    struct Replica {
        address lessor;
        /// First period the current lessor must prove (set when its PoRep is accepted).
        uint32 firstPeriod;
        /// Periods paid for this slot, across lessors.
        uint32 paidPeriods;
        /// Periods the current lessor missed (reported).
        uint16 misses;
        uint8 status;
        bytes32 commR;
        uint64 fillBlock;
        uint64 fillTime;
        /// Collateral still locked in the registry for the current lessor.
        uint128 collateralLeft;
        /// Reward escrowed for the next lessor whose PoRep on this slot is accepted.
        uint128 repairReward;
        /// On-chain challenges of this slot not yet answered, expired or voided (finishReplica waits for none).
        uint16 openChallenges;
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
        /// The challenged filling of the slot (its fillBlock): a challenge never reaches a later filling,
        /// even by the same lessor after the slot failed.
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
    event DealToppedUp(bytes32 indexed dealId, address indexed payer, uint32 extraPeriods, uint256 amount, uint32 endPeriod);
    event DealCancelled(bytes32 indexed dealId, uint256 refund);
    event DealRefunded(bytes32 indexed dealId, address indexed client, uint256 amount);
    event ReplicaFilled(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, bytes32 commR, uint256 collateral);
    event PoRepAccepted(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint32 firstPeriod, uint256 repairReward);
    event PoRepExpired(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint256 slashed, uint256 bounty, address reporter);
    /// @notice The first seedPeriod() call of `period` fixed its seed block: seed = H(abi(blockhash(seedBlock), period)).
    event PeriodSeedRequested(uint256 indexed period, uint256 seedBlock);
    event PeriodSeeded(uint256 indexed period, bytes32 seed);
    /// @notice One replica proven for `period` (one per replica in a submission).
    event PoStAccepted(bytes32 indexed dealId, uint256 replicaIndex, uint256 period);
    /// @notice A submission: `replicas` proven by `lessor` for `period`, `payment` credited.
    event PoStSubmitted(address indexed lessor, uint256 indexed period, uint256 replicas, uint256 payment);
    event ProofMissed(
        bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint256 period, uint256 slashed, uint256 bounty, address reporter
    );
    event ReplicaFailed(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint256 slashed, uint256 repairReward);
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
    /// @notice The lessor did not answer in time: its replica failed, `slashed` = its whole remaining collateral.
    event ChallengeExpired(
        bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, address indexed challenger, uint256 slashed, uint256 bounty
    );
    /// @notice The challenged lessor lost the slot otherwise before answering; the bond went back.
    event ChallengeVoided(bytes32 indexed dealId, uint256 replicaIndex, address indexed challenger, uint256 bond);
    event ReplicaFinished(bytes32 indexed dealId, uint256 replicaIndex, address indexed lessor, uint256 collateralReleased);

    // ------------------------------------------------------------------ errors

    /// @param name The deploy parameter out of range.
    error MarketInvalidParameter(string name);
    /// @param dealId No deal has this id.
    error MarketUnknownDeal(bytes32 dealId);
    /// @param replicas Asked replica count (1..10).
    error MarketInvalidReplicaCount(uint256 replicas);
    /// @param size Asked size in bytes (1..2^50).
    error MarketInvalidSize(uint256 size);
    /// @param size Asked size in bytes.
    /// @param minimumSize Smallest size for this duration (§2.1): pad the file to it.
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
    /// @param state Its state (neither Open nor Failed).
    error MarketReplicaNotOpen(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param lessor Not an active registry lessor.
    error MarketLessorNotActive(address lessor);
    /// @param dealId The deal.
    /// @param lessor Holds a live replica of it already.
    /// @param heldIndex That replica's slot.
    error MarketLessorAlreadyHoldsReplica(bytes32 dealId, address lessor, uint256 heldIndex);
    /// @param dealId The deal.
    /// @param lessor Lost a replica of this deal before (misses or an expired challenge): never again a slot of it.
    error MarketLessorFailedDeal(bytes32 dealId, address lessor);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param state Its state (not Committed).
    error MarketReplicaNotCommitted(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param readyBlock First block that can answer (fillBlock + 2).
    error MarketPoRepSeedNotReady(bytes32 dealId, uint256 replicaIndex, uint256 readyBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param deadline fillTime + porepTimeout.
    /// @param lastBlock Last block that could answer.
    error MarketPoRepLate(bytes32 dealId, uint256 replicaIndex, uint256 deadline, uint256 lastBlock);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    error MarketInvalidPoRep(bytes32 dealId, uint256 replicaIndex);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param deadline fillTime + porepTimeout.
    /// @param lastBlock Last block that could answer.
    error MarketPoRepNotExpired(bytes32 dealId, uint256 replicaIndex, uint256 deadline, uint256 lastBlock);
    /// @param period Asked period.
    /// @param currentPeriod Now.
    error MarketWrongPeriod(uint256 period, uint256 currentPeriod);
    /// @param period The period.
    /// @param readyBlock First block in which its seed can be used; zero: nobody called seedPeriod() yet.
    error MarketPeriodNotSeeded(uint256 period, uint256 readyBlock);
    /// @param period The period: nobody stored its seed while blockhash(seedBlock) was readable, so it can no
    /// longer be proven (its replicas miss it).
    /// @param seedBlock The block whose hash was the seed.
    error MarketPeriodSeedLost(uint256 period, uint256 seedBlock);
    /// @param period The period of an empty submission.
    error MarketEmptyPoSt(uint256 period);
    /// @param dealCount dealIds.length.
    /// @param indexCount replicaIndexes.length.
    error MarketPoStBatchMismatch(uint256 dealCount, uint256 indexCount);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param caller Not the slot's lessor.
    error MarketNotReplicaLessor(bytes32 dealId, uint256 replicaIndex, address caller);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param state Its state (not Proving).
    error MarketReplicaNotProving(bytes32 dealId, uint256 replicaIndex, ReplicaState state);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param period Outside [firstPeriod, endPeriod).
    error MarketPeriodNotDue(bytes32 dealId, uint256 replicaIndex, uint256 period);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param period Proven already.
    error MarketPeriodAlreadyProven(bytes32 dealId, uint256 replicaIndex, uint256 period);
    /// @param dealId The deal.
    /// @param replicaIndex The slot whose openings failed.
    error MarketInvalidPoSt(bytes32 dealId, uint256 replicaIndex);
    /// @param used Words the submission's replicas needed.
    /// @param length Words sent.
    error MarketPoStLengthMismatch(uint256 used, uint256 length);
    /// @param period Not closed yet.
    /// @param currentPeriod Now.
    error MarketPeriodNotClosed(uint256 period, uint256 currentPeriod);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param period Reported already.
    error MarketMissAlreadyMarked(bytes32 dealId, uint256 replicaIndex, uint256 period);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param period The period: its misses could be reported only until the end of period + 1 (§10.4).
    /// @param currentPeriod Now.
    error MarketMissReportClosed(bytes32 dealId, uint256 replicaIndex, uint256 period, uint256 currentPeriod);
    /// @param dealId The deal.
    /// @param replicaIndex The slot.
    /// @param finishPeriod First period it can be finished in.
    error MarketReplicaNotFinishable(bytes32 dealId, uint256 replicaIndex, uint256 finishPeriod);
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
    /// `durationPeriods` periods. dealId = sha256(abi.encode(caller, nonce)). The replica must have at least
    /// max(minSegments, revealFactor · kPoSt · durationPeriods) segments (minimumSize): a client pads a smaller
    /// file with zero bytes and keeps its own length.
    /// @param collateralPerReplica What each lessor must lock; at least ceil(size * collateralPerGiB / 2^30).
    function createDeal(
        bytes32 commD,
        uint64 size,
        uint8 replicas,
        uint32 durationPeriods,
        uint128 pricePerGiBPerPeriod,
        uint128 collateralPerReplica
    ) external returns (bytes32 dealId);

    /// @notice Extends a deal by `extraPeriods`, escrowing their full price from the caller; only while no slot
    /// was ever filled (a lessor is never bound beyond the end it accepted: renew with a new deal instead).
    function topUp(bytes32 dealId, uint32 extraPeriods) external;

    /// @notice The client cancels a deal no replica was ever filled for; the whole escrow is refunded. Refused once
    /// the escrow went back by claimRefund (the two are the only client payouts of an escrow, and exclusive).
    function cancelDeal(bytes32 dealId) external;

    /// @notice After the deal ends: credits the client the escrow not paid to lessors (unfilled, lost or
    /// missed periods) plus unclaimed repair rewards. Anyone may call, once; refused for a cancelled deal.
    /// A replica that fails after the deal's last fillable period escrows no repair reward (its share goes to
    /// the client at once), so nothing is escrowed for the deal after this.
    function claimRefund(bytes32 dealId) external returns (uint256 amount);

    // ------------------------------------------------------------------ replicas

    /// @notice The caller (an active lessor holding no other replica of this deal) takes an Open or Failed
    /// slot with sealed root `commR`, locking the deal's collateral from its registry stake. The PoRep seed is
    /// blockhash(this block + 1).
    function fillReplica(bytes32 dealId, uint256 replicaIndex, bytes32 commR) external;

    /// @notice Answers the PoRep challenges (docs/protocol.md §5; layout in ProofVerifier.verifyPoRep).
    /// From block fillBlock + 2, until fillTime + porepTimeout and block fillBlock + 256.
    function answerPoRep(bytes32 dealId, uint256 replicaIndex, bytes32[] calldata proof) external;

    /// @notice Anyone expires a late PoRep: a missSlashBps share of the collateral is slashed (bounty to the
    /// caller, rest to the client), the rest unlocked, and the slot reopens.
    function expirePoRep(bytes32 dealId, uint256 replicaIndex) external;

    // ------------------------------------------------------------------ proving periods

    /// @notice The current period's seed (docs/protocol.md §6.1). The first call of a period fixes its seed block
    /// (this block + 1) and returns zero; a call once that block is mined (and within 256 blocks of it) stores
    /// seed = sha256(abi.encode(blockhash(seedBlock), period)) and returns it. submitPoSt stores it as well.
    function seedPeriod() external returns (bytes32 seed);

    /// @notice Proves many replicas of the caller for the current `period` in one transaction. Replica r is
    /// (dealIds[r], uint8(replicaIndexes[r])); `proof` concatenates, replica after replica, its kPoSt openings
    /// (segment + depth siblings each). Each proven replica's period price moves from the deal escrow to
    /// the caller's withdrawable balance.
    function submitPoSt(uint256 period, bytes32[] calldata dealIds, bytes calldata replicaIndexes, bytes32[] calldata proof)
        external;

    /// @notice Anyone reports a closed period the replica's lessor did not prove, during the period after it (a
    /// miss of period p is reportable while p < currentPeriod <= p + 1): a missSlashBps share of the
    /// collateral is slashed (bountyBps of it to the caller, the rest to the client). At maxMisses the replica
    /// fails: the remaining collateral is slashed (repairBps to the slot's repair reward, the rest to the client).
    function markProofMissing(bytes32 dealId, uint256 replicaIndex, uint256 period) external;

    // ------------------------------------------------------------------ on-chain challenges (§7.2)

    /// @notice Anyone challenges a Proving replica: its seed is fixed by the next block's hash, and its lessor must
    /// open kPoSt stratified segments of the sealed replica (ProofVerifier.verifyChallenge) from block
    /// `block.number + 2` to `block.number + 1 + challengeWindow`. The caller escrows challengeBond in the vault.
    /// One open challenge per (replica, challenger): a challenger never blocks another. The window is short
    /// enough that re-sealing (generation) or fetching and sealing (outsourcing) cannot finish in it for replicas
    /// above the size in §7.2.
    function challengeReplica(bytes32 dealId, uint256 replicaIndex) external;

    /// @notice Answers `challenger`'s open challenge (anyone may send it; the lessor is the one credited): `proof`
    /// holds, for j < kPoSt, the opening of S[i_j] (segment + depth siblings), i_j = ProofMath.spotChallenge(seed,
    /// replicaId, j, kPoSt, n). The bond is credited to the lessor.
    function answerChallenge(bytes32 dealId, uint256 replicaIndex, address challenger, bytes32[] calldata proof) external;

    /// @notice Settles an unanswered challenge after its window: the replica fails and the lessor's whole
    /// remaining collateral is slashed (bountyBps to the challenger, repairBps to the slot's repair reward, the
    /// rest to the client); the bond returns to the challenger. If the challenged lessor no longer holds the
    /// replica as Proving (it failed or was replaced), the challenge is voided at any time and the bond returned.
    function expireChallenge(bytes32 dealId, uint256 replicaIndex, address challenger) external;

    /// @notice From the period after the deal's last one, releases a proving replica's remaining collateral.
    /// Anyone may call.
    /// Refused while a challenge of the slot is open.
    function finishReplica(bytes32 dealId, uint256 replicaIndex) external;

    // ------------------------------------------------------------------ views

    function params() external view returns (Params memory);
    function startTime() external view returns (uint256);
    function currentPeriod() external view returns (uint256);
    /// @notice The period's seed: stored, or computed while blockhash(seedBlock) is readable; zero otherwise.
    function periodSeed(uint256 period) external view returns (bytes32);
    /// @notice The block whose hash seeds `period` (zero until seedPeriod() is first called in it).
    function periodSeedBlock(uint256 period) external view returns (uint256);
    /// @notice Smallest deal size in bytes for a deal of `durationPeriods` (§2.1).
    function minimumSize(uint256 durationPeriods) external view returns (uint256);
    function getDeal(bytes32 dealId) external view returns (Deal memory);
    function getReplica(bytes32 dealId, uint256 replicaIndex) external view returns (Replica memory);
    function dealState(bytes32 dealId) external view returns (DealState);
    function replicaState(bytes32 dealId, uint256 replicaIndex) external view returns (ReplicaState);
    /// @notice replicaId (docs/protocol.md §4.1) of the slot's current lessor.
    function replicaIdOf(bytes32 dealId, uint256 replicaIndex) external view returns (bytes32);
    /// @notice The PoRep seed blockhash(fillBlock + 1), zero while not available.
    function porepSeed(bytes32 dealId, uint256 replicaIndex) external view returns (bytes32);
    function isPeriodProven(bytes32 dealId, uint256 replicaIndex, uint256 period) external view returns (bool);
    function isPeriodMarkedMissed(bytes32 dealId, uint256 replicaIndex, uint256 period) external view returns (bool);
    /// @notice What claimRefund would credit now (zero before the end).
    function refundable(bytes32 dealId) external view returns (uint256);
    /// @notice Lessor of a replica currently in the Proving state, zero otherwise (used by the download market).
    function servingLessor(bytes32 dealId, uint256 replicaIndex) external view returns (address);
    /// @notice `challenger`'s open challenge of the replica (zero challenger when none), with its seed once readable.
    function getChallenge(bytes32 dealId, uint256 replicaIndex, address challenger) external view returns (Challenge memory);
    function vault() external view returns (address);
    function registry() external view returns (address);
}
