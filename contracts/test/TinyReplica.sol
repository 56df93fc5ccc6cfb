// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ProofMath} from "../libraries/ProofMath.sol";
import {Sha256Merkle} from "../libraries/Sha256Merkle.sol";

/// @notice Test-only: a 4-segment (128-byte, depth 2) file, its sealing (docs/protocol.md §4.2, any rounds)
/// a sector of 4 segments holding it as its one piece, and the PoRep / PoSt / challenge proofs for it, computed in Solidity for fuzz and invariant tests.
library TinyReplica {
    uint256 internal constant SEGMENTS = 4;
    uint256 internal constant SIZE = 128;

    function data(bytes32 salt) internal pure returns (bytes32[4] memory d) {
        for (uint256 i; i < SEGMENTS; ++i) d[i] = keccak256(abi.encode(salt, i));
    }

    function seal(bytes32[4] memory d, bytes32 replica, uint256 rounds) internal view returns (bytes32[4] memory s) {
        s[0] = d[0] ^ ProofMath.sealKey(replica, bytes32(0), replica, rounds);
        for (uint256 i = 1; i < SEGMENTS; ++i) {
            uint256 dep = ProofMath.sealDependency(s[i - 1], i);
            s[i] = d[i] ^ ProofMath.sealKey(replica, s[i - 1], s[dep], rounds);
        }
    }

    function root(bytes32[4] memory leaves) internal view returns (bytes32) {
        return Sha256Merkle.hashPair(Sha256Merkle.hashPair(leaves[0], leaves[1]), Sha256Merkle.hashPair(leaves[2], leaves[3]));
    }

    /// @dev Appends the opening of leaf i (segment + 2 siblings) at out[cursor...].
    function open(bytes32[4] memory leaves, uint256 i, bytes32[] memory out, uint256 cursor) internal view returns (uint256) {
        out[cursor] = leaves[i];
        out[cursor + 1] = leaves[i ^ 1];
        uint256 other = (i >> 1) ^ 1;
        out[cursor + 2] = Sha256Merkle.hashPair(leaves[2 * other], leaves[2 * other + 1]);
        return cursor + 3;
    }

    function porepProof(bytes32[4] memory d, bytes32[4] memory s, bytes32 seed, bytes32 replica, uint256 k)
        internal
        view
        returns (bytes32[] memory proof)
    {
        bytes32 commR = root(s);
        uint256 words;
        for (uint256 j; j < k; ++j) {
            words += ProofMath.porepChallenge(seed, replica, commR, j, SEGMENTS) == 0 ? 6 : 12;
        }
        proof = new bytes32[](words);
        uint256 cursor;
        for (uint256 j; j < k; ++j) {
            uint256 i = ProofMath.porepChallenge(seed, replica, commR, j, SEGMENTS);
            cursor = open(s, i, proof, cursor);
            cursor = open(d, i, proof, cursor);
            if (i > 0) {
                cursor = open(s, i - 1, proof, cursor);
                cursor = open(s, ProofMath.sealDependency(s[i - 1], i), proof, cursor);
            }
        }
    }

    /// @dev Appends the opening of one PoSt challenge (a segment of a 4-segment sector) at out[cursor...].
    function postOpening(bytes32[4] memory s, uint256 offset, bytes32[] memory out, uint256 cursor)
        internal
        view
        returns (uint256)
    {
        return open(s, offset, out, cursor);
    }

    /// @dev The answer to an on-chain challenge (docs/protocol.md §7.2): k openings of the stratified indices.
    function challengeProof(bytes32[4] memory s, bytes32 seed, bytes32 replica, uint256 k) internal view returns (bytes32[] memory proof) {
        proof = new bytes32[](k * 3);
        uint256 cursor;
        for (uint256 j; j < k; ++j) {
            cursor = open(s, ProofMath.spotChallenge(seed, replica, j, k, SEGMENTS), proof, cursor);
        }
    }
}
