// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title PeriodBits
/// @notice Two bits per (replica slot, period) in one deal's mapping: bit 0 "proven", bit 1 "missed reported".
/// 128 periods share a storage word, so a replica proving every period writes a fresh word once per 128
/// periods and otherwise updates a warm-able existing one.
library PeriodBits {
    uint256 private constant PROVEN = 1;
    uint256 private constant MISSED = 2;

    function _slot(uint256 replicaIndex, uint256 period) private pure returns (uint256 key, uint256 shift) {
        key = (replicaIndex << 128) | (period >> 7);
        shift = (period & 127) << 1;
    }

    function get(mapping(uint256 => uint256) storage bits, uint256 replicaIndex, uint256 period)
        internal
        view
        returns (bool proven, bool missed)
    {
        (uint256 key, uint256 shift) = _slot(replicaIndex, period);
        uint256 word = bits[key] >> shift;
        proven = word & PROVEN != 0;
        missed = word & MISSED != 0;
    }

    /// @notice Sets the proven bit; false when it was already set.
    function setProven(mapping(uint256 => uint256) storage bits, uint256 replicaIndex, uint256 period)
        internal
        returns (bool)
    {
        (uint256 key, uint256 shift) = _slot(replicaIndex, period);
        uint256 word = bits[key];
        uint256 bit = PROVEN << shift;
        if (word & bit != 0) return false;
        bits[key] = word | bit;
        return true;
    }

    function setMissed(mapping(uint256 => uint256) storage bits, uint256 replicaIndex, uint256 period) internal {
        (uint256 key, uint256 shift) = _slot(replicaIndex, period);
        bits[key] |= MISSED << shift;
    }
}
