// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Coffer lessor registry
/// @notice Lessors (storage providers) register here: they stake the Coffer token, declare how much
/// disk they rent out and at what price, and publish how to reach their node (libp2p peer id and
/// multiaddrs). Users discover lessors from here; the market contract locks part of a lessor's stake
/// as collateral for each deal, releases it when the deal ends and slashes it when a proof is missed.
///
/// Stake of a lessor lives in exactly one of three buckets:
///  - free: bonded, not backing any deal; the market may lock it, the lessor may start unstaking it;
///  - locked: collateral for deals; only the market moves it (unlock back to free, or slash out);
///  - unbonding: on its way out; withdrawable once `unbondingDelay` seconds have passed.
/// "Bonded" stake is free + locked; a lessor is active while registered with bonded >= `minStake`.
///
/// Leaving: `requestUnstake` moves free stake to unbonding but must leave bonded stake >= `minStake`
/// (locked stake counts toward it, so a lessor with deals keeps at least the minimum at stake, and
/// one already below it after a slash cannot unstake at all). Leaving completely is `deregister`,
/// allowed only when nothing is locked: it unbonds all free stake and removes the lessor from
/// discovery. Each unstake request restarts the delay for the whole unbonding amount.
interface ILessorRegistry {
    /// @notice Everything the registry knows about one lessor, as returned by {getLessor}.
    struct LessorInfo {
        /// The lessor's account (the staker). Zero when it is neither registered nor has stake unbonding.
        address lessor;
        /// libp2p peer id of the lessor's node, as multihash bytes (`PeerId.toMultihash().bytes`).
        bytes peerId;
        /// Text multiaddrs where the node listens, e.g. "/ip4/203.0.113.7/tcp/4001".
        string[] multiaddrs;
        /// Disk space offered, in bytes.
        uint256 capacityBytes;
        /// Asking price in token wei per GiB per proving period (the period length is the market's).
        uint256 pricePerGiBPerPeriod;
        /// Bonded stake not backing any deal.
        uint256 freeStake;
        /// Bonded stake locked by the market as deal collateral.
        uint256 lockedStake;
        /// Stake waiting for `unbondingReleaseAt` to be withdrawn.
        uint256 unbondingStake;
        /// Unix time from which the unbonding stake can be withdrawn (0 when nothing is unbonding).
        uint256 unbondingReleaseAt;
        /// Unix time of registration; 0 when not registered (never, or deregistered).
        uint256 registeredAt;
    }

    // ---------------------------------------------------------------- events

    /// @notice A lessor registered with `stake` tokens of free stake.
    event Registered(
        address indexed lessor,
        uint256 stake,
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes peerId,
        string[] multiaddrs
    );
    /// @notice A lessor replaced its capacity, price, peer id and multiaddrs.
    event Updated(
        address indexed lessor, uint256 capacityBytes, uint256 pricePerGiBPerPeriod, bytes peerId, string[] multiaddrs
    );
    /// @notice A lessor added `amount` to its free stake, which is now `freeStake`.
    event StakeAdded(address indexed lessor, uint256 amount, uint256 freeStake);
    /// @notice `market` moved `amount` of the lessor's stake from free to locked.
    event StakeLocked(address indexed lessor, address indexed market, uint256 amount);
    /// @notice `market` moved `amount` of the lessor's stake from locked back to free.
    event StakeUnlocked(address indexed lessor, address indexed market, uint256 amount);
    /// @notice `market` took `amount` of the lessor's locked stake and sent it to `recipient`.
    event StakeSlashed(address indexed lessor, address indexed market, address indexed recipient, uint256 amount);
    /// @notice A lessor moved `amount` from free to unbonding; `unbondingStake` in total is withdrawable at `releaseAt`.
    event UnstakeRequested(address indexed lessor, uint256 amount, uint256 unbondingStake, uint256 releaseAt);
    /// @notice A lessor left discovery; all its free stake is unbonding (`unbondingStake` in total, until `releaseAt`).
    event Deregistered(address indexed lessor, uint256 unbondingStake, uint256 releaseAt);
    /// @notice A lessor withdrew `amount` of unbonded stake to its account.
    event Withdrawn(address indexed lessor, uint256 amount);

