// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {SectorTree} from "../libraries/SectorTree.sol";
import {MarketHandler, MarketSetup} from "./MarketInvariants.t.sol";
import {ProofVerifierHarness} from "./ProofVerifierHarness.sol";
import {TestSector} from "./TestSector.sol";

/// @notice Fuzz tests of the sector layout (SectorTree against a full tree), the PoSt draw's mapping onto a
/// lessor's sectors, the payment and slash arithmetic of settlement, and the proof checks.
contract MarketFuzzTest is MarketSetup {
    address internal constant CLIENT = address(0xC11E47);
    address internal constant LESSOR = address(0x1E550A);
    address internal constant WATCHER = address(0x3A7C4);

    ProofVerifierHarness internal harness;

    function setUp() public {
        _deploy();
        _fund(CLIENT, 1e60);
        _fund(WATCHER, 1e30);
        _stake(LESSOR);
        harness = new ProofVerifierHarness();
    }

    // ------------------------------------------------------------ sector layout

    /// SectorTree's root of random pieces (non-increasing depths, any count, zeros after) equals the root of the
    /// full tree over the laid-out leaves.
    function test_fuzz_sectorTreeMatchesFullTree(uint256 seed) public view {
        uint256 log2 = bound(seed, 0, 7);
        (uint256[] memory depths, bytes32[][] memory pieces) = _randomPieces(seed >> 8, log2, 0, log2);
        SectorTree.Fold memory fold = SectorTree.start(log2);
        for (uint256 i; i < pieces.length; ++i) {
            SectorTree.push(fold, TestSector.root(pieces[i]), depths[i]);
            fold.cursor += uint256(1) << depths[i];
        }
        bytes32 folded = SectorTree.finish(fold, log2);
        assertTrue(folded == TestSector.root(TestSector.layout(log2, pieces)), "SectorTree root == full tree root");
    }

    /// hardhat-config: default.fuzz.runs = 48
    /// The market's commD of a sector of random deals is the full tree's root over their laid-out data.
    function test_fuzz_commitSectorRecomputesCommD(uint256 seed) public {
        uint256 log2 = bound(seed, MIN_SECTOR_LOG, 6);
        (uint256[] memory depths,) = _randomPieces(seed >> 8, log2, 2, 4);
        bytes32[] memory dealIds = new bytes32[](depths.length);
        for (uint256 i; i < depths.length; ++i) dealIds[i] = _newDeal(CLIENT, bytes32(i + (seed << 8)), depths[i], 1, 3);
        bytes memory indexes = new bytes(depths.length);
        bytes32 sectorId = _commit(LESSOR, seed, log2, dealIds, indexes);
        assertTrue(market.getSector(sectorId).commD == TestSector.root(dataOf[sectorId]), "commD == full tree root");
        assertEq(market.getSector(sectorId).pieces, depths.length, "pieces");
        uint256 offset;
        for (uint256 i; i < depths.length; ++i) {
            assertEq(market.getReplica(dealIds[i], 0).offset, offset, "consecutive aligned offsets");
            offset += uint256(1) << depths[i];
        }
        assertEq(registry.lockedStakeOf(LESSOR), depths.length * COLLATERAL, "each piece's collateral locked");
    }

    // ------------------------------------------------------------ PoSt draws

    /// hardhat-config: default.fuzz.runs = 128
    /// Walking every draw x < total in order visits each segment of each proving sector exactly once: sizes
    /// from the largest down, each size's sectors in array order, each sector's segments in order.
    function test_fuzz_postLocateCoversEachSegmentOnce(uint256 countsSeed) public {
        uint256 counts;
        for (uint256 c; c < 6; ++c) counts |= ((countsSeed >> (8 * c)) % 4) << (16 * c);
        if (counts == 0) counts = 1 << 16 * (countsSeed % 6);
        uint256 x;
        for (uint256 c = 6; c > 0; --c) {
            uint256 log2 = MIN_SECTOR_LOG + c - 1;
            uint256 n = (counts >> (16 * (c - 1))) & 0xffff;
            for (uint256 index; index < n; ++index) {
                for (uint256 offset; offset < (uint256(1) << log2); ++offset) {
                    (uint256 gotLog2, uint256 gotIndex, uint256 gotOffset) = ProofMath.postLocate(counts, MIN_SECTOR_LOG, x);
                    if (gotLog2 != log2 || gotIndex != index || gotOffset != offset) {
                        revert AssertionFailed("postLocate order", x, (log2 << 32) | (index << 16) | offset);
                    }
                    ++x;
                }
            }
        }
        vm.expectRevert(abi.encodeWithSelector(ProofMath.ProofMathDrawBeyondProvingSet.selector, 0));
        harness.postLocate(counts, MIN_SECTOR_LOG, x);
    }

    /// Any draw over any counts (all 16 size classes, up to 65,535 sectors each) lands in a real segment, and
    /// (size, index, offset) gives the draw back: the mapping is one-to-one.
    function test_fuzz_postLocateInvertsAnyDraw(uint256 counts, uint256 xSeed) public pure {
        uint256 total;
        for (uint256 k; k < 16; ++k) total += ((counts >> (16 * k)) & 0xffff) << (MIN_SECTOR_LOG + k);
        vm.assume(total > 0);
        uint256 x = xSeed % total;
        (uint256 log2, uint256 index, uint256 offset) = ProofMath.postLocate(counts, MIN_SECTOR_LOG, x);
        uint256 c = log2 - MIN_SECTOR_LOG;
        assertLe(c, 15, "a size class");
        assertTrue(index < ((counts >> (16 * c)) & 0xffff), "index < sectors of that size");
        assertTrue(offset < (uint256(1) << log2), "offset inside the sector");
        uint256 back = (index << log2) + offset;
        for (uint256 k = c + 1; k < 16; ++k) back += ((counts >> (16 * k)) & 0xffff) << (MIN_SECTOR_LOG + k);
        assertEq(back, x, "draw recovered from (size, index, offset)");
    }

    // ------------------------------------------------------------ payments

    /// hardhat-config: default.fuzz.runs = 64
    /// The escrow is exactly replicas * duration * ceil(size * price / 2^30), pulled into the vault; the
    /// collateral must cover ceil(size * collateralPerGiB / 2^30).
    function test_fuzz_createDealEscrowsExactly(uint64 sizeSeed, uint8 replicasSeed, uint32 durationSeed, uint128 priceSeed, uint128 collateralSeed)
        public
    {
        // A deal must fit the largest sector.
        uint64 size = uint64(bound(sizeSeed, MIN_SEGMENTS * 32, 32 << MAX_SECTOR_LOG));
        uint8 replicas = uint8(bound(replicasSeed, 1, 10));
        uint32 duration = uint32(bound(durationSeed, 1, 100_000));
        uint128 price = uint128(bound(priceSeed, 1, 1e30));
        uint256 perPeriod = (uint256(size) * price + (1 << 30) - 1) >> 30;
        vm.assume(perPeriod * replicas * duration <= type(uint128).max);
        uint256 minCollateral = (uint256(size) * COLLATERAL_PER_GIB + (1 << 30) - 1) >> 30;
        uint128 collateral = uint128(bound(collateralSeed, 0, 2 * minCollateral));
        uint256 before = token.balanceOf(address(vault));
        vm.prank(CLIENT);
        if (collateral < minCollateral) {
            vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketCollateralTooLow.selector, collateral, minCollateral));
            market.createDeal(bytes32(uint256(1)), size, replicas, duration, price, collateral);
            return;
        }
        bytes32 dealId = market.createDeal(bytes32(uint256(1)), size, replicas, duration, price, collateral);
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        assertEq(deal.pricePerPeriod, perPeriod, "price per period");
        assertEq(deal.escrow, perPeriod * replicas * duration, "escrow");
        assertEq(token.balanceOf(address(vault)) - before, deal.escrow, "pulled");
        assertEq(deal.segments, ProofMath.segmentCount(size), "segments");
        assertEq(deal.depth, ProofMath.depthOf(deal.segments), "depth");
        assertEq(deal.endPeriod - deal.startPeriod, duration, "duration");
    }

    /// hardhat-config: default.fuzz.runs = 64
    /// A lessor proves the periods of a random pattern. At the end exactly the proven periods are paid (a
    /// filling failed by misses too: nobody else proved them); each miss slashes missSlashBps of the collateral,
    /// maxMisses slash it all;
    /// the rest is released; the client gets the slash and the unpaid escrow; the books balance.
    function test_fuzz_settlementPaysProvenAndSlashesMisses(uint256 pattern, uint256 durationSeed, uint128 priceSeed, uint256 collateralSeed)
        public
    {
        uint32 duration = uint32(bound(durationSeed, 1, 6));
        uint128 pricePerGiB = uint128(bound(priceSeed, 1, 1e24));
        uint256 collateral = bound(collateralSeed, 128_000, 1e24);
        bytes32 commD = TestSector.root(TestSector.pieceData("f", 2));
        vm.prank(CLIENT);
        bytes32 dealId = market.createDeal(commD, 128, 1, duration, pricePerGiB, uint128(collateral));
        saltOf[dealId] = "f";
        bytes32 sectorId = _commit(LESSOR, 1, 2, _ids(dealId), hex"00");
        _porep(sectorId);
        uint256 proven;
        uint256 missed;
        for (uint256 p = 1; p <= duration; ++p) {
            _toPeriod(p);
            if ((pattern >> p) & 1 == 1) {
                _post(LESSOR);
                ++proven;
            } else {
                ++missed;
            }
        }
        _toPeriod(duration + 1);
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        bool failed = missed >= MAX_MISSES;
        uint256 slashed = failed ? collateral : missed * collateral * MISS_SLASH_BPS / BPS;
        uint256 stakeBefore = registry.freeStakeOf(LESSOR);
        vm.expectEmit(address(market));
        emit IStorageMarket.ReplicaSettled(
            dealId, 0, LESSOR, proven, missed, proven * deal.pricePerPeriod, slashed, collateral - slashed, failed
        );
        market.settleReplica(dealId, 0);
        assertEq(vault.withdrawableOf(LESSOR), proven * deal.pricePerPeriod, "paid the proven periods");
        assertEq(registry.freeStakeOf(LESSOR) - stakeBefore, collateral - slashed, "released the rest");
        assertEq(registry.lockedStakeOf(LESSOR), 0, "nothing locked");
        assertEq(market.getReplica(dealId, 0).repairReward, 0, "no repair reward after the end");
        uint256 refund = market.claimRefund(dealId);
        assertEq(refund, deal.escrow - proven * deal.pricePerPeriod, "refund: the unpaid periods");
        assertEq(vault.withdrawableOf(CLIENT), refund + slashed, "client: refund + slash");
        assertEq(vault.escrowed(), 0, "nothing escrowed");
        assertEq(token.balanceOf(address(vault)), vault.totalWithdrawable(), "vault books balance");
    }

    // ------------------------------------------------------------ proofs

    /// hardhat-config: default.fuzz.runs = 48
    /// One flipped word anywhere in a valid PoSt over sectors of two sizes makes it fail; the valid one passes.
    function test_fuzz_postRejectsAnyTamperedWord(uint256 wordSeed, uint256 flipSeed) public {
        bytes32 small = _commit(LESSOR, 1, 2, _none(), "");
        bytes32 big = _commit(LESSOR, 2, 3, _none(), "");
        _porep(small);
        _porep(big);
        _toPeriod(1);
        bytes32[] memory proof = _postProofFor(LESSOR);
        uint256 at = wordSeed % proof.length;
        bytes32 original = proof[at];
        proof[at] = original ^ bytes32(bound(flipSeed, 1, type(uint256).max));
        vm.prank(LESSOR);
        vm.expectPartialRevert(IStorageMarket.MarketInvalidPoSt.selector);
        market.submitPoSt(1, proof);
        proof[at] = original;
        vm.prank(LESSOR);
        market.submitPoSt(1, proof);
        assertTrue(market.isPeriodProven(LESSOR, 1), "proven");
    }

    /// hardhat-config: default.fuzz.runs = 48
    /// One flipped word in a valid PoRep fails it.
    function test_fuzz_porepRejectsAnyTamperedWord(uint256 wordSeed, uint256 flipSeed) public {
        bytes32 dealId = _newDeal(CLIENT, "p", 3);
        bytes32 sectorId = _commit(LESSOR, 1, 3, _ids(dealId), hex"00");
        bytes32[] memory proof = _porepProofFor(sectorId);
        uint256 at = wordSeed % proof.length;
        bytes32 original = proof[at];
        proof[at] = original ^ bytes32(bound(flipSeed, 1, type(uint256).max));
        vm.prank(LESSOR);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoRep.selector, sectorId));
        market.answerPoRep(sectorId, proof);
        proof[at] = original;
        vm.prank(LESSOR);
        market.answerPoRep(sectorId, proof);
    }

    /// hardhat-config: default.fuzz.runs = 48
    /// The second piece of a sector (at offset 4 of 8) answers its challenge at the sector's depth; one flipped
    /// word fails the answer.
    function test_fuzz_challengeAnswerRejectsAnyTamperedWord(uint256 wordSeed, uint256 flipSeed) public {
        bytes32 first = _newDeal(CLIENT, "1", 4);
        bytes32 second = _newDeal(CLIENT, "2", 4);
        bytes32 sectorId = _commit(LESSOR, 1, 3, _ids(first, second), hex"0000");
        _porep(sectorId);
        _toPeriod(1);
        uint256 opened = _block();
        vm.prank(WATCHER);
        market.challengeReplica(second, 0);
        vm.roll(opened + 2);
        bytes32[] memory proof = TestSector.challengeProof(
            sealedOf[sectorId], market.getChallenge(second, 0, WATCHER).seed, sectorId, 4, 4, K_POST
        );
        assertEq(proof.length, K_POST * 4, "k openings of 1 + 3 words");
        uint256 at = wordSeed % proof.length;
        bytes32 original = proof[at];
        proof[at] = original ^ bytes32(bound(flipSeed, 1, type(uint256).max));
        vm.prank(LESSOR);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidChallengeAnswer.selector, second, 0));
        market.answerChallenge(second, 0, WATCHER, proof);
        proof[at] = original;
        vm.prank(LESSOR);
        market.answerChallenge(second, 0, WATCHER, proof);
        assertEq(vault.withdrawableOf(LESSOR), BOND, "bond to the lessor");
    }

    // ------------------------------------------------------------ the invariant handler

    // ------------------------------------------------------------ helpers

    /// Random pieces that fit 2^log2 segments in non-increasing depths within [minDepth, maxDepth] (none when
    /// maxDepth > log2 leaves no room): each piece's data is pieceData(H(seed, i), depth).
    function _randomPieces(uint256 seed, uint256 log2, uint256 minDepth, uint256 maxDepth)
        internal
        pure
        returns (uint256[] memory depths, bytes32[][] memory pieces)
    {
        if (maxDepth > log2) maxDepth = log2;
        depths = new uint256[](uint256(1) << log2);
        uint256 count;
        uint256 cursor;
        uint256 capacity = uint256(1) << log2;
        uint256 last = maxDepth;
        // Each step: stop one time in six, else a piece no larger than the last.
        while (cursor < capacity && last >= minDepth && seed % 6 != 0 && count < 12) {
            seed = uint256(keccak256(abi.encode(seed)));
            uint256 depth = minDepth + seed % (last - minDepth + 1);
            // The rest of the sector is a multiple of 2^last >= 2^depth: the piece fits.
            depths[count++] = depth;
            cursor += uint256(1) << depth;
            last = depth;
            seed >>= 8;
        }
        assembly ("memory-safe") {
            mstore(depths, count)
        }
        pieces = new bytes32[][](count);
        for (uint256 i; i < count; ++i) pieces[i] = TestSector.pieceData(keccak256(abi.encode(seed, i)), depths[i]);
    }
}
