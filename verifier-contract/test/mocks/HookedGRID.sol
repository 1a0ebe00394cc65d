// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Called by HookedGRID on a sender before its tokens move (like ERC-777's tokensToSend).
interface ITokensToSend {
    function tokensToSend(address to, uint256 amount) external;
}

/// @notice An 18-decimal token that calls the sender's hook before every transfer from a
/// contract that asked for it: the re-entry point a token with hooks offers.
contract HookedGRID is ERC20 {
    mapping(address => bool) public hooked;

    constructor() ERC20("Hooked GRID", "hGRID") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHooked(bool on) external {
        hooked[msg.sender] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && hooked[from]) ITokensToSend(from).tokensToSend(to, value);
        super._update(from, to, value);
    }
}
