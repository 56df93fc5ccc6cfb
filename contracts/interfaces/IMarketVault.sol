// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IMarketVault
/// @notice The one place the markets keep tokens: deal escrow, download escrow, repair rewards (together
/// "escrowed") and the balances accounts can withdraw (pull payments). Only operators (the storage and
/// download markets) move amounts between buckets; the per-deal bookkeeping lives in the markets.
/// Invariant: token.balanceOf(vault) == escrowed() + totalWithdrawable().
interface IMarketVault {
    /// @notice An operator asked to release more than is escrowed.
    error MarketVaultInsufficientEscrow(uint256 escrowed, uint256 needed);
    /// @notice Tokens said to have arrived (a slash) are not in the vault's balance.
    error MarketVaultUnbacked(uint256 balance, uint256 liabilities);
    /// @notice `account` has nothing to withdraw.
    error MarketVaultNothingToWithdraw(address account);

    /// @notice `amount` was pulled from `from` into escrow.
    event Escrowed(address indexed from, uint256 amount);
    /// @notice Tokens that arrived from outside (slashed stake) were added to escrow.
    event IncomingEscrowed(uint256 amount);
    /// @notice `amount` became withdrawable by `account` (from escrow, or `fromIncoming` straight from a slash).
    event Credited(address indexed account, uint256 amount, bool fromIncoming);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The ERC-20 the vault holds.
    function token() external view returns (address);

    /// @notice Pulls `amount` from `from` (who approved the vault) into escrow. Operators only.
    function deposit(address from, uint256 amount) external;

    /// @notice Moves `amount` from escrow to `account`'s withdrawable balance. Operators only.
    function credit(address account, uint256 amount) external;

    /// @notice Credits `amount` of tokens that just arrived outside `deposit` (a stake slash sent to the vault)
    /// to `account`, checking that the balance backs it. Operators only.
    function creditIncoming(address account, uint256 amount) external;

    /// @notice Adds `amount` of tokens that just arrived (a slash) to escrow, checking the balance. Operators only.
    function escrowIncoming(uint256 amount) external;

    /// @notice Sends the caller its whole withdrawable balance.
    function withdraw() external returns (uint256 amount);

    /// @notice What `account` can withdraw.
    function withdrawableOf(address account) external view returns (uint256);

    /// @notice Tokens held for deals, downloads and repair rewards.
    function escrowed() external view returns (uint256);

    /// @notice Sum of every withdrawable balance.
    function totalWithdrawable() external view returns (uint256);
}
