/**
 * Coffer's proof engine (docs/protocol.md): commitments, chunks, sealing, sectors, challenges, PoRep/PoSt/PoD
 * proofs and their verification, bit-identical to contracts/libraries/{Sha256Merkle,ProofMath,ProofVerifier,SectorTree}.sol.
 */
export * from "./constants.js";
export * from "./errors.js";
export { depthOf, fileLayout, type FileLayout } from "./layout.js";
export type { LongOperationOptions, PlaintextBlock, ProofProgress } from "./types.js";
export { hashPair, sha256, sha256Words, toWord, wordMod } from "./hash.js";
export { ZERO_HASHES, merkleRoot, buildLevels, rootFromPath, verifyPath, siblingsFromLevels, toSegments, equalBytes } from "./merkle.js";
export { toHex, fromHex, asWord, xorWords, type Hex } from "./words.js";
export {
  commitFile,
  commitBytes,
  StreamingTreeBuilder,
  COMMIT_BLOCK_SIZE,
  type Commitment,
  type CommitFileOptions,
} from "./commit.js";
export {
  keptTreeFromPageRoots,
  keptNode,
  keptSiblings,
  encodeKeptTree,
  decodeKeptTree,
  readTreeCache,
  writeTreeCache,
  type KeptTree,
} from "./tree-cache.js";
export {
  CommittedFile,
  InMemoryTree,
  checkSegmentIndex,
  type SegmentOpening,
  type SegmentSource,
  type CommittedFileKind,
  type OpenCommittedFileOptions,
} from "./committed-file.js";
export { flattenOpening, flattenOpenings, proofWords, rootFromWords, verifyOpeningWords, verifySegmentProof } from "./openings.js";
export { chunkByteRange, chunkLength, upperHeight, chunkRoot, chunkProof, readChunk, verifyChunk, assertChunk, ChunkTree, verifyManifest, splitSiblings } from "./chunks.js";
export {
  replicaId,
  sealDependency,
  sealKey,
  Sealer,
  sealBytes,
  unsealBytes,
  sealFile,
  unsealFile,
  unsealStream,
  unsealRange,
  commitSealedBytes,
  type SealFileOptions,
  type SealResult,
  type UnsealOptions,
  type UnsealFileOptions,
} from "./seal.js";
export { challengeSeedOf, periodSeedOf, porepChallenges, postChallenges, spotChallenges, podReceiptChallenge } from "./challenges.js";
export {
  MAX_SECTOR_LOG,
  SECTOR_SIZE_CLASSES,
  sectorId,
  pieceDepth,
  pieceOffsets,
  sectorCommD,
  planSector,
  packSectors,
  writeUnsealedSector,
  postDraw,
  postLocate,
  provingTotal,
  provingCounts,
  lessorPoStChallenges,
  proveSegments,
  proveLessorPoSt,
  verifyLessorPoSt,
  pieceChallenges,
  provePieceChallenge,
  verifyPieceChallenge,
  type SectorPlan,
  type SectorBounds,
  type UnsealedPiece,
  type PoStLocation,
  type LessorPoStChallenge,
  type ProveLessorPoStParams,
  type LessorPoStClaim,
  type ProvePieceChallengeParams,
  type PieceChallengeClaim,
} from "./sectors.js";
export { provePoRep, verifyPoRep, type PoRepClaim, type ProvePoRepParams } from "./porep.js";
export {
  provePoSt,
  provePoStBatch,
  verifyPoSt,
  verifyPoStAt,
  proveChallengeAnswer,
  verifyChallengeAnswer,
  type PoStClaim,
  type ProvePoStParams,
  type ChallengeAnswerClaim,
  type ProveChallengeAnswerParams,
} from "./post.js";
export {
  podKeystream,
  podKeyHash,
  keyMatchesHash,
  encryptBytes,
  decryptBytes,
  encryptForDownload,
  encryptBlocksForDownload,
  decryptDownload,
  podTileProof,
  verifyPodTile,
  podDisputeProof,
  verifyPodDispute,
  type DownloadCipher,
  type EncryptForDownloadOptions,
  type DecryptDownloadOptions,
  type PodDisputeClaim,
} from "./pod.js";
export { HashWorkerPool, hashWorkerPool, closeHashWorkers } from "./worker-pool.js";
export { proofsLogger } from "./logger.js";
