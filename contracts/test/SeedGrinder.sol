// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";

/// @notice Test-only attacker (docs/protocol.md §6.1): a lessor that kept only the first `kept` segments of its
/// proving set calls the seed function from a contract and reverts unless every PoSt index of the period falls in
/// what it kept, retrying block after block. Against a seed computed in the caller's own transaction this wins
/// every period; against a seed fixed by a later block it learns nothing.
contract SeedGrinder {
    IStorageMarket private immutable _market;

    /// @param index A challenged segment the attacker threw away.
    error SeedGrinderUnfavourable(uint256 index);
    /// @notice The seed is not visible inside this transaction.
    error SeedGrinderNoSeed();

    constructor(IStorageMarket market) {
        _market = market;
    }

    /// @notice Reverts unless the current period's seed is visible now and all k indices are below `kept`.
    /// The lessor is this contract's caller; it proves `segments` segments in all.
    function grind(uint256 segments, uint256 kept, uint256 k) external returns (bytes32 seed) {
        seed = _market.seedPeriod();
        if (seed == bytes32(0)) revert SeedGrinderNoSeed();
        for (uint256 j; j < k; ++j) {
            uint256 index = ProofMath.postDraw(seed, msg.sender, j, segments);
            if (index >= kept) revert SeedGrinderUnfavourable(index);
        }
    }
}
