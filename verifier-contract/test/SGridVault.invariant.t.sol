// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MockGRID} from "../src/MockGRID.sol";
import {SGridVault} from "../src/SGridVault.sol";
import {MockRevenueOracle} from "./mocks/MockRevenueOracle.sol";
import {Test, Vm} from "./utils/Test.sol";

/// @notice The actions the invariant fuzzer takes on the vault: deposits, redemptions, funding,
/// epochs turning final, release attempts on any epoch, governance share changes and time.
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
    bool public ghostPriceDroppedOnRelease;
    bool public ghostReleasedNonFinal;
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

    function deposit(uint256 actorSeed, uint256 assets) external {
        address actor = actors[actorSeed % actors.length];
        assets = _bound(assets, 1, 1e24);
        grid.mint(actor, assets);
        vm.prank(actor);
        vault.deposit(assets, actor);
    }

    function redeem(uint256 actorSeed, uint256 fraction) external {
        address actor = actors[actorSeed % actors.length];
        uint256 shares = vault.balanceOf(actor) * _bound(fraction, 0, 100) / 100;
        if (shares == 0) return;
        vm.prank(actor);
        vault.redeem(shares, actor, actor);
    }

    function fund(uint256 amount) external {
        amount = _bound(amount, 1, 1e24);
        grid.mint(address(this), amount);
        vault.fundYield(amount);
        ghostFunded += amount;
    }

    function finalize(uint256 epochSeed, uint256 revenueNusd) external {
        uint256 epoch = epochSeed % EPOCHS;
        if (ghostFinal[epoch]) return; // final totals never change
        revenueNusd = _bound(revenueNusd, 0, 1e15); // up to 1,000,000 USD
        oracle.setEpoch(epoch, true, 1, revenueNusd);
        ghostFinal[epoch] = true;
        ghostRevenue[epoch] = revenueNusd;
    }

    function release(uint256 epochSeed) external {
        uint256 epoch = epochSeed % EPOCHS;
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

    function setShare(uint256 bps) external {
        vm.prank(governor);
        vault.setInvestorShareBps(uint16(_bound(bps, 0, 10_000)));
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + _bound(seconds_, 0, 10 days));
    }

    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + (x % (max - min + 1));
    }
}

/// @notice Vault invariants: no yield without a final epoch; each epoch's release is at most its
/// verified revenue times the share in force; total released <= funded; a release never lowers
/// the share price.
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
        targetContract(address(handler));
        bytes4[] memory actions = new bytes4[](7);
        actions[0] = VaultHandler.deposit.selector;
        actions[1] = VaultHandler.redeem.selector;
        actions[2] = VaultHandler.fund.selector;
        actions[3] = VaultHandler.finalize.selector;
        actions[4] = VaultHandler.release.selector;
        actions[5] = VaultHandler.setShare.selector;
        actions[6] = VaultHandler.warp.selector;
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

    function invariant_vaultHoldsWhatItOwes() public view {
        assertGe(grid.balanceOf(address(vault)), vault.totalAssets() + vault.yieldReserve(), "solvent");
    }
}
