// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Sha256Merkle} from "./Sha256Merkle.sol";

/// @title SectorTree
/// @notice A sector's unsealed root from its pieces (docs/protocol.md §12.2). Pieces sit in non-increasing
/// size, each at the next offset, so each is aligned to its own size and its commD is exactly the node of the
/// sector's tree at its height; the space after them is zeros, covered by aligned zero subtrees. Folding
/// those aligned subtrees left to right with a stack gives the root in O(pieces + log2) hashes, without
/// inclusion proofs.
library SectorTree {
    struct Fold {
        bytes32[64] nodes;
        uint256[64] heights;
        uint256 size;
        /// Segments covered so far.
        uint256 cursor;
        /// zero[h]: root of 2^h zero segments.
        bytes32[64] zero;
    }

    function start(uint256 log2Segments) internal view returns (Fold memory fold) {
        for (uint256 h = 1; h <= log2Segments; ++h) {
            fold.zero[h] = Sha256Merkle.hashPair(fold.zero[h - 1], fold.zero[h - 1]);
        }
    }

    /// @notice Appends a subtree of 2^height segments at the cursor (the caller keeps the cursor aligned).
    function push(Fold memory fold, bytes32 root, uint256 height) internal view {
        uint256 size = fold.size;
        while (size > 0 && fold.heights[size - 1] == height) {
            root = Sha256Merkle.hashPair(fold.nodes[size - 1], root);
            ++height;
            --size;
        }
        fold.nodes[size] = root;
        fold.heights[size] = height;
        fold.size = size + 1;
    }

    /// @notice Covers the rest of the 2^log2Segments segments with zero subtrees and returns the root.
    function finish(Fold memory fold, uint256 log2Segments) internal view returns (bytes32) {
        uint256 end = uint256(1) << log2Segments;
        uint256 cursor = fold.cursor;
        while (cursor < end) {
            // The largest aligned block at the cursor: its lowest set bit (all of it when the cursor is 0).
            uint256 block_ = cursor == 0 ? end : cursor & (~cursor + 1);
            uint256 height;
            while ((uint256(1) << height) < block_) ++height;
            push(fold, fold.zero[height], height);
            cursor += block_;
        }
        fold.cursor = cursor;
        return fold.nodes[0];
    }
}
