// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Sha256Merkle} from "./Sha256Merkle.sol";

/// @title ProofMath
/// @notice Layout, replica identity, sealing relation and challenge derivation of docs/protocol.md §2, §4–§6.
/// Every function here has a TypeScript twin in node/proofs/ that must compute the same value.
library ProofMath {
    /// @param remainder What is left of the draw past every proving sector (never: the draw is mod their total).
    error ProofMathDrawBeyondProvingSet(uint256 remainder);

    uint256 internal constant SEGMENT_SIZE = 32;
    /// @dev Sealing back-edge window, in segments (docs/protocol.md §4.2).
    uint256 internal constant SEAL_WINDOW = 8192;

    /// @notice Data segments n = max(1, ceil(size / 32)).
    function segmentCount(uint256 size) internal pure returns (uint256) {
        if (size == 0) return 1;
        // size > 0, so size - 1 cannot underflow and the sum cannot overflow for realistic sizes.
        unchecked {
            return (size - 1) / SEGMENT_SIZE + 1;
        }
    }

    /// @notice Tree depth ceil(log2(n)) for n segments.
    function depthOf(uint256 segments) internal pure returns (uint256 depth) {
        while ((uint256(1) << depth) < segments) ++depth;
    }

    /// @notice A sector's id and replicaId: H(abi(lessor, sectorNumber)) (§12.2).
    function sectorId(address lessor, uint256 sectorNumber) internal pure returns (bytes32) {
        return sha256(abi.encode(lessor, sectorNumber));
    }

    /// @notice PoRep challenge j: u256(H(abi(seed, replicaId, commR, j))) mod n.
    function porepChallenge(bytes32 seed, bytes32 replica, bytes32 commR, uint256 j, uint256 segments)
        internal
        pure
        returns (uint256)
    {
        return uint256(sha256(abi.encode(seed, replica, commR, j))) % segments;
    }

    /// @notice A lessor's PoSt challenge j of a period, as a draw over its `total` proving segments (§12.4):
    /// u256(H(abi(periodSeed, lessor, j))) mod total.
    function postDraw(bytes32 periodSeed, address lessor, uint256 j, uint256 total) internal pure returns (uint256) {
        return uint256(sha256(abi.encode(periodSeed, lessor, j))) % total;
    }

    /// @notice Where draw `x` falls in a lessor's proving sectors, given `counts` (16 bits per size class c =
    /// log2Segments - minSectorLog): sizes from the largest down, each size's sectors in their array order.
    /// @return log2Segments The hit sector's size.
    /// @return index Its position in the lessor's array of that size.
    /// @return offset The challenged segment in it.
    function postLocate(uint256 counts, uint256 minSectorLog, uint256 x)
        internal
        pure
        returns (uint256 log2Segments, uint256 index, uint256 offset)
    {
        for (uint256 k = 16; k > 0; --k) {
            uint256 n = (counts >> ((k - 1) * 16)) & 0xffff;
            if (n == 0) continue;
            log2Segments = minSectorLog + k - 1;
            uint256 span = n << log2Segments;
            if (x < span) return (log2Segments, x >> log2Segments, x & ((uint256(1) << log2Segments) - 1));
            x -= span;
        }
        revert ProofMathDrawBeyondProvingSet(x);
    }

    /// @notice On-chain challenge j of k (docs/protocol.md §7.2), stratified so that challenge j falls in
    /// [floor(j·n/k), floor((j+1)·n/k)): the last one lies in the final 1/k of the replica, so regenerating it
    /// means re-sealing at least (k-1)/k of the chain. h = u256(H(abi(seed, replicaId, j))); when n < k a
    /// stratum can be empty and the index is h mod n.
    function spotChallenge(bytes32 seed, bytes32 replica, uint256 j, uint256 k, uint256 segments)
        internal
        pure
        returns (uint256)
    {
        uint256 h = uint256(sha256(abi.encode(seed, replica, j)));
        uint256 lo = j * segments / k;
        uint256 hi = (j + 1) * segments / k;
        if (hi == lo) return h % segments;
        return lo + h % (hi - lo);
    }

    /// @notice The earlier segment d(i) that segment i >= 1 depends on, from the sealed segment S[i-1].
    function sealDependency(bytes32 previousSealed, uint256 i) internal pure returns (uint256) {
        uint256 window = i < SEAL_WINDOW ? i : SEAL_WINDOW;
        // First 6 bytes of S[i-1], big-endian.
        uint256 back = uint256(previousSealed) >> 208;
        // i >= 1 and back % window < window <= i, so i - 1 - (back % window) >= 0.
        unchecked {
            return i - 1 - (back % window);
        }
    }

    /// @notice The sealing key K[i] = H((S[i-1] xor replicaId) ‖ S[d(i)]), strengthened `rounds - 1` times as
    /// K = H(K ‖ S[d(i)]). For i = 0 previousSealed is 0 and dependencySealed the replicaId. The replicaId in
    /// every key stops another identity's sealed chain from passing for this replica (docs/protocol.md §4.4).
    function sealKey(bytes32 replica, bytes32 previousSealed, bytes32 dependencySealed, uint256 rounds)
        internal
        view
        returns (bytes32 key)
    {
        key = Sha256Merkle.hashPair(previousSealed ^ replica, dependencySealed);
        for (uint256 r = 1; r < rounds; ++r) {
            key = Sha256Merkle.hashPair(key, dependencySealed);
        }
    }

    /// @notice PoD keystream word for segment i: H(key ‖ be256(i)).
    function podKeystream(bytes32 key, uint256 i) internal view returns (bytes32) {
        return Sha256Merkle.hashPair(key, bytes32(i));
    }
}
