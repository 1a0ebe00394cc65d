// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20, IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IRevenueOracle} from "./IRevenueOracle.sol";

/// @title SGridVault: an ERC-4626 vault of GRID whose shares (sGRID) earn verified-revenue yield
/// @notice Yield is funded into the vault in GRID (`fundYield`) and released per epoch
/// (`releaseYield`): at most once per epoch, only once the RevenueOracle says the epoch is final,
/// and exactly `revenue_nusd * investorShareBps / 10_000` converted to GRID (1 GRID = 1 USD, so
/// 1 nano-USD = 10^(decimals - 9) GRID wei), never more than the funded yield not yet released.
/// @dev Guards (see README): (1) first-deposit inflation: OpenZeppelin's virtual shares and assets
/// with a decimals offset of 6, so a donation must be 10^6 times the victim's deposit to round
/// it to zero; funded yield is outside `totalAssets` until released, so funding cannot be used to
/// inflate either. (2) A deposit just before a release capturing the yield: a release does not
/// raise `totalAssets` at once; it is streamed in linearly over `streamPeriodSeconds` (an unvested
/// remainder is rolled into the new stream), so the share price never jumps at a release.
contract SGridVault is ERC4626, AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role that sets the investors' share of revenue (governance).
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Basis points in one whole.
    uint256 public constant BPS = 10_000;
    /// @notice Decimals of the nano-USD unit of the oracle's revenue (1 USD = 10^9 nano-USD).
    uint256 public constant NUSD_DECIMALS = 9;
    /// @notice Virtual shares: shares have 6 more decimals than GRID (inflation guard).
    uint8 public constant DECIMALS_OFFSET = 6;
    /// @notice The longest stream period (one year): keeps `block.timestamp + period` far below
    /// 2^64 for any realistic time, so the stream's uint64 end cannot overflow.
    uint64 public constant MAX_STREAM_PERIOD = 365 days;

    /// @notice The oracle whose final epochs the vault pays yield on.
    IRevenueOracle public immutable oracle;
    /// @notice GRID wei per nano-USD: 10^(GRID decimals - 9) (10^9 for an 18-decimal GRID).
    uint256 public immutable gridWeiPerNusd;
    /// @notice Seconds over which a release is streamed into the share price.
    uint64 public immutable streamPeriodSeconds;

    /// @notice The investors' share of an epoch's verified revenue, in basis points.
    uint16 public investorShareBps;
    /// @notice GRID funded for yield and not yet released (outside totalAssets).
    uint256 public yieldReserve;
    /// @notice Sum of all yield released so far (GRID wei).
    uint256 public totalYieldReleased;
    /// @notice The yield released for each epoch (0 if none).
    mapping(uint256 epoch => uint256 amount) public yieldReleased;

    /// @dev The stream: `streamAmount` unvested at `streamStart`, vesting linearly until `streamEnd`.
    uint256 internal _streamAmount;
    uint64 internal _streamStart;
    uint64 internal _streamEnd;

    /// @notice GRID was added to the yield reserve.
    event YieldFunded(address indexed funder, uint256 amount, uint256 yieldReserve);
    /// @notice An epoch's yield was released; it streams into the share price until `streamEnd`.
    event YieldReleased(
        uint256 indexed epoch, uint256 revenueNusd, uint16 investorShareBps, uint256 amount, uint64 streamEnd
    );
    /// @notice Governance changed the investors' share.
    event InvestorShareUpdated(uint16 oldBps, uint16 newBps);

    /// @notice The share is above 10,000 basis points.
    error InvalidShareBps(uint256 bps);
    /// @notice GRID with fewer than 9 decimals cannot represent nano-USD exactly.
    error UnsupportedAssetDecimals(uint8 decimals);
    /// @notice The stream period is zero or above MAX_STREAM_PERIOD.
    error InvalidStreamPeriod();
    /// @notice The epoch is not final in the oracle (or not opened).
    error EpochNotFinal(uint256 epoch);
    /// @notice The epoch's yield was already released.
    error YieldAlreadyReleased(uint256 epoch);
    /// @notice The epoch's yield is zero (no revenue or a zero share).
    error NoYield(uint256 epoch);
    /// @notice Not enough funded yield to pay the epoch's yield in full.
    error InsufficientYieldReserve(uint256 needed, uint256 available);
    /// @notice Funding of zero.
    error ZeroAmount();
    /// @notice The vault has no shares: a release would stream the yield to the virtual shares
    /// only, stranding it. Deposit first.
    error NoShareholders(uint256 epoch);

    /// @notice Deploys the vault.
    /// @param grid The GRID token (at least 9 decimals; 1 GRID = 1 USD).
    /// @param revenueOracle The RevenueOracle.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and GOVERNOR_ROLE.
    /// @param shareBps The initial investors' share of revenue, basis points (<= 10,000).
    /// @param streamPeriod Seconds over which each release is streamed into the share price
    /// (1..MAX_STREAM_PERIOD).
    constructor(IERC20Metadata grid, IRevenueOracle revenueOracle, address admin, uint16 shareBps, uint64 streamPeriod)
        ERC20("Staked GRID", "sGRID")
        ERC4626(grid)
    {
        uint8 gridDecimals = grid.decimals();
        if (gridDecimals < NUSD_DECIMALS || gridDecimals > 36) revert UnsupportedAssetDecimals(gridDecimals);
        if (shareBps > BPS) revert InvalidShareBps(shareBps);
        if (streamPeriod == 0 || streamPeriod > MAX_STREAM_PERIOD) revert InvalidStreamPeriod();
        oracle = revenueOracle;
        gridWeiPerNusd = 10 ** (gridDecimals - NUSD_DECIMALS);
        streamPeriodSeconds = streamPeriod;
        investorShareBps = shareBps;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNOR_ROLE, admin);
        emit InvestorShareUpdated(0, shareBps);
    }

    // ---------------------------------------------------------------- yield

    /// @notice Adds GRID to the yield reserve (pulled from the caller; approve first). Funded GRID
    /// is not part of the vault's assets until an epoch's yield is released.
    /// The tokens are pulled before the reserve is raised: were the reserve raised first, a
    /// token with a transfer hook could re-enter (e.g. `deposit`) while `totalAssets` (balance
    /// less reserve) was understated by `amount`, and buy shares cheaply.
    /// @param amount GRID wei.
    function fundYield(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), amount);
        uint256 reserve = yieldReserve + amount;
        yieldReserve = reserve;
        emit YieldFunded(msg.sender, amount, reserve);
    }

    /// @notice The yield an epoch entitles investors to now, in GRID wei (0 if not final).
    /// @param epoch The epoch.
    /// @return amount revenue_nusd * investorShareBps / 10,000 * gridWeiPerNusd, rounded down.
    function yieldFor(uint256 epoch) public view returns (uint256 amount) {
        (bool isFinal,, uint256 revenueNusd) = oracle.epochTotals(epoch);
        if (!isFinal) return 0;
        return nusdToGridWei(revenueNusd, investorShareBps);
    }

    /// @notice Converts nano-USD times a share to GRID wei (1 GRID = 1 USD), rounding down.
    /// @param revenueNusd Revenue in nano-USD.
    /// @param shareBps Share in basis points.
    /// @return amount GRID wei.
    function nusdToGridWei(uint256 revenueNusd, uint256 shareBps) public view returns (uint256 amount) {
        // Multiply first: a share of a nano-USD is still a whole number of GRID wei when
        // gridWeiPerNusd >= 10^4, so rounding only bites for GRID with fewer than 13 decimals.
        return revenueNusd * shareBps * gridWeiPerNusd / BPS;
    }

    /// @notice Releases a final epoch's yield into the vault (anyone may call), once per epoch.
    /// The amount streams into the share price over `streamPeriodSeconds`. Refused while the
    /// vault has no shares (the yield would belong to the virtual shares alone).
    /// @param epoch The epoch.
    /// @return amount GRID wei released.
    function releaseYield(uint256 epoch) external returns (uint256 amount) {
        if (yieldReleased[epoch] != 0) revert YieldAlreadyReleased(epoch);
        (bool isFinal,, uint256 revenueNusd) = oracle.epochTotals(epoch);
        if (!isFinal) revert EpochNotFinal(epoch);
        if (totalSupply() == 0) revert NoShareholders(epoch);
        uint16 shareBps = investorShareBps;
        amount = nusdToGridWei(revenueNusd, shareBps);
        if (amount == 0) revert NoYield(epoch);
        uint256 reserve = yieldReserve;
        if (amount > reserve) revert InsufficientYieldReserve(amount, reserve);

        yieldReleased[epoch] = amount;
        totalYieldReleased += amount;
        yieldReserve = reserve - amount;
        uint64 end = uint64(block.timestamp) + streamPeriodSeconds;
        _streamAmount = lockedYield() + amount;
        _streamStart = uint64(block.timestamp);
        _streamEnd = end;
        emit YieldReleased(epoch, revenueNusd, shareBps, amount, end);
    }

    /// @notice Released yield not yet streamed into the share price (GRID wei).
    /// @return locked The unvested part of the current stream.
    function lockedYield() public view returns (uint256 locked) {
        uint256 end = _streamEnd;
        if (block.timestamp >= end) return 0;
        return _streamAmount * (end - block.timestamp) / (end - _streamStart);
    }

    /// @notice The current stream.
    /// @return amount Unvested at `start`.
    /// @return start When the stream started.
    /// @return end When it is fully vested.
    function stream() external view returns (uint256 amount, uint64 start, uint64 end) {
        return (_streamAmount, _streamStart, _streamEnd);
    }

    /// @notice Sets the investors' share of verified revenue (governance). It applies to epochs
    /// released from now on.
    /// @param newBps Basis points, at most 10,000.
    function setInvestorShareBps(uint16 newBps) external onlyRole(GOVERNOR_ROLE) {
        if (newBps > BPS) revert InvalidShareBps(newBps);
        uint16 old = investorShareBps;
        investorShareBps = newBps;
        emit InvestorShareUpdated(old, newBps);
    }

    // ---------------------------------------------------------------- ERC-4626

    /// @notice The GRID that backs sGRID: the vault's balance less the unreleased yield reserve
    /// and the released yield still streaming.
    /// @return assets GRID wei.
    function totalAssets() public view override returns (uint256 assets) {
        uint256 balance = IERC20(asset()).balanceOf(address(this));
        uint256 excluded = yieldReserve + lockedYield();
        return balance > excluded ? balance - excluded : 0;
    }

    /// @inheritdoc ERC4626
    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }
}
