// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test-only ERC-20 with an open mint. Replaced by the real Coffer token at merge.
contract TestToken is ERC20 {
    constructor() ERC20("Coffer Test Token", "tCOF") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
