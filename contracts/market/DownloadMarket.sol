// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDownloadMarket} from "../interfaces/IDownloadMarket.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";
import {IMarketVault} from "../interfaces/IMarketVault.sol";
import {IStorageMarket} from "../interfaces/IStorageMarket.sol";
import {ProofMath} from "../libraries/ProofMath.sol";
import {ProofVerifier} from "../libraries/ProofVerifier.sol";

/// @title DownloadMarket
/// @notice PoD fair exchange (IDownloadMarket, docs/protocol.md §8). Escrow in the MarketVault, bonds locked
/// in the lessor registry.
contract DownloadMarket is IDownloadMarket, ReentrancyGuardTransient {
    /// @dev blockhash() only reaches this many blocks back.
    uint256 private constant BLOCKHASH_WINDOW = 256;

    IStorageMarket private immutable _market;
    ILessorRegistry private immutable _registry;
    IMarketVault private immutable _vault;
    uint256 private immutable _commitTimeout;
    uint256 private immutable _receiptTimeout;
    uint256 private immutable _revealTimeout;
    uint256 private immutable _disputeWindow;

    mapping(bytes32 downloadId => Download) private _downloads;
    mapping(address downloader => uint256) private _nonces;

    constructor(IStorageMarket market_, Params memory p) {
        if (p.commitTimeout == 0) revert MarketInvalidParameter("commitTimeout");
        if (p.receiptTimeout == 0) revert MarketInvalidParameter("receiptTimeout");
        if (p.revealTimeout == 0) revert MarketInvalidParameter("revealTimeout");
        if (p.disputeWindow == 0) revert MarketInvalidParameter("disputeWindow");
        _market = market_;
        _registry = ILessorRegistry(market_.registry());
        _vault = IMarketVault(market_.vault());
        _commitTimeout = p.commitTimeout;
        _receiptTimeout = p.receiptTimeout;
        _revealTimeout = p.revealTimeout;
        _disputeWindow = p.disputeWindow;
    }

    /// @inheritdoc IDownloadMarket
    function openDownload(bytes32 dealId, uint256 replicaIndex, uint128 price) external nonReentrant returns (bytes32 downloadId) {
        address lessor = _market.servingLessor(dealId, replicaIndex);
        if (lessor == address(0)) revert MarketReplicaNotServing(dealId, replicaIndex);
        if (price == 0) revert MarketInvalidDownloadPrice(price);
        // The market address keeps download ids apart from deal ids (sha256(abi.encode(client, nonce))).
        downloadId = sha256(abi.encode(address(this), msg.sender, _nonces[msg.sender]++));
        Download storage download = _downloads[downloadId];
        download.downloader = msg.sender;
        // servingLessor returned a lessor, so the index is a valid slot (< 10).
        download.replicaIndex = uint8(replicaIndex);
        download.stage = Stage.Opened;
        download.stageTime = uint64(block.timestamp);
        download.lessor = lessor;
        download.dealId = dealId;
        download.price = price;
        emit DownloadOpened(downloadId, dealId, replicaIndex, msg.sender, lessor, price);
        _vault.deposit(msg.sender, price);
    }

    /// @inheritdoc IDownloadMarket
    function commitDownload(bytes32 downloadId, bytes32 commE, bytes32 keyHash) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Opened);
        if (download.lessor != msg.sender) revert MarketNotDownloadLessor(downloadId, msg.sender);
        uint256 deadline = download.stageTime + _commitTimeout;
        if (block.timestamp > deadline) revert MarketDownloadLate(downloadId, deadline);
        download.stage = Stage.Committed;
        download.stageTime = uint64(block.timestamp);
        download.commitBlock = uint64(block.number);
        download.commE = commE;
        download.keyHash = keyHash;
        uint256 bond = download.price;
        emit DownloadCommitted(downloadId, commE, keyHash, bond);
        _registry.lockStake(msg.sender, bond);
    }

    /// @inheritdoc IDownloadMarket
    function confirmReceipt(bytes32 downloadId, bytes32[] calldata opening) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Committed);
        if (download.downloader != msg.sender) revert MarketNotDownloader(downloadId, msg.sender);
        uint256 commitBlock = download.commitBlock;
        if (block.number < commitBlock + 2) revert MarketDownloadChallengeNotReady(downloadId, commitBlock + 2);
        uint256 deadline = download.stageTime + _receiptTimeout;
        if (block.timestamp > deadline || block.number > commitBlock + BLOCKHASH_WINDOW) {
            revert MarketDownloadLate(downloadId, deadline);
        }
        IStorageMarket.Deal memory deal = _market.getDeal(download.dealId);
        uint256 challenge = _receiptChallenge(downloadId, commitBlock, deal.segments);
        if (opening.length != uint256(deal.depth) + 1 || !ProofVerifier.verifySegment(download.commE, challenge, deal.depth, opening, 0)) {
            revert MarketInvalidReceipt(downloadId, challenge);
        }
        download.stage = Stage.Received;
        download.stageTime = uint64(block.timestamp);
        emit DownloadReceived(downloadId, challenge);
    }

    /// @inheritdoc IDownloadMarket
    function revealKey(bytes32 downloadId, bytes32 key) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Received);
        if (download.lessor != msg.sender) revert MarketNotDownloadLessor(downloadId, msg.sender);
        uint256 deadline = download.stageTime + _revealTimeout;
        if (block.timestamp > deadline) revert MarketDownloadLate(downloadId, deadline);
        if (sha256(abi.encode(key)) != download.keyHash) revert MarketWrongKey(downloadId, download.keyHash);
        download.stage = Stage.Revealed;
        download.stageTime = uint64(block.timestamp);
        download.key = key;
        emit DownloadKeyRevealed(downloadId, key);
    }

    /// @inheritdoc IDownloadMarket
    function disputeDownload(bytes32 downloadId, uint256 index, bytes32[] calldata proof) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Revealed);
        if (download.downloader != msg.sender) revert MarketNotDownloader(downloadId, msg.sender);
        uint256 deadline = download.stageTime + _disputeWindow;
        if (block.timestamp > deadline) revert MarketDownloadLate(downloadId, deadline);
        IStorageMarket.Deal memory deal = _market.getDeal(download.dealId);
        if (!_provesMismatch(download, deal, index, proof)) revert MarketDisputeRejected(downloadId, index);
        download.stage = Stage.Disputed;
        download.stageTime = uint64(block.timestamp);
        uint256 price = download.price;
        emit DownloadDisputed(downloadId, index, price, price);
        _vault.credit(msg.sender, price);
        _registry.slashStake(download.lessor, price, address(_vault));
        _vault.creditIncoming(msg.sender, price);
    }

    /// @inheritdoc IDownloadMarket
    function claimDownload(bytes32 downloadId) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Revealed);
        uint256 deadline = download.stageTime + _disputeWindow;
        if (block.timestamp <= deadline) revert MarketDisputeWindowOpen(downloadId, deadline);
        download.stage = Stage.Paid;
        download.stageTime = uint64(block.timestamp);
        address lessor = download.lessor;
        uint256 price = download.price;
        emit DownloadPaid(downloadId, lessor, price);
        _vault.credit(lessor, price);
        _registry.unlockStake(lessor, price);
    }

    /// @inheritdoc IDownloadMarket
    function cancelDownload(bytes32 downloadId) external nonReentrant {
        Download storage download = _atStage(downloadId, Stage.Opened);
        if (download.downloader != msg.sender) revert MarketNotDownloader(downloadId, msg.sender);
        _refund(downloadId, download, false);
    }

    /// @inheritdoc IDownloadMarket
    function expireDownload(bytes32 downloadId) external nonReentrant {
        Download storage download = _existing(downloadId);
        Stage stage = download.stage;
        uint256 deadline;
        bool expired;
        if (stage == Stage.Opened) {
            deadline = download.stageTime + _commitTimeout;
            expired = block.timestamp > deadline;
        } else if (stage == Stage.Committed) {
            deadline = download.stageTime + _receiptTimeout;
            expired = block.timestamp > deadline || block.number > uint256(download.commitBlock) + BLOCKHASH_WINDOW;
        } else if (stage == Stage.Received) {
            deadline = download.stageTime + _revealTimeout;
            expired = block.timestamp > deadline;
        } else {
            revert MarketDownloadWrongStage(downloadId, stage);
        }
        if (!expired) revert MarketDownloadNotExpired(downloadId, deadline);
        _refund(downloadId, download, stage != Stage.Opened);
    }

    function params() external view returns (Params memory) {
        return Params({
            commitTimeout: uint64(_commitTimeout),
            receiptTimeout: uint64(_receiptTimeout),
            revealTimeout: uint64(_revealTimeout),
            disputeWindow: uint64(_disputeWindow)
        });
    }

    function getDownload(bytes32 downloadId) external view returns (Download memory) {
        return _existing(downloadId);
    }

    function receiptChallenge(bytes32 downloadId) external view returns (uint256) {
        Download storage download = _atStage(downloadId, Stage.Committed);
        uint256 commitBlock = download.commitBlock;
        if (block.number < commitBlock + 2) revert MarketDownloadChallengeNotReady(downloadId, commitBlock + 2);
        return _receiptChallenge(downloadId, commitBlock, _market.getDeal(download.dealId).segments);
    }

    // ------------------------------------------------------------------ internals

    function _existing(bytes32 downloadId) private view returns (Download storage download) {
        download = _downloads[downloadId];
        if (download.stage == Stage.None) revert MarketUnknownDownload(downloadId);
    }

    function _atStage(bytes32 downloadId, Stage stage) private view returns (Download storage download) {
        download = _existing(downloadId);
        if (download.stage != stage) revert MarketDownloadWrongStage(downloadId, download.stage);
    }

    /// @dev c = u256(H(abi(blockhash(commitBlock + 1), downloadId))) mod n (docs/protocol.md §8).
    function _receiptChallenge(bytes32 downloadId, uint256 commitBlock, uint256 segments) private view returns (uint256) {
        return uint256(sha256(abi.encode(blockhash(commitBlock + 1), downloadId))) % segments;
    }

    /// @dev True when proof opens E[index] in commE and D[index] in commD and E[index] ^ H(key ‖ index) != D[index].
    function _provesMismatch(Download storage download, IStorageMarket.Deal memory deal, uint256 index, bytes32[] calldata proof)
        private
        view
        returns (bool)
    {
        uint256 stride = uint256(deal.depth) + 1;
        if (index >= deal.segments || proof.length != 2 * stride) return false;
        if (!ProofVerifier.verifySegment(download.commE, index, deal.depth, proof, 0)) return false;
        if (!ProofVerifier.verifySegment(deal.commD, index, deal.depth, proof, stride)) return false;
        return proof[0] ^ ProofMath.podKeystream(download.key, index) != proof[stride];
    }

    /// @dev Refunds the price to the downloader and, once committed, unlocks the lessor's bond.
    function _refund(bytes32 downloadId, Download storage download, bool unlockBond) private {
        Stage from = download.stage;
        download.stage = Stage.Refunded;
        download.stageTime = uint64(block.timestamp);
        uint256 price = download.price;
        emit DownloadRefunded(downloadId, download.downloader, price, from);
        _vault.credit(download.downloader, price);
        if (unlockBond) _registry.unlockStake(download.lessor, price);
    }
}
