// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IMarketVault} from "../interfaces/IMarketVault.sol";

/// @title MarketVault
/// @notice Holds every token of the markets (see IMarketVault). Pull payments; state before transfer.
contract MarketVault is IMarketVault, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role of the contracts allowed to move amounts between buckets (the markets).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    IERC20 private immutable _token;
    uint256 private _escrowed;
    uint256 private _totalWithdrawable;
    mapping(address account => uint256) private _withdrawable;

    constructor(IERC20 token_, address admin) {
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function token() external view returns (address) {
        return address(_token);
    }

    function deposit(address from, uint256 amount) external onlyRole(OPERATOR_ROLE) nonReentrant {
        _escrowed += amount;
        emit Escrowed(from, amount);
        _token.safeTransferFrom(from, address(this), amount);
    }

    function credit(address account, uint256 amount) external onlyRole(OPERATOR_ROLE) {
        uint256 escrowed_ = _escrowed;
        if (escrowed_ < amount) revert MarketVaultInsufficientEscrow(escrowed_, amount);
        // Checked just above.
        unchecked {
            _escrowed = escrowed_ - amount;
        }
        _withdrawable[account] += amount;
        _totalWithdrawable += amount;
        emit Credited(account, amount, false);
    }

    function creditIncoming(address account, uint256 amount) external onlyRole(OPERATOR_ROLE) {
        _withdrawable[account] += amount;
        _totalWithdrawable += amount;
        _requireBacked();
        emit Credited(account, amount, true);
    }

    function escrowIncoming(uint256 amount) external onlyRole(OPERATOR_ROLE) {
        _escrowed += amount;
        _requireBacked();
        emit IncomingEscrowed(amount);
    }

    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _withdrawable[msg.sender];
        if (amount == 0) revert MarketVaultNothingToWithdraw(msg.sender);
        _withdrawable[msg.sender] = 0;
        _totalWithdrawable -= amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    function withdrawableOf(address account) external view returns (uint256) {
        return _withdrawable[account];
    }

    function escrowed() external view returns (uint256) {
        return _escrowed;
    }

    function totalWithdrawable() external view returns (uint256) {
        return _totalWithdrawable;
    }

    /// @dev Incoming credits must be backed by tokens already in the vault.
    function _requireBacked() private view {
        uint256 balance = _token.balanceOf(address(this));
        uint256 liabilities = _escrowed + _totalWithdrawable;
        if (balance < liabilities) revert MarketVaultUnbacked(balance, liabilities);
    }
}