    // ---------------------------------------------------------------- errors

    /// @notice The constructor got the zero address as stake token.
    error RegistryInvalidStakeToken(address token);
    /// @notice The constructor got a zero minimum stake.
    error RegistryInvalidMinStake(uint256 minStake);
    /// @notice The constructor got an unbonding delay above `maxDelay`.
    error RegistryInvalidUnbondingDelay(uint256 delay, uint256 maxDelay);
    /// @notice The constructor got the zero address as admin.
    error RegistryInvalidAdmin(address admin);
    /// @notice `lessor` is already registered (since `registeredAt`).
    error RegistryAlreadyRegistered(address lessor, uint256 registeredAt);
    /// @notice `lessor` is not registered.
    error RegistryNotRegistered(address lessor);
    /// @notice The lessor's bonded stake would be `stake`, below `minStake`.
    error RegistryStakeBelowMinimum(address lessor, uint256 stake, uint256 minStake);
    /// @notice An amount of zero was given for an operation on `lessor`'s stake.
    error RegistryZeroAmount(address lessor);
    /// @notice Capacity must be in [1, maxCapacityBytes].
    error RegistryInvalidCapacity(uint256 capacityBytes, uint256 maxCapacityBytes);
    /// @notice Price must be in [1, maxPrice].
    error RegistryInvalidPrice(uint256 pricePerGiBPerPeriod, uint256 maxPrice);
    /// @notice The peer id is not a plausible libp2p peer id multihash (see {register}).
    error RegistryInvalidPeerId(bytes peerId);
    /// @notice The peer id is already claimed by another lessor, `owner`.
    error RegistryPeerIdTaken(bytes peerId, address owner);
    /// @notice Between 1 and `maxCount` multiaddrs are required; `count` were given.
    error RegistryInvalidMultiaddrCount(uint256 count, uint256 maxCount);
    /// @notice Multiaddr number `index` is empty, too long or does not start with "/".
    error RegistryInvalidMultiaddr(uint256 index, string multiaddr);
    /// @notice `lessor` has `free` free stake, `needed` was asked for.
    error RegistryInsufficientFreeStake(address lessor, uint256 free, uint256 needed);
    /// @notice `lessor` has `locked` locked stake, `needed` was asked for.
    error RegistryInsufficientLockedStake(address lessor, uint256 locked, uint256 needed);
    /// @notice `lessor` cannot deregister while `locked` stake backs deals.
    error RegistryStakeLocked(address lessor, uint256 locked);
    /// @notice `lessor` has no unbonding stake to withdraw.
    error RegistryNothingToWithdraw(address lessor);
    /// @notice `lessor`'s unbonding stake is withdrawable at `releaseAt`, it is `nowTime`.
    error RegistryUnbondingNotElapsed(address lessor, uint256 releaseAt, uint256 nowTime);
    /// @notice Slashed stake cannot go to `recipient` (the zero address or the registry itself).
    error RegistryInvalidSlashRecipient(address recipient);

    // ---------------------------------------------------------------- lessor entry points

    /// @notice Registers the caller as a lessor, pulling `stake` tokens (approve the registry first).
    /// @param stake Initial free stake, at least {minStake}.
    /// @param capacityBytes Disk space offered, in bytes, 1 to 2^64-1.
    /// @param pricePerGiBPerPeriod Asking price in token wei per GiB per period, 1 to 2^128-1.
    /// @param peerId libp2p peer id as multihash bytes: code 0x00 (identity, e.g. Ed25519 keys) or
    /// 0x12 (sha2-256, e.g. RSA keys), then the digest length (must equal the remaining bytes, at
    /// least 1), then the digest; at most 64 bytes in all. Unique across lessors.
    /// @param multiaddrs 1 to 4 text multiaddrs, each 1 to 128 bytes starting with "/".
    function register(
        uint256 stake,
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes calldata peerId,
        string[] calldata multiaddrs
    ) external;

