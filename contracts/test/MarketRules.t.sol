// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {Sha256Merkle} from "../libraries/Sha256Merkle.sol";
import {MarketSetup} from "./MarketInvariants.t.sol";
import {TestSector} from "./TestSector.sol";
import {TinyReplica} from "./TinyReplica.sol";

/// @notice The market's rules for sectors (docs/protocol.md §10, §12), one rule per test: each names the exact
/// error a broken call reverts with and the exact amounts and events of the calls that pass.
contract MarketRulesTest is MarketSetup {
    address internal constant CLIENT = address(0xC11E47);
    address internal constant OTHER_CLIENT = address(0xC11E48);
    address internal constant LESSOR_A = address(0x1E550A);
    address internal constant LESSOR_B = address(0x1E550B);
    address internal constant LESSOR_C = address(0x1E550C);
    address internal constant NOT_LESSOR = address(0xBAD);
    address internal constant WATCHER = address(0x3A7C4);
    address internal constant WATCHER_B = address(0x3A7C5);

    /// missSlashBps (20 %) of the collateral per missed period.
    uint256 internal constant MISS_SLASH = COLLATERAL * MISS_SLASH_BPS / BPS;

    /// ceil(128 bytes · PRICE_PER_GIB / 2^30): one period of a 4-segment deal.
    uint256 internal price;

    function setUp() public {
        _deploy();
        _fund(CLIENT, 1e60);
        _fund(OTHER_CLIENT, 1e60);
        _fund(WATCHER, 1e30);
        _fund(WATCHER_B, 1e30);
        _stake(LESSOR_A);
        _stake(LESSOR_B);
        _stake(LESSOR_C);
        price = (TinyReplica.SIZE * uint256(PRICE_PER_GIB) + (1 << 30) - 1) >> 30;
    }

    // ================================================================ deals

    function test_createDeal_rejectsBadTermsAndEscrowsExactly() public {
        vm.startPrank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidReplicaCount.selector, 0));
        market.createDeal(bytes32(uint256(1)), 128, 0, 2, PRICE_PER_GIB, uint128(COLLATERAL));
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidReplicaCount.selector, 11));
        market.createDeal(bytes32(uint256(1)), 128, 11, 2, PRICE_PER_GIB, uint128(COLLATERAL));
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidSize.selector, 0));
        market.createDeal(bytes32(uint256(1)), 0, 1, 2, PRICE_PER_GIB, uint128(COLLATERAL));
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPrice.selector, 0));
        market.createDeal(bytes32(uint256(1)), 128, 1, 2, 0, uint128(COLLATERAL));
        // 1,000 units per byte: 128 bytes need 128,000.
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketCollateralTooLow.selector, 127_999, 128_000));
        market.createDeal(bytes32(uint256(1)), 128, 1, 2, PRICE_PER_GIB, 127_999);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidDuration.selector, 0));
        market.createDeal(bytes32(uint256(1)), 128, 1, 0, PRICE_PER_GIB, uint128(COLLATERAL));
        // Three segments and a byte: below minSegments (4).
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealTooSmall.selector, 96, MIN_SEGMENTS * 32));
        market.createDeal(bytes32(uint256(1)), 96, 1, 2, PRICE_PER_GIB, uint128(COLLATERAL));

        vm.stopPrank();

        uint256 before = token.balanceOf(address(vault));
        bytes32 expectedId = sha256(abi.encode(CLIENT, uint256(0)));
        // ceil(97 · price / 2^30): a lessor is never paid less than the quoted rate.
        uint256 price97 = (97 * uint256(PRICE_PER_GIB) + (1 << 30) - 1) >> 30;
        vm.expectEmit(address(market));
        emit IStorageMarket.DealCreated(expectedId, CLIENT, bytes32(uint256(7)), 97, 3, 1, 6, uint128(price97), uint128(COLLATERAL));
        vm.prank(CLIENT);
        bytes32 dealId = market.createDeal(bytes32(uint256(7)), 97, 3, 5, PRICE_PER_GIB, uint128(COLLATERAL));
        assertTrue(dealId == expectedId, "dealId = H(client, nonce)");
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        assertEq(deal.segments, 4, "97 bytes: 4 segments");
        assertEq(deal.depth, 2, "depth 2");
        assertEq(deal.pricePerPeriod, price97, "price per period rounded up");
        assertEq(deal.escrow, 3 * 5 * price97, "escrow = replicas * duration * price");
        assertEq(token.balanceOf(address(vault)) - before, 3 * 5 * price97, "escrow pulled into the vault");
        assertEq(vault.escrowed(), 3 * 5 * price97, "escrowed");
    }

    function test_cancelDeal_refundsOnceAndNeverAfterAFill() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2);
        uint256 escrow = market.getDeal(dealId).escrow;
        vm.prank(OTHER_CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketNotDealClient.selector, dealId, OTHER_CLIENT));
        market.cancelDeal(dealId);
        vm.expectEmit(address(market));
        emit IStorageMarket.DealCancelled(dealId, escrow);
        vm.prank(CLIENT);
        market.cancelDeal(dealId);
        assertEq(vault.withdrawableOf(CLIENT), escrow, "whole escrow back");
        assertEq(uint256(market.dealState(dealId)), uint256(IStorageMarket.DealState.Cancelled), "cancelled");
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealCancelled.selector, dealId));
        market.cancelDeal(dealId);
        (bytes32 sectorId, bytes32 commR) = _buildSector(LESSOR_A, 1, 2, _ids(dealId));
        sectorId;
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealCancelled.selector, dealId));
        market.commitSector(1, 2, commR, _ids(dealId), hex"00");

        bytes32 filled = _newDeal(CLIENT, "b", 2);
        _commit(LESSOR_A, 2, 2, _ids(filled), hex"00");
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealAlreadyFilled.selector, filled));
        market.cancelDeal(filled);
    }

    /// claimRefund and cancelDeal are the two client payouts of an escrow: at most one of them runs.
    function test_cancelAfterRefundRevertsAndCreditsOnce() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2);
        bytes32 otherId = _newDeal(OTHER_CLIENT, "b", 2);
        uint256 escrow = market.getDeal(dealId).escrow;
        _toPeriod(2);
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealNotEnded.selector, dealId, 3, 2));
        market.claimRefund(dealId);
        _toPeriod(3);
        vm.expectEmit(address(market));
        emit IStorageMarket.DealRefunded(dealId, CLIENT, escrow);
        assertEq(market.claimRefund(dealId), escrow, "unfilled deal: whole escrow refunded");
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketAlreadyRefunded.selector, dealId));
        market.cancelDeal(dealId);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketAlreadyRefunded.selector, dealId));
        market.claimRefund(dealId);
        assertEq(vault.withdrawableOf(CLIENT), escrow, "client credited once");
        assertEq(vault.escrowed(), market.getDeal(otherId).escrow, "the other deal's escrow untouched");
        assertTrue(!market.getDeal(dealId).cancelled, "not cancelled");
    }

    function test_refundAfterCancelRevertsAndCreditsOnce() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2);
        uint256 escrow = market.getDeal(dealId).escrow;
        vm.prank(CLIENT);
        market.cancelDeal(dealId);
        _toPeriod(3);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealCancelled.selector, dealId));
        market.claimRefund(dealId);
        assertEq(vault.withdrawableOf(CLIENT), escrow, "client credited once");
        assertEq(vault.escrowed(), 0, "nothing escrowed");
    }

    // ================================================================ commitSector checks

    function test_commitSector_rejectsSizesOutsideTheBounds() public {
        vm.startPrank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidSectorSize.selector, MIN_SECTOR_LOG - 1));
        market.commitSector(1, uint8(MIN_SECTOR_LOG - 1), bytes32(uint256(1)), _none(), "");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidSectorSize.selector, MAX_SECTOR_LOG + 1));
        market.commitSector(1, uint8(MAX_SECTOR_LOG + 1), bytes32(uint256(1)), _none(), "");
        // Both bounds are sizes a lessor may commit (capacity sectors).
        market.commitSector(1, uint8(MIN_SECTOR_LOG), bytes32(uint256(1)), _none(), "");
        market.commitSector(2, uint8(MAX_SECTOR_LOG), bytes32(uint256(1)), _none(), "");
        vm.stopPrank();
        assertEq(market.getSector(ProofMath.sectorId(LESSOR_A, 2)).log2Segments, MAX_SECTOR_LOG, "largest sector");
        assertTrue(
            market.getSector(ProofMath.sectorId(LESSOR_A, 2)).commD == TestSector.zeroRoot(MAX_SECTOR_LOG), "zero tree of 2^17"
        );
    }

    function test_commitSector_rejectsWhoIsNotAnActiveLessor() public {
        vm.prank(NOT_LESSOR);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorNotActive.selector, NOT_LESSOR));
        market.commitSector(1, 2, bytes32(uint256(1)), _none(), "");
    }

    function test_commitSector_rejectsPieceListMismatch() public {
        bytes32 a = _newDeal(CLIENT, "a", 3);
        bytes32 b = _newDeal(CLIENT, "b", 3);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPieceListMismatch.selector, 2, 1));
        market.commitSector(1, 3, bytes32(uint256(1)), _ids(a, b), hex"00");
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPieceListMismatch.selector, 0, 1));
        market.commitSector(1, 3, bytes32(uint256(1)), _none(), hex"00");
    }

    /// A lessor's sector numbers are used once (its id is its replicaId); another lessor's same number is another sector.
    function test_commitSector_rejectsAnExistingSector() public {
        vm.prank(LESSOR_A);
        bytes32 first = market.commitSector(7, 2, bytes32(uint256(1)), _none(), "");
        assertTrue(first == ProofMath.sectorId(LESSOR_A, 7), "sectorId = H(lessor, number)");
        assertTrue(first == sha256(abi.encode(LESSOR_A, uint256(7))), "sha256(abi.encode(lessor, number))");
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketSectorExists.selector, first));
        market.commitSector(7, 3, bytes32(uint256(2)), _none(), "");
        vm.prank(LESSOR_B);
        bytes32 other = market.commitSector(7, 2, bytes32(uint256(1)), _none(), "");
        assertTrue(other != first, "B's sector 7 is another sector");
    }

    /// Pieces go in non-increasing size; a piece larger than the sector is out of order at position 0.
    function test_commitSector_rejectsPiecesOutOfOrder() public {
        bytes32 small = _newDeal(CLIENT, "s", 2, 1, 3);
        bytes32 big = _newDeal(CLIENT, "b", 3, 1, 3);
        vm.startPrank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPiecesOutOfOrder.selector, 1));
        market.commitSector(1, 4, bytes32(uint256(1)), _ids(small, big), hex"0000");
        // A piece larger than the sector is refused as overfull (checked before the order).
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketSectorOverfull.selector, 8, 4));
        market.commitSector(1, 2, bytes32(uint256(1)), _ids(big), hex"00");
        vm.stopPrank();
        // The same pieces largest first fit a 16-segment sector.
        bytes32 sectorId = _commit(LESSOR_A, 1, 4, _ids(big, small), hex"0000");
        assertEq(market.getReplica(big, 0).offset, 0, "8-segment piece at 0");
        assertEq(market.getReplica(small, 0).offset, 8, "4-segment piece at 8");
        assertEq(market.getSector(sectorId).pieces, 2, "two pieces");
    }

    function test_commitSector_rejectsAnOverfullSector() public {
        bytes32 a = _newDeal(CLIENT, "a", 3);
        bytes32 b = _newDeal(CLIENT, "b", 3);
        bytes32 c = _newDeal(CLIENT, "c", 3);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketSectorOverfull.selector, 12, 8));
        market.commitSector(1, 3, bytes32(uint256(1)), _ids(a, b, c), hex"000000");
        // Nothing was filled by the reverted commit.
        assertEq(uint256(market.replicaState(a, 0)), uint256(IStorageMarket.ReplicaState.Open), "a open");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "nothing locked");
    }

    function test_commitSector_rejectsSlotsThatAreNotOpen() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        bytes32 commR = bytes32(uint256(1));
        vm.startPrank(LESSOR_B);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketUnknownDeal.selector, bytes32(uint256(0xdead))));
        market.commitSector(1, 2, commR, _ids(bytes32(uint256(0xdead))), hex"00");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidReplicaIndex.selector, dealId, 1, 1));
        market.commitSector(1, 2, commR, _ids(dealId), hex"01");
        vm.stopPrank();

        _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        vm.prank(LESSOR_B);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotOpen.selector, dealId, 0, IStorageMarket.ReplicaState.Committed)
        );
        market.commitSector(1, 2, commR, _ids(dealId), hex"00");

        // A slot's last refillable period is the one before the deal's last: then it has ended for fills.
        bytes32 ending = _newDeal(CLIENT, "e", 2);
        _toPeriod(2);
        vm.prank(LESSOR_B);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketDealEnded.selector, ending, 3, 2));
        market.commitSector(1, 2, commR, _ids(ending), hex"00");
    }

    /// Sybil rule (§4.1): one lessor holds at most one live replica of a deal, across sectors and within one.
    function test_commitSector_enforcesTheSybilRule() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2, 2, 3);
        bytes32 commR = bytes32(uint256(1));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorAlreadyHoldsReplica.selector, dealId, LESSOR_A, 0));
        market.commitSector(1, 3, commR, _ids(dealId, dealId), hex"0001");
        _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorAlreadyHoldsReplica.selector, dealId, LESSOR_A, 0));
        market.commitSector(2, 2, commR, _ids(dealId), hex"01");
        // The same slot twice in one sector: the second is no longer open. (The state it reports is read
        // before the sector is written, so only the error's name is checked.)
        vm.prank(LESSOR_B);
        vm.expectPartialRevert(IStorageMarket.MarketReplicaNotOpen.selector);
        market.commitSector(1, 3, commR, _ids(dealId, dealId), hex"0101");
        _commit(LESSOR_B, 1, 2, _ids(dealId), hex"01");
        assertTrue(market.getReplica(dealId, 1).lessor == LESSOR_B, "B holds slot 1");
    }

    /// A lessor that lost a replica of a deal (here by a drop) never fills a slot of it again; another may.
    function test_commitSector_refusesAFailedLessor() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2, 2, 4);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        vm.prank(LESSOR_A);
        market.dropSector(sectorId);
        market.settleReplica(dealId, 0);
        bytes32 commR;
        (, commR) = _buildSector(LESSOR_A, 2, 2, _ids(dealId));
        vm.startPrank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorFailedDeal.selector, dealId, LESSOR_A));
        market.commitSector(2, 2, commR, _ids(dealId), hex"00");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorFailedDeal.selector, dealId, LESSOR_A));
        market.commitSector(2, 2, commR, _ids(dealId), hex"01");
        vm.stopPrank();
        _commit(LESSOR_B, 1, 2, _ids(dealId), hex"00");
        assertTrue(market.getReplica(dealId, 0).lessor == LESSOR_B, "B refilled the slot");
    }

    function test_commitSector_locksCollateralAndRecordsPieces() public {
        bytes32 a = _newDeal(CLIENT, "a", 3);
        bytes32 b = _newDeal(CLIENT, "b", 2, 2, 3);
        (bytes32 sectorId, bytes32 commR) = _buildSector(LESSOR_A, 5, 3, _ids(a, b));
        bytes32 commD = Sha256Merkle.hashPair(TinyReplica.root(TinyReplica.data("a")), TinyReplica.root(TinyReplica.data("b")));
        uint256 freeBefore = registry.freeStakeOf(LESSOR_A);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaFilled(a, 0, LESSOR_A, sectorId, 0, COLLATERAL);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaFilled(b, 1, LESSOR_A, sectorId, 4, COLLATERAL);
        vm.expectEmit(address(market));
        emit IStorageMarket.SectorCommitted(sectorId, LESSOR_A, 5, 3, commR, commD, 2);
        vm.prank(LESSOR_A);
        bytes32 returned = market.commitSector(5, 3, commR, _ids(a, b), hex"0001");
        assertTrue(returned == sectorId, "returns the sector id");

        assertEq(registry.lockedStakeOf(LESSOR_A), 2 * COLLATERAL, "both pieces' collateral locked");
        assertEq(freeBefore - registry.freeStakeOf(LESSOR_A), 2 * COLLATERAL, "from free stake");
        IStorageMarket.Sector memory sector = market.getSector(sectorId);
        assertTrue(sector.lessor == LESSOR_A, "lessor");
        assertEq(sector.pieces, 2, "pieces");
        assertEq(sector.livePieces, 2, "live pieces");
        assertEq(sector.firstPeriod, 0, "no PoRep yet");
        assertEq(sector.commitBlock, _block(), "commit block");
        assertEq(sector.commitTime, _now(), "commit time");
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Committed), "sector committed");
        IStorageMarket.Replica memory replica = market.getReplica(b, 1);
        assertTrue(replica.sector == sectorId && replica.lessor == LESSOR_A, "slot 1 of b in the sector");
        assertEq(replica.collateralLeft, COLLATERAL, "collateral left");
        assertEq(replica.fillBlock, _block(), "fill block");
        assertEq(uint256(market.replicaState(b, 1)), uint256(IStorageMarket.ReplicaState.Committed), "replica committed");
        assertEq(uint256(market.replicaState(b, 0)), uint256(IStorageMarket.ReplicaState.Open), "slot 0 still open");
        assertTrue(market.getDeal(b).everFilled, "ever filled");
        assertTrue(market.porepSeed(sectorId) == bytes32(0), "PoRep seed not mined yet");
    }

    // ================================================================ commD recomputation

    /// A 4-segment sector holding TinyReplica's file as its only piece has the file's root as its commD.
    function test_commD_oneTinyPieceIsTheFileRoot() public {
        bytes32 dealId = _newDeal(CLIENT, "tiny", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        bytes32 fileRoot = TinyReplica.root(TinyReplica.data("tiny"));
        assertTrue(market.getDeal(dealId).commD == fileRoot, "deal commD");
        assertTrue(market.getSector(sectorId).commD == fileRoot, "sector commD == file root");
        // And the PoRep over that commD passes: the recomputed root is the one the data was sealed against.
        _porep(sectorId);
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Proving), "proving");
    }

    function test_commD_twoPiecesAreHashedPairwise() public {
        bytes32 a = _newDeal(CLIENT, "a", 3);
        bytes32 b = _newDeal(CLIENT, "b", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 3, _ids(a, b), hex"0000");
        bytes32 rootA = TinyReplica.root(TinyReplica.data("a"));
        bytes32 rootB = TinyReplica.root(TinyReplica.data("b"));
        assertTrue(market.getSector(sectorId).commD == Sha256Merkle.hashPair(rootA, rootB), "commD = H(rootA, rootB)");
        assertTrue(market.getSector(sectorId).commD == TestSector.root(dataOf[sectorId]), "== full tree of the layout");
        _porep(sectorId);
        assertEq(market.getSector(sectorId).firstPeriod, 1, "proving from period 1");
    }

    function test_commD_zeroTailAndCapacitySectors() public {
        bytes32 a = _newDeal(CLIENT, "a", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 4, _ids(a), hex"00");
        bytes32 rootA = TinyReplica.root(TinyReplica.data("a"));
        bytes32 expected = Sha256Merkle.hashPair(Sha256Merkle.hashPair(rootA, TestSector.zeroRoot(2)), TestSector.zeroRoot(3));
        assertTrue(market.getSector(sectorId).commD == expected, "piece, then zero subtrees");
        for (uint256 log2 = MIN_SECTOR_LOG; log2 <= 6; ++log2) {
            bytes32 capacity = _commit(LESSOR_B, log2, log2, _none(), "");
            assertTrue(market.getSector(capacity).commD == TestSector.zeroRoot(log2), "capacity sector: the zero tree");
            assertEq(market.getSector(capacity).pieces, 0, "no pieces");
        }
        assertEq(registry.lockedStakeOf(LESSOR_B), 0, "capacity sectors lock nothing");
    }

    // ================================================================ PoRep

    function test_answerPoRep_waitsForTheSeedBlock() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        uint256 commitBlock = market.getSector(sectorId).commitBlock;
        bytes32[] memory fake = new bytes32[](1);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPoRepSeedNotReady.selector, sectorId, commitBlock + 2));
        market.answerPoRep(sectorId, fake);
        vm.roll(commitBlock + 1);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPoRepSeedNotReady.selector, sectorId, commitBlock + 2));
        market.answerPoRep(sectorId, fake);
        vm.roll(commitBlock + 2);
        assertTrue(market.porepSeed(sectorId) == blockhash(commitBlock + 1), "seed = blockhash(commit block + 1)");
        _porep(sectorId);
    }

    function test_answerPoRep_lateByTimeExpiresTheSector() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        bytes32[] memory proof = _porepProofFor(sectorId);
        uint256 commitTime = market.getSector(sectorId).commitTime;
        vm.warp(commitTime + POREP_TIMEOUT);
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Committed), "last second: in time");
        vm.warp(commitTime + POREP_TIMEOUT + 1);
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Expired), "timeout + 1 s: late");
        assertTrue(market.porepSeed(sectorId) == bytes32(0), "no PoRep seed once late");
        vm.prank(LESSOR_A);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketSectorWrongState.selector, sectorId, IStorageMarket.SectorState.Expired)
        );
        market.answerPoRep(sectorId, proof);
        vm.prank(LESSOR_A);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketSectorWrongState.selector, sectorId, IStorageMarket.SectorState.Expired)
        );
        market.dropSector(sectorId);
    }

    /// blockhash reaches 256 blocks back: a PoRep is late after block commitBlock + 256 whatever the time.
    function test_answerPoRep_lateByBlocksExpiresTheSector() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        bytes32[] memory proof = _porepProofFor(sectorId);
        uint256 commitBlock = market.getSector(sectorId).commitBlock;
        vm.roll(commitBlock + 256);
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Committed), "block +256: in time");
        vm.roll(commitBlock + 257);
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Expired), "block +257: late");
        vm.prank(LESSOR_A);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketSectorWrongState.selector, sectorId, IStorageMarket.SectorState.Expired)
        );
        market.answerPoRep(sectorId, proof);
    }

    function test_answerPoRep_rejectsInvalidProofsAndOtherCallers() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        bytes32[] memory proof = _porepProofFor(sectorId);

        bytes32[] memory flipped = _copy(proof);
        flipped[1] ^= bytes32(uint256(1));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoRep.selector, sectorId));
        market.answerPoRep(sectorId, flipped);

        bytes32[] memory longer = new bytes32[](proof.length + 1);
        for (uint256 i; i < proof.length; ++i) longer[i] = proof[i];
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoRep.selector, sectorId));
        market.answerPoRep(sectorId, longer);

        // The same data sealed to another replicaId (B's sector 1) does not pass for A's sector.
        (bytes32 foreignId,) = _buildSector(LESSOR_B, 1, 2, _ids(dealId));
        bytes32[] memory foreign = TestSector.porepProof(
            dataOf[foreignId], sealedOf[foreignId], blockhash(market.getSector(sectorId).commitBlock + 1), foreignId, K_POREP
        );
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoRep.selector, sectorId));
        market.answerPoRep(sectorId, foreign);

        vm.prank(LESSOR_B);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketNotSectorLessor.selector, sectorId, LESSOR_B));
        market.answerPoRep(sectorId, proof);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketUnknownSector.selector, bytes32(uint256(5))));
        market.answerPoRep(bytes32(uint256(5)), proof);

        vm.expectEmit(address(market));
        emit IStorageMarket.PoRepAccepted(sectorId, LESSOR_A, 1);
        vm.prank(LESSOR_A);
        market.answerPoRep(sectorId, proof);
        vm.prank(LESSOR_A);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketSectorWrongState.selector, sectorId, IStorageMarket.SectorState.Proving)
        );
        market.answerPoRep(sectorId, proof);

        IStorageMarket.Sector memory sector = market.getSector(sectorId);
        assertEq(sector.firstPeriod, 1, "proving from the next period");
        assertEq(sector.index, 0, "first of its size");
        assertEq(market.provingCounts(LESSOR_A), 1, "one 4-segment sector (class 0)");
        assertTrue(market.provingSectorAt(LESSOR_A, 2, 0) == sectorId, "in the proving array");
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Proving), "piece proving");
        assertTrue(market.servingLessor(dealId, 0) == LESSOR_A, "serving lessor");
        assertEq(uint256(market.dealState(dealId)), uint256(IStorageMarket.DealState.Active), "deal active");
    }

    // ================================================================ proving-set lock (§12.4)

    /// Once the current period's seed is readable, a lessor's proving set is frozen until it proves the period.
    function test_provingSet_lockedFromTheSeedBlockUntilProven() public {
        bytes32 first = _commit(LESSOR_A, 1, 2, _none(), "");
        _porep(first);
        _toPeriod(1);
        bytes32 second = _commit(LESSOR_A, 2, 3, _none(), "");
        bytes32[] memory proof = _porepProofFor(second);
        bytes32 other = _commit(LESSOR_B, 1, 2, _none(), "");
        bytes32[] memory otherProof = _porepProofFor(other);

        // Requested, not mined yet: nobody knows the challenges, the set may still change.
        market.seedPeriod();
        uint256 seedBlock = market.periodSeedBlock(1);
        assertEq(seedBlock, _block() + 1, "seed block = next block");
        vm.roll(seedBlock + 1);
        // Committing does not change the proving set: allowed while it is locked.
        _commit(LESSOR_A, 3, 2, _none(), "");
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketProvingSetLocked.selector, LESSOR_A, 1));
        market.answerPoRep(second, proof);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketProvingSetLocked.selector, LESSOR_A, 1));
        market.dropSector(first);
        // B proves nothing yet: its (empty) set is never locked.
        vm.prank(LESSOR_B);
        market.answerPoRep(other, otherProof);

        _post(LESSOR_A);
        vm.prank(LESSOR_A);
        market.answerPoRep(second, proof);
        vm.prank(LESSOR_A);
        market.dropSector(first);
        assertEq(market.provingCounts(LESSOR_A), 1 << 16, "one 8-segment sector left");
    }

    function test_provingSet_changesBeforeTheSeedBlockIsMined() public {
        bytes32 first = _commit(LESSOR_A, 1, 2, _none(), "");
        _porep(first);
        _toPeriod(1);
        bytes32 second = _commit(LESSOR_A, 2, 2, _none(), "");
        bytes32[] memory proof = _porepProofFor(second);
        market.seedPeriod();
        // Same block as the request: the seed block is not mined.
        vm.prank(LESSOR_A);
        market.answerPoRep(second, proof);
        vm.roll(market.periodSeedBlock(1));
        vm.prank(LESSOR_A);
        market.dropSector(first);
        assertEq(market.provingCounts(LESSOR_A), 1, "one 4-segment sector");
        assertTrue(market.provingSectorAt(LESSOR_A, 2, 0) == second, "swap-and-pop moved the second to index 0");
        assertEq(market.getSector(second).index, 0, "its index updated");
    }

    // ================================================================ PoSt

    function test_submitPoSt_checksPeriodSeedAndSet() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        bytes32[] memory empty = new bytes32[](0);
        _toPeriod(1);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketWrongPeriod.selector, 2, 1));
        market.submitPoSt(2, empty);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketWrongPeriod.selector, 0, 1));
        market.submitPoSt(0, empty);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPeriodNotSeeded.selector, 1, 0));
        market.submitPoSt(1, empty);
        uint256 requestedAt = _block();
        vm.expectEmit(address(market));
        emit IStorageMarket.PeriodSeedRequested(1, requestedAt + 1);
        assertTrue(market.seedPeriod() == bytes32(0), "first call: no seed yet");
        uint256 seedBlock = market.periodSeedBlock(1);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPeriodNotSeeded.selector, 1, seedBlock + 1));
        market.submitPoSt(1, empty);
        vm.roll(seedBlock + 1);
        // A lessor whose only sector has not passed its PoRep proves nothing.
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketNothingToProve.selector, LESSOR_A));
        market.submitPoSt(1, empty);
        assertTrue(
            market.periodSeed(1) == sha256(abi.encode(blockhash(seedBlock), uint256(1))), "seed = H(blockhash(seed block), period)"
        );
        sectorId;
    }

    function test_submitPoSt_seedLostAfter256Blocks() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        _porep(sectorId);
        _toPeriod(1);
        market.seedPeriod();
        uint256 seedBlock = market.periodSeedBlock(1);
        vm.roll(seedBlock + 257);
        assertTrue(market.periodSeed(1) == bytes32(0), "seed unreadable");
        bytes32[] memory empty = new bytes32[](0);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPeriodSeedLost.selector, 1, seedBlock));
        market.submitPoSt(1, empty);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPeriodSeedLost.selector, 1, seedBlock));
        market.seedPeriod();
    }

    function test_submitPoSt_rejectsBadOpeningsAndProvesOnce() public {
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _none(), "");
        _porep(sectorId);
        _toPeriod(1);
        bytes32[] memory proof = _postProofFor(LESSOR_A);
        assertEq(proof.length, K_POST * 3, "three openings of 3 words");

        // The opening of challenge 1 starts at word 3: its leaf or a sibling wrong fails challenge 1.
        for (uint256 word = 3; word < 6; ++word) {
            bytes32[] memory bad = _copy(proof);
            bad[word] ^= bytes32(uint256(1) << 200);
            vm.prank(LESSOR_A);
            vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoSt.selector, LESSOR_A, 1, 1));
            market.submitPoSt(1, bad);
        }
        bytes32[] memory badFirst = _copy(proof);
        badFirst[0] ^= bytes32(uint256(1));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoSt.selector, LESSOR_A, 1, 0));
        market.submitPoSt(1, badFirst);

        bytes32[] memory truncated = _copy(proof);
        assembly ("memory-safe") {
            mstore(truncated, sub(mload(truncated), 1))
        }
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPoStLengthMismatch.selector, 9, 8));
        market.submitPoSt(1, truncated);
        bytes32[] memory padded = new bytes32[](proof.length + 1);
        for (uint256 i; i < proof.length; ++i) padded[i] = proof[i];
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPoStLengthMismatch.selector, 9, 10));
        market.submitPoSt(1, padded);
        vm.expectEmit(address(market));
        emit IStorageMarket.PoStSubmitted(LESSOR_A, 1, 1, 4 * 32);
        vm.prank(LESSOR_A);
        market.submitPoSt(1, proof);
        assertTrue(market.isPeriodProven(LESSOR_A, 1), "period 1 proven");
        assertTrue(!market.isPeriodProven(LESSOR_A, 0) && !market.isPeriodProven(LESSOR_A, 2), "only period 1");
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketPeriodAlreadyProven.selector, LESSOR_A, 1));
        market.submitPoSt(1, proof);
        _toPeriod(2);
        _toPeriod(3);
    }

    /// Challenges fall on sectors of different sizes (largest first in the draw's order), each opened at its
    /// own depth; the pieces of every size are paid for the periods proven.
    function test_submitPoSt_provesSectorsOfSeveralSizes() public {
        bytes32 a = _newDeal(CLIENT, "a", 4);
        bytes32 b = _newDeal(CLIENT, "b", 3, 1, 4);
        bytes32 c = _newDeal(CLIENT, "c", 4);
        bytes32 small = _commit(LESSOR_A, 1, 2, _ids(a), hex"00");
        bytes32 capacity = _commit(LESSOR_A, 2, 3, _none(), "");
        bytes32 big = _commit(LESSOR_A, 3, 4, _ids(b, c), hex"0000");
        _porep(small);
        _porep(capacity);
        _porep(big);
        assertEq(market.provingCounts(LESSOR_A), 1 | (1 << 16) | (1 << 32), "one sector of 4, 8 and 16 segments");
        assertTrue(market.provingSectorAt(LESSOR_A, 4, 0) == big, "16-segment array");
        uint256 sizesHit;
        for (uint256 p = 1; p <= 4; ++p) {
            _toPeriod(p);
            bytes32[] memory proof = _postProofFor(LESSOR_A);
            bytes32 seed = market.periodSeed(p);
            uint256 words;
            for (uint256 j; j < K_POST; ++j) {
                (uint256 log2,,) = ProofMath.postLocate(market.provingCounts(LESSOR_A), MIN_SECTOR_LOG, ProofMath.postDraw(seed, LESSOR_A, j, 28));
                words += log2 + 1;
                sizesHit |= 1 << log2;
            }
            assertEq(proof.length, words, "one opening per challenge at its sector's depth");
            vm.expectEmit(address(market));
            emit IStorageMarket.PoStSubmitted(LESSOR_A, p, 3, 28 * 32);
            vm.prank(LESSOR_A);
            market.submitPoSt(p, proof);
        }
        assertTrue(sizesHit & (sizesHit - 1) != 0, "challenges fell on more than one size");
        _toPeriod(5);
        uint256 priceB = (256 * uint256(PRICE_PER_GIB) + (1 << 30) - 1) >> 30;
        market.settleReplica(b, 0);
        market.settleReplica(c, 0);
        market.settleReplica(a, 0);
        assertEq(vault.withdrawableOf(LESSOR_A), 4 * priceB + 8 * price, "four periods of each piece");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "all collateral released");
    }

    // ================================================================ settlement

    function test_settle_refusedWhileOpenCommittedOrProving() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotSettleable.selector, dealId, 0, IStorageMarket.ReplicaState.Open)
        );
        market.settleReplica(dealId, 0);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidReplicaIndex.selector, dealId, 1, 1));
        market.settleReplica(dealId, 1);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotSettleable.selector, dealId, 0, IStorageMarket.ReplicaState.Committed)
        );
        market.settleReplica(dealId, 0);
        _porep(sectorId);
        for (uint256 p = 1; p <= 3; ++p) {
            _toPeriod(p);
            _post(LESSOR_A);
            vm.expectRevert(
                abi.encodeWithSelector(
                    IStorageMarket.MarketReplicaNotSettleable.selector, dealId, 0, IStorageMarket.ReplicaState.Proving
                )
            );
            market.settleReplica(dealId, 0);
        }
    }

    /// After the end: exactly the proven periods are paid, the whole collateral released.
    function test_settle_finishedPaysProvenPeriodsExactly() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        for (uint256 p = 1; p <= 3; ++p) {
            _toPeriod(p);
            _post(LESSOR_A);
        }
        _toPeriod(4);
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Finished), "finished");
        assertEq(uint256(market.dealState(dealId)), uint256(IStorageMarket.DealState.Finished), "deal finished");
        uint256 freeBefore = registry.freeStakeOf(LESSOR_A);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 3, 0, 3 * price, 0, COLLATERAL, false);
        vm.prank(WATCHER); // anyone
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR_A), 3 * price, "three proven periods paid");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "nothing locked");
        assertEq(registry.freeStakeOf(LESSOR_A) - freeBefore, COLLATERAL, "collateral released");
        IStorageMarket.Replica memory replica = market.getReplica(dealId, 0);
        assertEq(replica.status, 2, "slot finished");
        assertEq(replica.paidPeriods, 3, "paid periods");
        assertEq(replica.collateralLeft, 0, "no collateral left");
        assertEq(market.getSector(sectorId).livePieces, 0, "no live piece");
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotSettleable.selector, dealId, 0, IStorageMarket.ReplicaState.Finished)
        );
        market.settleReplica(dealId, 0);
        assertEq(market.claimRefund(dealId), 0, "everything was paid");
        assertEq(vault.escrowed(), 0, "nothing escrowed");
    }

    /// A sector proven from period 2 is paid from period 2 on: the period before its PoRep is neither paid nor missed.
    function test_settle_countsFromTheSectorsFirstPeriod() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3); // periods 1..3, ends at 4
        _toPeriod(1);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        assertEq(market.getSector(sectorId).firstPeriod, 2, "PoRep in period 1: proving from 2");
        _toPeriod(2);
        _post(LESSOR_A);
        _toPeriod(3);
        _post(LESSOR_A);
        _toPeriod(4);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 2, 0, 2 * price, 0, COLLATERAL, false);
        market.settleReplica(dealId, 0);
        assertEq(market.claimRefund(dealId), price, "period 1 refunded");
    }

    function test_settle_eachMissSlashesMissSlashBps() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 4);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(1);
        _post(LESSOR_A);
        _toPeriod(3); // period 2 missed
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Proving), "one miss: proving");
        _post(LESSOR_A);
        _toPeriod(4);
        _post(LESSOR_A);
        _toPeriod(5);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 3, 1, 3 * price, MISS_SLASH, COLLATERAL - MISS_SLASH, false);
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR_A), 3 * price, "three proven periods");
        assertEq(vault.withdrawableOf(CLIENT), MISS_SLASH, "the miss's slash to the client");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "nothing locked");
        assertEq(registry.freeStakeOf(LESSOR_A), STAKE - MISS_SLASH, "the rest released");
        assertEq(market.getReplica(dealId, 0).status, 2, "finished, not failed");
        uint256 refund = market.claimRefund(dealId);
        assertEq(refund, price, "the missed period refunded");
        assertEq(vault.withdrawableOf(CLIENT), MISS_SLASH + price, "client: slash + refund");
    }

    /// maxMisses missed periods fail the piece: proven periods before are paid, the collateral is slashed, a
    /// repair reward escrowed, the slot reopened; a repairer that proves earns the reward.
    function test_settle_maxMissesFailsAndReopensWithRepairReward() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 5); // periods 1..5, ends at 6
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(1);
        _post(LESSOR_A);
        _toPeriod(3);
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Proving), "one miss");
        _toPeriod(4); // periods 2 and 3 missed
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Failed), "failed by misses");
        assertTrue(market.servingLessor(dealId, 0) == address(0), "no longer serving");
        vm.prank(WATCHER);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotProving.selector, dealId, 0, IStorageMarket.ReplicaState.Failed)
        );
        market.challengeReplica(dealId, 0);

        uint256 repair = (COLLATERAL - 2 * MISS_SLASH) * REPAIR_BPS / BPS;
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 1, 2, price, COLLATERAL, 0, true);
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR_A), price, "its one proven period");
        assertEq(vault.withdrawableOf(CLIENT), COLLATERAL - repair, "client: the slash less the repair share");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "all collateral slashed");
        assertEq(registry.freeStakeOf(LESSOR_A), STAKE - COLLATERAL, "none released");
        IStorageMarket.Replica memory replica = market.getReplica(dealId, 0);
        assertEq(replica.status, 0, "slot open again");
        assertTrue(replica.lessor == address(0), "no lessor");
        assertEq(replica.repairReward, repair, "repair reward escrowed");
        assertEq(replica.paidPeriods, 1, "one period paid");
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow - price + repair, "escrow less the paid period, plus the reward");

        bytes32 commR;
        (, commR) = _buildSector(LESSOR_A, 2, 2, _ids(dealId));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorFailedDeal.selector, dealId, LESSOR_A));
        market.commitSector(2, 2, commR, _ids(dealId), hex"00");

        bytes32 repairSector = _commit(LESSOR_B, 1, 2, _ids(dealId), hex"00");
        _porep(repairSector);
        _toPeriod(5);
        _post(LESSOR_B);
        _toPeriod(6);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_B, 1, 0, price + repair, 0, COLLATERAL, false);
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR_B), price + repair, "repairer: its period and the reward");
        assertEq(market.getReplica(dealId, 0).repairReward, 0, "reward paid out");
        assertEq(market.getReplica(dealId, 0).paidPeriods, 2, "two periods paid across lessors");
        assertEq(market.claimRefund(dealId), 3 * price, "three periods unpaid");
        assertEq(vault.escrowed(), 0, "nothing left escrowed");
    }

    /// A failure in the deal's last period reopens nothing: the repair share goes to the client.
    function test_settle_noRepairRewardOnceTheSlotCannotBeRefilled() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2); // periods 1, 2; ends at 3
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(2);
        vm.prank(LESSOR_A);
        market.dropSector(sectorId);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 0, 1, 0, COLLATERAL, 0, true);
        market.settleReplica(dealId, 0);
        assertEq(market.getReplica(dealId, 0).repairReward, 0, "no repair reward");
        assertEq(vault.withdrawableOf(CLIENT), COLLATERAL, "the whole slash to the client");
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow, "only the deal's escrow");
    }

    /// Dropping a sector fails its running pieces at the drop's period (full slash); proven periods before are paid.
    function test_drop_failsRunningPiecesWithFullSlash() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 4); // ends at 5
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(1);
        _post(LESSOR_A);
        _toPeriod(2);
        vm.prank(LESSOR_B);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketNotSectorLessor.selector, sectorId, LESSOR_B));
        market.dropSector(sectorId);
        vm.expectEmit(address(market));
        emit IStorageMarket.SectorDropped(sectorId, LESSOR_A, 2, 1);
        vm.prank(LESSOR_A);
        market.dropSector(sectorId);
        assertEq(market.provingCounts(LESSOR_A), 0, "out of the proving set");
        assertEq(uint256(market.sectorState(sectorId)), uint256(IStorageMarket.SectorState.Dropped), "dropped");
        assertEq(market.getSector(sectorId).dropPeriod, 2, "drop period");
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Failed), "piece failed");
        vm.prank(LESSOR_A);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketSectorWrongState.selector, sectorId, IStorageMarket.SectorState.Dropped)
        );
        market.dropSector(sectorId);

        uint256 repair = COLLATERAL * REPAIR_BPS / BPS;
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 1, 0, price, COLLATERAL, 0, true);
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR_A), price, "period 1 paid");
        assertEq(vault.withdrawableOf(CLIENT), COLLATERAL - repair, "client share of the slash");
        assertEq(market.getReplica(dealId, 0).repairReward, repair, "repair reward");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "all slashed");
        assertEq(market.getSector(sectorId).livePieces, 0, "settled");
    }

    /// A capacity sector, or one whose pieces' deals all ended, is dropped without penalty.
    function test_drop_freeForCapacityAndEndedPieces() public {
        bytes32 capacity = _commit(LESSOR_A, 1, 3, _none(), "");
        _porep(capacity);
        uint256 free = registry.freeStakeOf(LESSOR_A);
        uint256 balance = token.balanceOf(address(registry));
        vm.expectEmit(address(market));
        emit IStorageMarket.SectorDropped(capacity, LESSOR_A, 0, 0);
        vm.prank(LESSOR_A);
        market.dropSector(capacity);
        assertEq(registry.freeStakeOf(LESSOR_A), free, "no stake moved");
        assertEq(token.balanceOf(address(registry)), balance, "nothing slashed");
        assertEq(market.provingCounts(LESSOR_A), 0, "out of the set");

        bytes32 dealId = _newDeal(CLIENT, "a", 1); // period 1, ends at 2
        bytes32 sectorId = _commit(LESSOR_A, 2, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(1);
        _post(LESSOR_A);
        _toPeriod(2);
        vm.expectEmit(address(market));
        emit IStorageMarket.SectorDropped(sectorId, LESSOR_A, 2, 1);
        vm.prank(LESSOR_A);
        market.dropSector(sectorId);
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Finished), "finished, not failed");
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 1, 0, price, 0, COLLATERAL, false);
        market.settleReplica(dealId, 0);
        assertEq(registry.freeStakeOf(LESSOR_A), free, "whole collateral back");
    }

    /// A late PoRep fails the sector's pieces with missSlashBps only; the lessor is not barred from the deal.
    function test_settle_expiredPoRepSlashesMissShareAndAllowsARefill() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        bytes32 sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        vm.warp(market.getSector(sectorId).commitTime + POREP_TIMEOUT + 1);
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Failed), "failed");
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 0, 0, 0, MISS_SLASH, COLLATERAL - MISS_SLASH, true);
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(CLIENT), MISS_SLASH, "missSlashBps of the collateral to the client");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "nothing locked");
        assertEq(registry.freeStakeOf(LESSOR_A), STAKE - MISS_SLASH, "the rest released");
        assertEq(market.getReplica(dealId, 0).repairReward, 0, "no repair reward");
        assertEq(market.getReplica(dealId, 0).status, 0, "open");
        assertEq(market.getSector(sectorId).livePieces, 0, "settled");

        bytes32 again = _commit(LESSOR_A, 2, 2, _ids(dealId), hex"00");
        _porep(again);
        assertTrue(market.getReplica(dealId, 0).lessor == LESSOR_A, "the same lessor refilled");
    }

    // ================================================================ on-chain challenges

    function test_challenge_answeredPaysTheBondToTheLessor() public {
        (bytes32 dealId, bytes32 sectorId) = _provingDeal(4);
        vm.prank(WATCHER);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidReplicaIndex.selector, dealId, 1, 1));
        market.challengeReplica(dealId, 1);
        uint256 opened = _block();
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaChallenged(dealId, 0, LESSOR_A, WATCHER, opened + 1, opened + 1 + CHALLENGE_WINDOW, BOND);
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow + BOND, "bond escrowed");
        assertEq(market.getReplica(dealId, 0).openChallenges, 1, "one open");
        vm.prank(WATCHER);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketChallengeOpen.selector, dealId, 0, WATCHER, opened + 1 + CHALLENGE_WINDOW)
        );
        market.challengeReplica(dealId, 0);
        bytes32[] memory none = new bytes32[](0);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketNoChallenge.selector, dealId, 0, WATCHER_B));
        market.answerChallenge(dealId, 0, WATCHER_B, none);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengeSeedNotReady.selector, dealId, 0, opened + 2));
        market.answerChallenge(dealId, 0, WATCHER, none);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketChallengeNotExpired.selector, dealId, 0, opened + 1 + CHALLENGE_WINDOW)
        );
        market.expireChallenge(dealId, 0, WATCHER);

        vm.roll(opened + 2);
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, 0, WATCHER);
        assertTrue(c.seed == sha256(abi.encode(blockhash(opened + 1), dealId, uint256(0), WATCHER)), "challenge seed");
        bytes32[] memory answer = _challengeAnswer(dealId, 0, WATCHER);
        assertEq(answer.length, K_POST * 3, "k openings at the sector's depth");
        bytes32[] memory bad = _copy(answer);
        bad[answer.length - 1] ^= bytes32(uint256(1));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidChallengeAnswer.selector, dealId, 0));
        market.answerChallenge(dealId, 0, WATCHER, bad);
        vm.expectEmit(address(market));
        emit IStorageMarket.ChallengeAnswered(dealId, 0, LESSOR_A, WATCHER, BOND);
        vm.prank(LESSOR_A);
        market.answerChallenge(dealId, 0, WATCHER, answer);
        assertEq(vault.withdrawableOf(LESSOR_A), BOND, "bond to the lessor");
        assertEq(market.getReplica(dealId, 0).openChallenges, 0, "closed");
        assertTrue(market.getChallenge(dealId, 0, WATCHER).challenger == address(0), "gone");
        sectorId;
    }

    function test_challenge_answerLateReverts() public {
        (bytes32 dealId,) = _provingDeal(4);
        uint256 opened = _block();
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        vm.roll(opened + 2);
        bytes32[] memory answer = _challengeAnswer(dealId, 0, WATCHER);
        vm.roll(opened + 2 + CHALLENGE_WINDOW);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengeLate.selector, dealId, 0, opened + 1 + CHALLENGE_WINDOW));
        market.answerChallenge(dealId, 0, WATCHER, answer);
    }

    /// An unanswered challenge fails the piece at once: whole collateral slashed, bountyBps to the challenger,
    /// repairBps escrowed for a repairer, the rest to the client; the bond returns; periods before are paid.
    function test_challenge_expirySettlesWithBounty() public {
        (bytes32 dealId,) = _provingDeal(4);
        _toPeriod(2);
        _post(LESSOR_A);
        uint256 opened = _block();
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        vm.roll(opened + 2 + CHALLENGE_WINDOW);
        uint256 bounty = COLLATERAL * BOUNTY_BPS / BPS;
        uint256 repair = COLLATERAL * REPAIR_BPS / BPS;
        // Period 1 is paid; period 2, proven, is the failure's period and is not.
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 1, 0, price, COLLATERAL, 0, true);
        vm.expectEmit(address(market));
        emit IStorageMarket.ChallengeExpired(dealId, 0, LESSOR_A, WATCHER, COLLATERAL, bounty);
        vm.prank(CLIENT);
        market.expireChallenge(dealId, 0, WATCHER);
        assertEq(vault.withdrawableOf(WATCHER), bounty + BOND, "challenger: bounty and bond");
        assertEq(vault.withdrawableOf(CLIENT), COLLATERAL - bounty - repair, "client share");
        assertEq(vault.withdrawableOf(LESSOR_A), price, "lessor: period 1");
        assertEq(market.getReplica(dealId, 0).repairReward, repair, "repair reward");
        assertEq(market.getReplica(dealId, 0).status, 0, "slot open");
        assertEq(registry.lockedStakeOf(LESSOR_A), 0, "collateral slashed");
        assertEq(vault.escrowed(), market.getDeal(dealId).escrow - price + repair, "escrow - paid + reward");
        (, bytes32 commR) = _buildSector(LESSOR_A, 9, 2, _ids(dealId));
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketLessorFailedDeal.selector, dealId, LESSOR_A));
        market.commitSector(9, 2, commR, _ids(dealId), hex"00");
    }

    /// Two challengers: the first expiry records the failure; the other challenge is void (it cannot be
    /// answered); once both are closed the settlement pays the first challenger's bounty.
    function test_challenge_expiryWithOthersOpenSettlesOnceAllAreClosed() public {
        (bytes32 dealId,) = _provingDeal(4);
        uint256 opened = _block();
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        vm.prank(WATCHER_B);
        market.challengeReplica(dealId, 0);
        vm.roll(opened + 2);
        bytes32[] memory answerB = _challengeAnswer(dealId, 0, WATCHER_B);
        vm.roll(opened + 2 + CHALLENGE_WINDOW);
        vm.expectEmit(address(market));
        emit IStorageMarket.ChallengeExpired(dealId, 0, LESSOR_A, WATCHER, 0, 0);
        market.expireChallenge(dealId, 0, WATCHER);
        assertEq(uint256(market.replicaState(dealId, 0)), uint256(IStorageMarket.ReplicaState.Failed), "failed");
        assertEq(vault.withdrawableOf(WATCHER), BOND, "bond back at once");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengesOpen.selector, dealId, 0, 1));
        market.settleReplica(dealId, 0);
        vm.prank(LESSOR_A);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengeVoid.selector, dealId, 0, LESSOR_A));
        market.answerChallenge(dealId, 0, WATCHER_B, answerB);
        vm.expectEmit(address(market));
        emit IStorageMarket.ChallengeVoided(dealId, 0, WATCHER_B, BOND);
        market.expireChallenge(dealId, 0, WATCHER_B);
        uint256 bounty = COLLATERAL * BOUNTY_BPS / BPS;
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(WATCHER), BOND + bounty, "first challenger's bounty");
        assertEq(vault.withdrawableOf(WATCHER_B), BOND, "second: its bond only");
        assertEq(market.getReplica(dealId, 0).repairReward, COLLATERAL * REPAIR_BPS / BPS, "repair reward");
    }

    /// The settlement after the end waits for every open challenge, and a challenge opened in the last period
    /// stays live after the end: unanswered, it fails and settles the piece.
    function test_challenge_liveAfterTheEndUntilSettled() public {
        (bytes32 dealId, bytes32 sectorId) = _provingDeal(1); // period 1 (proven), ends at 2
        uint256 opened = _block();
        vm.prank(WATCHER);
        market.challengeReplica(dealId, 0);
        _toPeriod(2);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengesOpen.selector, dealId, 0, 1));
        market.settleReplica(dealId, 0);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengesOpen.selector, dealId, 0, 1));
        market.claimRefund(dealId);
        // The deal ended (the piece is Finished) but its filling is not settled: the challenge is still live, so a
        // lessor cannot escape one opened near the end by staying silent.
        assertTrue(_block() <= opened + 1 + CHALLENGE_WINDOW, "within the window");
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketChallengeNotExpired.selector, dealId, 0, opened + 1 + CHALLENGE_WINDOW));
        market.expireChallenge(dealId, 0, WATCHER);
        vm.roll(opened + 2 + CHALLENGE_WINDOW);
        vm.expectEmit(address(market));
        emit IStorageMarket.ChallengeExpired(dealId, 0, LESSOR_A, WATCHER, COLLATERAL, COLLATERAL * BOUNTY_BPS / BPS);
        market.expireChallenge(dealId, 0, WATCHER);
        assertEq(vault.withdrawableOf(LESSOR_A), price, "lessor paid its proven period");
        assertEq(uint8(market.replicaState(dealId, 0)), uint8(IStorageMarket.ReplicaState.Open), "failed and settled");
        sectorId;
    }

    function test_challenge_onlyProvingPieces() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 3);
        vm.prank(WATCHER);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotProving.selector, dealId, 0, IStorageMarket.ReplicaState.Open)
        );
        market.challengeReplica(dealId, 0);
        _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        vm.prank(WATCHER);
        vm.expectRevert(
            abi.encodeWithSelector(IStorageMarket.MarketReplicaNotProving.selector, dealId, 0, IStorageMarket.ReplicaState.Committed)
        );
        market.challengeReplica(dealId, 0);
    }

    // ================================================================ refund

    /// The refund is the escrow less every paid period plus repair rewards nobody earned.
    function test_claimRefund_isEscrowLessPaidPlusRewards() public {
        bytes32 dealId = _newDeal(CLIENT, "a", 2, 2, 5); // two replicas, periods 1..5, ends at 6
        bytes32 sectorA = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        bytes32 sectorB = _commit(LESSOR_B, 1, 2, _ids(dealId), hex"01");
        _porep(sectorA);
        _porep(sectorB);
        _toPeriod(1);
        _post(LESSOR_A);
        _post(LESSOR_B);
        for (uint256 p = 2; p <= 4; ++p) {
            _toPeriod(p);
            _post(LESSOR_A);
        }
        // B missed 2 and 3: settled in period 4 while refillable; nobody repairs.
        market.settleReplica(dealId, 1);
        _toPeriod(5);
        _post(LESSOR_A);
        uint256 repair = (COLLATERAL - 2 * MISS_SLASH) * REPAIR_BPS / BPS;
        assertEq(market.getReplica(dealId, 1).repairReward, repair, "repair reward");
        _toPeriod(6);
        uint256 escrow = market.getDeal(dealId).escrow;
        uint256 expected = escrow - 6 * price + repair;
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(dealId, 0, LESSOR_A, 5, 0, 5 * price, 0, COLLATERAL, false);
        vm.expectEmit(address(market));
        emit IStorageMarket.DealRefunded(dealId, CLIENT, expected);
        vm.prank(WATCHER); // anyone
        assertEq(market.claimRefund(dealId), expected, "escrow - paid + rewards");
        assertEq(vault.withdrawableOf(CLIENT), (COLLATERAL - repair) + expected, "client: B's slash less repair, and the refund");
        assertEq(vault.withdrawableOf(LESSOR_A), 5 * price, "A: five periods");
        assertEq(vault.withdrawableOf(LESSOR_B), price, "B: one period");
        assertEq(market.getReplica(dealId, 1).repairReward, 0, "reward refunded");
        assertEq(vault.escrowed(), 0, "nothing escrowed");
        assertEq(token.balanceOf(address(vault)), vault.totalWithdrawable(), "vault holds withdrawable balances only");
        assertEq(uint256(market.dealState(dealId)), uint256(IStorageMarket.DealState.Finished), "finished");
    }

    // ------------------------------------------------------------ helpers

    /// A one-replica deal of `duration` periods whose slot LESSOR_A proves from period 1, in sector 1.
    function _provingDeal(uint32 duration) internal returns (bytes32 dealId, bytes32 sectorId) {
        dealId = _newDeal(CLIENT, "proving", duration);
        sectorId = _commit(LESSOR_A, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        _toPeriod(1);
        _post(LESSOR_A);
    }

    function _challengeAnswer(bytes32 dealId, uint256 index, address challenger) internal view returns (bytes32[] memory) {
        IStorageMarket.Challenge memory c = market.getChallenge(dealId, index, challenger);
        IStorageMarket.Replica memory replica = market.getReplica(dealId, index);
        return TestSector.challengeProof(
            sealedOf[replica.sector], c.seed, replica.sector, replica.offset, market.getDeal(dealId).segments, K_POST
        );
    }

    function _copy(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i; i < a.length; ++i) b[i] = a[i];
    }
}
