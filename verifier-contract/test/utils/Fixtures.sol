// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";

/// @notice The committed real proofs (test/fixtures/batches.json, made by scripts/make-fixtures.sh
/// from `gridproof prove` with the key in test/fixtures/keys, whose verifier is src/Groth16Verifier.sol).
abstract contract Fixtures is Test {
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;

    uint256 internal fxEpoch;
    uint256 internal fxRegistryRoot;
    uint256 internal fxScheduleHash;
    uint32 internal fxIntervalSeconds;
    uint32 internal fxBatchCount;
    uint256[8][] internal fxInputs;
    uint256[8][] internal fxProofs;

    function loadFixtures() internal {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/test/fixtures/batches.json"));
        fxEpoch = vm.parseJsonUint(json, ".epoch");
        fxRegistryRoot = vm.parseJsonUint(json, ".registry_root");
        fxScheduleHash = vm.parseJsonUint(json, ".schedule_hash");
        // casting to uint32 is safe because the fixture is ours
        // forge-lint: disable-next-line(unsafe-typecast)
        fxIntervalSeconds = uint32(vm.parseJsonUint(json, ".interval_seconds"));
        // casting to uint32 is safe because the fixture is ours
        // forge-lint: disable-next-line(unsafe-typecast)
        fxBatchCount = uint32(vm.parseJsonUint(json, ".batch_count"));
        for (uint256 i = 0; i < fxBatchCount; i++) {
            string memory at = string.concat(".batches[", _dec(i), "]");
            fxInputs.push(_eight(vm.parseJsonUintArray(json, string.concat(at, ".public_inputs"))));
            fxProofs.push(_eight(vm.parseJsonUintArray(json, string.concat(at, ".proof"))));
        }
    }

    /// @dev (A, B, C) -> (-A, -B, C): another valid proof of the same statement.
    function rerandomized(uint256[8] memory proof) internal pure returns (uint256[8] memory out) {
        out = proof;
        out[1] = (Q - proof[1]) % Q; // -A: negate A.y
        out[4] = (Q - proof[4]) % Q; // -B: negate B.y (both coefficients)
        out[5] = (Q - proof[5]) % Q;
    }

    function _eight(uint256[] memory xs) private pure returns (uint256[8] memory out) {
        if (xs.length != 8) revert AssertionFailed("fixture array length", xs.length, 8);
        for (uint256 i = 0; i < 8; i++) {
            out[i] = xs[i];
        }
    }

    function _dec(uint256 x) private pure returns (string memory) {
        if (x == 0) return "0";
        bytes memory b;
        while (x > 0) {
            // casting to 'uint8' is safe because 48 + x % 10 < 58
            // forge-lint: disable-next-line(unsafe-typecast)
            b = abi.encodePacked(bytes1(uint8(48 + x % 10)), b);
            x /= 10;
        }
        return string(b);
    }
}
