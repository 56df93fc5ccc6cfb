// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ProofMath} from "../libraries/ProofMath.sol";
import {ProofVerifier} from "../libraries/ProofVerifier.sol";
import {SectorTree} from "../libraries/SectorTree.sol";
import {Sha256Merkle} from "../libraries/Sha256Merkle.sol";

/// @notice Test-only: exposes the proof libraries so the TypeScript engine's proofs can be verified on-chain
/// (cross-tests) and measured (bench:gas). Not deployed by the Ignition modules.
contract ProofVerifierHarness {
    function hashPair(bytes32 left, bytes32 right) external view returns (bytes32) {
        return Sha256Merkle.hashPair(left, right);
    }

    function verifyOpening(bytes32 root, uint256 index, uint256 depth, bytes32[] calldata proof) external view returns (bool) {
        return ProofVerifier.verifySegment(root, index, depth, proof, 0);
    }

    function segmentCount(uint256 size) external pure returns (uint256) {
        return ProofMath.segmentCount(size);
    }

    function depthOf(uint256 segments) external pure returns (uint256) {
        return ProofMath.depthOf(segments);
    }

    function sectorId(address lessor, uint256 sectorNumber) external pure returns (bytes32) {
        return ProofMath.sectorId(lessor, sectorNumber);
    }

    function postDraw(bytes32 seed, address lessor, uint256 j, uint256 total) external pure returns (uint256) {
        return ProofMath.postDraw(seed, lessor, j, total);
    }

    function postLocate(uint256 counts, uint256 minSectorLog, uint256 x) external pure returns (uint256, uint256, uint256) {
        return ProofMath.postLocate(counts, minSectorLog, x);
    }

    /// @notice SectorTree's root of pieces (commDs[i], depths[i]) in a sector of 2^log2Segments segments.
    function sectorCommD(uint256 log2Segments, bytes32[] calldata commDs, uint256[] calldata depths) external view returns (bytes32) {
        SectorTree.Fold memory fold = SectorTree.start(log2Segments);
        for (uint256 i; i < commDs.length; ++i) {
            SectorTree.push(fold, commDs[i], depths[i]);
            fold.cursor += uint256(1) << depths[i];
        }
        return SectorTree.finish(fold, log2Segments);
    }

    function verifyChallenge(
        bytes32 commR,
        bytes32 seed,
        bytes32 sector,
        uint256 offset,
        uint256 segments,
        uint256 depth,
        uint256 k,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return ProofVerifier.verifyChallenge(ProofVerifier.PieceClaim(commR, seed, sector, offset, segments, depth, k), proof);
    }

    function porepChallenge(bytes32 seed, bytes32 replica, bytes32 commR, uint256 j, uint256 segments)
        external
        pure
        returns (uint256)
    {
        return ProofMath.porepChallenge(seed, replica, commR, j, segments);
    }

    function sealDependency(bytes32 previousSealed, uint256 i) external pure returns (uint256) {
        return ProofMath.sealDependency(previousSealed, i);
    }

    function sealKey(bytes32 replica, bytes32 previousSealed, bytes32 dependencySealed, uint256 rounds) external view returns (bytes32) {
        return ProofMath.sealKey(replica, previousSealed, dependencySealed, rounds);
    }

    function podKeystream(bytes32 key, uint256 i) external view returns (bytes32) {
        return ProofMath.podKeystream(key, i);
    }

    function verifyPoRep(
        bytes32 commR,
        bytes32 commD,
        bytes32 seed,
        bytes32 replica,
        uint256 segments,
        uint256 k,
        uint256 sealRounds,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return ProofVerifier.verifyPoRep(
            ProofVerifier.PoRepClaim(commR, commD, seed, replica, segments, ProofMath.depthOf(segments), k, sealRounds), proof
        );
    }

    /// @notice Mirrors DownloadMarket's dispute check (docs/protocol.md §8): proof = opening of E[index] in commE,
    /// then of D[index] in commD; true when both open and E[index] ^ H(key ‖ index) != D[index].
    function verifyPoDDispute(bytes32 commE, bytes32 commD, bytes32 key, uint256 index, uint256 segments, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        uint256 depth = ProofMath.depthOf(segments);
        uint256 stride = depth + 1;
        if (index >= segments || proof.length != 2 * stride) return false;
        if (!ProofVerifier.verifySegment(commE, index, depth, proof, 0)) return false;
        if (!ProofVerifier.verifySegment(commD, index, depth, proof, stride)) return false;
        return proof[0] ^ ProofMath.podKeystream(key, index) != proof[stride];
    }
}
