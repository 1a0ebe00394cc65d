// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Groth16Verifier} from "../src/Groth16Verifier.sol";
import {IGroth16Verifier} from "../src/IGroth16Verifier.sol";
import {RevenueOracle} from "../src/RevenueOracle.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @notice A verifier that accepts everything (for bookkeeping tests that need no real proof).
contract AcceptAllVerifier is IGroth16Verifier {
    uint256 public constant NUM_PUBLIC_INPUTS = 8;

    function verifyProof(uint256[8] calldata, uint256[8] calldata) external pure returns (bool) {
        return true;
    }
}

/// @notice A contract that is not a verifier of this statement.
contract WrongArityVerifier {
    uint256 public constant NUM_PUBLIC_INPUTS = 9;
}

contract RevenueOracleTest is Fixtures {
    event EpochOpened(
        uint256 indexed epoch, uint256 registryRoot, uint256 scheduleHash, uint32 intervalSeconds, uint32 batchCount
    );
    event BatchAccepted(
        uint256 indexed epoch,
        uint256 indexed batchIndex,
        address indexed submitter,
        uint256 totalEnergyWh,
        uint256 totalRevenueNusd,
        uint256 readingsRoot
    );
    event EpochFinalized(uint256 indexed epoch, uint256 totalEnergyWh, uint256 totalRevenueNusd);
    event EpochCancelled(uint256 indexed epoch);
    event VerifierUpdateProposed(address indexed newVerifier, uint256 eta);
    event VerifierUpdateCancelled(address indexed cancelledVerifier);
    event VerifierUpdated(address indexed oldVerifier, address indexed newVerifier);
    event AuditHeadPublished(uint64 indexed treeSize, bytes32 rootHash, uint64 timestampMs, bytes signature);

    address internal constant ADMIN = address(0xA11CE);
    address internal constant REGISTRAR = address(0x5E6);
    address internal constant ANYONE = address(0xB0B);
    uint64 internal constant DELAY = 2 days;

    Groth16Verifier internal verifier;
    RevenueOracle internal oracle;

    function setUp() public {
        loadFixtures();
        verifier = new Groth16Verifier();
        oracle = new RevenueOracle(ADMIN, REGISTRAR, IGroth16Verifier(address(verifier)), DELAY);
    }

    function _open() internal {
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
    }

    // ------------------------------------------------------------ constructor

    function test_constructor_setsRolesVerifierAndDelay() public view {
        assertTrue(oracle.hasRole(oracle.DEFAULT_ADMIN_ROLE(), ADMIN), "admin");
        assertTrue(oracle.hasRole(oracle.REGISTRAR_ROLE(), REGISTRAR), "registrar");
        assertEq(address(oracle.verifier()), address(verifier), "verifier");
        assertEq(oracle.verifierUpdateDelay(), DELAY, "delay");
    }

    function test_constructor_refusesShortDelayAndNonVerifiers() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.DelayTooShort.selector, 1 hours, 1 days));
        new RevenueOracle(ADMIN, REGISTRAR, IGroth16Verifier(address(verifier)), 1 hours);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidVerifier.selector, ANYONE));
        new RevenueOracle(ADMIN, REGISTRAR, IGroth16Verifier(ANYONE), DELAY);
        WrongArityVerifier wrong = new WrongArityVerifier();
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidVerifier.selector, address(wrong)));
        new RevenueOracle(ADMIN, REGISTRAR, IGroth16Verifier(address(wrong)), DELAY);
    }

    // ------------------------------------------------------------ openEpoch

    function test_openEpoch_recordsConfigAndEmits() public {
        vm.expectEmit(address(oracle));
        emit EpochOpened(fxEpoch, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
        _open();
        RevenueOracle.EpochConfig memory config = oracle.epochConfig(fxEpoch);
        assertEq(config.registryRoot, fxRegistryRoot, "root");
        assertEq(config.scheduleHash, fxScheduleHash, "schedule");
        assertEq(config.intervalSeconds, fxIntervalSeconds, "interval");
        (uint256 batchCount, uint256 accepted) = oracle.epochProgress(fxEpoch);
        assertEq(batchCount, fxBatchCount, "batch count");
        assertEq(accepted, 0, "accepted");
        (bool isFinal,,) = oracle.epochTotals(fxEpoch);
        assertFalse(isFinal, "not final");
    }

    function test_openEpoch_onlyRegistrar() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, ANYONE, oracle.REGISTRAR_ROLE()
            )
        );
        vm.prank(ANYONE);
        oracle.openEpoch(fxEpoch, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
    }

    function test_openEpoch_once() public {
        _open();
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochAlreadyOpen.selector, fxEpoch));
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch, 1, 2, 3, 4);
    }

    function test_openEpoch_refusesBadParameters() public {
        vm.startPrank(REGISTRAR);
        vm.expectRevert(RevenueOracle.InvalidEpochParameters.selector);
        oracle.openEpoch(1, 1, 1, 900, 0);
        vm.expectRevert(RevenueOracle.InvalidEpochParameters.selector);
        oracle.openEpoch(1, 1, 1, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.NotAFieldElement.selector, R));
        oracle.openEpoch(1, R, 1, 900, 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.NotAFieldElement.selector, R + 5));
        oracle.openEpoch(1, 1, R + 5, 900, 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochOutOfRange.selector, uint256(1) << 64));
        oracle.openEpoch(uint256(1) << 64, 1, 1, 900, 1);
        vm.stopPrank();
    }

    function test_openEpoch_boundsBatchCount() public {
        uint32 max = oracle.MAX_BATCH_COUNT();
        assertEq(max, 65_536, "documented maximum");
        vm.startPrank(REGISTRAR);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchCountTooLarge.selector, uint256(max) + 1, max));
        oracle.openEpoch(1, 1, 1, 900, max + 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchCountTooLarge.selector, type(uint32).max, max));
        oracle.openEpoch(1, 1, 1, 900, type(uint32).max);
        oracle.openEpoch(1, 1, 1, 900, max);
        vm.stopPrank();
        (uint256 batchCount,) = oracle.epochProgress(1);
        assertEq(batchCount, max, "the maximum is allowed");
    }

    // ------------------------------------------------------------ cancelEpoch

    function test_cancelEpoch_thenReopenWithTheRightParameters() public {
        // Opened with a wrong root and batch count: no proof can ever finalize it.
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch, fxRegistryRoot + 1, fxScheduleHash, fxIntervalSeconds, fxBatchCount + 1);
        vm.expectEmit(address(oracle));
        emit EpochCancelled(fxEpoch);
        vm.prank(REGISTRAR);
        oracle.cancelEpoch(fxEpoch);
        (uint256 batchCount,) = oracle.epochProgress(fxEpoch);
        assertEq(batchCount, 0, "not open any more");
        assertEq(oracle.epochConfig(fxEpoch).registryRoot, 0, "config cleared");
        assertEq(address(oracle.epochVerifier(fxEpoch)), address(0), "verifier cleared");
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochNotOpen.selector, fxEpoch));
        oracle.submitBatch(fxInputs[0], fxProofs[0]);

        _open();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        oracle.submitBatch(fxInputs[1], fxProofs[1]);
        (bool isFinal,, uint256 revenue) = oracle.epochTotals(fxEpoch);
        assertTrue(isFinal, "final after re-opening");
        assertEq(revenue, 2752986790100, "revenue");
    }

    function test_cancelEpoch_refusedOnceABatchIsIn() public {
        _open();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochHasAcceptedBatches.selector, fxEpoch, 1));
        vm.prank(REGISTRAR);
        oracle.cancelEpoch(fxEpoch);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochNotOpen.selector, fxEpoch + 1));
        vm.prank(REGISTRAR);
        oracle.cancelEpoch(fxEpoch + 1);
    }

    function test_cancelEpoch_onlyRegistrarAndAllowedWhilePaused() public {
        _open();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, ADMIN, oracle.REGISTRAR_ROLE()
            )
        );
        vm.prank(ADMIN);
        oracle.cancelEpoch(fxEpoch);
        vm.prank(ADMIN);
        oracle.pause();
        vm.prank(REGISTRAR);
        oracle.cancelEpoch(fxEpoch);
        (uint256 batchCount,) = oracle.epochProgress(fxEpoch);
        assertEq(batchCount, 0, "cancelled while paused");
    }

    function test_openEpoch_whenPaused() public {
        vm.prank(ADMIN);
        oracle.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _open();
    }

    // ------------------------------------------------------------ submitBatch

    function test_submitBatch_acceptsRealProofsAndFinalizes() public {
        _open();
        vm.expectEmit(address(oracle));
        emit BatchAccepted(fxEpoch, 0, ANYONE, fxInputs[0][3], fxInputs[0][4], fxInputs[0][5]);
        vm.prank(ANYONE);
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        assertTrue(oracle.isBatchAccepted(fxEpoch, 0), "batch 0 accepted");
        assertFalse(oracle.isBatchAccepted(fxEpoch, 1), "batch 1 not yet");
        (bool isFinal, uint256 energy, uint256 revenue) = oracle.epochTotals(fxEpoch);
        assertFalse(isFinal, "not final after one of two");
        assertEq(energy, fxInputs[0][3], "energy so far");
        assertEq(revenue, fxInputs[0][4], "revenue so far");

        uint256 totalEnergy = fxInputs[0][3] + fxInputs[1][3];
        uint256 totalRevenue = fxInputs[0][4] + fxInputs[1][4];
        vm.expectEmit(address(oracle));
        emit EpochFinalized(fxEpoch, totalEnergy, totalRevenue);
        oracle.submitBatch(fxInputs[1], fxProofs[1]);
        (isFinal, energy, revenue) = oracle.epochTotals(fxEpoch);
        assertTrue(isFinal, "final");
        assertEq(energy, totalEnergy, "total energy");
        assertEq(revenue, totalRevenue, "total revenue");
        assertEq(totalEnergy, 25111546, "the fixture's total energy (gridproof prove)");
        assertEq(totalRevenue, 2752986790100, "the fixture's total revenue (gridproof prove)");
    }

    function test_submitBatch_sameStatementTwiceIsRefused() public {
        _open();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchAlreadyAccepted.selector, fxEpoch, 0));
        vm.prank(ANYONE);
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
    }

    function test_submitBatch_rerandomizedReplayIsRefused() public {
        _open();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        uint256[8] memory twin = rerandomized(fxProofs[0]);
        assertTrue(verifier.verifyProof(twin, fxInputs[0]), "the twin is a valid proof");
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchAlreadyAccepted.selector, fxEpoch, 0));
        vm.prank(ANYONE);
        oracle.submitBatch(fxInputs[0], twin);
    }

    function test_submitBatch_unopenedEpoch() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochNotOpen.selector, fxEpoch));
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
    }

    function test_submitBatch_statementMismatch() public {
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch, fxRegistryRoot + 1, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch, 0));
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
    }

    function test_submitBatch_wrongScheduleHash() public {
        // A batch proved against another schedule than the opening's.
        _open();
        uint256[8] memory inputs = fxInputs[0];
        inputs[7] = fxScheduleHash + 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
        // An epoch opened with another schedule than the proof's.
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch + 1, fxRegistryRoot, fxScheduleHash + 1, fxIntervalSeconds, fxBatchCount);
        inputs = fxInputs[0];
        inputs[0] = fxEpoch + 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch + 1, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function test_submitBatch_wrongInterval() public {
        _open();
        uint256[8] memory inputs = fxInputs[0];
        inputs[6] = uint256(fxIntervalSeconds) * 2;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch + 1, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds + 1, fxBatchCount);
        inputs = fxInputs[0];
        inputs[0] = fxEpoch + 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch + 1, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function test_submitBatch_changedTotalIsRefused() public {
        _open();
        uint256[8] memory inputs = fxInputs[0];
        inputs[4] += 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function test_submitBatch_totalAtLeast2To96IsRefused() public {
        _open();
        uint256[8] memory inputs = fxInputs[0];
        inputs[3] = uint256(1) << 96;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.TotalsOverflow.selector, fxEpoch, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function test_submitBatch_whenPaused() public {
        _open();
        vm.prank(ADMIN);
        oracle.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        vm.prank(ADMIN);
        oracle.unpause();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
    }

    function test_pause_onlyAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, ANYONE, bytes32(0))
        );
        vm.prank(ANYONE);
        oracle.pause();
    }

    /// @notice Bookkeeping past one bitmap word, with a verifier that accepts everything.
    function test_submitBatch_manyBatchesAcrossBitmapWords() public {
        AcceptAllVerifier acceptAll = new AcceptAllVerifier();
        RevenueOracle o = new RevenueOracle(ADMIN, REGISTRAR, acceptAll, DELAY);
        uint32 n = 300;
        vm.prank(REGISTRAR);
        o.openEpoch(7, 11, 13, 900, n);
        uint256[8] memory inputs = [uint256(7), 11, 0, 5, 3, 0, 900, 13];
        uint256[8] memory proof;
        for (uint256 i = 0; i < n; i++) {
            inputs[2] = i;
            o.submitBatch(inputs, proof);
        }
        (bool isFinal, uint256 energy, uint256 revenue) = o.epochTotals(7);
        assertTrue(isFinal, "final");
        assertEq(energy, 5 * n, "energy");
        assertEq(revenue, 3 * n, "revenue");
        inputs[2] = 257;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchAlreadyAccepted.selector, 7, 257));
        o.submitBatch(inputs, proof);
    }

    // ------------------------------------------------------------ fuzz: wrong statements

    /// @notice An input replaced by an alias x + k*r (k >= 1) of its true value x: the same
    /// scalar mod r, so only the range checks stand between it and acceptance. The verifier
    /// refuses every alias, and the oracle refuses each with the error of the check it hits first.
    function testFuzz_submitBatch_inputAliasedByMultipleOfRNeverAccepted(uint8 index, uint256 k) public {
        _open();
        uint256 i = index % 8;
        uint256[8] memory inputs = fxInputs[0];
        k = bound(k, 1, (type(uint256).max - inputs[i]) / R);
        inputs[i] += k * R;
        assertFalse(verifier.verifyProof(fxProofs[0], inputs), "the verifier refuses the alias");
        if (i == 0) {
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.EpochNotOpen.selector, inputs[0]));
        } else if (i == 2) {
            vm.expectRevert(
                abi.encodeWithSelector(RevenueOracle.BatchIndexOutOfRange.selector, fxEpoch, inputs[2], fxBatchCount)
            );
        } else if (i == 1 || i == 6 || i == 7) {
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.StatementMismatch.selector, fxEpoch, 0));
        } else if (i == 3 || i == 4) {
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.TotalsOverflow.selector, fxEpoch, 0));
        } else {
            // The readings root: nothing but the verifier's own range check refuses it.
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, 0));
        }
        oracle.submitBatch(inputs, fxProofs[0]);
        assertFalse(oracle.isBatchAccepted(fxEpoch, 0), "nothing accepted");
    }

    /// @notice The readings root (bound only by the proof) aliased by any k >= 1.
    function testFuzz_submitBatch_readingsRootAliasRefusedByTheVerifier(uint256 k) public {
        _open();
        uint256[8] memory inputs = fxInputs[0];
        k = bound(k, 1, (type(uint256).max - inputs[5]) / R);
        inputs[5] += k * R;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function testFuzz_submitBatch_flippedProofByteNeverAccepted(uint8 word, uint8 byteIndex, uint8 mask) public {
        _open();
        mask = uint8(bound(mask, 1, 255));
        uint256[8] memory proof = fxProofs[0];
        proof[word % 8] ^= uint256(mask) << (8 * (byteIndex % 32));
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, 0));
        oracle.submitBatch(fxInputs[0], proof);
    }

    function testFuzz_submitBatch_wrongEpochNeverAccepted(uint64 otherEpoch) public {
        vm.assume(otherEpoch != fxEpoch);
        _open();
        // The same registry, schedule and interval opened under another epoch: only the proof
        // binds the epoch, and it must not verify.
        vm.prank(REGISTRAR);
        oracle.openEpoch(otherEpoch, fxRegistryRoot, fxScheduleHash, fxIntervalSeconds, fxBatchCount);
        uint256[8] memory inputs = fxInputs[0];
        inputs[0] = otherEpoch;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, uint256(otherEpoch), 0));
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function testFuzz_submitBatch_wrongBatchIndexNeverAccepted(uint256 batchIndex) public {
        _open();
        uint256[8] memory inputs = fxInputs[0];
        vm.assume(batchIndex != inputs[2]);
        inputs[2] = batchIndex;
        if (batchIndex >= fxBatchCount) {
            vm.expectRevert(
                abi.encodeWithSelector(RevenueOracle.BatchIndexOutOfRange.selector, fxEpoch, batchIndex, fxBatchCount)
            );
        } else {
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, batchIndex));
        }
        oracle.submitBatch(inputs, fxProofs[0]);
    }

    function testFuzz_submitBatch_replayFromAnyoneWithEitherProofRefused(address sender, bool twin) public {
        _open();
        oracle.submitBatch(fxInputs[0], fxProofs[0]);
        uint256[8] memory proof = twin ? rerandomized(fxProofs[0]) : fxProofs[0];
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.BatchAlreadyAccepted.selector, fxEpoch, 0));
        vm.prank(sender);
        oracle.submitBatch(fxInputs[0], proof);
    }

    // ------------------------------------------------------------ verifier timelock

    function test_verifierUpdate_proposeWaitExecute() public {
        Groth16Verifier next = new Groth16Verifier();
        uint256 eta = block.timestamp + DELAY;
        vm.expectEmit(address(oracle));
        emit VerifierUpdateProposed(address(next), eta);
        vm.prank(ADMIN);
        oracle.proposeVerifier(IGroth16Verifier(address(next)));
        assertEq(address(oracle.pendingVerifier()), address(next), "pending");

        vm.warp(eta - 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.VerifierUpdateNotReady.selector, eta, eta - 1));
        vm.prank(ADMIN);
        oracle.executeVerifierUpdate();

        vm.warp(eta);
        vm.expectEmit(address(oracle));
        emit VerifierUpdated(address(verifier), address(next));
        vm.prank(ADMIN);
        oracle.executeVerifierUpdate();
        assertEq(address(oracle.verifier()), address(next), "installed");
        assertEq(address(oracle.pendingVerifier()), address(0), "cleared");
    }

    function test_verifierUpdate_cancel() public {
        Groth16Verifier next = new Groth16Verifier();
        vm.startPrank(ADMIN);
        oracle.proposeVerifier(IGroth16Verifier(address(next)));
        vm.expectEmit(address(oracle));
        emit VerifierUpdateCancelled(address(next));
        oracle.cancelVerifierUpdate();
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(RevenueOracle.NoPendingVerifier.selector);
        oracle.executeVerifierUpdate();
        vm.expectRevert(RevenueOracle.NoPendingVerifier.selector);
        oracle.cancelVerifierUpdate();
        vm.stopPrank();
    }

    function test_verifierUpdate_expiresAfterTheGracePeriod() public {
        Groth16Verifier next = new Groth16Verifier();
        vm.prank(ADMIN);
        oracle.proposeVerifier(IGroth16Verifier(address(next)));
        uint256 eta = oracle.pendingVerifierEta();
        uint256 grace = oracle.VERIFIER_UPDATE_GRACE_PERIOD();
        assertEq(grace, 14 days, "documented grace period");
        vm.warp(eta + grace + 1);
        vm.expectRevert(
            abi.encodeWithSelector(RevenueOracle.VerifierUpdateExpired.selector, eta, eta + grace, eta + grace + 1)
        );
        vm.prank(ADMIN);
        oracle.executeVerifierUpdate();
        assertEq(address(oracle.verifier()), address(verifier), "unchanged");
        // A fresh proposal waits the delay again, then executes at the last second of its window.
        vm.prank(ADMIN);
        oracle.proposeVerifier(IGroth16Verifier(address(next)));
        eta = oracle.pendingVerifierEta();
        vm.warp(eta + grace);
        vm.prank(ADMIN);
        oracle.executeVerifierUpdate();
        assertEq(address(oracle.verifier()), address(next), "installed within the window");
    }

    /// @notice An epoch keeps the verifier it was opened with: a verifier installed mid-epoch
    /// (here one that accepts anything, standing in for a key with another S) checks only epochs
    /// opened after it.
    function test_verifierUpdate_pinnedPerEpoch() public {
        _open();
        assertEq(address(oracle.epochVerifier(fxEpoch)), address(verifier), "pinned at opening");
        oracle.submitBatch(fxInputs[0], fxProofs[0]);

        AcceptAllVerifier acceptAll = new AcceptAllVerifier();
        vm.prank(ADMIN);
        oracle.proposeVerifier(acceptAll);
        vm.warp(block.timestamp + DELAY);
        vm.prank(ADMIN);
        oracle.executeVerifierUpdate();
        assertEq(address(oracle.verifier()), address(acceptAll), "in force");
        assertEq(address(oracle.epochVerifier(fxEpoch)), address(verifier), "still pinned");

        // The open epoch still needs a real proof of its own key.
        uint256[8] memory bogus;
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidProof.selector, fxEpoch, 1));
        oracle.submitBatch(fxInputs[1], bogus);
        oracle.submitBatch(fxInputs[1], fxProofs[1]);
        (bool isFinal,,) = oracle.epochTotals(fxEpoch);
        assertTrue(isFinal, "finalized under its own verifier");

        // An epoch opened now uses the new verifier.
        vm.prank(REGISTRAR);
        oracle.openEpoch(fxEpoch + 1, 11, 13, 900, 1);
        assertEq(address(oracle.epochVerifier(fxEpoch + 1)), address(acceptAll), "new epochs: new verifier");
        oracle.submitBatch([fxEpoch + 1, 11, 0, 5, 3, 0, 900, 13], bogus);
        (isFinal,,) = oracle.epochTotals(fxEpoch + 1);
        assertTrue(isFinal, "new epoch verified by the new verifier");
    }

    function test_verifierUpdate_onlyAdminAndOnlyVerifiers() public {
        Groth16Verifier next = new Groth16Verifier();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, REGISTRAR, bytes32(0))
        );
        vm.prank(REGISTRAR);
        oracle.proposeVerifier(IGroth16Verifier(address(next)));
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidVerifier.selector, ANYONE));
        vm.prank(ADMIN);
        oracle.proposeVerifier(IGroth16Verifier(ANYONE));
    }

    // ------------------------------------------------------------ audit heads

    /// @dev 64 bytes standing in for an Ed25519 signature (the contract checks only the length).
    function _signature(uint256 seed) internal pure returns (bytes memory sig) {
        sig = abi.encodePacked(keccak256(abi.encode(seed, 0)), keccak256(abi.encode(seed, 1)));
    }

    function _assertHead(uint64 treeSize, bytes32 rootHash, uint64 timestampMs, bytes memory sig) internal view {
        RevenueOracle.AuditHead memory head = oracle.latestAuditHead();
        assertEq(head.treeSize, treeSize, "tree size");
        assertEq(uint256(head.rootHash), uint256(rootHash), "root");
        assertEq(head.timestampMs, timestampMs, "timestamp");
        assertEq(head.signature.length, sig.length, "signature length");
        assertEq(uint256(keccak256(head.signature)), uint256(keccak256(sig)), "signature");
    }

    function test_latestAuditHead_emptyBeforeTheFirst() public view {
        _assertHead(0, bytes32(0), 0, "");
    }

    function test_publishAuditHead_storesAndEmits() public {
        bytes memory sig = _signature(1);
        vm.expectEmit(address(oracle));
        emit AuditHeadPublished(12, keccak256("root 12"), 1_767_225_600_000, sig);
        vm.prank(REGISTRAR);
        oracle.publishAuditHead(12, keccak256("root 12"), 1_767_225_600_000, sig);
        _assertHead(12, keccak256("root 12"), 1_767_225_600_000, sig);

        // A later head replaces it.
        bytes memory sig2 = _signature(7);
        vm.expectEmit(address(oracle));
        emit AuditHeadPublished(40, keccak256("root 40"), 1_767_226_200_000, sig2);
        vm.prank(REGISTRAR);
        oracle.publishAuditHead(40, keccak256("root 40"), 1_767_226_200_000, sig2);
        _assertHead(40, keccak256("root 40"), 1_767_226_200_000, sig2);
    }

    function test_publishAuditHead_onlyRegistrar() public {
        bytes memory sig = _signature(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, ANYONE, oracle.REGISTRAR_ROLE()
            )
        );
        vm.prank(ANYONE);
        oracle.publishAuditHead(1, keccak256("x"), 1, sig);
        // Not even the admin, without the role.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, ADMIN, oracle.REGISTRAR_ROLE()
            )
        );
        vm.prank(ADMIN);
        oracle.publishAuditHead(1, keccak256("x"), 1, sig);
        _assertHead(0, bytes32(0), 0, "");
    }

    function test_publishAuditHead_sizesOnlyGrow() public {
        bytes memory sig = _signature(3);
        vm.startPrank(REGISTRAR);
        // The empty log is never a head worth anchoring.
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.AuditHeadNotNewer.selector, 0, 0));
        oracle.publishAuditHead(0, keccak256("empty"), 1, sig);
        oracle.publishAuditHead(10, keccak256("root 10"), 100, sig);
        // The same head again, and the same size with another root (a forked log): refused.
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.AuditHeadNotNewer.selector, 10, 10));
        oracle.publishAuditHead(10, keccak256("root 10"), 100, sig);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.AuditHeadNotNewer.selector, 10, 10));
        oracle.publishAuditHead(10, keccak256("another root 10"), 200, sig);
        // A smaller log (truncated): refused.
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.AuditHeadNotNewer.selector, 9, 10));
        oracle.publishAuditHead(9, keccak256("root 9"), 300, sig);
        _assertHead(10, keccak256("root 10"), 100, sig);
        oracle.publishAuditHead(11, keccak256("root 11"), 400, sig);
        vm.stopPrank();
        _assertHead(11, keccak256("root 11"), 400, sig);
    }

    function test_publishAuditHead_refusesSignaturesNot64Bytes() public {
        vm.startPrank(REGISTRAR);
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidAuditSignatureLength.selector, 0));
        oracle.publishAuditHead(1, keccak256("x"), 1, "");
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidAuditSignatureLength.selector, 63));
        oracle.publishAuditHead(1, keccak256("x"), 1, new bytes(63));
        vm.expectRevert(abi.encodeWithSelector(RevenueOracle.InvalidAuditSignatureLength.selector, 65));
        oracle.publishAuditHead(1, keccak256("x"), 1, new bytes(65));
        vm.stopPrank();
        _assertHead(0, bytes32(0), 0, "");
    }

    function test_publishAuditHead_allowedWhilePaused() public {
        vm.prank(ADMIN);
        oracle.pause();
        vm.prank(REGISTRAR);
        oracle.publishAuditHead(5, keccak256("root 5"), 5, _signature(5));
        _assertHead(5, keccak256("root 5"), 5, _signature(5));
    }

    function testFuzz_publishAuditHead_acceptsExactlyLargerSizes(uint64 first, uint64 second) public {
        vm.assume(first > 0);
        bytes memory sig = _signature(9);
        vm.startPrank(REGISTRAR);
        oracle.publishAuditHead(first, keccak256("first"), 1, sig);
        if (second <= first) {
            vm.expectRevert(abi.encodeWithSelector(RevenueOracle.AuditHeadNotNewer.selector, second, first));
        }
        oracle.publishAuditHead(second, keccak256("second"), 2, sig);
        vm.stopPrank();
        RevenueOracle.AuditHead memory head = oracle.latestAuditHead();
        assertEq(head.treeSize, second > first ? second : first, "the larger size wins");
    }

    // ------------------------------------------------------------ gas

    /// @notice Gas of submitting one batch (verification + bookkeeping), the first and the last
    /// of the epoch (the last also finalizes it). Measured as the call's execution gas; a
    /// transaction adds 21,000 + calldata (see README).
    function test_gas_submitBatch() public {
        _open();
        uint256[8] memory in0 = fxInputs[0];
        uint256[8] memory p0 = fxProofs[0];
        uint256[8] memory in1 = fxInputs[1];
        uint256[8] memory p1 = fxProofs[1];
        // Cold accounts and storage, as in a transaction of its own.
        vm.cool(address(oracle));
        vm.cool(address(verifier));
        uint256 before = gasleft();
        oracle.submitBatch(in0, p0);
        uint256 first = before - gasleft();
        vm.cool(address(oracle));
        vm.cool(address(verifier));
        before = gasleft();
        oracle.submitBatch(in1, p1);
        uint256 last = before - gasleft();
        uint256 calldataGas = _calldataGas(abi.encodeCall(RevenueOracle.submitBatch, (in0, p0)));
        // Under `--isolate` (which `--gas-report` turns on) forge measures calls differently;
        // its gas report then gives the transaction gas of submitBatch itself.
        if (isolated()) return;
        // A transaction: 21,000 (which includes warming the oracle's address: 2,600 of the
        // measured call) + calldata + execution.
        first = 21_000 + calldataGas + first - 2_600;
        last = 21_000 + calldataGas + last - 2_600;
        assertLe(first, 300_000, "first batch as a transaction");
        assertLe(last, 300_000, "last batch as a transaction");
        emit GasMeasured(first, last, calldataGas);
    }

    event GasMeasured(uint256 firstBatchTransaction, uint256 lastBatchTransaction, uint256 calldataGas);

    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; i++) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }
}
