// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IGroth16Verifier} from "./IGroth16Verifier.sol";
import {IRevenueOracle} from "./IRevenueOracle.sol";

/// @title RevenueOracle: verified energy and revenue of gridproof epochs
/// @notice The registrar opens an epoch (registry root, price schedule, reading interval, number of
/// batches); anyone then submits each batch's Groth16 proof with its public inputs. Each
/// (epoch, batch) is accepted once, whoever sends it and whatever proof bytes it carries: Groth16
/// proofs are malleable, so replay protection keys on the statement, never on the proof. An epoch
/// is final when all its batches are in; its totals are then what the vault pays yield on.
/// The registrar also anchors the service's audit log here (`publishAuditHead`): the latest
/// signed tree head, so that a service that rewrites its log after publishing is caught.
/// @dev Public inputs, in circuit order: epoch, registry_root, batch_index, total_energy_wh,
/// total_revenue_nusd, readings_root, interval_seconds, schedule_hash. Totals are kept in 96 bits
/// each (7.9e28 Wh; 7.9e28 nano-USD = 7.9e19 USD): a batch that would overflow them is refused.
contract RevenueOracle is AccessControl, Pausable, IRevenueOracle {
    /// @notice Role that opens epochs (publishes registry roots and schedules).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice The shortest delay the verifier timelock may have.
    uint256 public constant MIN_VERIFIER_UPDATE_DELAY = 1 days;

    /// @notice How long after its eta an approved verifier proposal may still be executed; after
    /// that it is stale (it must be proposed again, and wait the delay again).
    uint256 public constant VERIFIER_UPDATE_GRACE_PERIOD = 14 days;

    /// @notice The most batches an epoch may have (2^16: a registry of 2^16 x S sites; the
    /// bitmap then spans 257 words). Bounds a registrar's typo, which would leave an epoch that
    /// can never become final.
    uint32 public constant MAX_BATCH_COUNT = 65_536;

    /// @notice The BN254 scalar field modulus r: public inputs are below it.
    uint256 public constant SNARK_SCALAR_FIELD = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    // Positions of the public inputs (circuits/src/statement/mod.rs, PublicInputs::NAMES).
    uint256 internal constant IN_EPOCH = 0;
    uint256 internal constant IN_REGISTRY_ROOT = 1;
    uint256 internal constant IN_BATCH_INDEX = 2;
    uint256 internal constant IN_TOTAL_ENERGY_WH = 3;
    uint256 internal constant IN_TOTAL_REVENUE_NUSD = 4;
    uint256 internal constant IN_READINGS_ROOT = 5;
    uint256 internal constant IN_INTERVAL_SECONDS = 6;
    uint256 internal constant IN_SCHEDULE_HASH = 7;

    /// @dev The accepted-batches bitmap holds 255 batches per word; bit 255 of each word is a
    /// sentinel set when the word is first written (word 0 when the epoch is opened), so that a
    /// submission changes a non-zero slot (5,000 gas) instead of creating one (22,100 gas).
    uint256 internal constant BATCHES_PER_WORD = 255;
    uint256 internal constant WORD_SENTINEL = 1 << 255;

    /// @notice The per-epoch state a submission reads and writes (two storage slots).
    /// @param configDigest keccak256(registryRoot, scheduleHash, intervalSeconds) of the opening.
    /// @param batchCount Number of batches; 0 means the epoch was never opened.
    /// @param batchesAccepted Batches accepted so far; the epoch is final when it equals batchCount.
    /// @param totalEnergyWh Sum of accepted batches' energy (Wh).
    /// @param totalRevenueNusd Sum of accepted batches' revenue (nano-USD).
    struct EpochState {
        bytes32 configDigest;
        uint32 batchCount;
        uint32 batchesAccepted;
        uint96 totalEnergyWh;
        uint96 totalRevenueNusd;
    }

    /// @notice What the registrar published when opening an epoch (read by clients, not by
    /// submissions, which compare against the digest).
    /// @param registryRoot Root of the epoch's registry tree (below r).
    /// @param scheduleHash Hash of the epoch's time-of-use price schedule (below r).
    /// @param intervalSeconds Length of one reading interval, seconds.
    struct EpochConfig {
        uint256 registryRoot;
        uint256 scheduleHash;
        uint32 intervalSeconds;
    }

    /// @dev The stored form of an epoch's configuration: EpochConfig plus the verifier pinned at
    /// `openEpoch`, which shares the interval's slot (the one slot a submission reads here).
    /// Kept apart from EpochConfig so that `epochConfig`'s return type stays unchanged.
    struct StoredEpochConfig {
        uint256 registryRoot;
        uint256 scheduleHash;
        uint32 intervalSeconds;
        IGroth16Verifier verifier;
    }

    /// @notice A tree head of the service's RFC 6962 audit log (docs/audit-log.md), as the service
    /// signed it with its Ed25519 key.
    /// @param treeSize Entries in the log (0: no head published yet).
    /// @param timestampMs When the service signed the head (Unix milliseconds).
    /// @param rootHash The log's Merkle Tree Hash (SHA-256) over its first `treeSize` entries.
    /// @param signature Ed25519 over "gridproof audit tree head v1\0" || treeSize (8 bytes BE) ||
    /// rootHash || timestampMs (8 bytes BE): 64 bytes, checked off-chain only (see
    /// `publishAuditHead`).
    struct AuditHead {
        uint64 treeSize;
        uint64 timestampMs;
        bytes32 rootHash;
        bytes signature;
    }

    /// @notice The verifier in force: the one pinned to epochs opened from now on (an epoch's
    /// batches are all verified by the verifier of its opening, see `epochVerifier`).
    IGroth16Verifier public verifier;

    /// @notice A proposed verifier, or zero when none is pending.
    IGroth16Verifier public pendingVerifier;
    /// @notice When the pending verifier may be installed (unix seconds), or 0.
    uint64 public pendingVerifierEta;
    /// @notice Delay between proposing and installing a verifier, in seconds.
    uint64 public immutable verifierUpdateDelay;

    mapping(uint256 epoch => EpochState) internal _epochs;
    mapping(uint256 epoch => StoredEpochConfig) internal _configs;
    /// @dev Accepted batches of an epoch: bit (i % 255) of word (i / 255), plus the sentinel.
    mapping(uint256 epoch => mapping(uint256 word => uint256 bits)) internal _accepted;
    /// @dev The latest audit head published (treeSize 0: none yet).
    AuditHead internal _auditHead;

    /// @notice An epoch was opened for submissions.
    event EpochOpened(
        uint256 indexed epoch, uint256 registryRoot, uint256 scheduleHash, uint32 intervalSeconds, uint32 batchCount
    );
    /// @notice A batch proof verified and its totals were added to its epoch.
    event BatchAccepted(
        uint256 indexed epoch,
        uint256 indexed batchIndex,
        address indexed submitter,
        uint256 totalEnergyWh,
        uint256 totalRevenueNusd,
        uint256 readingsRoot
    );
    /// @notice The registrar withdrew an epoch before any batch was accepted; it may be opened again.
    event EpochCancelled(uint256 indexed epoch);
    /// @notice Every batch of an epoch is in; its totals are final.
    event EpochFinalized(uint256 indexed epoch, uint256 totalEnergyWh, uint256 totalRevenueNusd);
    /// @notice A new verifier was proposed; it can be installed from `eta` on.
    event VerifierUpdateProposed(address indexed newVerifier, uint256 eta);
    /// @notice The pending verifier proposal was withdrawn.
    event VerifierUpdateCancelled(address indexed cancelledVerifier);
    /// @notice The verifier in force changed.
    event VerifierUpdated(address indexed oldVerifier, address indexed newVerifier);
    /// @notice The registrar anchored a signed head of the service's audit log (sizes only grow).
    event AuditHeadPublished(uint64 indexed treeSize, bytes32 rootHash, uint64 timestampMs, bytes signature);

    /// @notice The epoch number does not fit the statement's 64 bits.
    error EpochOutOfRange(uint256 epoch);
    /// @notice The epoch has already been opened (its parameters never change).
    error EpochAlreadyOpen(uint256 epoch);
    /// @notice The epoch has not been opened.
    error EpochNotOpen(uint256 epoch);
    /// @notice An epoch needs at least one batch and a non-zero interval.
    error InvalidEpochParameters();
    /// @notice A registry root or schedule hash is not below r, so no proof could match it.
    error NotAFieldElement(uint256 value);
    /// @notice The batch's registry root, schedule hash or interval differ from the epoch's.
    error StatementMismatch(uint256 epoch, uint256 batchIndex);
    /// @notice The batch index is not below the epoch's number of batches.
    error BatchIndexOutOfRange(uint256 epoch, uint256 batchIndex, uint256 batchCount);
    /// @notice This (epoch, batch) was already accepted (whatever proof bytes it came with).
    error BatchAlreadyAccepted(uint256 epoch, uint256 batchIndex);
    /// @notice The epoch's totals would not fit their 96 bits.
    error TotalsOverflow(uint256 epoch, uint256 batchIndex);
    /// @notice The verifier rejected the proof (or an input >= r, or a malformed point).
    error InvalidProof(uint256 epoch, uint256 batchIndex);
    /// @notice The address is not a verifier of this statement (no code or wrong input count).
    error InvalidVerifier(address verifier);
    /// @notice A verifier update delay below the minimum.
    error DelayTooShort(uint256 delay, uint256 minimum);
    /// @notice No verifier update is pending.
    error NoPendingVerifier();
    /// @notice The pending verifier cannot be installed before its eta.
    error VerifierUpdateNotReady(uint256 eta, uint256 nowSeconds);
    /// @notice The pending verifier was not installed within the grace period after its eta.
    error VerifierUpdateExpired(uint256 eta, uint256 deadline, uint256 nowSeconds);
    /// @notice More batches than MAX_BATCH_COUNT.
    error BatchCountTooLarge(uint256 batchCount, uint256 maximum);
    /// @notice The epoch already has accepted batches, so it can no longer be cancelled.
    error EpochHasAcceptedBatches(uint256 epoch, uint256 batchesAccepted);
    /// @notice An audit head must cover more entries than the latest one published (a log only
    /// grows; a head of the same size says nothing new, whatever its root).
    error AuditHeadNotNewer(uint64 treeSize, uint64 latestTreeSize);
    /// @notice An audit head's signature must be the 64 bytes of an Ed25519 signature.
    error InvalidAuditSignatureLength(uint256 length);

    /// @notice Deploys the oracle.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (roles, pausing, verifier timelock).
    /// @param registrar Receives REGISTRAR_ROLE (may be zero to grant it later).
    /// @param initialVerifier The generated Groth16 verifier of the batch statement's key.
    /// @param updateDelaySeconds The verifier timelock delay, at least MIN_VERIFIER_UPDATE_DELAY.
    constructor(address admin, address registrar, IGroth16Verifier initialVerifier, uint64 updateDelaySeconds) {
        if (updateDelaySeconds < MIN_VERIFIER_UPDATE_DELAY) {
            revert DelayTooShort(updateDelaySeconds, MIN_VERIFIER_UPDATE_DELAY);
        }
        _checkVerifier(initialVerifier);
        verifierUpdateDelay = updateDelaySeconds;
        verifier = initialVerifier;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (registrar != address(0)) {
            _grantRole(REGISTRAR_ROLE, registrar);
        }
        emit VerifierUpdated(address(0), address(initialVerifier));
    }

    // ---------------------------------------------------------------- epochs and batches

    /// @notice Opens an epoch for batch submissions and pins the verifier in force to it: every
    /// batch of the epoch is verified with that verifier, even after a verifier update (a key
    /// with another batch size S would otherwise re-map batch indices mid-epoch). Its parameters
    /// never change afterwards, except that `cancelEpoch` may withdraw it while no batch is in.
    /// @param epoch The epoch (days since 1970-01-01), below 2^64.
    /// @param registryRoot Root of the epoch's registry tree (below r).
    /// @param scheduleHash Hash of the epoch's price schedule (below r).
    /// @param intervalSeconds Reading interval, seconds (non-zero).
    /// @param batchCount Number of batches the epoch's registry is split into (1..MAX_BATCH_COUNT).
    function openEpoch(
        uint256 epoch,
        uint256 registryRoot,
        uint256 scheduleHash,
        uint32 intervalSeconds,
        uint32 batchCount
    ) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        if (epoch > type(uint64).max) revert EpochOutOfRange(epoch);
        if (batchCount == 0 || intervalSeconds == 0) revert InvalidEpochParameters();
        if (batchCount > MAX_BATCH_COUNT) revert BatchCountTooLarge(batchCount, MAX_BATCH_COUNT);
        if (registryRoot >= SNARK_SCALAR_FIELD) revert NotAFieldElement(registryRoot);
        if (scheduleHash >= SNARK_SCALAR_FIELD) revert NotAFieldElement(scheduleHash);
        EpochState storage state = _epochs[epoch];
        if (state.batchCount != 0) revert EpochAlreadyOpen(epoch);

        state.configDigest = _configDigest(registryRoot, scheduleHash, intervalSeconds);
        state.batchCount = batchCount;
        _configs[epoch] = StoredEpochConfig(registryRoot, scheduleHash, intervalSeconds, verifier);
        // The registrar pre-pays the first bitmap word (epochs of up to 255 batches).
        _accepted[epoch][0] = WORD_SENTINEL;
        emit EpochOpened(epoch, registryRoot, scheduleHash, intervalSeconds, batchCount);
    }

    /// @notice Withdraws an opened epoch while none of its batches has been accepted (a wrong
    /// root, schedule, interval or batch count), so that it can be opened again. Allowed while
    /// paused: pause first to make sure no batch lands before the cancellation.
    /// @param epoch The epoch.
    function cancelEpoch(uint256 epoch) external onlyRole(REGISTRAR_ROLE) {
        EpochState storage state = _epochs[epoch];
        if (state.batchCount == 0) revert EpochNotOpen(epoch);
        if (state.batchesAccepted != 0) revert EpochHasAcceptedBatches(epoch, state.batchesAccepted);
        delete _epochs[epoch];
        delete _configs[epoch];
        // The accepted-batches bitmap holds no batch bits (none was accepted); its sentinel stays.
        emit EpochCancelled(epoch);
    }

    /// @notice Submits one batch's proof. Anyone may call; the statement, not the sender or the
    /// proof bytes, decides acceptance. Reverts unless the proof verifies and the batch is new.
    /// @param publicInputs The batch's public inputs in circuit order (see the contract's @dev).
    /// @param proof The Groth16 proof as EIP-197 words (see IGroth16Verifier).
    function submitBatch(uint256[8] calldata publicInputs, uint256[8] calldata proof) external whenNotPaused {
        uint256 epoch = publicInputs[IN_EPOCH];
        uint256 batchIndex = publicInputs[IN_BATCH_INDEX];
        EpochState storage state = _epochs[epoch];

        // Checks: the statement is the opened epoch's, the batch is new, the proof verifies.
        (uint256 word, uint256 bit) = _checkStatement(state, publicInputs);
        (uint256 newEnergyWh, uint256 newRevenueNusd) = _newTotals(state, publicInputs);
        // The verifier pinned at the epoch's opening, never the one in force now.
        if (!_configs[epoch].verifier.verifyProof(proof, publicInputs)) revert InvalidProof(epoch, batchIndex);

        // Effects.
        _accepted[epoch][batchIndex / BATCHES_PER_WORD] = word | bit | WORD_SENTINEL;
        uint32 accepted = state.batchesAccepted + 1;
        state.batchesAccepted = accepted;
        // casting to 'uint96' is safe because _newTotals reverts above 2^96 - 1
        // forge-lint: disable-next-line(unsafe-typecast)
        state.totalEnergyWh = uint96(newEnergyWh);
        // casting to 'uint96' is safe because _newTotals reverts above 2^96 - 1
        // forge-lint: disable-next-line(unsafe-typecast)
        state.totalRevenueNusd = uint96(newRevenueNusd);
        emit BatchAccepted(
            epoch,
            batchIndex,
            msg.sender,
            publicInputs[IN_TOTAL_ENERGY_WH],
            publicInputs[IN_TOTAL_REVENUE_NUSD],
            publicInputs[IN_READINGS_ROOT]
        );
        if (accepted == state.batchCount) emit EpochFinalized(epoch, newEnergyWh, newRevenueNusd);
    }

    /// @dev Reverts unless the batch belongs to an opened epoch with the same registry root,
    /// schedule and interval, its index is in range and it was not accepted yet. Returns the
    /// batch's bitmap word and bit.
    function _checkStatement(EpochState storage state, uint256[8] calldata publicInputs)
        internal
        view
        returns (uint256 word, uint256 bit)
    {
        uint256 epoch = publicInputs[IN_EPOCH];
        uint256 batchIndex = publicInputs[IN_BATCH_INDEX];
        uint256 batchCount = state.batchCount;
        if (batchCount == 0) revert EpochNotOpen(epoch);
        if (batchIndex >= batchCount) revert BatchIndexOutOfRange(epoch, batchIndex, batchCount);
        bytes32 digest = _configDigest(
            publicInputs[IN_REGISTRY_ROOT], publicInputs[IN_SCHEDULE_HASH], publicInputs[IN_INTERVAL_SECONDS]
        );
        if (state.configDigest != digest) revert StatementMismatch(epoch, batchIndex);
        word = _accepted[epoch][batchIndex / BATCHES_PER_WORD];
        bit = 1 << (batchIndex % BATCHES_PER_WORD);
        if (word & bit != 0) revert BatchAlreadyAccepted(epoch, batchIndex);
    }

    /// @dev The epoch's totals with this batch added; reverts if they would not fit 96 bits
    /// (including any batch total >= 2^96, which also rules out totals >= r here).
    function _newTotals(EpochState storage state, uint256[8] calldata publicInputs)
        internal
        view
        returns (uint256 newEnergyWh, uint256 newRevenueNusd)
    {
        uint256 energyWh = publicInputs[IN_TOTAL_ENERGY_WH];
        uint256 revenueNusd = publicInputs[IN_TOTAL_REVENUE_NUSD];
        if (energyWh > type(uint96).max || revenueNusd > type(uint96).max) {
            revert TotalsOverflow(publicInputs[IN_EPOCH], publicInputs[IN_BATCH_INDEX]);
        }
        newEnergyWh = uint256(state.totalEnergyWh) + energyWh;
        newRevenueNusd = uint256(state.totalRevenueNusd) + revenueNusd;
        if (newEnergyWh > type(uint96).max || newRevenueNusd > type(uint96).max) {
            revert TotalsOverflow(publicInputs[IN_EPOCH], publicInputs[IN_BATCH_INDEX]);
        }
    }

    // ---------------------------------------------------------------- audit log

    /// @notice Anchors the latest signed tree head of the service's audit log. Anyone holding it
    /// can later ask the service for a consistency proof from this head to its current one: a
    /// log rewritten or truncated after the head was published no longer extends it.
    /// @dev The contract does not verify the Ed25519 signature: the EVM has no Ed25519
    /// precompile, and verifying in Solidity would cost on the order of a million gas per head.
    /// It only checks the signature's length and stores it with the head, so that clients check
    /// it off-chain against the service's public key (`gridproof audit verify --rpc-url`).
    /// Sizes strictly grow: a head of the same size as the latest is refused even with the same
    /// root (it would add nothing), and with another root it would be a forked log, which the
    /// chain should not record as if it were news. Allowed while paused: pausing stops the
    /// revenue accounting, not the record of what the service did.
    /// @param treeSize Entries in the log; larger than the latest published `treeSize`.
    /// @param rootHash The log's Merkle Tree Hash over those entries.
    /// @param timestampMs When the service signed the head (Unix ms).
    /// @param signature The service's Ed25519 signature over the head (64 bytes).
    function publishAuditHead(uint64 treeSize, bytes32 rootHash, uint64 timestampMs, bytes calldata signature)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        uint64 latest = _auditHead.treeSize;
        if (treeSize <= latest) revert AuditHeadNotNewer(treeSize, latest);
        if (signature.length != 64) revert InvalidAuditSignatureLength(signature.length);
        _auditHead = AuditHead(treeSize, timestampMs, rootHash, signature);
        emit AuditHeadPublished(treeSize, rootHash, timestampMs, signature);
    }

    /// @notice The latest audit head published (all zeros and an empty signature before the
    /// first).
    /// @return head Its size, signing time, root and signature.
    function latestAuditHead() external view returns (AuditHead memory head) {
        return _auditHead;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IRevenueOracle
    function epochTotals(uint256 epoch)
        external
        view
        returns (bool isFinal, uint256 totalEnergyWh, uint256 totalRevenueNusd)
    {
        EpochState storage state = _epochs[epoch];
        isFinal = state.batchCount != 0 && state.batchesAccepted == state.batchCount;
        return (isFinal, state.totalEnergyWh, state.totalRevenueNusd);
    }

    /// @notice An epoch's progress.
    /// @param epoch The epoch.
    /// @return batchCount Number of batches (0: not opened).
    /// @return batchesAccepted Batches accepted so far.
    function epochProgress(uint256 epoch) external view returns (uint256 batchCount, uint256 batchesAccepted) {
        EpochState storage state = _epochs[epoch];
        return (state.batchCount, state.batchesAccepted);
    }

    /// @notice What the registrar published for an epoch (zeros if not opened).
    /// @param epoch The epoch.
    /// @return config Registry root, schedule hash and interval.
    function epochConfig(uint256 epoch) external view returns (EpochConfig memory config) {
        StoredEpochConfig storage stored = _configs[epoch];
        return EpochConfig(stored.registryRoot, stored.scheduleHash, stored.intervalSeconds);
    }

    /// @notice The verifier that checks every batch of an epoch: the one in force when it was
    /// opened (zero if not opened).
    /// @param epoch The epoch.
    /// @return epochVerifier_ The pinned verifier.
    function epochVerifier(uint256 epoch) external view returns (IGroth16Verifier epochVerifier_) {
        return _configs[epoch].verifier;
    }

    /// @notice Whether a batch of an epoch has been accepted.
    /// @param epoch The epoch.
    /// @param batchIndex The batch.
    /// @return accepted True once the batch's proof was accepted.
    function isBatchAccepted(uint256 epoch, uint256 batchIndex) external view returns (bool accepted) {
        return _accepted[epoch][batchIndex / BATCHES_PER_WORD] & (1 << (batchIndex % BATCHES_PER_WORD)) != 0;
    }

    // ---------------------------------------------------------------- administration

    /// @notice Stops openings and submissions (admin only).
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Resumes openings and submissions (admin only).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @notice Proposes a new verifier (a new key after a ceremony); it can be installed after
    /// `verifierUpdateDelay`. Replaces any pending proposal.
    /// @param newVerifier The new verifier (a contract answering NUM_PUBLIC_INPUTS() == 8).
    function proposeVerifier(IGroth16Verifier newVerifier) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkVerifier(newVerifier);
        uint64 eta = uint64(block.timestamp) + verifierUpdateDelay;
        pendingVerifier = newVerifier;
        pendingVerifierEta = eta;
        emit VerifierUpdateProposed(address(newVerifier), eta);
    }

    /// @notice Withdraws the pending verifier proposal.
    function cancelVerifierUpdate() external onlyRole(DEFAULT_ADMIN_ROLE) {
        IGroth16Verifier pending = pendingVerifier;
        if (address(pending) == address(0)) revert NoPendingVerifier();
        delete pendingVerifier;
        delete pendingVerifierEta;
        emit VerifierUpdateCancelled(address(pending));
    }

    /// @notice Installs the pending verifier once its delay has passed, and at most
    /// VERIFIER_UPDATE_GRACE_PERIOD after its eta (a stale approval must be proposed again). It
    /// applies to epochs opened from then on; open epochs keep the verifier they were opened with.
    function executeVerifierUpdate() external onlyRole(DEFAULT_ADMIN_ROLE) {
        IGroth16Verifier pending = pendingVerifier;
        if (address(pending) == address(0)) revert NoPendingVerifier();
        uint256 eta = pendingVerifierEta;
        if (block.timestamp < eta) revert VerifierUpdateNotReady(eta, block.timestamp);
        uint256 deadline = eta + VERIFIER_UPDATE_GRACE_PERIOD;
        if (block.timestamp > deadline) revert VerifierUpdateExpired(eta, deadline, block.timestamp);
        address old = address(verifier);
        verifier = pending;
        delete pendingVerifier;
        delete pendingVerifierEta;
        emit VerifierUpdated(old, address(pending));
    }

    // ---------------------------------------------------------------- internals

    function _configDigest(uint256 registryRoot, uint256 scheduleHash, uint256 intervalSeconds)
        internal
        pure
        returns (bytes32 digest)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, registryRoot)
            mstore(add(m, 0x20), scheduleHash)
            mstore(add(m, 0x40), intervalSeconds)
            digest := keccak256(m, 0x60)
        }
    }

    function _checkVerifier(IGroth16Verifier candidate) internal view {
        if (address(candidate).code.length == 0) revert InvalidVerifier(address(candidate));
        try candidate.NUM_PUBLIC_INPUTS() returns (uint256 count) {
            if (count != 8) revert InvalidVerifier(address(candidate));
        } catch {
            revert InvalidVerifier(address(candidate));
        }
    }
}
