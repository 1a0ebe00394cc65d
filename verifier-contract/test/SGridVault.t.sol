// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

import {Groth16Verifier} from "../src/Groth16Verifier.sol";
import {IGroth16Verifier} from "../src/IGroth16Verifier.sol";
import {IRevenueOracle} from "../src/IRevenueOracle.sol";
import {MockGRID} from "../src/MockGRID.sol";
import {RevenueOracle} from "../src/RevenueOracle.sol";
import {SGridVault} from "../src/SGridVault.sol";
import {HookedGRID, ITokensToSend} from "./mocks/HookedGRID.sol";
import {MockRevenueOracle} from "./mocks/MockRevenueOracle.sol";
import {SixDecimalToken} from "./mocks/SixDecimalToken.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @notice Funds yield with a hooked token and, from inside the hook (before its tokens move),
/// records the vault's totalAssets, which a re-entrant deposit would be priced at.
contract HookedFunder is ITokensToSend {
    SGridVault internal immutable vault;
    uint256 public assetsSeenInHook;
    bool public hookRan;

    constructor(SGridVault vault_, HookedGRID token) {
        vault = vault_;
        token.approve(address(vault_), type(uint256).max);
        token.setHooked(true);
    }

    function fund(uint256 amount) external {
        vault.fundYield(amount);
    }

    function tokensToSend(address, uint256) external {
        hookRan = true;
        assetsSeenInHook = vault.totalAssets();
    }
}

