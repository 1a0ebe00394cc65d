// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MockGRID} from "../src/MockGRID.sol";
import {SGridVault} from "../src/SGridVault.sol";
import {MockRevenueOracle} from "./mocks/MockRevenueOracle.sol";
import {Test, Vm} from "./utils/Test.sol";

/// @notice The actions the invariant fuzzer takes on the vault: deposits, redemptions, funding,
/// epochs getting (not yet final) revenue, epochs turning final, release attempts on any epoch,
/// governance share changes and time. Every action ends by comparing the share price with the
/// highest seen so far (across warps, releases, deposits and redemptions).
contract VaultHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant EPOCHS = 8;

    MockGRID public grid;
    MockRevenueOracle public oracle;
    SGridVault public vault;
    address public governor;
    address[3] internal actors = [address(0x1001), address(0x1002), address(0x1003)];

    uint256 public ghostFunded;
    uint256 public ghostReleased;
    uint256 public ghostReleaseCount;
    uint256 public ghostNonFinalReleaseAttempts;
    bool public ghostPriceDroppedOnRelease;
    bool public ghostReleasedNonFinal;
    /// @dev The share price (assets of 1e24 shares) after the previous action, and whether any
    /// action ever lowered it.
    uint256 public ghostLastPrice;
    bool public ghostPriceDecreased;
    mapping(uint256 epoch => uint256 bps) public ghostShareAtRelease;
    mapping(uint256 epoch => uint256 revenueNusd) public ghostRevenue;
    mapping(uint256 epoch => bool) public ghostFinal;

    /// @dev The handler deploys GRID so that it is the minter.
    constructor(MockRevenueOracle oracle_, address governor_) {
        grid = new MockGRID();
        oracle = oracle_;
        governor = governor_;
    }

    function init(SGridVault vault_) external {
        require(address(vault) == address(0), "init once");
        vault = vault_;
        for (uint256 i = 0; i < actors.length; i++) {
            vm.prank(actors[i]);
            grid.approve(address(vault), type(uint256).max);
        }
        grid.approve(address(vault), type(uint256).max);
    }

    function epochCount() external pure returns (uint256) {
        return EPOCHS;
    }

    /// @dev A holder that never redeems (the handler itself), so the vault is never empty and
    /// releases can happen; and a reserve that covers every epoch at a 100% share.
    function seed() external {
        require(ghostLastPrice == 0, "seed once");
        grid.mint(address(this), 1e18);
        vault.deposit(1e18, address(this));
        grid.mint(address(this), 1e26);
        vault.fundYield(1e26);
        ghostFunded += 1e26;
        ghostLastPrice = vault.convertToAssets(1e24);
    }

    /// @dev Checks the share price against the last one seen, after every action.
    modifier trackPrice() {
        _;
        uint256 price = vault.convertToAssets(1e24);
        if (price < ghostLastPrice) ghostPriceDecreased = true;
        ghostLastPrice = price;
    }

    function deposit(uint256 actorSeed, uint256 assets) external trackPrice {
        address actor = actors[actorSeed % actors.length];
        assets = _bound(assets, 1, 1e24);
        grid.mint(actor, assets);
        vm.prank(actor);
        vault.deposit(assets, actor);
    }

    function redeem(uint256 actorSeed, uint256 fraction) external trackPrice {
        address actor = actors[actorSeed % actors.length];
        uint256 shares = vault.balanceOf(actor) * _bound(fraction, 0, 100) / 100;
        if (shares == 0) return;
        vm.prank(actor);
        vault.redeem(shares, actor, actor);
    }

    function fund(uint256 amount) external trackPrice {
        amount = _bound(amount, 1, 1e24);
        grid.mint(address(this), amount);
        vault.fundYield(amount);
        ghostFunded += amount;
    }

    function finalize(uint256 epochSeed, uint256 revenueNusd) external trackPrice {
        _finalize(epochSeed % EPOCHS, revenueNusd);
    }

    /// @dev An epoch some of whose batches are in: revenue recorded, not final. The vault must
    /// refuse to release it (attempted right away, and again by `release` on any epoch).
    function recordPending(uint256 epochSeed, uint256 revenueNusd) external trackPrice {
        uint256 epoch = epochSeed % EPOCHS;
        if (ghostFinal[epoch]) return; // final totals never change
        revenueNusd = _bound(revenueNusd, 1e9, 1e15);
        oracle.setEpoch(epoch, false, 1, revenueNusd);
        _release(epoch);
    }

    /// @dev Finalizes an epoch (if not final yet), then releases the first unreleased final
    /// epoch from it on. With `warpAndRelease`, makes a release likely in every run (asserted in
    /// `afterInvariant`).
    function finalizeAndRelease(uint256 epochSeed, uint256 revenueNusd) external trackPrice {
        _finalize(epochSeed % EPOCHS, revenueNusd);
        _releaseFirstFinal(epochSeed);
    }

    /// @dev Lets time pass, then releases the first unreleased final epoch from the seed on.
    function warpAndRelease(uint256 seconds_, uint256 epochSeed) external trackPrice {
        vm.warp(block.timestamp + _bound(seconds_, 0, 10 days));
        _releaseFirstFinal(epochSeed);
    }

    function _releaseFirstFinal(uint256 epochSeed) internal {
        for (uint256 i = 0; i < EPOCHS; i++) {
            uint256 epoch = (epochSeed % EPOCHS + i) % EPOCHS;
            if (ghostFinal[epoch] && vault.yieldReleased(epoch) == 0) {
                _release(epoch);
                return;
            }
        }
    }

    function release(uint256 epochSeed) external trackPrice {
        _release(epochSeed % EPOCHS);
    }

    function _finalize(uint256 epoch, uint256 revenueNusd) internal {
        if (ghostFinal[epoch]) return; // final totals never change
        revenueNusd = _bound(revenueNusd, 1e9, 1e15); // 1 to 1,000,000 USD
        oracle.setEpoch(epoch, true, 1, revenueNusd);
        ghostFinal[epoch] = true;
        ghostRevenue[epoch] = revenueNusd;
    }

    function _release(uint256 epoch) internal {
        if (!ghostFinal[epoch]) ghostNonFinalReleaseAttempts += 1;
        uint256 priceBefore = vault.convertToAssets(1e24);
        uint256 bps = vault.investorShareBps();
        try vault.releaseYield(epoch) returns (uint256 amount) {
            if (!ghostFinal[epoch]) ghostReleasedNonFinal = true;
            ghostReleased += amount;
            ghostReleaseCount += 1;
            ghostShareAtRelease[epoch] = bps;
            if (vault.convertToAssets(1e24) < priceBefore) ghostPriceDroppedOnRelease = true;
        } catch {}
    }

    function setShare(uint256 bps) external trackPrice {
        vm.prank(governor);
        vault.setInvestorShareBps(uint16(_bound(bps, 0, 10_000)));
    }

    function warp(uint256 seconds_) external trackPrice {
        vm.warp(block.timestamp + _bound(seconds_, 0, 10 days));
    }

    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + (x % (max - min + 1));
    }
}

