// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IRevenueOracle} from "../../src/IRevenueOracle.sol";

/// @notice An oracle whose epochs the tests finalize directly (vault tests need no proofs).
contract MockRevenueOracle is IRevenueOracle {
    struct Totals {
        bool isFinal;
        uint256 energyWh;
        uint256 revenueNusd;
    }

    mapping(uint256 => Totals) internal _totals;

    function setEpoch(uint256 epoch, bool isFinal, uint256 energyWh, uint256 revenueNusd) external {
        _totals[epoch] = Totals(isFinal, energyWh, revenueNusd);
    }

    function epochTotals(uint256 epoch) external view returns (bool, uint256, uint256) {
        Totals memory t = _totals[epoch];
        return (t.isFinal, t.energyWh, t.revenueNusd);
    }
}
