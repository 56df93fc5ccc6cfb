// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title DelayedSeed
/// @notice Every challenge seed of the markets is the hash of a block mined *after* the transaction that fixed
/// which block it is (docs/protocol.md §6.1): the party that profits from the indices cannot compute them while
/// it can still act, and cannot retry, because the first request fixes the block for good. `blockhash` reaches
/// 256 blocks back; past that the seed is lost, and the rules that use a seed treat a lost seed as the challenged
/// party's failure (a missed period, an expired challenge or PoRep), never as a way out.
library DelayedSeed {
    /// @dev blockhash() only reaches this many blocks back.
    uint256 internal constant HORIZON = 256;

    enum Status {
        /// The seed block is not mined yet (or is the current block, whose hash no transaction can see).
        Pending,
        /// blockhash(seedBlock) is readable.
        Ready,
        /// More than 256 blocks have passed: the hash can no longer be read.
        Lost
    }

    /// @notice The state of the seed fixed by `seedBlock` at the current block.
    function status(uint256 seedBlock) internal view returns (Status) {
        if (block.number <= seedBlock) return Status.Pending;
        // seedBlock < block.number here, so the subtraction cannot underflow.
        if (block.number - seedBlock > HORIZON) return Status.Lost;
        return Status.Ready;
    }

    /// @notice blockhash(seedBlock) when Ready, zero otherwise.
    function hashOf(uint256 seedBlock) internal view returns (bytes32) {
        return status(seedBlock) == Status.Ready ? blockhash(seedBlock) : bytes32(0);
    }

    /// @notice The last block in which blockhash(seedBlock) can still be read.
    function lastReadableBlock(uint256 seedBlock) internal pure returns (uint256) {
        return seedBlock + HORIZON;
    }
}