/// @notice Vault invariants: no yield without a final epoch; each epoch's release is at most its
/// verified revenue times the share in force; total released <= funded; the share price never
/// decreases (across all actions and warps). After each run: releases did happen (so the invariants
/// are not vacuous).
/// Depth 128 (not the default 32): about 2 in 10 actions release, so a run of 128 calls without
/// one has odds of about 0.8^128 < 1e-12, and `afterInvariant` does not fail by chance. A
/// reverting action fails the test: the handler keeps its calls valid.
/// forge-config: default.invariant.depth = 128
/// forge-config: default.invariant.fail-on-revert = true
contract SGridVaultInvariantTest is Test {
    address internal constant ADMIN = address(0xA11CE);

    MockGRID internal grid;
    MockRevenueOracle internal oracle;
    SGridVault internal vault;
    VaultHandler internal handler;

    function setUp() public {
        oracle = new MockRevenueOracle();
        handler = new VaultHandler(oracle, ADMIN);
        grid = handler.grid();
        vault = new SGridVault(grid, oracle, ADMIN, 2_500, 7 days);
        handler.init(vault);
        handler.seed();
        targetContract(address(handler));
        bytes4[] memory actions = new bytes4[](10);
        actions[0] = VaultHandler.deposit.selector;
        actions[1] = VaultHandler.redeem.selector;
        actions[2] = VaultHandler.fund.selector;
        actions[3] = VaultHandler.finalize.selector;
        actions[4] = VaultHandler.release.selector;
        actions[5] = VaultHandler.setShare.selector;
        actions[6] = VaultHandler.warp.selector;
        actions[7] = VaultHandler.recordPending.selector;
        actions[8] = VaultHandler.finalizeAndRelease.selector;
        actions[9] = VaultHandler.warpAndRelease.selector;
        targetSelector(FuzzSelector(address(handler), actions));
    }

    function invariant_noYieldWithoutAFinalEpoch() public view {
        assertFalse(handler.ghostReleasedNonFinal(), "released for a non-final epoch");
        for (uint256 e = 0; e < handler.epochCount(); e++) {
            if (!handler.ghostFinal(e)) assertEq(vault.yieldReleased(e), 0, "yield for a non-final epoch");
        }
    }

    function invariant_releasedAtMostRevenueTimesShare() public view {
        uint256 sum;
        for (uint256 e = 0; e < handler.epochCount(); e++) {
            uint256 released = vault.yieldReleased(e);
            sum += released;
            assertLe(
                released,
                handler.ghostRevenue(e) * handler.ghostShareAtRelease(e) * 1e9 / 10_000,
                "epoch over its share"
            );
            assertLe(released, handler.ghostRevenue(e) * 1e9, "epoch over its whole revenue");
        }
        assertEq(sum, vault.totalYieldReleased(), "total released");
        assertEq(sum, handler.ghostReleased(), "ghost total");
        assertLe(vault.totalYieldReleased(), handler.ghostFunded(), "released more than funded");
        assertEq(vault.yieldReserve(), handler.ghostFunded() - vault.totalYieldReleased(), "reserve");
    }

    function invariant_releaseNeverLowersTheSharePrice() public view {
        assertFalse(handler.ghostPriceDroppedOnRelease(), "a release lowered the share price");
    }

    function invariant_sharePriceNeverDecreases() public view {
        assertFalse(handler.ghostPriceDecreased(), "an action or a warp lowered the share price");
        assertGe(vault.convertToAssets(1e24), handler.ghostLastPrice(), "price below the last seen");
    }

    /// @dev Run by forge after each invariant run: the run exercised the release path.
    function afterInvariant() public view {
        assertGe(handler.ghostReleaseCount(), 1, "no release happened in this run");
    }

    function invariant_vaultHoldsWhatItOwes() public view {
        assertGe(grid.balanceOf(address(vault)), vault.totalAssets() + vault.yieldReserve(), "solvent");
    }
}
