// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title CofferToken (CFR)
/// @notice The token lessors stake and users pay storage with. A fixed supply is minted to an
/// initial holder at deploy. On local development chains only, a faucet lets anyone mint a
/// bounded amount per call, so demos and tests can fund accounts without a distributor.
contract CofferToken is ERC20, ERC20Permit {
    /// @notice Most tokens one faucet call mints.
    uint256 public constant FAUCET_MAX_PER_CALL = 1_000_000 ether;

    /// @notice Chain ids where the faucet may be enabled: Hardhat/Anvil (31337) and Ganache-style (1337).
    uint256 public constant HARDHAT_CHAIN_ID = 31337;
    uint256 public constant DEV_CHAIN_ID = 1337;

    /// @notice Whether {faucet} mints; fixed at deploy, and only ever true on a local chain id.
    bool public immutable faucetEnabled;

    /// @notice The faucet was called on a deployment without it (e.g. any public network).
    error CofferTokenFaucetDisabled(address to, uint256 amount);
    /// @notice A faucet call asked for more than `maxAmount`.
    error CofferTokenFaucetAmountTooLarge(uint256 amount, uint256 maxAmount);
    /// @notice The deployer asked for a faucet on chain `chainId`, which is not a local chain.
    error CofferTokenFaucetNotAllowedOnChain(uint256 chainId);

    /// @param initialHolder Receives `initialSupply` (token wei); may be zero only when the supply is 0.
    /// @param initialSupply Tokens minted at deploy, in token wei.
    /// @param faucetEnabled_ Turns the faucet on; refused unless the chain id is 31337 or 1337.
    constructor(address initialHolder, uint256 initialSupply, bool faucetEnabled_)
        ERC20("Coffer", "CFR")
        ERC20Permit("Coffer")
    {
        if (faucetEnabled_ && block.chainid != HARDHAT_CHAIN_ID && block.chainid != DEV_CHAIN_ID) {
            revert CofferTokenFaucetNotAllowedOnChain(block.chainid);
        }
        faucetEnabled = faucetEnabled_;
        // ERC20InvalidReceiver(address(0)) when a supply is given without a holder.
        if (initialSupply != 0) _mint(initialHolder, initialSupply);
    }

    /// @notice Mints `amount` new tokens to `to`; local development chains only.
    function faucet(address to, uint256 amount) external {
        if (!faucetEnabled) revert CofferTokenFaucetDisabled(to, amount);
        if (amount > FAUCET_MAX_PER_CALL) revert CofferTokenFaucetAmountTooLarge(amount, FAUCET_MAX_PER_CALL);
        _mint(to, amount);
    }
}
