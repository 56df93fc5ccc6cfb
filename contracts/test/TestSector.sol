// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {Sha256Merkle} from "../libraries/Sha256Merkle.sol";

/// @notice Test-only: small sectors of any power-of-two size, built leaf by leaf in memory (docs/protocol.md
/// §4.2, §12.2): the pieces' data at consecutive offsets and zeros after, its sealing to the sector's
/// replicaId, full Merkle trees, and the PoRep, PoSt and on-chain challenge answers. A 4-segment piece of
/// `pieceData(salt, 2)` is TinyReplica.data(salt). Everything is recomputed from the leaves, never from
/// SectorTree, so the market's commD is checked against an independent computation.
library TestSector {
    /// @notice 2^depth segments of a piece's data: keccak256(abi.encode(salt, i)).
    function pieceData(bytes32 salt, uint256 depth) internal pure returns (bytes32[] memory d) {
        d = new bytes32[](uint256(1) << depth);
        for (uint256 i; i < d.length; ++i) d[i] = keccak256(abi.encode(salt, i));
    }

    /// @notice The unsealed sector of 2^log2 segments: `pieces` one after the other from offset 0 (the caller
    /// orders them by non-increasing size, so each is aligned), zero segments after them.
    function layout(uint256 log2, bytes32[][] memory pieces) internal pure returns (bytes32[] memory d) {
        d = new bytes32[](uint256(1) << log2);
        uint256 cursor;
        for (uint256 p; p < pieces.length; ++p) {
            for (uint256 i; i < pieces[p].length; ++i) d[cursor + i] = pieces[p][i];
            cursor += pieces[p].length;
        }
    }

    /// @notice S[i] = D[i] xor K[i] with K from S[i-1] and S[d(i)] (§4.2), for any number of segments.
    function seal(bytes32[] memory d, bytes32 replica, uint256 rounds) internal view returns (bytes32[] memory s) {
        s = new bytes32[](d.length);
        s[0] = d[0] ^ ProofMath.sealKey(replica, bytes32(0), replica, rounds);
        for (uint256 i = 1; i < d.length; ++i) {
            uint256 dep = ProofMath.sealDependency(s[i - 1], i);
            s[i] = d[i] ^ ProofMath.sealKey(replica, s[i - 1], s[dep], rounds);
        }
    }

    /// @notice levels[0] = leaves, levels[h][i] = H(levels[h-1][2i] ‖ levels[h-1][2i+1]); the root is levels[log2][0].
    function tree(bytes32[] memory leaves) internal view returns (bytes32[][] memory levels) {
        uint256 depth = ProofMath.depthOf(leaves.length);
        levels = new bytes32[][](depth + 1);
        levels[0] = leaves;
        for (uint256 h = 1; h <= depth; ++h) {
            bytes32[] memory below = levels[h - 1];
            bytes32[] memory level = new bytes32[](below.length / 2);
            for (uint256 i; i < level.length; ++i) level[i] = Sha256Merkle.hashPair(below[2 * i], below[2 * i + 1]);
            levels[h] = level;
        }
    }

    function root(bytes32[] memory leaves) internal view returns (bytes32) {
        bytes32[][] memory levels = tree(leaves);
        return levels[levels.length - 1][0];
    }

    /// @notice Root of 2^height zero segments.
    function zeroRoot(uint256 height) internal view returns (bytes32 node) {
        for (uint256 h; h < height; ++h) node = Sha256Merkle.hashPair(node, node);
    }

    /// @notice Writes the opening of leaf i (the leaf, then its siblings bottom-up) at out[cursor...].
    function open(bytes32[][] memory levels, uint256 i, bytes32[] memory out, uint256 cursor) internal pure returns (uint256) {
        uint256 depth = levels.length - 1;
        out[cursor] = levels[0][i];
        for (uint256 h; h < depth; ++h) out[cursor + 1 + h] = levels[h][(i >> h) ^ 1];
        return cursor + depth + 1;
    }

    /// @notice The PoRep answer (ProofVerifier.verifyPoRep): per challenge S[i], D[i] and, for i >= 1, S[i-1], S[d(i)].
    function porepProof(bytes32[] memory d, bytes32[] memory s, bytes32 seed, bytes32 replica, uint256 k)
        internal
        view
        returns (bytes32[] memory proof)
    {
        bytes32[][] memory sealedTree = tree(s);
        bytes32[][] memory dataTree = tree(d);
        uint256 stride = sealedTree.length;
        bytes32 commR = sealedTree[stride - 1][0];
        uint256 words;
        for (uint256 j; j < k; ++j) {
            words += (ProofMath.porepChallenge(seed, replica, commR, j, s.length) == 0 ? 2 : 4) * stride;
        }
        proof = new bytes32[](words);
        uint256 cursor;
        for (uint256 j; j < k; ++j) {
            uint256 i = ProofMath.porepChallenge(seed, replica, commR, j, s.length);
            cursor = open(sealedTree, i, proof, cursor);
            cursor = open(dataTree, i, proof, cursor);
            if (i > 0) {
                cursor = open(sealedTree, i - 1, proof, cursor);
                cursor = open(sealedTree, ProofMath.sealDependency(s[i - 1], i), proof, cursor);
            }
        }
    }

    /// @notice The answer to an on-chain challenge of the piece at `offset` (§7.2, §12.5): k openings of sector
    /// segments offset + spotChallenge(seed, sector, j, k, segments).
    function challengeProof(bytes32[] memory s, bytes32 seed, bytes32 sector, uint256 offset, uint256 segments, uint256 k)
        internal
        view
        returns (bytes32[] memory proof)
    {
        bytes32[][] memory levels = tree(s);
        proof = new bytes32[](k * levels.length);
        uint256 cursor;
        for (uint256 j; j < k; ++j) {
            cursor = open(levels, offset + ProofMath.spotChallenge(seed, sector, j, k, segments), proof, cursor);
        }
    }

    /// @notice A lessor's PoSt for `seed` (§12.4): for j < k the opening of the segment postLocate finds for
    /// draw j, in the sealed leaves `sealedOf` keeps for each of its proving sectors.
    function postProof(
        IStorageMarket market,
        mapping(bytes32 => bytes32[]) storage sealedOf,
        address lessor,
        bytes32 seed,
        uint256 k,
        uint256 minSectorLog
    ) internal view returns (bytes32[] memory proof) {
        uint256 counts = market.provingCounts(lessor);
        uint256 total;
        for (uint256 c; c < 16; ++c) total += ((counts >> (16 * c)) & 0xffff) << (minSectorLog + c);
        uint256[] memory log2s = new uint256[](k);
        uint256[] memory offsets = new uint256[](k);
        bytes32[] memory sectors = new bytes32[](k);
        uint256 words;
        for (uint256 j; j < k; ++j) {
            (uint256 log2, uint256 index, uint256 offset) =
                ProofMath.postLocate(counts, minSectorLog, ProofMath.postDraw(seed, lessor, j, total));
            log2s[j] = log2;
            offsets[j] = offset;
            sectors[j] = market.provingSectorAt(lessor, uint8(log2), index);
            words += log2 + 1;
        }
        proof = new bytes32[](words);
        uint256 cursor;
        for (uint256 j; j < k; ++j) {
            cursor = open(tree(sealedOf[sectors[j]]), offsets[j], proof, cursor);
        }
    }
}
