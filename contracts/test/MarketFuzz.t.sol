// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {MarketHandler, MarketSetup} from "./MarketInvariants.t.sol";
import {TinyReplica} from "./TinyReplica.sol";

/// @notice Fuzz tests of the market's arithmetic and proof checks, plus a deterministic run of the invariant
/// handler proving that its actions (fill, PoRep, PoSt with Solidity-built proofs) really succeed.
contract MarketFuzzTest is MarketSetup {
    address internal constant CLIENT = address(0xC11E47);
    address internal constant LESSOR = address(0x1E550A);

    function setUp() public {
        _deploy();
        _fund(CLIENT, 1e60);
        _stake(LESSOR);
    }

    /// hardhat-config: default.fuzz.runs = 64
    /// The escrow is exactly replicas * duration * ceil(size * price / 2^30), pulled into the vault.
    function test_fuzz_createDealEscrowsExactly(uint64 sizeSeed, uint8 replicasSeed, uint32 durationSeed, uint128 priceSeed) public {
        uint64 size = uint64(bound(sizeSeed, TinyReplica.SIZE, 1 << 50));
        uint8 replicas = uint8(bound(replicasSeed, 1, 10));
        uint32 duration = uint32(bound(durationSeed, 1, 100_000));
        uint128 price = uint128(bound(priceSeed, 1, 1e30));
        uint256 perPeriod = (uint256(size) * price + (1 << 30) - 1) >> 30;
        vm.assume(perPeriod * replicas * duration <= type(uint128).max);
        uint256 before = token.balanceOf(address(vault));
        vm.prank(CLIENT);
        bytes32 dealId = market.createDeal(bytes32(uint256(1)), size, replicas, duration, price, 1_000_000);
        IStorageMarket.Deal memory deal = market.getDeal(dealId);
        assertEq(deal.pricePerPeriod, perPeriod, "price per period");
        assertEq(deal.escrow, perPeriod * replicas * duration, "escrow");
        assertEq(token.balanceOf(address(vault)) - before, deal.escrow, "pulled");
        assertEq(deal.segments, ProofMath.segmentCount(size), "segments");
    }

    /// hardhat-config: default.fuzz.runs = 64
    /// One flipped word anywhere in a valid PoSt makes it fail; the valid one passes and pays once.
    function test_fuzz_postRejectsAnyTamperedWord(uint256 wordSeed, uint256 flipSeed) public {
        (bytes32 dealId, bytes32[4] memory s) = _provenReplica();
        vm.warp(market.startTime() + PERIOD + 1);
        bytes32 seed = _seedNow();
        bytes32[] memory proof = new bytes32[](K_POST * 3);
        TinyReplica.postProof(s, seed, ProofMath.replicaId(LESSOR, dealId, 0), K_POST, proof, 0);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = dealId;
        uint256 at = wordSeed % proof.length;
        bytes32 original = proof[at];
        proof[at] = original ^ bytes32(bound(flipSeed, 1, type(uint256).max));
        vm.prank(LESSOR);
        vm.expectRevert(abi.encodeWithSelector(IStorageMarket.MarketInvalidPoSt.selector, dealId, uint256(0)));
        market.submitPoSt(1, ids, hex"00", proof);
        proof[at] = original;
        vm.prank(LESSOR);
        market.submitPoSt(1, ids, hex"00", proof);
        assertEq(vault.withdrawableOf(LESSOR), market.getDeal(dealId).pricePerPeriod, "paid once");
    }

    /// Slashing splits exactly: bounty + client share + repair reward == collateral taken from the registry.
    function test_fuzz_missesSlashExactly(uint256 missesSeed) public {
        (bytes32 dealId,) = _provenReplica();
        uint256 misses = bound(missesSeed, 1, 2);
        uint256 lockedBefore = registry.lockedStakeOf(LESSOR);
        for (uint256 p = 1; p <= misses; ++p) {
            // Each miss is reported in the period after it (the report window, §10.4).
            vm.warp(market.startTime() + (p + 1) * PERIOD + 1);
            vm.prank(address(0x3A7C4));
            market.markProofMissing(dealId, 0, p);
        }
        uint256 taken = lockedBefore - registry.lockedStakeOf(LESSOR);
        uint256 repair = market.getReplica(dealId, 0).repairReward;
        assertEq(
            vault.withdrawableOf(address(0x3A7C4)) + vault.withdrawableOf(CLIENT) + repair, taken, "slash fully distributed"
        );
        assertEq(token.balanceOf(address(vault)), vault.escrowed() + vault.totalWithdrawable(), "vault balance");
        if (misses == 2) assertEq(taken, COLLATERAL, "failure takes everything");
        else assertEq(taken, COLLATERAL / 5, "one miss takes 20 %");
    }

    /// The invariant handler's actions are real: a deal gets filled, PoRep'd and proven over periods.
    function test_handlerProvesPeriods() public {
        MarketHandler handler = new MarketHandler(market, vault, registry);
        for (uint256 i; i < 3; ++i) if (handler.lessorAt(i) != LESSOR) _stake(handler.lessorAt(i));
        handler.createDeal(0, 2, 4, 1e20, 1); // client 0, 2 replicas, 4 periods, a tiny size
        handler.fill(0, 0, 0);
        handler.fill(0, 1, 1);
        handler.answerPoRep(0, 0);
        handler.answerPoRep(0, 1);
        bytes32 dealId = handler.deals(0);
        assertEq(market.getReplica(dealId, 0).status, 2, "slot 0 proving");
        assertEq(market.getReplica(dealId, 1).status, 2, "slot 1 proving");
        for (uint256 p = 1; p <= 3; ++p) {
            vm.warp(market.startTime() + p * PERIOD + 1);
            handler.provePeriod(0, 0);
            handler.provePeriod(1, 0);
        }
        assertEq(handler.ghostProven(dealId, 0), 3, "slot 0 proven 3 periods");
        assertEq(market.getReplica(dealId, 1).paidPeriods, 3, "slot 1 paid 3 periods");
    }

    function _provenReplica() internal returns (bytes32 dealId, bytes32[4] memory s) {
        // Arguments are computed before each prank: a precompile call (sha256) would consume it.
        bytes32[4] memory d = TinyReplica.data(bytes32(0));
        bytes32 commD = TinyReplica.root(d);
        vm.prank(CLIENT);
        dealId = market.createDeal(commD, uint64(TinyReplica.SIZE), 1, 4, 1e20, uint128(COLLATERAL));
        bytes32 replica = ProofMath.replicaId(LESSOR, dealId, 0);
        s = TinyReplica.seal(d, replica, 1);
        bytes32 commR = TinyReplica.root(s);
        vm.prank(LESSOR);
        market.fillReplica(dealId, 0, commR);
        vm.roll(block.number + 2);
        bytes32[] memory proof = TinyReplica.porepProof(d, s, blockhash(block.number - 1), replica, K_POREP);
        vm.prank(LESSOR);
        market.answerPoRep(dealId, 0, proof);
    }
}
