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
}

/// @notice Drives the market through random sequences of real actions (the invariant target): several clients
/// and deal sizes, valid and invalid proofs (wrong, truncated, replayed, foreign), partial and mixed PoSt
/// batches, time jumps past the blockhash horizon and across a deal's end and grace period, refunds and cancels
/// in every state, refills of failed slots, self-challenges and several challengers, lessors that unstake or run
/// short of free stake. It counts every action (called / succeeded) and records any broken rule in ghost state,
/// since a revert inside a handler is discarded by the fuzzer.
contract MarketHandler is CofferTest {
    enum Action {
        CreateDeal,
        TopUp,
        Cancel,
        ClaimRefund,
        Fill,
        AnswerPoRep,
        BadPoRep,
        ExpirePoRep,
        ProvePeriod,
        BadPoSt,
        MarkMissing,
        Challenge,
        AnswerChallenge,
        BadChallengeAnswer,
        ExpireChallenge,
        FinishReplica,
        Advance,
        JumpPeriods,
        JumpToDealEdge,
        RollPastHorizon,
        Withdraw,
        Unstake,
        WithdrawStake,
        AddStake
    }

    uint256 public constant ACTION_COUNT = 24;

    StorageMarket internal immutable market;
    MarketVault internal immutable vault;
    LessorRegistry internal immutable registry;
    IERC20 internal immutable token;
    uint256 internal immutable bond;

    uint256 internal constant K_POREP_ = 2;
    uint256 internal constant K_POST_ = 2;
    uint256 internal constant BPS_ = 10_000;
    uint256 internal constant BOUNTY_BPS_ = 2500;
    uint256 internal constant MAX_DEALS = 6;
    /// A deal of this size has no TinyReplica proofs: its fills can only time out.
    uint64 internal constant UNPROVABLE_SIZE = 1 << 20;

    address[2] internal clients = [address(0xC11E47), address(0xC11E48)];
    address[2] internal watchers = [address(0x3A7C4), address(0x3A7C5)];
    /// The last one is staked for about two replicas only (MarketInvariantTest.setUp).
    address[4] internal lessors = [address(0x1E550A), address(0x1E550B), address(0x1E550C), address(0x1E550D)];

    bytes32[] public deals;
    mapping(bytes32 => uint256) public replicaCount;
    mapping(bytes32 => bool) public provable;
    /// Sealed segments of each slot's current lessor.
    mapping(bytes32 => mapping(uint256 => bytes32[4])) internal sealedOf;

    /// Challenges the handler opened and has not seen closed: answers and expiries pick from these.
    struct OpenChallenge {
        bytes32 dealId;
        uint256 index;
        address challenger;
    }

    OpenChallenge[] internal openChallenges;

    uint256[ACTION_COUNT] internal calledCount;
    uint256[ACTION_COUNT] internal succeededCount;

    // ghost state
    /// Periods proven per slot as seen by the handler (a submission it made succeeded).
    mapping(bytes32 => mapping(uint256 => uint256)) public ghostProven;
    /// What the vault should have credited each lessor: PoSt prices, repair rewards, answered bonds, and the
    /// bond and bounty of its own self-challenges.
    mapping(address => uint256) public ghostEarned;
    mapping(address => uint256) public ghostWithdrawnBy;
    mapping(bytes32 => bool) public ghostRefunded;
    mapping(bytes32 => mapping(address => bool)) public ghostFailedLessor;
    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostStakeAdded;
    uint256 public ghostStakeWithdrawn;
    /// Rules the market must enforce; any success of a forbidden action is counted here.
    uint256 public brokenRules;
    string public lastBrokenRule;

    constructor(StorageMarket market_, MarketVault vault_, LessorRegistry registry_) {
        market = market_;
        vault = vault_;
        registry = registry_;
        token = IERC20(vault_.token());
        bond = market_.params().challengeBond;
    }

    function lessorAt(uint256 i) external view returns (address) {
        return lessors[i];
    }

    function lessorCount() external pure returns (uint256) {
        return 4;
    }

    function clientAt(uint256 i) external view returns (address) {
        return clients[i];
    }

    function watcherAt(uint256 i) external view returns (address) {
        return watchers[i];
    }

    function dealCount() external view returns (uint256) {
        return deals.length;
    }

    /// The Action names, in order (for the deep run's report).
    function actionNames() external pure returns (string[ACTION_COUNT] memory) {
        return [
            "createDeal", "topUp", "cancel", "claimRefund", "fill", "answerPoRep", "badPoRep", "expirePoRep",
            "provePeriod", "badPoSt", "markMissing", "challenge", "answerChallenge", "badChallengeAnswer",
            "expireChallenge", "finishReplica", "advance", "jumpPeriods", "jumpToDealEdge", "rollPastHorizon",
            "withdraw", "unstake", "withdrawStake", "addStake"
        ];
    }

    function counts(uint256 action) external view returns (uint256 called, uint256 succeeded) {
        return (calledCount[action], succeededCount[action]);
    }

    // ------------------------------------------------------------ deals

    /// A client creates a deal; two times in three lessors fill all its slots at once (honest PoReps mostly), so
    /// that runs of 64 calls have replicas to prove, miss and challenge.
    function createDeal(uint256 clientSeed, uint256 replicasSeed, uint256 durationSeed, uint256 priceSeed, uint256 sizeSeed)
        external
    {
        if (deals.length >= MAX_DEALS) return;
        _called(Action.CreateDeal);
        address client = clients[clientSeed % 2];
        uint8 replicas = uint8(bound(replicasSeed, 1, 3));
        uint32 duration = uint32(bound(durationSeed, 1, 8));
        uint128 price = uint128(bound(priceSeed, 1, 1e24));
        // Sizes 97..128 keep TinyReplica's 4 segments but change the rounded price per period.
        bool tiny = sizeSeed % 4 != 0;
        uint64 size = tiny ? uint64(bound(sizeSeed >> 8, 97, TinyReplica.SIZE)) : UNPROVABLE_SIZE;
        uint128 collateral = uint128(bound(sizeSeed >> 128, 1, 2 * 1_000_000));
        bytes32 commD = TinyReplica.root(TinyReplica.data(bytes32(deals.length)));
        uint256 before = token.balanceOf(address(vault));
        vm.prank(client);
        try market.createDeal(commD, size, replicas, duration, price, collateral) returns (bytes32 dealId) {
            _succeeded(Action.CreateDeal);
            ghostDeposited += token.balanceOf(address(vault)) - before;
            deals.push(dealId);
            replicaCount[dealId] = replicas;
            provable[dealId] = tiny;
            if (clientSeed % 3 != 0) {
                for (uint256 i; i < replicas; ++i) this.fill(deals.length - 1, i, (clientSeed >> 8) + i);
            }
        } catch {}
    }

    function topUp(uint256 dealSeed, uint256 periodsSeed, uint256 payerSeed) external {
        if (deals.length == 0) return;
        _called(Action.TopUp);
        bytes32 dealId = deals[dealSeed % deals.length];
        uint32 extra = uint32(bound(periodsSeed, 1, 3));
        uint256 before = token.balanceOf(address(vault));
        vm.prank(clients[payerSeed % 2]);
        try market.topUp(dealId, extra) {
            _succeeded(Action.TopUp);
            ghostDeposited += token.balanceOf(address(vault)) - before;
        } catch {}
    }

    /// Any client (the deal's or another) cancels a deal in whatever state it is in.
    function cancel(uint256 dealSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        _called(Action.Cancel);
        bytes32 dealId = deals[dealSeed % deals.length];
        vm.prank(clients[callerSeed % 2]);
        try market.cancelDeal(dealId) {
            _succeeded(Action.Cancel);
            if (ghostRefunded[dealId]) _broke("cancel after refund");
            ghostRefunded[dealId] = true;
        } catch {}
    }

    function claimRefund(uint256 dealSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        _called(Action.ClaimRefund);
        bytes32 dealId = deals[dealSeed % deals.length];
        vm.prank(watchers[callerSeed % 2]);
        try market.claimRefund(dealId) {
            _succeeded(Action.ClaimRefund);
            if (ghostRefunded[dealId]) _broke("refund twice");
            ghostRefunded[dealId] = true;
        } catch {}
    }

    // ------------------------------------------------------------ replicas

    /// Any lessor fills (or refills) a slot: the lessor that failed it included. Three times in four it is an
    /// honest lessor that answers its PoRep at once (two blocks later); otherwise the PoRep is left to chance.
    function fill(uint256 dealSeed, uint256 indexSeed, uint256 lessorSeed) external {
        if (deals.length == 0) return;
        _called(Action.Fill);
        (uint256 d, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        address lessor = lessors[lessorSeed % 4];
        bytes32[4] memory s = TinyReplica.seal(TinyReplica.data(bytes32(d)), ProofMath.replicaId(lessor, dealId, index), 1);
        bytes32 commR = TinyReplica.root(s); // before the prank: a precompile call would consume it
        vm.prank(lessor);
        try market.fillReplica(dealId, index, commR) {
            _succeeded(Action.Fill);
            if (ghostFailedLessor[dealId][lessor]) _broke("failed lessor refilled its deal");
            sealedOf[dealId][index] = s;
            if ((lessorSeed >> 8) % 4 != 0) _answerPoRep(d, dealId, index);
        } catch {}
    }

    function answerPoRep(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        (uint256 d, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        _answerPoRep(d, dealId, index);
    }

    function _answerPoRep(uint256 d, bytes32 dealId, uint256 index) internal {
        _called(Action.AnswerPoRep);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
        if (replica.status != 1) return;
        if (block.number < replica.fillBlock + 2) vm.roll(replica.fillBlock + 2);
        bytes32[] memory proof = _porepProof(d, dealId, index, replica.lessor, blockhash(replica.fillBlock + 1));
        vm.prank(replica.lessor);
        try market.answerPoRep(dealId, index, proof) {
            _succeeded(Action.AnswerPoRep);
            ghostEarned[replica.lessor] += replica.repairReward;
        } catch {}
    }

    /// A PoRep that must be refused: a flipped word, a truncated proof, the wrong seed block, another replicaId.
    function badPoRep(uint256 dealSeed, uint256 indexSeed, uint256 kindSeed) external {
        if (deals.length == 0) return;
        (uint256 d, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
        if (replica.status != 1) return;
        _called(Action.BadPoRep);
        if (block.number < replica.fillBlock + 2) vm.roll(replica.fillBlock + 2);
        uint256 kind = kindSeed % 4;
        bytes32 seed = blockhash(replica.fillBlock + (kind == 2 ? 0 : 1));
        address provedFor = kind == 3 ? lessors[(_indexOf(replica.lessor) + 1) % 4] : replica.lessor;
        bytes32[] memory proof = _porepProof(d, dealId, index, provedFor, seed);
        // A wrong seed or replicaId can pick the same 2 of 4 segments: that proof is the valid one.
        if (kind >= 2 && _same(proof, _porepProof(d, dealId, index, replica.lessor, blockhash(replica.fillBlock + 1)))) return;
        if (kind == 0) proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1));
        if (kind == 1) _truncate(proof);
        vm.prank(replica.lessor);
        try market.answerPoRep(dealId, index, proof) {
            _succeeded(Action.BadPoRep);
            _broke("bad PoRep accepted");
        } catch {}
    }

    function expirePoRep(uint256 dealSeed, uint256 indexSeed, uint256 callerSeed) external {
        if (deals.length == 0) return;
        _called(Action.ExpirePoRep);
        (, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        vm.prank(watchers[callerSeed % 2]);
        try market.expirePoRep(dealId, index) {
            _succeeded(Action.ExpirePoRep);
        } catch {}
    }

    // ------------------------------------------------------------ PoSt

    /// The chosen lessor proves a subset (bit r of `mask`; zero: all) of the replicas it holds that are due this
    /// period, across deals, in one submission.
    /// The first lessor from `lessorSeed` on that has replicas due proves them.
    function provePeriod(uint256 lessorSeed, uint256 mask) external {
        for (uint256 i; i < 4; ++i) {
            if (_prove(lessors[(lessorSeed + i) % 4], mask)) return;
        }
    }

    /// Submits `lessor`'s due replicas (filtered by `mask`); false when it had none due.
    function _prove(address lessor, uint256 mask) internal returns (bool due) {
        uint256 period = market.currentPeriod();
        (bytes32[] memory ids, bytes memory indexes, uint256[] memory which, uint256 payment) = _due(lessor, period, mask);
        if (ids.length == 0) return false;
        due = true;
        _called(Action.ProvePeriod);
        bytes32 seed = _seed();
        if (seed == bytes32(0)) return due;
        bytes32[] memory proof = _postProof(lessor, ids, which, seed);
        vm.prank(lessor);
        try market.submitPoSt(period, ids, indexes, proof) {
            _succeeded(Action.ProvePeriod);
            _recordProven(lessor, ids, which, payment);
        } catch {}
    }

    /// A PoSt that must be refused: a flipped word, a truncated or padded proof, the wrong seed, a replay of an
    /// accepted batch, two replicas' openings swapped, or the wrong period.
    function badPoSt(uint256 lessorSeed, uint256 kindSeed) external {
        address lessor = lessors[lessorSeed % 4];
        uint256 period = market.currentPeriod();
        (bytes32[] memory ids, bytes memory indexes, uint256[] memory which, uint256 payment) = _due(lessor, period, 0);
        if (ids.length == 0) return;
        _called(Action.BadPoSt);
        bytes32 seed = _seed();
        if (seed == bytes32(0)) return;
        uint256 kind = kindSeed % 7;
        bytes32[] memory proof = _postProof(lessor, ids, which, kind == 3 ? sha256(abi.encode(seed)) : seed);
        // Another seed can pick the same 2 of 4 segments: that proof is the valid one.
        if (kind == 3 && _same(proof, _postProof(lessor, ids, which, seed))) return;
        uint256 submitPeriod = period;
        if (kind == 0) proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1) << ((kindSeed >> 16) % 256));
        if (kind == 1) _truncate(proof);
        if (kind == 2) proof = _padded(proof);
        if (kind == 4) {
            // The replay's original is a valid submission.
            vm.prank(lessor);
            market.submitPoSt(period, ids, indexes, proof);
            _recordProven(lessor, ids, which, payment);
        }
        if (kind == 5) {
            if (ids.length < 2) return;
            _swapFirstTwo(proof);
        }
        if (kind == 6) submitPeriod = period + 1;
        vm.prank(lessor);
        try market.submitPoSt(submitPeriod, ids, indexes, proof) {
            _succeeded(Action.BadPoSt);
            _broke("bad PoSt accepted");
        } catch {}
    }

    /// A watcher reports a miss of the last period (the report window), or one to three periods too late.
    function markMissing(uint256 dealSeed, uint256 indexSeed, uint256 back, uint256 watcherSeed) external {
        if (deals.length == 0) return;
        _called(Action.MarkMissing);
        (, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        uint256 current = market.currentPeriod();
        if (current == 0) return;
        uint256 late = back % 4 == 0 ? 1 + (back >> 8) % 3 : 0;
        if (late >= current) return;
        uint256 period = current - 1 - late;
        address lessor = market.getReplica(dealId, index).lessor;
        vm.prank(watchers[watcherSeed % 2]);
        try market.markProofMissing(dealId, index, period) {
            _succeeded(Action.MarkMissing);
            if (current > period + 1) _broke("late miss report accepted");
            _noteFailure(dealId, index, lessor);
        } catch {}
    }

    // ------------------------------------------------------------ on-chain challenges

    /// A watcher or a lessor (the slot's own: a self-challenge) challenges a replica.
    function challenge(uint256 dealSeed, uint256 indexSeed, uint256 challengerSeed) external {
        if (deals.length == 0) return;
        _called(Action.Challenge);
        (, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        address challenger = _challenger(dealId, index, challengerSeed);
        uint256 before = token.balanceOf(address(vault));
        vm.prank(challenger);
        try market.challengeReplica(dealId, index) {
            _succeeded(Action.Challenge);
            openChallenges.push(OpenChallenge(dealId, index, challenger));
        } catch {}
        ghostDeposited += token.balanceOf(address(vault)) - before;
    }

    /// The challenged lessor answers with valid openings; `waitForSeed` decides whether it waits for the seed block.
    function answerChallenge(uint256 openSeed, bool waitForSeed) external {
        if (openChallenges.length == 0) return;
        _called(Action.AnswerChallenge);
        uint256 at = openSeed % openChallenges.length;
        (bytes32 dealId, uint256 index, address challenger) = _openAt(at);
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, index, challenger);
        if (c.challenger == address(0)) return;
        if (waitForSeed && block.number < c.openedBlock + 2) {
            vm.roll(c.openedBlock + 2);
            c = market.getChallenge(dealId, index, challenger);
        }
        bytes32[] memory proof =
            TinyReplica.challengeProof(sealedOf[dealId][index], c.seed, ProofMath.replicaId(c.lessor, dealId, index), K_POST_);
        vm.prank(c.lessor);
        try market.answerChallenge(dealId, index, challenger, proof) {
            _succeeded(Action.AnswerChallenge);
            ghostEarned[c.lessor] += bond;
            _closed(at);
        } catch {}
    }

    /// An answer that must be refused: a flipped word, truncated, or openings for another challenger's seed.
    function badChallengeAnswer(uint256 openSeed, uint256 kindSeed) external {
        if (openChallenges.length == 0) return;
        (bytes32 dealId, uint256 index, address challenger) = _openAt(openSeed % openChallenges.length);
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, index, challenger);
        if (c.challenger == address(0)) return;
        _called(Action.BadChallengeAnswer);
        if (block.number < c.openedBlock + 2) {
            vm.roll(c.openedBlock + 2);
            c = market.getChallenge(dealId, index, challenger);
        }
        uint256 kind = kindSeed % 3;
        bytes32 seed = kind == 2 ? sha256(abi.encode(c.seed)) : c.seed;
        bytes32[] memory proof =
            TinyReplica.challengeProof(sealedOf[dealId][index], seed, ProofMath.replicaId(c.lessor, dealId, index), K_POST_);
        // Another seed can pick the same segments: that answer is the valid one.
        if (kind == 2 && _same(proof, TinyReplica.challengeProof(sealedOf[dealId][index], c.seed, ProofMath.replicaId(c.lessor, dealId, index), K_POST_))) return;
        if (kind == 0) proof[(kindSeed >> 8) % proof.length] ^= bytes32(uint256(1));
        if (kind == 1) _truncate(proof);
        vm.prank(c.lessor);
        try market.answerChallenge(dealId, index, challenger, proof) {
            _succeeded(Action.BadChallengeAnswer);
            _broke("bad challenge answer accepted");
        } catch {}
    }

    function expireChallenge(uint256 openSeed, uint256 callerSeed) external {
        if (openChallenges.length == 0) return;
        _called(Action.ExpireChallenge);
        uint256 at = openSeed % openChallenges.length;
        (bytes32 dealId, uint256 index, address challenger) = _openAt(at);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, index, challenger);
        bool held = c.lessor == replica.lessor && c.fillBlock == replica.fillBlock && replica.status == 2;
        vm.prank(callerSeed % 2 == 0 ? watchers[0] : clients[0]);
        try market.expireChallenge(dealId, index, challenger) {
            _succeeded(Action.ExpireChallenge);
            // A self-challenger is a lessor: its bond (and the bounty of its own slash) come back to it.
            if (_indexOf(challenger) < 4) ghostEarned[challenger] += bond + (held ? replica.collateralLeft * BOUNTY_BPS_ / BPS_ : 0);
            _noteFailure(dealId, index, replica.lessor);
            _closed(at);
        } catch {}
    }

    function finishReplica(uint256 dealSeed, uint256 indexSeed) external {
        if (deals.length == 0) return;
        _called(Action.FinishReplica);
        (, bytes32 dealId, uint256 index) = _pick(dealSeed, indexSeed);
        uint256 open = market.getReplica(dealId, index).openChallenges;
        uint256 current = market.currentPeriod();
        uint256 endPeriod = market.getDeal(dealId).endPeriod;
        try market.finishReplica(dealId, index) {
            _succeeded(Action.FinishReplica);
            if (open != 0) _broke("finished with open challenges");
            if (current < endPeriod + 1) _broke("finished before the report window closed");
        } catch {}
    }

    // ------------------------------------------------------------ time

    function advance(uint256 secondsSeed) external {
        _called(Action.Advance);
        vm.warp(block.timestamp + bound(secondsSeed, 1, 60));
        vm.roll(block.number + 1);
        _succeeded(Action.Advance);
    }

    /// One period, rarely three: deals last 1 to 8 periods and should not all be over in a few calls. Half the
    /// time every lessor first proves all it has due (diligent lessors), otherwise periods go unproven.
    function jumpPeriods(uint256 periodsSeed, uint256 blocksSeed) external {
        _called(Action.JumpPeriods);
        if ((periodsSeed >> 8) % 2 == 0) {
            for (uint256 i; i < 4; ++i) _prove(lessors[i], 0);
        }
        vm.warp(block.timestamp + (periodsSeed % 8 == 0 ? 3 : 1) * 100);
        vm.roll(block.number + bound(blocksSeed, 1, 4));
        _succeeded(Action.JumpPeriods);
    }

    /// Lands in a deal's last period, its end period (refund), or the grace period after it (misses of the
    /// last period still reportable, finish possible), never backwards.
    function jumpToDealEdge(uint256 dealSeed, uint256 edgeSeed, uint256 offsetSeed) external {
        if (deals.length == 0) return;
        _called(Action.JumpToDealEdge);
        IStorageMarket.Deal memory deal = market.getDeal(deals[dealSeed % deals.length]);
        uint256 targetPeriod = uint256(deal.endPeriod) - 1 + edgeSeed % 3;
        uint256 target = market.startTime() + targetPeriod * 100 + bound(offsetSeed, 0, 99);
        if (target <= block.timestamp) return;
        vm.warp(target);
        vm.roll(block.number + 1);
        _succeeded(Action.JumpToDealEdge);
    }

    /// Crosses the 256-block horizon of blockhash (lost period seeds, late PoReps and challenges).
    function rollPastHorizon(uint256 blocksSeed) external {
        _called(Action.RollPastHorizon);
        vm.roll(block.number + bound(blocksSeed, 200, 300));
        _succeeded(Action.RollPastHorizon);
    }

    // ------------------------------------------------------------ funds and stake

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

    function unstake(uint256 lessorSeed, uint256 amountSeed) external {
        _called(Action.Unstake);
        address lessor = lessors[lessorSeed % 4];
        uint256 free = registry.freeStakeOf(lessor);
        if (free == 0) return;
        uint256 amount = bound(amountSeed, 1, free);
        vm.prank(lessor);
        try registry.requestUnstake(amount) {
            _succeeded(Action.Unstake);
        } catch {}
    }

    function withdrawStake(uint256 lessorSeed) external {
        _called(Action.WithdrawStake);
        address lessor = lessors[lessorSeed % 4];
        uint256 before = token.balanceOf(address(registry));
        vm.prank(lessor);
        try registry.withdraw() {
            _succeeded(Action.WithdrawStake);
            ghostStakeWithdrawn += before - token.balanceOf(address(registry));
        } catch {}
    }

    function addStake(uint256 lessorSeed, uint256 amountSeed) external {
        _called(Action.AddStake);
        address lessor = lessors[lessorSeed % 4];
        uint256 amount = bound(amountSeed, 1, 3 * 1_000_000);
        uint256 before = token.balanceOf(address(registry));
        vm.prank(lessor);
        try registry.addStake(amount) {
            _succeeded(Action.AddStake);
            ghostStakeAdded += token.balanceOf(address(registry)) - before;
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

    function _pick(uint256 dealSeed, uint256 indexSeed) internal view returns (uint256 d, bytes32 dealId, uint256 index) {
        d = dealSeed % deals.length;
        dealId = deals[d];
        index = indexSeed % replicaCount[dealId];
    }

    function _openAt(uint256 at) internal view returns (bytes32 dealId, uint256 index, address challenger) {
        OpenChallenge storage open = openChallenges[at];
        return (open.dealId, open.index, open.challenger);
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
        uint256 pick = seed % 8;
        if (pick < 4) return lessors[pick];
        if (pick < 6) return clients[pick - 4];
        return watchers[pick - 6];
    }

    /// A watcher, the slot's own lessor (a self-challenge), or any lessor (a former holder of the slot too).
    function _challenger(bytes32 dealId, uint256 index, uint256 seed) internal view returns (address) {
        uint256 pick = seed % 4;
        if (pick < 2) return watchers[pick];
        if (pick == 3) return lessors[(seed >> 8) % 4];
        address lessor = market.getReplica(dealId, index).lessor;
        return lessor == address(0) ? watchers[0] : lessor;
    }

    /// Remembers a lessor whose replica the last action failed: it must never fill a slot of the deal again.
    function _noteFailure(bytes32 dealId, uint256 index, address lessor) internal {
        IStorageMarket.Replica memory after_ = market.getReplica(dealId, index);
        if (after_.status == 3 && after_.lessor == lessor) ghostFailedLessor[dealId][lessor] = true;
    }

    /// The current period's seed: the first call fixes the seed block, one block later it can be stored.
    function _seed() internal returns (bytes32 seed) {
        seed = market.seedPeriod();
        if (seed != bytes32(0)) return seed;
        uint256 seedBlock = market.periodSeedBlock(market.currentPeriod());
        if (seedBlock >= block.number) vm.roll(seedBlock + 1);
        try market.seedPeriod() returns (bytes32 stored) {
            seed = stored;
        } catch {}
    }

    /// The replicas `lessor` must prove for `period` and has not yet, filtered by `mask` (zero: all).
    function _due(address lessor, uint256 period, uint256 mask)
        internal
        view
        returns (bytes32[] memory ids, bytes memory indexes, uint256[] memory which, uint256 payment)
    {
        ids = new bytes32[](deals.length * 3);
        indexes = new bytes(deals.length * 3);
        which = new uint256[](deals.length * 3);
        uint256 count;
        uint256 seen;
        for (uint256 d; d < deals.length; ++d) {
            bytes32 dealId = deals[d];
            if (!provable[dealId]) continue;
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            for (uint256 index; index < replicaCount[dealId]; ++index) {
                IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
                if (replica.lessor != lessor || replica.status != 2) continue;
                if (period < replica.firstPeriod || period >= deal.endPeriod) continue;
                if (market.isPeriodProven(dealId, index, period)) continue;
                if (mask != 0 && (mask >> seen++) & 1 == 0) continue;
                ids[count] = dealId;
                indexes[count] = bytes1(uint8(index));
                which[count] = index;
                payment += deal.pricePerPeriod;
                ++count;
            }
        }
        assembly ("memory-safe") {
            mstore(ids, count)
            mstore(indexes, count)
            mstore(which, count)
        }
    }

    function _postProof(address lessor, bytes32[] memory ids, uint256[] memory which, bytes32 seed)
        internal
        view
        returns (bytes32[] memory proof)
    {
        proof = new bytes32[](ids.length * K_POST_ * 3);
        uint256 cursor;
        for (uint256 r; r < ids.length; ++r) {
            cursor = TinyReplica.postProof(
                sealedOf[ids[r]][which[r]], seed, ProofMath.replicaId(lessor, ids[r], which[r]), K_POST_, proof, cursor
            );
        }
    }

    function _porepProof(uint256 d, bytes32 dealId, uint256 index, address lessor, bytes32 seed)
        internal
        view
        returns (bytes32[] memory)
    {
        return TinyReplica.porepProof(
            TinyReplica.data(bytes32(d)), sealedOf[dealId][index], seed, ProofMath.replicaId(lessor, dealId, index), K_POREP_
        );
    }

    function _recordProven(address lessor, bytes32[] memory ids, uint256[] memory which, uint256 payment) internal {
        for (uint256 r; r < ids.length; ++r) ++ghostProven[ids[r]][which[r]];
        ghostEarned[lessor] += payment;
    }

    function _same(bytes32[] memory a, bytes32[] memory b) internal pure returns (bool) {
        return keccak256(abi.encode(a)) == keccak256(abi.encode(b));
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

    /// Swaps the first two replicas' openings (each K_POST_ * 3 words).
    function _swapFirstTwo(bytes32[] memory proof) internal pure {
        uint256 words = K_POST_ * 3;
        for (uint256 i; i < words; ++i) (proof[i], proof[words + i]) = (proof[words + i], proof[i]);
    }
}

/// @notice The market's books after random action sequences. One invariant function checks everything after
/// every call, so the deep run spends its budget on many long sequences instead of repeating them per check.
contract MarketInvariantTest is MarketSetup {
    MarketHandler internal handler;
    uint256 internal initialStake;
    uint256 internal bond;

    function setUp() public {
        _deploy();
        handler = new MarketHandler(market, vault, registry);
        bond = market.params().challengeBond;
        for (uint256 i; i < 2; ++i) {
            _fund(handler.clientAt(i), 1e60);
            _fund(handler.watcherAt(i), 1e30); // challenge bonds
        }
        for (uint256 i; i < 4; ++i) {
            address lessor = handler.lessorAt(i);
            // The last lessor can back about two replicas: fills run short of free stake.
            _stake(lessor, i < 3 ? STAKE : 3 * COLLATERAL);
            _fund(lessor, 1e30); // top-ups of stake and self-challenge bonds
        }
        initialStake = token.balanceOf(address(registry));
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// hardhat-config: default.invariant.runs = 24
    /// hardhat-config: default.invariant.depth = 40
    function invariant_marketBooksBalance() public view {
        _checkVaultBacked();
        _checkTokensConserved();
        _checkEscrowIsClaimable();
        _checkStakeBacksCollateral();
        _checkPaidOnlyForProvenPeriods();
        _checkLessorsPaidOnlyWhatTheyEarned();
        assertEq(handler.brokenRules(), 0, handler.lastBrokenRule());
    }

    /// With COFFER_ACTION_LOG set (npm run test:deep), appends this run's per-action counts to that file.
    function afterInvariant() public {
        string memory path = vm.envOr("COFFER_ACTION_LOG", string(""));
        if (bytes(path).length == 0) return;
        string[24] memory names = handler.actionNames();
        string memory line = "MarketHandler";
        for (uint256 a; a < names.length; ++a) {
            (uint256 called, uint256 succeeded) = handler.counts(a);
            line = string.concat(line, " ", names[a], "=", vm.toString(called), "/", vm.toString(succeeded));
        }
        vm.writeLine(path, line);
    }

    /// The vault holds exactly its escrow plus what accounts can withdraw.
    function _checkVaultBacked() internal view {
        assertEq(token.balanceOf(address(vault)), vault.escrowed() + vault.totalWithdrawable(), "vault balance");
    }

    /// Tokens in (deposits, slashed stake) == tokens out (withdrawals) + tokens held by the vault.
    function _checkTokensConserved() internal view {
        uint256 slashedIn =
            initialStake + handler.ghostStakeAdded() - handler.ghostStakeWithdrawn() - token.balanceOf(address(registry));
        assertEq(
            handler.ghostDeposited() + slashedIn, handler.ghostWithdrawn() + token.balanceOf(address(vault)), "token conservation"
        );
    }

    /// Every escrowed token is claimable by someone: a deal's unpaid escrow and repair rewards by its client
    /// (claimRefund) or a repairing lessor while it is not refunded, an open challenge's bond by its lessor or
    /// challenger. A refunded (or cancelled) deal has nothing left attributed to it.
    function _checkEscrowIsClaimable() internal view {
        uint256 claimable;
        for (uint256 d; d < handler.dealCount(); ++d) {
            bytes32 dealId = handler.deals(d);
            IStorageMarket.Deal memory deal = market.getDeal(dealId);
            uint256 paid;
            uint256 rewards;
            uint256 open;
            for (uint256 r; r < handler.replicaCount(dealId); ++r) {
                IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                paid += replica.paidPeriods;
                rewards += replica.repairReward;
                open += replica.openChallenges;
            }
            assertLe(paid * deal.pricePerPeriod, deal.escrow, "paid <= escrow");
            if (deal.refunded) assertEq(rewards, 0, "repair reward escrowed on a refunded deal: nobody can claim it");
            else claimable += deal.escrow - paid * deal.pricePerPeriod + rewards;
            claimable += open * bond;
        }
        assertEq(vault.escrowed(), claimable, "escrowed == what parties can still claim");
    }

    /// The registry holds exactly the stakes, and each lessor's locked stake is the collateral of its live replicas.
    function _checkStakeBacksCollateral() internal view {
        uint256 stakes;
        for (uint256 i; i < handler.lessorCount(); ++i) {
            address lessor = handler.lessorAt(i);
            ILessorRegistry.LessorInfo memory info = registry.getLessor(lessor);
            stakes += info.freeStake + info.lockedStake + info.unbondingStake;
            uint256 locked;
            for (uint256 d; d < handler.dealCount(); ++d) {
                bytes32 dealId = handler.deals(d);
                for (uint256 r; r < handler.replicaCount(dealId); ++r) {
                    IStorageMarket.Replica memory replica = market.getReplica(dealId, r);
                    if (replica.lessor == lessor && (replica.status == 1 || replica.status == 2)) locked += replica.collateralLeft;
                }
            }
            assertEq(info.lockedStake, locked, "locked stake == live collateral");
        }
        assertEq(token.balanceOf(address(registry)), stakes, "registry balance == stakes");
    }

    /// Every paid period has its proven bit, and the handler saw exactly that many accepted proofs.
    function _checkPaidOnlyForProvenPeriods() internal view {
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

    /// No lessor is credited more (or less) than its accepted proofs, repair rewards and bonds earned it.
    function _checkLessorsPaidOnlyWhatTheyEarned() internal view {
        for (uint256 i; i < handler.lessorCount(); ++i) {
            address lessor = handler.lessorAt(i);
            assertEq(
                vault.withdrawableOf(lessor) + handler.ghostWithdrawnBy(lessor), handler.ghostEarned(lessor), "lessor credited == earned"
            );
        }
    }
}
