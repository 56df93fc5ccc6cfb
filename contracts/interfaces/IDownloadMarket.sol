// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IDownloadMarket
/// @notice PoD, the fair exchange of a deal's data for payment (docs/protocol.md §8): the downloader escrows
/// the price, the lessor commits to the ciphertext E (commE) and to its key (keyHash) and locks a bond equal to
/// the price, the downloader proves it holds a random segment of E, the lessor reveals the key, and after a
/// dispute window the lessor is paid — unless the downloader proves a segment of E that does not decrypt to D.
interface IDownloadMarket {
    struct Params {
        /// Seconds the lessor has to commit after the download is opened.
        uint64 commitTimeout;
        /// Seconds the downloader has to confirm receipt after the commit (also bounded by 256 blocks).
        uint64 receiptTimeout;
        /// Seconds the lessor has to reveal the key after the receipt.
        uint64 revealTimeout;
        /// Seconds the downloader may dispute after the key is revealed.
        uint64 disputeWindow;
    }

    enum Stage {
        None,
        Opened,
        Committed,
        Received,
        Revealed,
        Paid,
        Refunded,
        Disputed
    }

    struct Download {
        address downloader;
        uint8 replicaIndex;
        Stage stage;
        /// Time of the last step.
        uint64 stageTime;
        address lessor;
        uint64 commitBlock;
        bytes32 dealId;
        uint128 price;
        bytes32 commE;
        bytes32 keyHash;
        bytes32 key;
    }

    event DownloadOpened(
        bytes32 indexed downloadId, bytes32 indexed dealId, uint256 replicaIndex, address indexed downloader, address lessor, uint256 price
    );
    event DownloadCommitted(bytes32 indexed downloadId, bytes32 commE, bytes32 keyHash, uint256 bond);
    event DownloadReceived(bytes32 indexed downloadId, uint256 challengedIndex);
    event DownloadKeyRevealed(bytes32 indexed downloadId, bytes32 key);
    event DownloadPaid(bytes32 indexed downloadId, address indexed lessor, uint256 price);
    event DownloadRefunded(bytes32 indexed downloadId, address indexed downloader, uint256 price, Stage fromStage);
    event DownloadDisputed(bytes32 indexed downloadId, uint256 index, uint256 refund, uint256 slashedBond);

    error MarketInvalidParameter(string name);
    error MarketReplicaNotServing(bytes32 dealId, uint256 replicaIndex);
    error MarketInvalidDownloadPrice(uint256 price);
    error MarketUnknownDownload(bytes32 downloadId);
    error MarketDownloadWrongStage(bytes32 downloadId, Stage stage);
    error MarketNotDownloader(bytes32 downloadId, address caller);
    error MarketNotDownloadLessor(bytes32 downloadId, address caller);
    error MarketDownloadLate(bytes32 downloadId, uint256 deadline);
    error MarketDownloadChallengeNotReady(bytes32 downloadId, uint256 readyBlock);
    error MarketInvalidReceipt(bytes32 downloadId, uint256 challengedIndex);
    error MarketWrongKey(bytes32 downloadId, bytes32 keyHash);
    error MarketDisputeRejected(bytes32 downloadId, uint256 index);
    error MarketDisputeWindowOpen(bytes32 downloadId, uint256 deadline);
    error MarketDownloadNotExpired(bytes32 downloadId, uint256 deadline);

    /// @notice Step 1: escrows `price` (approve the vault) for the whole file of `dealId` from the lessor of a
    /// Proving replica. downloadId = sha256(abi.encode(address(this), caller, nonce)): never equal to a dealId.
    function openDownload(bytes32 dealId, uint256 replicaIndex, uint128 price) external returns (bytes32 downloadId);

    /// @notice Step 2 (lessor): commits to the ciphertext root and the key hash, locking a bond of `price`.
    function commitDownload(bytes32 downloadId, bytes32 commE, bytes32 keyHash) external;

    /// @notice Step 3 (downloader): opens the challenged segment of E (segment + depth siblings).
    function confirmReceipt(bytes32 downloadId, bytes32[] calldata opening) external;

    /// @notice Step 4 (lessor): reveals the key; H(key) must equal keyHash.
    function revealKey(bytes32 downloadId, bytes32 key) external;

    /// @notice Step 5a (downloader): proves segment `index` of E does not decrypt to D[index]. `proof` is the
    /// opening of E[index] in commE followed by the opening of D[index] in commD.
    function disputeDownload(bytes32 downloadId, uint256 index, bytes32[] calldata proof) external;

    /// @notice Step 5b (anyone): after the dispute window, pays the lessor and unlocks its bond.
    function claimDownload(bytes32 downloadId) external;

    /// @notice The downloader withdraws an offer the lessor has not committed to.
    function cancelDownload(bytes32 downloadId) external;

    /// @notice Anyone refunds a download whose commit, receipt or reveal is late.
    function expireDownload(bytes32 downloadId) external;

    function params() external view returns (Params memory);
    function getDownload(bytes32 downloadId) external view returns (Download memory);
    /// @notice The segment confirmReceipt must open (available from block commitBlock + 2).
    function receiptChallenge(bytes32 downloadId) external view returns (uint256);
}
