// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ILessorRegistry
/// @notice What the markets need from the lessor registry: stake locking for collateral and slashing.
/// @dev The registry team's file replaces this one at merge with a superset (same signatures).
interface ILessorRegistry {
    /// @notice Moves `amount` of `lessor`'s stake from free to locked. Only a market (MARKET_ROLE).
    /// Reverts RegistryInsufficientFreeStake(lessor, free, needed) when the free stake is short.
    function lockStake(address lessor, uint256 amount) external;

    /// @notice Moves `amount` of `lessor`'s stake from locked back to free. Only a market (MARKET_ROLE).
    function unlockStake(address lessor, uint256 amount) external;

    /// @notice Takes `amount` from `lessor`'s locked stake and transfers the tokens to `recipient`.
    /// Only a market (MARKET_ROLE).
    function slashStake(address lessor, uint256 amount, address recipient) external;

    /// @notice Whether `lessor` is registered and may take new replicas.
    function isActiveLessor(address lessor) external view returns (bool);

    /// @notice Stake of `lessor` that is not locked as collateral.
    function freeStakeOf(address lessor) external view returns (uint256);

    /// @notice Stake of `lessor` locked as collateral by the markets.
    function lockedStakeOf(address lessor) external view returns (uint256);

    /// @notice The ERC-20 token stakes, payments and collateral are denominated in.
    function stakeToken() external view returns (address);
}
