// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Sha256Merkle
/// @notice Positional binary SHA-256 Merkle trees over 32-byte leaves (docs/protocol.md §3), hashed with the
/// SHA-256 precompile at address 0x02. Openings are read straight from calldata: a flat `bytes32[]` holding
/// the leaf followed by its `depth` siblings, bottom-up, so a proof carries no per-opening ABI overhead.
library Sha256Merkle {
    /// @dev The SHA-256 precompile failed (out of gas).
    error Sha256PrecompileFailed();

    /// @notice H(left ‖ right).
    function hashPair(bytes32 left, bytes32 right) internal view returns (bytes32 result) {
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) {
                mstore(0x00, 0xdd5cab3e) // Sha256PrecompileFailed()
                revert(0x1c, 0x04)
            }
            result := mload(0x00)
        }
    }

    /// @notice The root implied by `leaf` at `index` and the `depth` siblings at proof[siblingsStart...].
    /// @dev The caller checks that proof.length >= siblingsStart + depth and that index < 2^depth.
    function rootFromCalldata(bytes32 leaf, uint256 index, bytes32[] calldata proof, uint256 siblingsStart, uint256 depth)
        internal
        view
        returns (bytes32 node)
    {
        assembly ("memory-safe") {
            node := leaf
            let cursor := add(proof.offset, shl(5, siblingsStart))
            let end := add(cursor, shl(5, depth))
            for {} lt(cursor, end) { cursor := add(cursor, 0x20) } {
                let sibling := calldataload(cursor)
                // Bit set: the running node is a right child.
                switch and(index, 1)
                case 0 {
                    mstore(0x00, node)
                    mstore(0x20, sibling)
                }
                default {
                    mstore(0x00, sibling)
                    mstore(0x20, node)
                }
                if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) {
                    mstore(0x00, 0xdd5cab3e) // Sha256PrecompileFailed()
                    revert(0x1c, 0x04)
                }
                node := mload(0x00)
                index := shr(1, index)
            }
        }
    }

    /// @notice True when the opening at proof[start] (leaf, then `depth` siblings) proves leaf `index` of `root`.
    /// @dev The caller checks bounds: proof.length >= start + 1 + depth.
    function verifyOpening(bytes32 root, uint256 index, bytes32[] calldata proof, uint256 start, uint256 depth)
        internal
        view
        returns (bool)
    {
        return rootFromCalldata(proof[start], index, proof, start + 1, depth) == root;
    }
}
