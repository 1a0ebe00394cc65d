// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What the vault reads of the revenue oracle
interface IRevenueOracle {
    /// @notice The totals of an epoch and whether every one of its batches has been verified.
    /// @param epoch The epoch (days since 1970-01-01).
    /// @return isFinal True once every batch of the epoch has been accepted; totals are final then.
    /// @return totalEnergyWh Sum of the accepted batches' energy, in Wh.
    /// @return totalRevenueNusd Sum of the accepted batches' revenue, in nano-USD.
    function epochTotals(uint256 epoch)
        external
        view
        returns (bool isFinal, uint256 totalEnergyWh, uint256 totalRevenueNusd);
}
