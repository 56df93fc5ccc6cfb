// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ILessorRegistry} from "../interfaces/ILessorRegistry.sol";

/// @notice Test-only lessor registry with real token accounting: a lessor registers and stakes; markets
/// (MARKET_ROLE) lock, unlock and slash. The real registry (registry branch) replaces it at merge.
contract TestLessorRegistry is ILessorRegistry, AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");

    error RegistryInsufficientFreeStake(address lessor, uint256 free, uint256 needed);
    error RegistryInsufficientLockedStake(address lessor, uint256 locked, uint256 needed);

    event StakeLocked(address indexed lessor, uint256 amount);
    event StakeUnlocked(address indexed lessor, uint256 amount);
    event StakeSlashed(address indexed lessor, uint256 amount, address recipient);

    IERC20 private immutable _token;
    mapping(address => bool) private _active;
    mapping(address => uint256) private _free;
    mapping(address => uint256) private _locked;

    constructor(IERC20 token_) {
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    /// @notice Registers the caller (active) and adds `amount` to its free stake.
    function registerAndStake(uint256 amount) external {
        _active[msg.sender] = true;
        _free[msg.sender] += amount;
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function setActive(address lessor, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _active[lessor] = active;
    }

    function withdrawFree(uint256 amount) external {
        uint256 free = _free[msg.sender];
        if (free < amount) revert RegistryInsufficientFreeStake(msg.sender, free, amount);
        _free[msg.sender] = free - amount;
        _token.safeTransfer(msg.sender, amount);
    }

    function lockStake(address lessor, uint256 amount) external onlyRole(MARKET_ROLE) {
        uint256 free = _free[lessor];
        if (free < amount) revert RegistryInsufficientFreeStake(lessor, free, amount);
        _free[lessor] = free - amount;
        _locked[lessor] += amount;
        emit StakeLocked(lessor, amount);
    }

    function unlockStake(address lessor, uint256 amount) external onlyRole(MARKET_ROLE) {
        uint256 locked = _locked[lessor];
        if (locked < amount) revert RegistryInsufficientLockedStake(lessor, locked, amount);
        _locked[lessor] = locked - amount;
        _free[lessor] += amount;
        emit StakeUnlocked(lessor, amount);
    }

    function slashStake(address lessor, uint256 amount, address recipient) external onlyRole(MARKET_ROLE) {
        uint256 locked = _locked[lessor];
        if (locked < amount) revert RegistryInsufficientLockedStake(lessor, locked, amount);
        _locked[lessor] = locked - amount;
        emit StakeSlashed(lessor, amount, recipient);
        _token.safeTransfer(recipient, amount);
    }

    function isActiveLessor(address lessor) external view returns (bool) {
        return _active[lessor];
    }

    function freeStakeOf(address lessor) external view returns (uint256) {
        return _free[lessor];
    }

    function lockedStakeOf(address lessor) external view returns (uint256) {
        return _locked[lessor];
    }

    function stakeToken() external view returns (address) {
        return address(_token);
    }
}