contract SGridVaultTest is Fixtures {
    event YieldFunded(address indexed funder, uint256 amount, uint256 yieldReserve);
    event YieldReleased(
        uint256 indexed epoch, uint256 revenueNusd, uint16 investorShareBps, uint256 amount, uint64 streamEnd
    );
    event InvestorShareUpdated(uint16 oldBps, uint16 newBps);

    address internal constant ADMIN = address(0xA11CE);
    address internal constant ALICE = address(0xA1);
    address internal constant BOB = address(0xB0B);
    address internal constant FUNDER = address(0xF00D);
    uint16 internal constant SHARE_BPS = 2_500;
    uint64 internal constant STREAM = 7 days;
    uint256 internal constant ONE_GRID = 1e18;

    MockGRID internal grid;
    MockRevenueOracle internal oracle;
    SGridVault internal vault;

    function setUp() public {
        grid = new MockGRID();
        oracle = new MockRevenueOracle();
        vault = new SGridVault(grid, oracle, ADMIN, SHARE_BPS, STREAM);
        grid.mint(ALICE, 1_000_000 * ONE_GRID);
        grid.mint(BOB, 1_000_000 * ONE_GRID);
        grid.mint(FUNDER, 1_000_000 * ONE_GRID);
        vm.prank(ALICE);
        grid.approve(address(vault), type(uint256).max);
        vm.prank(BOB);
        grid.approve(address(vault), type(uint256).max);
        vm.prank(FUNDER);
        grid.approve(address(vault), type(uint256).max);
    }

    function _fund(uint256 amount) internal {
        vm.prank(FUNDER);
        vault.fundYield(amount);
    }

    // ------------------------------------------------------------ constructor and conversion

    function test_constructor_parameters() public view {
        assertEq(vault.asset(), address(grid), "asset");
        assertEq(vault.decimals(), 18 + 6, "sGRID decimals: GRID's + the offset");
        assertEq(vault.gridWeiPerNusd(), 1e9, "1 nano-USD = 1e9 GRID wei");
        assertEq(vault.investorShareBps(), SHARE_BPS, "share");
        assertEq(vault.streamPeriodSeconds(), STREAM, "stream");
        assertTrue(vault.hasRole(vault.GOVERNOR_ROLE(), ADMIN), "governor");
    }

    function test_constructor_refusesBadParameters() public {
        vm.expectRevert(abi.encodeWithSelector(SGridVault.InvalidShareBps.selector, 10_001));
        new SGridVault(grid, oracle, ADMIN, 10_001, STREAM);
        vm.expectRevert(SGridVault.InvalidStreamPeriod.selector);
        new SGridVault(grid, oracle, ADMIN, SHARE_BPS, 0);
        SixDecimalToken six = new SixDecimalToken();
        vm.expectRevert(abi.encodeWithSelector(SGridVault.UnsupportedAssetDecimals.selector, 6));
        new SGridVault(IERC20Metadata(address(six)), oracle, ADMIN, SHARE_BPS, STREAM);
    }

    /// @notice A stream period near 2^64 would overflow the uint64 end time at a release.
    function test_constructor_boundsTheStreamPeriod() public {
        uint64 max = vault.MAX_STREAM_PERIOD();
        assertEq(max, 365 days, "documented maximum");
        vm.expectRevert(SGridVault.InvalidStreamPeriod.selector);
        new SGridVault(grid, oracle, ADMIN, SHARE_BPS, max + 1);
        vm.expectRevert(SGridVault.InvalidStreamPeriod.selector);
        new SGridVault(grid, oracle, ADMIN, SHARE_BPS, type(uint64).max);
        SGridVault longest = new SGridVault(grid, oracle, ADMIN, SHARE_BPS, max);
        assertEq(longest.streamPeriodSeconds(), max, "the maximum is allowed");
    }

    function test_nusdToGridWei_units() public view {
        assertEq(vault.nusdToGridWei(1, 10_000), 1e9, "1 nano-USD, whole share = 1e9 wei");
        assertEq(vault.nusdToGridWei(1e9, 10_000), ONE_GRID, "1 USD = 1 GRID");
        assertEq(vault.nusdToGridWei(1e9, 2_500), ONE_GRID / 4, "a quarter of 1 USD");
        assertEq(vault.nusdToGridWei(1, 1), 1e5, "1 bps of 1 nano-USD = 1e5 wei, exact");
        // The fixture epoch: 2,752.9867901 USD of revenue, a 25% share = 688.246697525 GRID.
        assertEq(vault.nusdToGridWei(2_752_986_790_100, 2_500), 688_246_697_525 * 1e9, "fixture epoch");
    }

    function testFuzz_nusdToGridWei_exactAndBounded(uint96 revenueNusd, uint16 bps) public view {
        bps = uint16(bound(bps, 0, 10_000));
        uint256 amount = vault.nusdToGridWei(revenueNusd, bps);
        assertEq(amount, uint256(revenueNusd) * bps * 1e5, "exact for an 18-decimal GRID");
        assertLe(amount, uint256(revenueNusd) * 1e9, "never more than the whole revenue");
    }

    // ------------------------------------------------------------ fundYield

    function test_fundYield_addsToReserveNotAssets() public {
        vm.prank(ALICE);
        vault.deposit(100 * ONE_GRID, ALICE);
        vm.expectEmit(address(vault));
        emit YieldFunded(FUNDER, 50 * ONE_GRID, 50 * ONE_GRID);
        _fund(50 * ONE_GRID);
        assertEq(vault.yieldReserve(), 50 * ONE_GRID, "reserve");
        assertEq(vault.totalAssets(), 100 * ONE_GRID, "funding does not change the share price");
        assertEq(grid.balanceOf(address(vault)), 150 * ONE_GRID, "held");
    }

    /// @notice fundYield pulls the tokens before raising the reserve: a hook that runs during
    /// the pull sees the share price unchanged (not understated by the amount being funded).
    function test_fundYield_pullsBeforeRaisingTheReserve() public {
        HookedGRID hooked = new HookedGRID();
        SGridVault v = new SGridVault(hooked, oracle, ADMIN, SHARE_BPS, STREAM);
        hooked.mint(ALICE, 100 * ONE_GRID);
        vm.startPrank(ALICE);
        hooked.approve(address(v), type(uint256).max);
        v.deposit(100 * ONE_GRID, ALICE);
        vm.stopPrank();
        HookedFunder funder = new HookedFunder(v, hooked);
        hooked.mint(address(funder), 60 * ONE_GRID);
        funder.fund(60 * ONE_GRID);
        assertTrue(funder.hookRan(), "the hook ran");
        assertEq(funder.assetsSeenInHook(), 100 * ONE_GRID, "totalAssets during the pull");
        assertEq(v.totalAssets(), 100 * ONE_GRID, "totalAssets after");
        assertEq(v.yieldReserve(), 60 * ONE_GRID, "reserve after");
    }

    function test_fundYield_zero() public {
        vm.expectRevert(SGridVault.ZeroAmount.selector);
        _fund(0);
    }

    // ------------------------------------------------------------ releaseYield

    function test_releaseYield_onlyFinalEpochs() public {
        _fund(1_000 * ONE_GRID);
        vm.expectRevert(abi.encodeWithSelector(SGridVault.EpochNotFinal.selector, 1));
        vault.releaseYield(1);
        oracle.setEpoch(1, false, 10, 1e12);
        vm.expectRevert(abi.encodeWithSelector(SGridVault.EpochNotFinal.selector, 1));
        vault.releaseYield(1);
        assertEq(vault.yieldFor(1), 0, "no yield before final");
    }

    function test_releaseYield_onceStreamedAndCapped() public {
        vm.prank(ALICE);
        vault.deposit(1_000 * ONE_GRID, ALICE);
        _fund(1_000 * ONE_GRID);
        oracle.setEpoch(1, true, 10, 400e9); // 400 USD of revenue
        uint256 expected = 100 * ONE_GRID; // 25%
        assertEq(vault.yieldFor(1), expected, "yieldFor");
        uint256 assetsBefore = vault.totalAssets();

        vm.expectEmit(address(vault));
        emit YieldReleased(1, 400e9, SHARE_BPS, expected, uint64(block.timestamp) + STREAM);
        assertEq(vault.releaseYield(1), expected, "released");
        assertEq(vault.yieldReleased(1), expected, "recorded");
        assertEq(vault.totalYieldReleased(), expected, "total");
        assertEq(vault.yieldReserve(), 900 * ONE_GRID, "reserve");
        assertEq(vault.totalAssets(), assetsBefore, "no jump at release");
        assertEq(vault.lockedYield(), expected, "all locked");

        vm.warp(block.timestamp + STREAM / 2);
        assertEq(vault.totalAssets(), assetsBefore + expected / 2, "half streamed");
        vm.warp(block.timestamp + STREAM);
        assertEq(vault.totalAssets(), assetsBefore + expected, "fully streamed");

        vm.expectRevert(abi.encodeWithSelector(SGridVault.YieldAlreadyReleased.selector, 1));
        vault.releaseYield(1);
    }

    /// @notice With no shares, a release would stream the yield to the virtual shares only.
    function test_releaseYield_refusedIntoAnEmptyVault() public {
        _fund(1_000 * ONE_GRID);
        oracle.setEpoch(1, true, 10, 400e9);
        vm.expectRevert(abi.encodeWithSelector(SGridVault.NoShareholders.selector, 1));
        vault.releaseYield(1);
        // Emptied again after a deposit: refused too; after a new deposit it goes through.
        vm.startPrank(ALICE);
        uint256 shares = vault.deposit(ONE_GRID, ALICE);
        vault.redeem(shares, ALICE, ALICE);
        vm.stopPrank();
        assertEq(vault.totalSupply(), 0, "empty");
        vm.expectRevert(abi.encodeWithSelector(SGridVault.NoShareholders.selector, 1));
        vault.releaseYield(1);
        vm.prank(ALICE);
        vault.deposit(ONE_GRID, ALICE);
        assertEq(vault.releaseYield(1), 100 * ONE_GRID, "released once there are shareholders");
        assertEq(vault.yieldReserve(), 900 * ONE_GRID, "reserve");
    }

    function test_releaseYield_neverMoreThanFunded() public {
        vm.prank(ALICE);
        vault.deposit(ONE_GRID, ALICE);
        _fund(10 * ONE_GRID);
        oracle.setEpoch(2, true, 10, 400e9);
        vm.expectRevert(
            abi.encodeWithSelector(SGridVault.InsufficientYieldReserve.selector, 100 * ONE_GRID, 10 * ONE_GRID)
        );
        vault.releaseYield(2);
        _fund(90 * ONE_GRID);
        vault.releaseYield(2);
        assertEq(vault.yieldReserve(), 0, "reserve used up");
    }

    function test_releaseYield_zeroYield() public {
        vm.prank(ALICE);
        vault.deposit(ONE_GRID, ALICE);
        _fund(ONE_GRID);
        oracle.setEpoch(3, true, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(SGridVault.NoYield.selector, 3));
        vault.releaseYield(3);
    }

    function test_releaseYield_rollsAnUnvestedRemainderIntoTheNewStream() public {
        vm.prank(ALICE);
        vault.deposit(1_000 * ONE_GRID, ALICE);
        _fund(1_000 * ONE_GRID);
        oracle.setEpoch(1, true, 10, 400e9);
        oracle.setEpoch(2, true, 10, 800e9);
        vault.releaseYield(1); // 100 GRID
        vm.warp(block.timestamp + STREAM / 4);
        uint256 assetsBefore = vault.totalAssets();
        vault.releaseYield(2); // 200 GRID
        assertEq(vault.totalAssets(), assetsBefore, "no jump at the second release");
        assertEq(vault.lockedYield(), 75 * ONE_GRID + 200 * ONE_GRID, "remainder + new");
        vm.warp(block.timestamp + STREAM);
        assertEq(vault.totalAssets(), 1_300 * ONE_GRID, "all of it in the end");
    }

    // ------------------------------------------------------------ guards

    /// @notice A deposit just before a release gains nothing from it if withdrawn right after.
    function test_guard_depositJustBeforeReleaseCapturesNothing() public {
        vm.prank(ALICE);
        vault.deposit(1_000 * ONE_GRID, ALICE);
        _fund(1_000 * ONE_GRID);
        oracle.setEpoch(1, true, 10, 400e9);

        uint256 bobBefore = grid.balanceOf(BOB);
        vm.startPrank(BOB);
        uint256 shares = vault.deposit(100_000 * ONE_GRID, BOB);
        vault.releaseYield(1);
        vault.redeem(shares, BOB, BOB);
        vm.stopPrank();
        assertLe(grid.balanceOf(BOB), bobBefore, "no instant profit");
    }

    /// @notice The classic first-depositor inflation attack: 1 wei deposit + a large donation.
    function test_guard_firstDepositInflationFails() public {
        vm.startPrank(BOB);
        vault.deposit(1, BOB);
        assertTrue(grid.transfer(address(vault), 10_000 * ONE_GRID), "donation");
        vm.stopPrank();
        vm.prank(ALICE);
        uint256 shares = vault.deposit(ONE_GRID, ALICE);
        assertTrue(shares > 0, "the victim gets shares");
        uint256 back = vault.previewRedeem(shares);
        // With 10^6 virtual shares the victim's loss is at most about donation / 10^6 per wei.
        assertGe(back, ONE_GRID * 99 / 100, "the victim keeps at least 99%");
    }

    // ------------------------------------------------------------ governance

    function test_setInvestorShareBps() public {
        vm.expectEmit(address(vault));
        emit InvestorShareUpdated(SHARE_BPS, 5_000);
        vm.prank(ADMIN);
        vault.setInvestorShareBps(5_000);
        assertEq(vault.investorShareBps(), 5_000, "set");
        vm.expectRevert(abi.encodeWithSelector(SGridVault.InvalidShareBps.selector, 10_001));
        vm.prank(ADMIN);
        vault.setInvestorShareBps(10_001);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, ALICE, vault.GOVERNOR_ROLE()
            )
        );
        vm.prank(ALICE);
        vault.setInvestorShareBps(1);
    }

    // ------------------------------------------------------------ with the real oracle and proofs

    function test_endToEnd_realProofsFinalizeAndReleaseYield() public {
        loadFixtures();
        Groth16Verifier verifier = new Groth16Verifier();
        RevenueOracle realOracle = new RevenueOracle(ADMIN, ADMIN, IGroth16Verifier(address(verifier)), 1 days);
        SGridVault realVault = new SGridVault(grid, IRevenueOracle(address(realOracle)), ADMIN, SHARE_BPS, STREAM);
        vm.prank(FUNDER);
        grid.approve(address(realVault), type(uint256).max);
        vm.prank(FUNDER);
        realVault.fundYield(1_000 * ONE_GRID);
        vm.prank(ALICE);
        grid.approve(address(realVault), type(uint256).max);
        vm.prank(ALICE);
        realVault.deposit(1_000 * ONE_GRID, ALICE);

        vm.prank(ADMIN);
        realOracle.openEpoch(fxEpoch, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
        realOracle.submitBatch(fxInputs[0], fxProofs[0]);
        vm.expectRevert(abi.encodeWithSelector(SGridVault.EpochNotFinal.selector, fxEpoch));
        realVault.releaseYield(fxEpoch);
        realOracle.submitBatch(fxInputs[1], fxProofs[1]);
        uint256 released = realVault.releaseYield(fxEpoch);
        assertEq(released, 688_246_697_525 * 1e9, "25% of 2,752.9867901 USD in GRID");
    }
}
