// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title LessorPeriods
/// @notice One bit per (lessor, period): proven. 256 periods share a storage word (128 days of 12 h periods),
/// so a lessor writes a fresh word once per 256 periods. A closed period without its bit is a miss (§12.5):
/// nobody reports misses, settlement counts them.
library LessorPeriods {
    function isSet(mapping(uint256 => uint256) storage bits, uint256 period) internal view returns (bool) {
        return (bits[period >> 8] >> (period & 255)) & 1 != 0;
    }

    /// @notice Sets the bit; false when it was set already.
    function set(mapping(uint256 => uint256) storage bits, uint256 period) internal returns (bool) {
        uint256 key = period >> 8;
        uint256 bit = uint256(1) << (period & 255);
        uint256 word = bits[key];
        if (word & bit != 0) return false;
        bits[key] = word | bit;
        return true;
    }

    /// @notice Walks periods [from, to): counts proven and missed ones, stopping after the `maxMisses`-th miss.
    /// @return proven Proven periods before the stop.
    /// @return missed Missed periods before the stop (at most maxMisses).
    /// @return stop The period after the last one counted (`to`, or the period after the maxMisses-th miss).
    function scan(mapping(uint256 => uint256) storage bits, uint256 from, uint256 to, uint256 maxMisses)
        internal
        view
        returns (uint256 proven, uint256 missed, uint256 stop)
    {
        uint256 key = type(uint256).max;
        uint256 word;
        for (uint256 p = from; p < to; ++p) {
            if (p >> 8 != key) {
                key = p >> 8;
                word = bits[key];
            }
            if ((word >> (p & 255)) & 1 != 0) {
                ++proven;
            } else if (++missed >= maxMisses) {
                return (proven, missed, p + 1);
            }
        }
        return (proven, missed, to);
    }
}
