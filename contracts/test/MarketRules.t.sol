// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";
import {IMarketVault} from "../interfaces/IMarketVault.sol";
import {StorageMarket} from "../market/StorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {MarketSetup} from "./MarketInvariants.t.sol";
import {TinyReplica} from "./TinyReplica.sol";

/// @notice The market rules of the security fixes (issue 12): no repair reward once a slot cannot be refilled,
/// one refund gate for cancel and claimRefund, a failed lessor never refills its deal, a bounded miss report
/// window, challenges per challenger with finishReplica waiting for all of them, and the minimum replica size.
/// Each test names the exact amounts, so the pre-fix rules fail it (see the comment above each test).
contract MarketRulesTest is MarketSetup {
    address internal constant CLIENT = address(0xC11E47);
    address internal constant OTHER_CLIENT = address(0xC11E48);
    address internal constant LESSOR_A = address(0x1E550A);
    address internal constant LESSOR_B = address(0x1E550B);
    address internal constant WATCHER = address(0x3A7C4);
    address internal constant WATCHER_B = address(0x3A7C5);

    uint128 internal constant PRICE_PER_GIB = 1e20;
    uint256 internal constant BOND = 1_000;
    uint256 internal constant CHALLENGE_WINDOW = 3;
    /// One reported miss: missSlashBps (20 %) of the collateral, bountyBps (25 %) of that to the reporter.
    uint256 internal constant MISS_SLASH = COLLATERAL * 2000 / 10_000;
    uint256 internal constant MISS_BOUNTY = MISS_SLASH * 2500 / 10_000;

    uint256 internal pricePerPeriod;

    function setUp() public {
        _deploy();
        _fund(CLIENT, 1e60);
        _fund(OTHER_CLIENT, 1e60);
        _fund(WATCHER, 1e30);
        _fund(WATCHER_B, 1e30);
        _stake(LESSOR_A);
        _stake(LESSOR_B);
        _fund(LESSOR_A, 1e30); // its self-challenge bond
        pricePerPeriod = (TinyReplica.SIZE * uint256(PRICE_PER_GIB) + (1 << 30) - 1) >> 30;
    }

    // ------------------------------------------------------------ (3) no stranded repair reward

    /// Old rule: every failure escrowed repairBps of the rest as a repair reward, also after claimRefund, so
    /// 300,000 would stay escrowed for a refunded deal and the client would get 300,000 less.
    function test_replicaFailingInGracePeriodAfterRefundLeavesNoEscrow() public {
        bytes32 dealId = _newDeal(CLIENT, 2); // periods 1 and 2, ends at 3
        _fillAndProve(dealId, LESSOR_A);
        _toPeriod(2);
        _miss(dealId, 1);
        _toPeriod(3);
        uint256 refund = market.claimRefund(dealId);
        assertEq(refund, 2 * pricePerPeriod, "refund: no period was paid");

        // The last period's miss is still reportable in the grace period; it fails the replica.
        _miss(dealId, 2);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, 0);
        assertEq(replica.status, 3, "failed");
        assertEq(replica.repairReward, 0, "no repair reward: the slot can no longer be refilled");
        assertEq(vault.escrowed(), 0, "nothing left escrowed for the refunded deal");
        uint256 rest = COLLATERAL - 2 * MISS_SLASH;
        assertEq(vault.withdrawableOf(CLIENT), refund + 2 * (MISS_SLASH - MISS_BOUNTY) + rest, "client got the repair share");
        assertEq(vault.withdrawableOf(WATCHER), 2 * MISS_BOUNTY, "reporter bounties");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "collateral all slashed");
        assertEq(token.balanceOf(address(vault)), vault.totalWithdrawable(), "vault holds only withdrawable balances");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketAlreadyRefunded.selector, dealId));
        market.claimRefund(dealId);
    }

    /// Old rule: the expired challenge escrowed 500,000 as a repair reward of a deal already refunded.
    function test_challengeExpiringAfterRefundLeavesNoEscrow() public {
        bytes32 dealId = _newDeal(CLIENT, 2);
        bytes32[4] memory segments = _fillAndProve(dealId, LESSOR_A);
        _toPeriod(1);
        _prove(dealId, LESSOR_A, segments, 1);
        _toPeriod(2);
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        uint256 openedBlock = block.number;
        _toPeriod(3); // one block later: the challenge is still open
        uint256 refund = market.claimRefund(dealId);
        assertEq(refund, pricePerPeriod, "refund: period 2 unpaid");
        assertEq(vault.escrowed(), BOND, "only the open challenge's bond is escrowed");

        vm.roll(openedBlock + 1 + CHALLENGE_WINDOW + 1);
        vm.prank(CLIENT);
        market.expireChallenge(dealId, 0, WATCHER);
        uint256 bounty = COLLATERAL * 2500 / 10_000;
        assertEq(market.getReplica(dealId, 0).repairReward, 0, "no repair reward after the last fillable period");
        assertEq(vault.escrowed(), 0, "nothing left escrowed");
        assertEq(vault.withdrawableOf(CLIENT), refund + COLLATERAL - bounty, "client got the repair share");
        assertEq(vault.withdrawableOf(WATCHER), bounty + BOND, "challenger: bounty and bond");
        assertEq(vault.withdrawableOf(LESSOR_A), pricePerPeriod, "lessor: its one proven period");
    }

    // ------------------------------------------------------------ (3b) one refund gate

    /// Old rule: cancelDeal did not check `refunded`, so a never-filled deal refunded by claimRefund could be
    /// cancelled too and its escrow paid twice (out of the other client's escrow).
    function test_cancelAfterRefundRevertsAndCreditsOnce() public {
        bytes32 dealId = _newDeal(CLIENT, 2);
        bytes32 otherId = _newDeal(OTHER_CLIENT, 2);
        uint256 escrow = market.getDeal(dealId).escrow;
        _toPeriod(3);
        assertEq(market.claimRefund(dealId), escrow, "unfilled deal: whole escrow refunded");
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketAlreadyRefunded.selector, dealId));
        market.cancelDeal(dealId);
        assertEq(vault.withdrawableOf(CLIENT), escrow, "client credited once");
        assertEq(vault.escrowed(), market.getDeal(otherId).escrow, "the other deal's escrow untouched");
        assertTrue(!market.getDeal(dealId).cancelled, "not cancelled");
    }

    function test_refundAfterCancelRevertsAndCreditsOnce() public {
        bytes32 dealId = _newDeal(CLIENT, 2);
        uint256 escrow = market.getDeal(dealId).escrow;
        vm.prank(CLIENT);
        market.cancelDeal(dealId);
        _toPeriod(3);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealCancelled.selector, dealId));
        market.claimRefund(dealId);
        assertEq(vault.withdrawableOf(CLIENT), escrow, "client credited once");
        assertEq(vault.escrowed(), 0, "nothing escrowed");
    }

    // ------------------------------------------------------------ (4) a failed lessor never refills

    /// Old rule: the failed lessor could refill its own slot and earn the repair reward carved from its slash.
    function test_failedLessorCannotRefillAndAnotherEarnsTheRepairReward() public {
        bytes32 dealId = _newDeal(CLIENT, 4); // periods 1..4, ends at 5
        _fillAndProve(dealId, LESSOR_A);
        _toPeriod(2);
        _miss(dealId, 1);
        _toPeriod(3);
        _miss(dealId, 2); // second miss: fails while refillable (3 + 1 < 5)
        uint256 repair = (COLLATERAL - 2 * MISS_SLASH) * 5000 / 10_000;
        assertEq(market.getReplica(dealId, 0).repairReward, repair, "repair reward escrowed");

        bytes32 commR = TinyReplica.root(TinyReplica.seal(TinyReplica.data(bytes32(0)), ProofMath.replicaId(LESSOR_A, dealId, 0), 1));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorFailedDeal.selector, dealId, LESSOR_A));
        market.fillReplica(dealId, 0, commR);

        bytes32[4] memory replicaOfB = _fillAndProve(dealId, LESSOR_B);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, 0);
        assertTrue(replica.lessor == LESSOR_B, "refilled by B");
        assertEq(replica.status, 2, "proving");
        assertEq(replica.repairReward, 0, "reward paid out");
        assertEq(vault.withdrawableOf(LESSOR_B), repair, "B earned the repair reward");
        _toPeriod(4);
        _prove(dealId, LESSOR_B, replicaOfB, 4);
        assertEq(vault.withdrawableOf(LESSOR_B), repair + pricePerPeriod, "B paid for period 4");
        assertEq(vault.withdrawableOf(LESSOR_A), 0, "A earned nothing");
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow - pricePerPeriod, "escrow less the one paid period");
    }

    // ------------------------------------------------------------ (5) miss reports, challenges, finish

    /// Old rule: any closed period's miss was reportable forever.
    function test_missReportClosesAfterTheNextPeriod() public {
        bytes32 dealId = _newDeal(CLIENT, 4);
        _fillAndProve(dealId, LESSOR_A);
        _toPeriod(3);
        vm.prank(WATCHER);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketMissReportClosed.selector, dealId, 0, 1, 3));
        market.markProofMissing(dealId, 0, 1);
        _miss(dealId, 2); // the previous period is still open for reports
        assertEq(market.getReplica(dealId, 0).misses, 1, "one miss counted");
        assertTrue(!market.isPeriodMarkedMissed(dealId, 0, 1), "period 1 not marked");
        assertEq(registry.lockedStakeOf(LESSOR_A), COLLATERAL - MISS_SLASH, "one miss slashed");
        assertEq(vault.withdrawableOf(WATCHER), MISS_BOUNTY, "one bounty");
    }

    /// Old rule: one challenge per slot, so a lessor's self-challenge (answered or not) shut every other
    /// challenger out for its window: WATCHER's challenge reverted MarketChallengeOpen.
    function test_selfChallengeDoesNotShieldTheReplica() public {
        bytes32 dealId = _newDeal(CLIENT, 4);
        bytes32[4] memory segments = _fillAndProve(dealId, LESSOR_A);
        _toPeriod(1);
        vm.prank(LESSOR_A);
        market.challengeReplica(dealId, 0);
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        // From the market, not block.number: via-IR may reuse an earlier block.number read across vm.roll.
        uint256 openedBlock = market.getChallenge(dealId, 0, WATCHER).openedBlock;
        assertEq(market.getReplica(dealId, 0).openChallenges, 2, "two open challenges");

        // The lessor answers only its own challenge and lets the watcher's expire.
        vm.roll(openedBlock + 2);
        _answer(dealId, LESSOR_A, LESSOR_A, segments);
        vm.roll(openedBlock + 1 + CHALLENGE_WINDOW + 1);
        vm.prank(CLIENT);
        market.expireChallenge(dealId, 0, WATCHER);

        IStorageMarket.Replica memory replica = market.getReplica(dealId, 0);
        uint256 bounty = COLLATERAL * 2500 / 10_000;
        uint256 repair = COLLATERAL * 5000 / 10_000;
        assertEq(replica.status, 3, "failed by the expired challenge");
        assertEq(replica.openChallenges, 0, "none open");
        assertEq(replica.repairReward, repair, "repair reward: still refillable");
        assertEq(vault.withdrawableOf(WATCHER), bounty + BOND, "challenger: bounty and bond");
        assertEq(vault.withdrawableOf(CLIENT), COLLATERAL - bounty - repair, "client share");
        assertEq(vault.withdrawableOf(LESSOR_A), BOND, "lessor: its own answered bond only");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "collateral slashed");
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow + repair, "escrow + repair reward");
    }

    /// Old rule: one challenge per slot; here two challengers are open at the deal's end and finishReplica
    /// must wait for both.
    function test_finishReplicaWaitsForEveryOpenChallenge() public {
        bytes32 dealId = _newDeal(CLIENT, 1); // period 1, ends at 2, finishable from 3
        bytes32[4] memory segments = _fillAndProve(dealId, LESSOR_A);
        _toPeriod(1);
        _prove(dealId, LESSOR_A, segments, 1);
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        vm.prank(WATCHER_B);
        market.challengeReplica(dealId, 0);
        uint256 openedBlock = block.number;

        vm.warp(market.startTime() + 2 * PERIOD + 1); // time passes, blocks do not: both stay open
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketReplicaNotFinishable.selector, dealId, 0, 3));
        market.finishReplica(dealId, 0);
        vm.warp(market.startTime() + 3 * PERIOD + 1);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengesOpen.selector, dealId, 0, 2));
        market.finishReplica(dealId, 0);
        vm.roll(openedBlock + 2);
        _answer(dealId, WATCHER, LESSOR_A, segments);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengesOpen.selector, dealId, 0, 1));
        market.finishReplica(dealId, 0);
        _answer(dealId, WATCHER_B, LESSOR_A, segments);
        market.finishReplica(dealId, 0);

        assertEq(market.getReplica(dealId, 0).status, 4, "finished");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "collateral released");
        assertEq(registry.freeStakeOf(LESSOR_A), STAKE, "whole stake free again");
        assertEq(vault.withdrawableOf(LESSOR_A), pricePerPeriod + 2 * BOND, "its period and both bonds");
    }

    // ------------------------------------------------------------ (2) minimum replica size

    /// Old rule: any size was accepted, however many openings its PoSts would publish.
    function test_minimumSizeScalesWithDurationAndTopUp() public {
        StorageMarket sized = _marketWithMinimumSize(64, 8);
        assertEq(sized.minimumSize(2), 64 * 32, "floor: minSegments");
        assertEq(sized.minimumSize(5), 8 * K_POST * 5 * 32, "revealFactor * kPoSt * duration segments");
        vm.startPrank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealTooSmall.selector, 63 * 32, 64 * 32));
        sized.createDeal(bytes32(uint256(1)), 63 * 32, 1, 2, PRICE_PER_GIB, uint128(COLLATERAL));
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealTooSmall.selector, 79 * 32, 80 * 32));
        sized.createDeal(bytes32(uint256(1)), 79 * 32, 1, 5, PRICE_PER_GIB, uint128(COLLATERAL));
        // 79 segments and one byte: 80 segments, enough for 5 periods but not for a sixth.
        bytes32 dealId = sized.createDeal(bytes32(uint256(1)), 79 * 32 + 1, 1, 5, PRICE_PER_GIB, uint128(COLLATERAL));
        assertEq(sized.getDeal(dealId).segments, 80, "80 segments");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealTooSmall.selector, 79 * 32 + 1, 96 * 32));
        sized.topUp(dealId, 1);
        vm.stopPrank();
        assertEq(sized.getDeal(dealId).endPeriod, 6, "end unchanged");
    }

    // ------------------------------------------------------------ helpers

    function _newDeal(address client, uint32 duration) internal returns (bytes32 dealId) {
        bytes32 commD = TinyReplica.root(TinyReplica.data(bytes32(0))); // before the prank (sha256 precompile)
        vm.prank(client);
        dealId = market.createDeal(commD, uint64(TinyReplica.SIZE), 1, duration, PRICE_PER_GIB, uint128(COLLATERAL));
    }

    /// `lessor` fills slot 0 and answers its PoRep two blocks later.
    function _fillAndProve(bytes32 dealId, address lessor) internal returns (bytes32[4] memory segments) {
        bytes32[4] memory data = TinyReplica.data(bytes32(0));
        bytes32 replica = ProofMath.replicaId(lessor, dealId, 0);
        segments = TinyReplica.seal(data, replica, 1);
        bytes32 commR = TinyReplica.root(segments);
        vm.prank(lessor);
        market.fillReplica(dealId, 0, commR);
        vm.roll(block.number + 2);
        bytes32[] memory proof = TinyReplica.porepProof(data, segments, market.porepSeed(dealId, 0), replica, K_POREP);
        vm.prank(lessor);
        market.answerPoRep(dealId, 0, proof);
    }

    function _toPeriod(uint256 period) internal {
        vm.warp(market.startTime() + period * PERIOD + 1);
        vm.roll(block.number + 1);
    }

    function _prove(bytes32 dealId, address lessor, bytes32[4] memory segments, uint256 period) internal {
        bytes32 seed = _seedNow();
        bytes32[] memory proof = new bytes32[](K_POST * 3);
        TinyReplica.postProof(segments, seed, ProofMath.replicaId(lessor, dealId, 0), K_POST, proof, 0);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = dealId;
        vm.prank(lessor);
        market.submitPoSt(period, ids, hex"00", proof);
    }

    function _miss(bytes32 dealId, uint256 period) internal {
        vm.prank(WATCHER);
        market.markProofMissing(dealId, 0, period);
    }

    function _answer(bytes32 dealId, address challenger, address lessor, bytes32[4] memory segments) internal {
        bytes32 seed = market.getChallenge(dealId, 0, challenger).seed;
        bytes32[] memory proof = TinyReplica.challengeProof(segments, seed, ProofMath.replicaId(lessor, dealId, 0), K_POST);
        vm.prank(lessor);
        market.answerChallenge(dealId, 0, challenger, proof);
    }

    /// A second market on the same registry and vault, with the minimum-size rule on.
    function _marketWithMinimumSize(uint48 minSegments, uint16 revealFactor) internal returns (StorageMarket sized) {
        IStorageMarket.Params memory p = market.params();
        p.minSegments = minSegments;
        p.revealFactor = revealFactor;
        sized = new StorageMarket(ILessorRegistry(address(registry)), IMarketVault(address(vault)), p);
        vault.grantRole(vault.OPERATOR_ROLE(), address(sized));
        registry.grantRole(registry.MARKET_ROLE(), address(sized));
    }
}
