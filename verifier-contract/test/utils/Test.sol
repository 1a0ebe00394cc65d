// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The forge cheatcodes these tests use (a subset of forge-std's Vm; forge-std itself is
/// not on npm from its authors, and the toolchain comes from npm only).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function expectRevert() external;
    function expectRevert(bytes4 selector) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit() external;
    function expectEmit(address emitter) external;
    function assume(bool condition) external pure;
    function projectRoot() external view returns (string memory path);
    function readFile(string calldata path) external view returns (string memory data);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256 value);
    function parseJsonUintArray(string calldata json, string calldata key)
        external
        pure
        returns (uint256[] memory values);
    function label(address account, string calldata name) external;
    function cool(address target) external;
}

/// @notice Minimal test base: the cheatcode handle, assertions that revert with a message, and
/// the invariant-target hook forge reads.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address[] private _targetContracts;

    /// @dev forge-std's FuzzSelector: the functions of a contract the invariant runner may call.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    FuzzSelector[] private _targetSelectors;

    error AssertionFailed(string message, uint256 left, uint256 right);

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert AssertionFailed(message, 1, 0);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) revert AssertionFailed(message, 0, 1);
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) revert AssertionFailed(message, left, right);
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) revert AssertionFailed(message, uint160(left), uint160(right));
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) revert AssertionFailed(message, left, right);
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        if (left < right) revert AssertionFailed(message, left, right);
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert AssertionFailed("bound: min > max", min, max);
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }

    /// @dev Whether forge runs each external call as a transaction of its own (`--isolate`, also
    /// turned on by `--gas-report`), where in-test gas measurements include intrinsic gas.
    function isolated() internal returns (bool) {
        GasProbe probe = new GasProbe();
        uint256 before = gasleft();
        probe.noop();
        return before - gasleft() > 21_000;
    }

    /// @dev Invariant tests call this in setUp to fuzz only the given contract.
    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    /// @dev Invariant tests call this in setUp to fuzz only these functions of a contract.
    function targetSelector(FuzzSelector memory selector) internal {
        _targetSelectors.push(selector);
    }

    /// @dev Read by forge's invariant runner.
    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    /// @dev Read by forge's invariant runner.
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }
}

/// @notice An empty call target (see `Test.isolated`).
contract GasProbe {
    /// @dev Payable, so that it is a CALL (forge isolates calls, not static calls).
    function noop() external payable {}
}
