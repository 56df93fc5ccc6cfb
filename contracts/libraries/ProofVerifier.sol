// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ProofMath} from "./ProofMath.sol";
import {Sha256Merkle} from "./Sha256Merkle.sol";

/// @title ProofVerifier
/// @notice On-chain verification of PoRep and challenge answers (docs/protocol.md §5, §7.2; a lessor's PoSt is
/// verified opening by opening in StorageMarket.submitPoSt, §12.4). Proofs are flat
/// `bytes32[]` of openings: each opening is a segment followed by `depth` siblings, bottom-up.
/// The functions return false (never revert) on a wrong or truncated proof so the caller picks the error.
library ProofVerifier {
    /// @notice One piece of a sector, challenged on-chain (§7.2, §12.5).
    struct PieceClaim {
        /// The sector's sealed root.
        bytes32 commR;
        bytes32 seed;
        /// The sector's id (its replicaId).
        bytes32 sector;
        /// The piece's first segment in the sector.
        uint256 offset;
        /// The piece's data segments (the deal's).
        uint256 segments;
        /// The sector's depth (log2 of its segments).
        uint256 depth;
        uint256 k;
    }

    /// @notice Verifies the answer to an on-chain challenge of a piece: for j < k, the opening of sector segment
    /// offset + ProofMath.spotChallenge(seed, sector, j, k, segments). The proof must be exactly k openings.
    function verifyChallenge(PieceClaim memory claim, bytes32[] calldata proof) internal view returns (bool) {
        uint256 stride = claim.depth + 1;
        if (proof.length != claim.k * stride) return false;
        for (uint256 j; j < claim.k; ++j) {
            uint256 index = claim.offset + ProofMath.spotChallenge(claim.seed, claim.sector, j, claim.k, claim.segments);
            if (!Sha256Merkle.verifyOpening(claim.commR, index, proof, j * stride, claim.depth)) return false;
        }
        return true;
    }

    struct PoRepClaim {
        bytes32 commR;
        bytes32 commD;
        bytes32 seed;
        bytes32 replica;
        uint256 segments;
        uint256 depth;
        uint256 challenges;
        uint256 sealRounds;
    }

    /// @notice Verifies a PoRep answer: for each of the k challenges i = ProofMath.porepChallenge(seed, replica, commR, j, n)
    /// the proof holds, in order, the openings of S[i] in commR and D[i] in commD and, for i >= 1, S[i-1] and
    /// S[d(i)] in commR; the sealing relation S[i] == D[i] ^ K[i] must hold.
    /// @return ok Whether the whole answer is valid and uses exactly proof.length words.
    function verifyPoRep(PoRepClaim memory claim, bytes32[] calldata proof) internal view returns (bool ok) {
        uint256 cursor;
        for (uint256 j; j < claim.challenges; ++j) {
            uint256 i = ProofMath.porepChallenge(claim.seed, claim.replica, claim.commR, j, claim.segments);
            (ok, cursor) = _verifyPoRepChallenge(claim, i, proof, cursor);
            if (!ok) return false;
        }
        return cursor == proof.length;
    }

    /// @dev One PoRep challenge at proof[cursor...]; returns the cursor past its openings.
    function _verifyPoRepChallenge(PoRepClaim memory claim, uint256 i, bytes32[] calldata proof, uint256 cursor)
        private
        view
        returns (bool, uint256)
    {
        uint256 stride = claim.depth + 1;
        uint256 next = cursor + (i == 0 ? 2 : 4) * stride;
        if (proof.length < next) return (false, next);
        if (!Sha256Merkle.verifyOpening(claim.commR, i, proof, cursor, claim.depth)) return (false, next);
        if (!Sha256Merkle.verifyOpening(claim.commD, i, proof, cursor + stride, claim.depth)) return (false, next);

        bytes32 key;
        if (i == 0) {
            key = ProofMath.sealKey(claim.replica, bytes32(0), claim.replica, claim.sealRounds);
        } else {
            bytes32 previous = proof[cursor + 2 * stride];
            if (!Sha256Merkle.verifyOpening(claim.commR, i - 1, proof, cursor + 2 * stride, claim.depth)) return (false, next);
            uint256 d = ProofMath.sealDependency(previous, i);
            if (!Sha256Merkle.verifyOpening(claim.commR, d, proof, cursor + 3 * stride, claim.depth)) return (false, next);
            key = ProofMath.sealKey(claim.replica, previous, proof[cursor + 3 * stride], claim.sealRounds);
        }
        // Sealing relation (docs/protocol.md §4.2): S[i] = D[i] xor K[i].
        return (proof[cursor] == proof[cursor + stride] ^ key, next);
    }

    /// @notice Verifies one opening of segment `index` at proof[start...] against `root` (used by PoD).
    /// @dev Rejects index >= 2^depth: the fold reads only the low `depth` bits, so `i + 2^depth` would otherwise
    /// pass for `i`. The caller still checks index < n (docs/protocol.md §3.2).
    function verifySegment(bytes32 root, uint256 index, uint256 depth, bytes32[] calldata proof, uint256 start)
        internal
        view
        returns (bool)
    {
        if (proof.length < start + depth + 1) return false;
        if (depth < 256 && index >> depth != 0) return false;
        return Sha256Merkle.verifyOpening(root, index, proof, start, depth);
    }
}
