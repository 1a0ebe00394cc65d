// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockGRID: a stand-in for the GRID token on local chains and in tests
/// @notice 18 decimals; by the protocol's convention 1 GRID = 1 USD, so 1 nano-USD = 1e9 wei.
/// Only the deployer can mint. Not for production.
contract MockGRID is ERC20 {
    /// @notice The only account that may mint.
    address public immutable minter;

    /// @notice The caller is not the minter.
    error NotMinter(address caller);

    /// @notice Deploys the token; the deployer becomes the minter.
    constructor() ERC20("GRID (mock)", "GRID") {
        minter = msg.sender;
    }

    /// @notice Mints test tokens.
    /// @param to The receiver.
    /// @param amount Amount in wei (18 decimals).
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
