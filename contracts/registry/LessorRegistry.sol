// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";

/// @title LessorRegistry
/// @notice Holds lessors' stake and profiles. See {ILessorRegistry} for the rules.
/// @dev Every stake balance change goes through {_moveStake}; the tokens held by this contract are
/// always exactly free + locked + unbonding summed over lessors.
contract LessorRegistry is ILessorRegistry, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role of the market contract(s): may lock, unlock and slash stake.
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");

    /// @notice Longest allowed peer id, in bytes.
    uint256 public constant MAX_PEER_ID_LENGTH = 64;
    /// @notice Most multiaddrs per lessor.
    uint256 public constant MAX_MULTIADDRS = 4;
    /// @notice Longest multiaddr, in bytes.
    uint256 public constant MAX_MULTIADDR_LENGTH = 128;
    /// @notice Most entries one discovery page returns.
    uint256 public constant MAX_PAGE_SIZE = 100;
    /// @notice Longest unbonding delay the constructor accepts.
    uint256 public constant MAX_UNBONDING_DELAY = 365 days;

    /// Multihash codes a libp2p peer id uses: identity (inlined small public keys) and sha2-256.
    uint8 private constant MULTIHASH_IDENTITY = 0x00;
    uint8 private constant MULTIHASH_SHA2_256 = 0x12;

    /// Where a stake movement takes tokens from or puts them to. `Outside` is the world beyond the
    /// registry: moving from it is a deposit, moving to it a withdrawal or slash.
    enum Bucket {
        Outside,
        Free,
        Locked,
        Unbonding
    }

    /// Storage layout: the market's hot path (free + locked) shares one slot.
    struct Lessor {
        uint128 freeStake;
        uint128 lockedStake;
        uint128 unbondingStake;
        uint64 unbondingReleaseAt;
        uint64 registeredAt;
        uint128 pricePerGiBPerPeriod;
        uint64 capacityBytes;
        /// 1-based position in `_lessorList`; 0 = not listed.
        uint64 listPosition;
        bytes peerId;
        string[] multiaddrs;
    }

    /// Sums over all lessors; free and locked share a slot like in {Lessor}.
    struct StakeTotals {
        uint128 free;
        uint128 locked;
        uint128 unbonding;
    }

    IERC20 private immutable _stakeToken;
    uint256 private immutable _minStake;
    uint256 private immutable _unbondingDelay;

    mapping(address lessor => Lessor) private _lessors;
    mapping(bytes32 peerIdHash => address lessor) private _peerIdOwners;
    address[] private _lessorList;
    StakeTotals private _totals;

    /// @param stakeToken_ ERC-20 staked here (a plain token: no fee on transfer, no rebasing).
    /// @param minStake_ Minimum bonded stake, > 0.
    /// @param unbondingDelay_ Seconds from an unstake request to the withdrawal, <= MAX_UNBONDING_DELAY.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants MARKET_ROLE to the market at deploy).
    constructor(IERC20 stakeToken_, uint256 minStake_, uint256 unbondingDelay_, address admin) {
        if (address(stakeToken_) == address(0)) revert RegistryInvalidStakeToken(address(stakeToken_));
        if (minStake_ == 0) revert RegistryInvalidMinStake(minStake_);
        if (unbondingDelay_ > MAX_UNBONDING_DELAY) {
            revert RegistryInvalidUnbondingDelay(unbondingDelay_, MAX_UNBONDING_DELAY);
        }
        if (admin == address(0)) revert RegistryInvalidAdmin(admin);
        _stakeToken = stakeToken_;
        _minStake = minStake_;
        _unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- lessor entry points

    /// @inheritdoc ILessorRegistry
    function register(
        uint256 stake,
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes calldata peerId,
        string[] calldata multiaddrs
    ) external nonReentrant {
        Lessor storage l = _lessors[msg.sender];
        if (l.registeredAt != 0) revert RegistryAlreadyRegistered(msg.sender, l.registeredAt);
        if (stake < _minStake) revert RegistryStakeBelowMinimum(msg.sender, stake, _minStake);

        _setProfile(l, capacityBytes, pricePerGiBPerPeriod, peerId, multiaddrs);
        l.registeredAt = uint64(block.timestamp);
        _lessorList.push(msg.sender);
        l.listPosition = uint64(_lessorList.length);
        _moveStake(msg.sender, Bucket.Outside, Bucket.Free, stake);
        emit Registered(msg.sender, stake, capacityBytes, pricePerGiBPerPeriod, peerId, multiaddrs);

        _stakeToken.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @inheritdoc ILessorRegistry
    function update(
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes calldata peerId,
        string[] calldata multiaddrs
    ) external {
        Lessor storage l = _registered(msg.sender);
        _setProfile(l, capacityBytes, pricePerGiBPerPeriod, peerId, multiaddrs);
        emit Updated(msg.sender, capacityBytes, pricePerGiBPerPeriod, peerId, multiaddrs);
    }

    /// @inheritdoc ILessorRegistry
    function addStake(uint256 amount) external nonReentrant {
        Lessor storage l = _registered(msg.sender);
        if (amount == 0) revert RegistryZeroAmount(msg.sender);
        _moveStake(msg.sender, Bucket.Outside, Bucket.Free, amount);
        emit StakeAdded(msg.sender, amount, l.freeStake);

        _stakeToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILessorRegistry
    function requestUnstake(uint256 amount) external {
        Lessor storage l = _registered(msg.sender);
        if (amount == 0) revert RegistryZeroAmount(msg.sender);
        _moveStake(msg.sender, Bucket.Free, Bucket.Unbonding, amount);
        uint256 bonded = uint256(l.freeStake) + l.lockedStake;
        if (bonded < _minStake) revert RegistryStakeBelowMinimum(msg.sender, bonded, _minStake);
        uint256 releaseAt = _restartUnbonding(l);
        emit UnstakeRequested(msg.sender, amount, l.unbondingStake, releaseAt);
    }

    /// @inheritdoc ILessorRegistry
    function deregister() external {
        Lessor storage l = _registered(msg.sender);
        if (l.lockedStake != 0) revert RegistryStakeLocked(msg.sender, l.lockedStake);

        uint256 free = l.freeStake;
        if (free != 0) _moveStake(msg.sender, Bucket.Free, Bucket.Unbonding, free);
        uint256 releaseAt = l.unbondingStake != 0 ? _restartUnbonding(l) : 0;

        delete _peerIdOwners[keccak256(l.peerId)];
        _unlist(l);
        delete l.peerId;
        delete l.multiaddrs;
        l.capacityBytes = 0;
        l.pricePerGiBPerPeriod = 0;
        l.registeredAt = 0;
        emit Deregistered(msg.sender, l.unbondingStake, releaseAt);
    }

    /// @inheritdoc ILessorRegistry
    function withdraw() external nonReentrant {
        Lessor storage l = _lessors[msg.sender];
        uint256 amount = l.unbondingStake;
        if (amount == 0) revert RegistryNothingToWithdraw(msg.sender);
        if (block.timestamp < l.unbondingReleaseAt) {
            revert RegistryUnbondingNotElapsed(msg.sender, l.unbondingReleaseAt, block.timestamp);
        }
        _moveStake(msg.sender, Bucket.Unbonding, Bucket.Outside, amount);
        l.unbondingReleaseAt = 0;
        emit Withdrawn(msg.sender, amount);

        _stakeToken.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- market entry points

    /// @inheritdoc ILessorRegistry
    function lockStake(address lessor, uint256 amount) external onlyRole(MARKET_ROLE) {
        if (amount == 0) revert RegistryZeroAmount(lessor);
        _moveStake(lessor, Bucket.Free, Bucket.Locked, amount);
        emit StakeLocked(lessor, msg.sender, amount);
    }

    /// @inheritdoc ILessorRegistry
    function unlockStake(address lessor, uint256 amount) external onlyRole(MARKET_ROLE) {
        if (amount == 0) revert RegistryZeroAmount(lessor);
        _moveStake(lessor, Bucket.Locked, Bucket.Free, amount);
        emit StakeUnlocked(lessor, msg.sender, amount);
    }

    /// @inheritdoc ILessorRegistry
    function slashStake(address lessor, uint256 amount, address recipient)
        external
        onlyRole(MARKET_ROLE)
        nonReentrant
    {
        if (amount == 0) revert RegistryZeroAmount(lessor);
        if (recipient == address(0) || recipient == address(this)) revert RegistryInvalidSlashRecipient(recipient);
        _moveStake(lessor, Bucket.Locked, Bucket.Outside, amount);
        emit StakeSlashed(lessor, msg.sender, recipient, amount);

        _stakeToken.safeTransfer(recipient, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ILessorRegistry
    function isActiveLessor(address lessor) external view returns (bool) {
        Lessor storage l = _lessors[lessor];
        return l.registeredAt != 0 && uint256(l.freeStake) + l.lockedStake >= _minStake;
    }

    /// @inheritdoc ILessorRegistry
    function freeStakeOf(address lessor) external view returns (uint256) {
        return _lessors[lessor].freeStake;
    }

    /// @inheritdoc ILessorRegistry
    function lockedStakeOf(address lessor) external view returns (uint256) {
        return _lessors[lessor].lockedStake;
    }

    /// @inheritdoc ILessorRegistry
    function lessorTerms(address lessor) external view returns (uint256 capacityBytes, uint256 pricePerGiBPerPeriod) {
        Lessor storage l = _lessors[lessor];
        return (l.capacityBytes, l.pricePerGiBPerPeriod);
    }

    /// @inheritdoc ILessorRegistry
    function getLessor(address lessor) public view returns (LessorInfo memory info) {
        Lessor storage l = _lessors[lessor];
        info.lessor = l.registeredAt != 0 || l.unbondingStake != 0 ? lessor : address(0);
        info.peerId = l.peerId;
        info.multiaddrs = l.multiaddrs;
        info.capacityBytes = l.capacityBytes;
        info.pricePerGiBPerPeriod = l.pricePerGiBPerPeriod;
        info.freeStake = l.freeStake;
        info.lockedStake = l.lockedStake;
        info.unbondingStake = l.unbondingStake;
        info.unbondingReleaseAt = l.unbondingReleaseAt;
        info.registeredAt = l.registeredAt;
    }

    /// @inheritdoc ILessorRegistry
    function lessorByPeerId(bytes calldata peerId) external view returns (address) {
        return _peerIdOwners[keccak256(peerId)];
    }

    /// @inheritdoc ILessorRegistry
    function lessorCount() external view returns (uint256) {
        return _lessorList.length;
    }

    /// @inheritdoc ILessorRegistry
    function lessorsPage(uint256 offset, uint256 limit) public view returns (address[] memory page) {
        (uint256 start, uint256 size) = _pageBounds(offset, limit);
        page = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            page[i] = _lessorList[start + i];
        }
    }

    /// @inheritdoc ILessorRegistry
    function lessorInfosPage(uint256 offset, uint256 limit) external view returns (LessorInfo[] memory infos) {
        address[] memory page = lessorsPage(offset, limit);
        infos = new LessorInfo[](page.length);
        for (uint256 i = 0; i < page.length; ++i) {
            infos[i] = getLessor(page[i]);
        }
    }

    /// @inheritdoc ILessorRegistry
    function stakeTotals() external view returns (uint256 free, uint256 locked, uint256 unbonding) {
        StakeTotals storage t = _totals;
        return (t.free, t.locked, t.unbonding);
    }

    /// @inheritdoc ILessorRegistry
    function stakeToken() external view returns (IERC20) {
        return _stakeToken;
    }

    /// @inheritdoc ILessorRegistry
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc ILessorRegistry
    function unbondingDelay() external view returns (uint256) {
        return _unbondingDelay;
    }

    // ---------------------------------------------------------------- internals

    /// @dev The one place stake balances change: moves `amount` of `lessor`'s stake from bucket
    /// `from` to bucket `to`, keeping the totals in step. Outside -> X is a deposit, X -> Outside a
    /// withdrawal or slash (the caller moves the tokens afterwards). Reverts when `from` holds less
    /// than `amount`.
    function _moveStake(address lessor, Bucket from, Bucket to, uint256 amount) private {
        Lessor storage l = _lessors[lessor];
        StakeTotals storage t = _totals;

        if (from == Bucket.Free) {
            uint256 free = l.freeStake;
            if (free < amount) revert RegistryInsufficientFreeStake(lessor, free, amount);
            // amount <= l.freeStake <= t.free (the total is a sum that includes it), so neither
            // subtraction underflows and amount fits in 128 bits.
            unchecked {
                l.freeStake = uint128(free - amount);
                t.free -= uint128(amount);
            }
        } else if (from == Bucket.Locked) {
            uint256 locked = l.lockedStake;
            if (locked < amount) revert RegistryInsufficientLockedStake(lessor, locked, amount);
            // amount <= l.lockedStake <= t.locked, as above.
            unchecked {
                l.lockedStake = uint128(locked - amount);
                t.locked -= uint128(amount);
            }
        } else if (from == Bucket.Unbonding) {
            // Only withdraw() moves unbonding stake, and always exactly all of it; checked
            // arithmetic still guards the invariant.
            l.unbondingStake -= SafeCast.toUint128(amount);
            t.unbonding -= uint128(amount);
        }

        // Deposits are bounded by the token's supply; SafeCast guards tokens whose supply exceeds 2^128.
        uint128 amount128 = SafeCast.toUint128(amount);
        if (to == Bucket.Free) {
            l.freeStake += amount128;
            t.free += amount128;
        } else if (to == Bucket.Locked) {
            l.lockedStake += amount128;
            t.locked += amount128;
        } else if (to == Bucket.Unbonding) {
            l.unbondingStake += amount128;
            t.unbonding += amount128;
        }
    }

    /// @dev Starts the unbonding delay anew for everything unbonding; returns the release time.
    function _restartUnbonding(Lessor storage l) private returns (uint256 releaseAt) {
        releaseAt = block.timestamp + _unbondingDelay;
        l.unbondingReleaseAt = uint64(releaseAt);
    }

    /// @dev Validates and stores capacity, price, peer id (claiming it) and multiaddrs.
    function _setProfile(
        Lessor storage l,
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes calldata peerId,
        string[] calldata multiaddrs
    ) private {
        if (capacityBytes == 0 || capacityBytes > type(uint64).max) {
            revert RegistryInvalidCapacity(capacityBytes, type(uint64).max);
        }
        if (pricePerGiBPerPeriod == 0 || pricePerGiBPerPeriod > type(uint128).max) {
            revert RegistryInvalidPrice(pricePerGiBPerPeriod, type(uint128).max);
        }
        _validatePeerId(peerId);
        _validateMultiaddrs(multiaddrs);

        bytes32 newHash = keccak256(peerId);
        address owner = _peerIdOwners[newHash];
        if (owner != msg.sender) {
            if (owner != address(0)) revert RegistryPeerIdTaken(peerId, owner);
            // A first registration has no peer id yet: nothing to release.
            if (l.peerId.length != 0) delete _peerIdOwners[keccak256(l.peerId)];
            _peerIdOwners[newHash] = msg.sender;
            l.peerId = peerId;
        }

        l.capacityBytes = uint64(capacityBytes);
        l.pricePerGiBPerPeriod = uint128(pricePerGiBPerPeriod);
        // The legacy code generator cannot copy string[] calldata to storage in one assignment.
        delete l.multiaddrs;
        for (uint256 i = 0; i < multiaddrs.length; ++i) {
            l.multiaddrs.push(multiaddrs[i]);
        }
    }

    /// @dev A peer id is a multihash: <code><digest length><digest>, code identity or sha2-256.
    function _validatePeerId(bytes calldata peerId) private pure {
        uint256 length = peerId.length;
        if (
            length < 3 || length > MAX_PEER_ID_LENGTH
                || (uint8(peerId[0]) != MULTIHASH_IDENTITY && uint8(peerId[0]) != MULTIHASH_SHA2_256)
                || uint8(peerId[1]) != length - 2
        ) revert RegistryInvalidPeerId(peerId);
    }

    function _validateMultiaddrs(string[] calldata multiaddrs) private pure {
        uint256 count = multiaddrs.length;
        if (count == 0 || count > MAX_MULTIADDRS) revert RegistryInvalidMultiaddrCount(count, MAX_MULTIADDRS);
        for (uint256 i = 0; i < count; ++i) {
            bytes calldata addr = bytes(multiaddrs[i]);
            if (addr.length == 0 || addr.length > MAX_MULTIADDR_LENGTH || addr[0] != "/") {
                revert RegistryInvalidMultiaddr(i, multiaddrs[i]);
            }
        }
    }

    function _registered(address lessor) private view returns (Lessor storage l) {
        l = _lessors[lessor];
        if (l.registeredAt == 0) revert RegistryNotRegistered(lessor);
    }

    /// @dev Swap-and-pop removal from the discovery list.
    function _unlist(Lessor storage l) private {
        uint256 index = l.listPosition - 1;
        uint256 lastIndex = _lessorList.length - 1;
        if (index != lastIndex) {
            address moved = _lessorList[lastIndex];
            _lessorList[index] = moved;
            _lessors[moved].listPosition = uint64(index + 1);
        }
        _lessorList.pop();
        l.listPosition = 0;
    }

    function _pageBounds(uint256 offset, uint256 limit) private view returns (uint256 start, uint256 size) {
        uint256 count = _lessorList.length;
        if (offset >= count) return (count, 0);
        uint256 remaining = count - offset;
        size = limit < remaining ? limit : remaining;
        if (size > MAX_PAGE_SIZE) size = MAX_PAGE_SIZE;
        start = offset;
    }
}