    /// @notice Replaces the caller's capacity, price, peer id and multiaddrs (same rules as {register}).
    /// Lowering capacity does not affect deals already made; the market enforces its own commitments.
    function update(
        uint256 capacityBytes,
        uint256 pricePerGiBPerPeriod,
        bytes calldata peerId,
        string[] calldata multiaddrs
    ) external;

    /// @notice Adds `amount` tokens to the caller's free stake (approve the registry first).
    function addStake(uint256 amount) external;

    /// @notice Moves `amount` of the caller's free stake to unbonding and (re)starts the unbonding
    /// delay for the whole unbonding amount. Bonded stake left (free + locked) must stay >= {minStake};
    /// to leave completely use {deregister}.
    function requestUnstake(uint256 amount) external;

    /// @notice Leaves the registry: needs no locked stake; moves all free stake to unbonding, (re)starts
    /// the delay, releases the peer id and removes the caller from discovery. Withdraw later with {withdraw}.
    function deregister() external;

    /// @notice Sends the caller's whole unbonding stake to it, once the unbonding delay has passed.
    function withdraw() external;

    // ---------------------------------------------------------------- market entry points (MARKET_ROLE)

    /// @notice Moves `amount` of `lessor`'s stake from free to locked (deal collateral).
    /// @dev Reverts with {RegistryInsufficientFreeStake} when free < amount (a lessor that is not
    /// registered has no free stake), {RegistryZeroAmount} when amount is 0.
    function lockStake(address lessor, uint256 amount) external;

    /// @notice Moves `amount` of `lessor`'s stake from locked back to free.
    /// @dev Reverts with {RegistryInsufficientLockedStake} when locked < amount.
    function unlockStake(address lessor, uint256 amount) external;

    /// @notice Takes `amount` from `lessor`'s locked stake and transfers the tokens to `recipient`.
    /// @dev State is updated before the transfer. Reverts with {RegistryInsufficientLockedStake}
    /// when locked < amount, {RegistryInvalidSlashRecipient} for the zero address or the registry.
    function slashStake(address lessor, uint256 amount, address recipient) external;

    // ---------------------------------------------------------------- views

    /// @notice True when `lessor` is registered and its bonded stake (free + locked) is >= {minStake}.
    function isActiveLessor(address lessor) external view returns (bool);

    /// @notice Free (bonded, unlocked) stake of `lessor`.
    function freeStakeOf(address lessor) external view returns (uint256);

    /// @notice Locked (deal collateral) stake of `lessor`.
    function lockedStakeOf(address lessor) external view returns (uint256);

    /// @notice Capacity and asking price of `lessor`, without copying its peer id and multiaddrs.
    function lessorTerms(address lessor) external view returns (uint256 capacityBytes, uint256 pricePerGiBPerPeriod);

    /// @notice Everything known about `lessor` (all zero/empty when it never registered). After
    /// {deregister} the profile is cleared but the unbonding stake and release time remain until {withdraw}.
    function getLessor(address lessor) external view returns (LessorInfo memory);

    /// @notice The lessor that claimed `peerId`, or the zero address.
    function lessorByPeerId(bytes calldata peerId) external view returns (address);

    /// @notice Number of registered lessors (discovery list length).
    function lessorCount() external view returns (uint256);

    /// @notice Registered lessors from position `offset`, at most `limit` (capped at {MAX_PAGE_SIZE}).
    /// Order is not stable across deregistrations (swap-and-pop). Past the end: empty array.
    function lessorsPage(uint256 offset, uint256 limit) external view returns (address[] memory);

    /// @notice Like {lessorsPage} but returns each lessor's full {LessorInfo}.
    function lessorInfosPage(uint256 offset, uint256 limit) external view returns (LessorInfo[] memory);

    /// @notice Sums over all lessors of free, locked and unbonding stake. The registry holds exactly
    /// free + locked + unbonding tokens of stake.
    function stakeTotals() external view returns (uint256 free, uint256 locked, uint256 unbonding);

    /// @notice The ERC-20 token staked here.
    function stakeToken() external view returns (IERC20);

    /// @notice Minimum bonded stake to register and stay active.
    function minStake() external view returns (uint256);

    /// @notice Seconds between an unstake request and the withdrawal.
    function unbondingDelay() external view returns (uint256);
}
