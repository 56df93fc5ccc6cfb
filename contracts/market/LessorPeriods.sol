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

    /// @notice Counts proven and missed periods in [from, to), a word (256 periods) at a time.
    /// @return proven Proven periods.
    /// @return missed Periods without the bit.
    function count(mapping(uint256 => uint256) storage bits, uint256 from, uint256 to)
        internal
        view
        returns (uint256 proven, uint256 missed)
    {
        if (from >= to) return (0, 0);
        uint256 last = to - 1;
        for (uint256 key = from >> 8; key <= last >> 8; ++key) {
            uint256 word = bits[key];
            // Keep the bits of [from, to) in this word.
            if (key == from >> 8) word = (word >> (from & 255)) << (from & 255);
            if (key == last >> 8 && last & 255 < 255) word &= (uint256(1) << ((last & 255) + 1)) - 1;
            proven += _popcount(word);
        }
        missed = to - from - proven;
    }

    /// @dev Set bits of a word (SWAR; the byte sums fit 8 bits except for a full word).
    function _popcount(uint256 x) private pure returns (uint256) {
        if (x == type(uint256).max) return 256;
        // Each step sums neighbouring fields; no field overflows into the next, so nothing wraps.
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            return (x * 0x0101010101010101010101010101010101010101010101010101010101010101) >> 248;
        }
    }
}
