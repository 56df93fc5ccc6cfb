// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice The few cheatcodes Coffer's Solidity tests use (the npm forge-std does not resolve under
/// Hardhat here). Extend this interface rather than declaring another one.
/// Cheatcode address: address(uint160(uint256(keccak256("hevm cheat code")))) =
/// 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D.
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert() external;
    /// @dev Matches the revert's selector only (expectRevert(bytes4) matches the whole revert data).
    function expectPartialRevert(bytes4 revertData) external;
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address);
    function label(address account, string calldata newLabel) external;
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory);
    /// @dev Needs a write permission (test.solidity fsPermissions) for `path`.
    function writeLine(string calldata path, string calldata data) external;
    function toString(uint256 value) external pure returns (string memory);
    /// @dev Read through the cheatcode, not `block.number` / `block.timestamp`: via-IR may reuse an earlier
    /// read of those across a vm.roll / vm.warp in the same function.
    function getBlockNumber() external view returns (uint256 height);
    function getBlockTimestamp() external view returns (uint256 timestamp);
    /// @dev The next call must emit the event the test emits next, from `emitter`, topics and data equal.
    function expectEmit(address emitter) external;
}
