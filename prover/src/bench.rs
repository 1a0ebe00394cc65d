//! The benchmark behind `gridproof bench` (and the criterion benches): constraints, setup,
//! key sizes and load times, witness + synthesis, satisfiability check, proof, verification,
//! peak memory, and, in the same run, the floor: this machine's MSMs (with the prover's
//! backend, [`BenchOptions::backend`]) and FFTs of exactly the sizes one Groth16 proof of this
//! circuit needs.
//!
//! [`bench_batch`] also checks, in the same run and with the same keys, the issue's first
//! target: an epoch (a batch file v1, e.g. from `gridproof meter simulate`) is validated,
//! placed, and every batch is proved and verified ([`EpochReport`]); then the tamper pass
//! ([`TamperReport`]) takes the epoch's first batch and shows that each tampered input is
//! refused: the prover's satisfiability check names the constraint group that fails, the
//! honest proof does not verify with tampered public inputs, and a proofs file with a
//! non-canonical encoding does not parse. [`BenchReport::failures`] lists what did not hold.
//!
//! Peak memory is the process's VmHWM from `/proc/self/status`. It is reset (`/proc/self/
//! clear_refs`) after the setup, so `peak_rss_prove_bytes` covers loading the keys and proving;
//! memory the allocator kept from the setup still counts, so for an exact figure at large S run
//! the benchmark on keys made beforehand ([`BenchOptions::keys_dir`]).

use std::fmt;
use std::fs;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ark_bn254::{Bn254, Fq};
use ark_ff::{AdditiveGroup, FftField, PrimeField, UniformRand};
use ark_groth16::r1cs_to_qap::evaluate_constraint;
use ark_groth16::{PreparedVerifyingKey, Proof};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, SynthesisError,
    SynthesisMode, R1CS_PREDICATE_LABEL,
};
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::encoding::EncodingError;
use gridproof_circuits::merkle::MerkleTree;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::{reading_bound_wh, Location, RegistryEntry};
use gridproof_circuits::schedule::Schedule;
use gridproof_circuits::statement::{
    readings_tree, BatchCircuit, BatchWitness, PublicInputs, SiteWitness,
};
use num_bigint::BigUint;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::batch::{
    validate, BatchFile, LocationRecord, SignatureRecord, SiteRecord, ValidationErrors,
    ValidationPolicy, BATCH_FILE_VERSION,
};
use crate::epoch::{prepare_epoch, EpochError};
use crate::groth16::{time_msms, MsmBackend, PreparedProvingKey};
use crate::keys::{load_verifying_key, setup_development_with, Keys, KeysError};
use crate::parallel::{prove_batches, working_bytes_per_proof, BatchOutcome, ConcurrencyPlan};
use crate::private_output::{PrivateOutput, PrivateSite};
use crate::proofs_file::{BatchProof, ProofsFile, ProofsFileError};
use crate::prove::{
    prove, prove_keeping_assignment, untraced, Assignment, ConstraintGroupNames, ProveError,
    ProvePhase,
};
use crate::shape::{BatchShape, ShapeRecord};
use crate::verify::{prepare, verify, VerifyError};
use crate::Fr;

/// How to run [`bench`].
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// Benchmark the keys in this directory instead of running a setup (they must be of the
    /// benchmarked shape). Otherwise a development setup is run and timed.
    pub keys_dir: Option<PathBuf>,
    /// Where the keys of the setup are written to measure their size and load time (a
    /// temporary directory under it, removed afterwards). Default: the system temp directory.
    pub work_dir: Option<PathBuf>,
    /// Seed of the setup's and the prover's randomness (and of the epoch check's location
    /// salts). Benchmark keys are development keys: never use them for anything real.
    pub seed: u64,
    /// The prover's MSM backend (the proving key is prepared for it when loaded); the floor
    /// is measured with the same backend.
    pub backend: MsmBackend,
    /// Batches of the epoch check proved at once. `None`: the limit derived from the key's
    /// circuit size and this machine's threads and free memory ([`ConcurrencyPlan`]).
    pub batch_concurrency: Option<usize>,
}

/// The MSM + FFT floor of one proof, measured on this machine with the prover's MSM backend
/// (arkworks' MSMs for [`MsmBackend::Stock`]) and arkworks' FFTs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorReport {
    /// Scalars to the MSMs' forms (canonical; for the hybrid also split by size).
    #[serde(default)]
    pub scalars_ms: f64,
    /// G1 MSM over the A query (size: variables - 1), scalars = the real assignment.
    pub msm_a_ms: f64,
    /// G1 MSM over the B query (size: variables - 1), scalars = the real assignment.
    pub msm_b_g1_ms: f64,
    /// G2 MSM over the B query (size: variables - 1), scalars = the real assignment.
    pub msm_b_g2_ms: f64,
    /// G1 MSM over the L query (size: witness variables), scalars = the real witness.
    pub msm_l_ms: f64,
    /// G1 MSM over the H query (size: FFT domain - 1), random full-size scalars (as h is).
    pub msm_h_ms: f64,
    /// The 7 FFTs of the QAP witness map over the domain (3 IFFT, 3 coset FFT, 1 coset IFFT).
    pub fft_ms: f64,
    /// Sum of the above.
    pub total_ms: f64,
}

/// Everything `gridproof bench` reports for one shape. Times in milliseconds, sizes in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The benchmarked shape.
    pub shape: ShapeRecord,
    /// Threads the prover's thread pool uses.
    pub threads: usize,
    /// The prover's MSM backend (`gridproof bench --msm`).
    #[serde(default)]
    pub backend: MsmBackend,
    /// R1CS constraints.
    pub constraints: u64,
    /// constraints / (S * T).
    pub constraints_per_reading: f64,
    /// constraints / S.
    pub constraints_per_site: f64,
    /// R1CS variables (1 + public inputs + witness).
    pub variables: u64,
    /// Public inputs.
    pub public_inputs: u64,
    /// Size of the QAP's FFT domain (a power of two >= constraints + public inputs + 1).
    pub fft_domain_size: u64,
    /// Development setup, if the run made the keys.
    pub setup_ms: Option<f64>,
    /// Size of `proving.key` (uncompressed).
    pub proving_key_bytes: u64,
    /// Size of `verifying.key` (compressed).
    pub verifying_key_bytes: u64,
    /// `Keys::load`: hash, read and check both keys.
    pub proving_key_load_ms: f64,
    /// `load_verifying_key`: read, validate and check the verifying key.
    pub verifying_key_load_ms: f64,
    /// `Keys::prepare_for_proving`: the circuit's constraint matrices built once (a setup-mode
    /// synthesis) and kept with the keys, part of loading them.
    #[serde(default)]
    pub matrices_ms: f64,
    /// Memory the kept matrices hold.
    #[serde(default)]
    pub matrices_bytes: u64,
    /// Building the circuit's witness (native twin: public inputs, hashes).
    pub witness_ms: f64,
    /// Constraint synthesis of the witness assignment only (the matrices are the keys').
    pub synthesis_ms: f64,
    /// The constraints' row values (`<A_i, z>`, `<B_i, z>`, `<C_i, z>`, which the witness map
    /// reuses) and the check that the witness satisfies every constraint.
    pub check_ms: f64,
    /// The Groth16 prover proper (witness map FFTs, MSMs) and the proof's self-check.
    pub proof_ms: f64,
    /// witness + synthesis + check + proof: the time to a proof from the batch's data.
    pub prove_total_ms: f64,
    /// One verification with a prepared verifying key (mean of several).
    pub verify_ms: f64,
    /// Peak resident memory at the end of the setup (None if not measured).
    pub peak_rss_setup_bytes: Option<u64>,
    /// Peak resident memory while loading the keys and proving (None if /proc is missing).
    pub peak_rss_prove_bytes: Option<u64>,
    /// Peak resident memory of the whole run after the setup: loading, the measured proof,
    /// the floor, the epoch check and the tamper pass (None if /proc is missing).
    #[serde(default)]
    pub peak_rss_run_bytes: Option<u64>,
    /// Memory one proof needed beyond the loaded keys: peak RSS of the proof minus the RSS
    /// after loading (None if either is unknown or the peak includes the setup).
    #[serde(default)]
    pub proof_working_bytes: Option<u64>,
    /// The estimate the batch concurrency limit uses for that ([`working_bytes_per_proof`]).
    #[serde(default)]
    pub proof_working_estimate_bytes: u64,
    /// True if the peak could not be reset after the setup, so the prove peak includes it.
    pub peak_rss_prove_includes_setup: bool,
    /// The MSM + FFT floor measured in this run.
    pub floor: FloorReport,
    /// prove_total_ms / floor.total_ms: how far proving is from the arithmetic it must do.
    pub prove_over_floor: f64,
    /// The epoch check (None if it was not run).
    #[serde(default)]
    pub epoch: Option<EpochReport>,
    /// The tamper pass on the epoch's first batch (None if it was not run).
    #[serde(default)]
    pub tamper: Option<TamperReport>,
}

impl BenchReport {
    /// What did not hold: a batch of the epoch that did not prove or verify, a tampered input
    /// that was not refused. Empty when every check passed (or none was run).
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(epoch) = &self.epoch {
            if epoch.batches.is_empty() {
                out.push("the epoch check proved no batch".to_string());
            }
            for b in epoch.batches.iter().filter(|b| !b.verified) {
                out.push(format!(
                    "epoch batch {} did not verify: {}",
                    b.batch_index,
                    b.error.as_deref().unwrap_or("rejected")
                ));
            }
        }
        if let Some(tamper) = &self.tamper {
            for row in tamper.rows.iter().filter(|r| !r.ok) {
                out.push(format!(
                    "tamper case '{}' was not refused as expected: expected {}, observed {}",
                    row.id, row.expected, row.observed
                ));
            }
        }
        out
    }
}

/// An epoch for the epoch check of [`bench_batch`]: a batch file v1 and the private keys of
/// the test meters that signed it.
#[derive(Debug, Clone)]
pub struct EpochInput {
    /// The epoch's batch file v1 (e.g. made by `gridproof meter simulate`).
    pub file: BatchFile,
    /// Private keys of the test meters that signed `file`, by site id. Secret (test meters
    /// only): the tamper pass re-signs a reading above the capacity bound with its site's key,
    /// so that only the bound is wrong. A site without a key is tampered without re-signing
    /// (the capacity bound group still fails first), and the report says so.
    pub meter_keys: Vec<(u64, PrivateKey)>,
    /// How `file` was made (a command line), for the report.
    pub source: String,
    /// How long making `file` took (ms), if the caller measured it.
    pub make_ms: Option<f64>,
    /// The validation policy (k-anonymity minimum of real sites per batch).
    pub policy: ValidationPolicy,
}

/// One batch of the epoch check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochBatchReport {
    /// The batch's index in the epoch.
    pub batch_index: u64,
    /// Real sites in the batch (the other positions are empty leaves).
    pub sites: usize,
    /// The batch's public total energy, Wh (decimal).
    pub total_energy_wh: String,
    /// The batch's public total revenue, nano-USD (decimal).
    pub total_revenue_nusd: String,
    /// Synthesis, satisfiability check and proof (ms).
    pub prove_ms: f64,
    /// One verification (ms), if a proof was made.
    pub verify_ms: Option<f64>,
    /// True if the proof was made and verifies with the batch's public inputs.
    pub verified: bool,
    /// Why proving or verifying failed.
    pub error: Option<String>,
}

/// The epoch check: a realistic epoch validated, placed, and every batch proved and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// How the epoch's batch file was made (a command line).
    pub source: String,
    /// The epoch.
    pub epoch: u64,
    /// Sites in the file.
    pub sites: usize,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// k-anonymity minimum of real sites per batch the file was validated with.
    pub min_sites_per_batch: usize,
    /// Making the file (ms), if measured.
    pub make_ms: Option<f64>,
    /// Validating the file against the keys' shape (ms).
    pub validate_ms: f64,
    /// Placing the sites in the registry and building every batch's witness (ms).
    pub prepare_ms: f64,
    /// One row per batch, in order.
    pub batches: Vec<EpochBatchReport>,
    /// Sum of the batches' energy, Wh (decimal).
    pub total_energy_wh: String,
    /// Sum of the batches' revenue, nano-USD (decimal).
    pub total_revenue_nusd: String,
    /// True if there is at least one batch and every batch's proof verified.
    pub all_verified: bool,
    /// How the batches were proved at once, and the epoch's throughput.
    #[serde(default)]
    pub throughput: Option<EpochThroughput>,
}

/// The epoch check's throughput: its batches proved `concurrency` at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochThroughput {
    /// Batches proved at once.
    pub concurrency: usize,
    /// The plan the limit came from (also when `--batch-concurrency` overrode it).
    pub plan: ConcurrencyPlan,
    /// Wall time from the first proof's start to the last proof's end (ms).
    pub wall_ms: f64,
    /// Batches per hour at that rate.
    pub batches_per_hour: f64,
    /// Real sites proved per second at that rate.
    pub sites_per_second: f64,
    /// The same batches one at a time at the benchmark's single-proof time (ms): what the
    /// concurrency is compared with.
    pub sequential_estimate_ms: f64,
}

/// One tampered input of the tamper pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TamperRow {
    /// A stable identifier of the case (e.g. `reading_over_bound`).
    pub id: String,
    /// What was tampered with, in words.
    pub case: String,
    /// The refusal that must happen (the constraint group named by the prover, the verifier's
    /// rejection, or the parser's error).
    pub expected: String,
    /// What happened.
    pub observed: String,
    /// True if the observed refusal is the expected one.
    pub ok: bool,
}

/// The tamper pass: each tampered input on one batch of the epoch, and how it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TamperReport {
    /// The batch that was tampered with.
    pub batch_index: u64,
    /// One row per case.
    pub rows: Vec<TamperRow>,
    /// Cases that could not be built for this epoch, with the reason (e.g. no second batch).
    pub skipped: Vec<String>,
    /// True if every row is ok.
    pub all_ok: bool,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setup, saving or loading the keys failed.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The keys given are of another shape.
    #[error("the keys are for {keys}, not the benchmarked {bench}")]
    WrongKeys {
        /// The keys' shape.
        keys: ShapeRecord,
        /// The benchmarked shape.
        bench: ShapeRecord,
    },
    /// Building the witness failed.
    #[error("building the benchmark witness failed: {0}")]
    Witness(String),
    /// Proving failed.
    #[error(transparent)]
    Prove(#[from] ProveError),
    /// The proof did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The epoch check's batch file does not validate against the keys' shape.
    #[error("epoch check: {0}")]
    EpochInvalid(#[from] ValidationErrors),
    /// The epoch check's sites could not be placed.
    #[error("epoch check: {0}")]
    Epoch(#[from] EpochError),
    /// The run finished but a check failed (see [`BenchReport::failures`]).
    #[error("{} check(s) failed:\n  - {}", .0.len(), .0.join("\n  - "))]
    ChecksFailed(Vec<String>),
}

/// Removes a directory this benchmark created, also on early returns.
struct OwnedDir(PathBuf);

impl Drop for OwnedDir {
    fn drop(&mut self) {
        // Best effort: the directory is ours (created with a unique name by this run).
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, ms(start.elapsed()))
}

/// The process's peak resident set size (VmHWM), if the kernel reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A size in kB from /proc/self/status (e.g. `VmRSS:`), in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak resident set size to the current one (Linux: `5 > /proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The checks [`bench_batch`] runs after the measured proof, with the loaded keys.
type Checks = (Option<EpochReport>, Option<TamperReport>);

/// Benchmarks proving `make_witness()`'s circuit (with its public inputs) for `shape`, whose
/// circuit without witness is `blank`. `progress` gets a line as each step starts.
pub fn bench<C, W, E>(
    shape: &BatchShape,
    blank: C,
    make_witness: W,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone + 'static,
    W: FnOnce() -> Result<(C, Vec<Fr>), E>,
    E: fmt::Display,
{
    bench_with(
        shape,
        blank,
        make_witness,
        options,
        progress,
        |_, _, _, _, _| Ok((None, None)),
    )
}

/// [`bench`], then `checks` with the loaded keys (the epoch check and tamper pass).
fn bench_with<C, W, E, X>(
    shape: &BatchShape,
    blank: C,
    make_witness: W,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
    checks: X,
) -> Result<BenchReport, BenchError>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone + 'static,
    W: FnOnce() -> Result<(C, Vec<Fr>), E>,
    E: fmt::Display,
    X: FnOnce(
        &Keys,
        &PreparedVerifyingKey<Bn254>,
        &mut ChaCha20Rng,
        f64,
        &mut dyn FnMut(&str),
    ) -> Result<Checks, BenchError>,
{
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    let mut setup_ms = None;
    let mut peak_rss_setup_bytes = None;
    let _owned;
    let blank_for_matrices = blank.clone();
    let keys_dir: PathBuf = match &options.keys_dir {
        Some(dir) => {
            // Refuse keys of another shape before reading a possibly large proving key.
            let manifest = crate::keys::read_manifest(dir)?;
            if manifest.shape != ShapeRecord::of(shape) {
                return Err(BenchError::WrongKeys {
                    keys: manifest.shape,
                    bench: ShapeRecord::of(shape),
                });
            }
            dir.clone()
        }
        None => {
            progress("development setup (single party, benchmark only)");
            let (keys, t) = timed(|| setup_development_with(shape, blank, &mut rng));
            let keys = keys?;
            setup_ms = Some(t);
            peak_rss_setup_bytes = peak_rss_bytes();
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let parent = options.work_dir.clone().unwrap_or_else(std::env::temp_dir);
            let dir = parent.join(format!(
                "gridproof-bench-keys-{}-{nanos}",
                std::process::id()
            ));
            progress("saving the keys");
            keys.save(&dir)?;
            _owned = OwnedDir(dir.clone());
            dir
        }
    };
    let peak_rss_prove_includes_setup = !reset_peak_rss();

    progress("loading the keys");
    let (keys, proving_key_load_ms) = timed(|| Keys::load_with_backend(&keys_dir, options.backend));
    let keys = keys?;
    if keys.shape != *shape {
        return Err(BenchError::WrongKeys {
            keys: ShapeRecord::of(&keys.shape),
            bench: ShapeRecord::of(shape),
        });
    }
    progress("building the constraint matrices");
    let (matrices_bytes, matrices_ms) =
        timed(|| keys.prepare_for_proving_with(&blank_for_matrices));
    let matrices_bytes = matrices_bytes? as u64;
    drop(blank_for_matrices);
    let (vk, verifying_key_load_ms) = timed(|| load_verifying_key(&keys_dir));
    let (_, vk) = vk?;
    let manifest = crate::keys::read_manifest(&keys_dir)?;
    let rss_loaded_bytes = proc_status_bytes("VmRSS:");

    progress("building the witness");
    let (witness, witness_ms) = timed(make_witness);
    let (circuit, public_inputs) = witness.map_err(|e| BenchError::Witness(e.to_string()))?;

    progress("proving");
    let mut marks: Vec<(ProvePhase, Instant)> = Vec::with_capacity(3);
    let (proved, _) = timed(|| {
        prove_keeping_assignment(&keys, circuit, &mut rng, &mut |p| {
            marks.push((p, Instant::now()))
        })
    });
    let done = Instant::now();
    let (proof, assignment) = proved?;
    let mark = |phase| {
        marks
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, t)| *t)
            .unwrap_or(done)
    };
    let synthesis_ms = ms(mark(ProvePhase::Checking) - mark(ProvePhase::Synthesizing));
    let check_ms = ms(mark(ProvePhase::Proving) - mark(ProvePhase::Checking));
    let proof_ms = ms(done - mark(ProvePhase::Proving));
    let peak_rss_prove_bytes = peak_rss_bytes();

    progress("verifying");
    let pvk = prepare(&vk);
    verify(&pvk, &public_inputs, &proof)?;
    const VERIFY_RUNS: u32 = 10;
    let (_, verify_total) = timed(|| {
        for _ in 0..VERIFY_RUNS {
            black_box(verify(&pvk, &public_inputs, &proof).is_ok());
        }
    });

    progress("measuring the MSM + FFT floor");
    let floor = measure_floor(&keys.proving_key, &assignment, &mut rng)?;
    drop(assignment);

    let constraints = keys.num_constraints as u64;
    let prove_total_ms = witness_ms + synthesis_ms + check_ms + proof_ms;
    let (epoch, tamper) = checks(&keys, &pvk, &mut rng, prove_total_ms, progress)?;
    let peak_rss_run_bytes = peak_rss_bytes();
    let proof_working_bytes = match (peak_rss_prove_bytes, rss_loaded_bytes) {
        (Some(peak), Some(loaded)) if !peak_rss_prove_includes_setup => {
            Some(peak.saturating_sub(loaded))
        }
        _ => None,
    };
    Ok(BenchReport {
        shape: ShapeRecord::of(shape),
        threads: available_threads(),
        backend: keys.proving_key.backend(),
        constraints,
        constraints_per_reading: constraints as f64
            / (shape.sites as f64 * shape.readings_per_site as f64),
        constraints_per_site: constraints as f64 / shape.sites as f64,
        variables: keys.proving_key.num_variables() as u64,
        public_inputs: keys.num_public_inputs() as u64,
        // n - 1 H points (libsnark reduction) or n (snarkjs' reduction, imported keys).
        fft_domain_size: keys.proving_key.h_query_len().next_power_of_two() as u64,
        setup_ms,
        proving_key_bytes: manifest.proving_key.bytes,
        verifying_key_bytes: manifest.verifying_key.bytes,
        proving_key_load_ms,
        verifying_key_load_ms,
        matrices_ms,
        matrices_bytes,
        witness_ms,
        synthesis_ms,
        check_ms,
        proof_ms,
        prove_total_ms,
        verify_ms: verify_total / f64::from(VERIFY_RUNS),
        peak_rss_setup_bytes,
        peak_rss_prove_bytes,
        peak_rss_run_bytes,
        peak_rss_prove_includes_setup,
        proof_working_bytes,
        proof_working_estimate_bytes: working_bytes_per_proof(keys.num_constraints),
        prove_over_floor: prove_total_ms / floor.total_ms,
        floor,
        epoch,
        tamper,
    })
}

/// The epoch every synthetic sample is signed for (2025-07-31).
const SAMPLE_EPOCH: u64 = 20300;

/// The interval length, in seconds, of one day split into `t` readings: floor(86400 / t), at
/// least 1 s, so the epoch covers at most a day (exactly one when t divides 86400, as 24 and 96
/// do). What the samples and `gridproof bench`'s simulated epoch use.
pub fn interval_for_readings(t: usize) -> u32 {
    (86_400 / t.max(1)).max(1) as u32
}

/// Synthetic site `s` of the samples: meter key from `seed`, capacity, P prices, location and
/// a daily curve of T readings under the capacity bound.
struct SampleSite {
    meter: PrivateKey,
    site_id: u64,
    capacity_w: u32,
    prices_uusd_per_kwh: Vec<u32>,
    location: Location,
    readings_wh: Vec<u32>,
}

fn sample_site(shape: &BatchShape, seed: u64, s: u64, interval_seconds: u32) -> SampleSite {
    let t = shape.readings_per_site;
    let mut key_bytes = [0u8; 32];
    key_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    key_bytes[8..16].copy_from_slice(&s.to_le_bytes());
    key_bytes[31] = 0x6b;
    let capacity_w = 5_000 + 1_000 * (s as u32 % 200);
    let bound = reading_bound_wh(capacity_w, interval_seconds);
    // A day's curve: zero at night, rising to 7/8 of the bound at noon.
    let readings_wh = (0..t)
        .map(|i| {
            let hour_eighths = (8 * i / t.max(1)) as u64; // 0..7 over the day
            let sun = 4u64.saturating_sub(hour_eighths.abs_diff(4)); // 0..4
            (bound * (2 * sun).min(7) / 8) as u32
        })
        .collect();
    SampleSite {
        meter: PrivateKey::from_bytes(key_bytes),
        site_id: 100 + s,
        capacity_w,
        prices_uusd_per_kwh: (0..shape.price_slots as u32)
            .map(|k| 60_000 + 15_000 * k + s as u32)
            .collect(),
        location: Location {
            latitude_microdeg: 41_878_113 + s as i64,
            longitude_microdeg: -87_629_799,
            region: "US-IL".into(),
        },
        readings_wh,
    }
}

/// Time-of-use slot by time of day for the samples: P equal parts of the day.
fn sample_slots(shape: &BatchShape) -> Vec<u8> {
    let (t, p) = (shape.readings_per_site, shape.price_slots);
    (0..t).map(|i| ((i * p) / t.max(1)) as u8).collect()
}

/// A synthetic batch of `shape` for benchmarks: S real sites (every position filled), readings
/// on a daily curve under each site's capacity bound, P prices, a time-of-use schedule, every
/// site signed by a meter key derived from `seed`. Batch 0 of a registry of exactly these sites.
pub fn sample_batch_witness(shape: &BatchShape, seed: u64) -> Result<BatchWitness, String> {
    let interval_seconds = interval_for_readings(shape.readings_per_site);
    let schedule =
        Schedule::new(sample_slots(shape), shape.price_slots).map_err(|e| e.to_string())?;
    let mut sites = Vec::with_capacity(shape.sites);
    let mut leaves = Vec::with_capacity(shape.sites);
    for s in 0..shape.sites as u64 {
        let sample = sample_site(shape, seed, s, interval_seconds);
        let entry = RegistryEntry {
            site_id: sample.site_id,
            meter_key: sample.meter.public_key(),
            capacity_w: sample.capacity_w,
            prices_uusd_per_kwh: sample.prices_uusd_per_kwh,
            location_commitment: sample
                .location
                .commitment(Fr::from(1_000 + s))
                .map_err(|e| e.to_string())?,
        };
        let message = MeterMessage {
            site_id: entry.site_id,
            epoch: SAMPLE_EPOCH,
            interval_seconds,
            readings_wh: sample.readings_wh,
        };
        leaves.push(entry.leaf().map_err(|e| e.to_string())?);
        sites.push(Some(SiteWitness {
            entry,
            signature: sample.meter.sign(message.hash()),
            readings_wh: message.readings_wh,
        }));
    }
    let tree = MerkleTree::new(shape.registry_depth, &leaves).map_err(|e| e.to_string())?;
    let registry_path = tree
        .subtree_path(shape.subtree_height(), 0)
        .map_err(|e| e.to_string())?
        .siblings;
    Ok(BatchWitness {
        epoch: SAMPLE_EPOCH,
        interval_seconds,
        schedule,
        batch_index: 0,
        registry_root: tree.root(),
        sites,
        registry_path,
    })
}

/// A synthetic epoch of `sites` sites for `shape` (the sample sites of
/// [`sample_batch_witness`], as a batch file v1 with their meter keys), for tests of the epoch
/// check where the realistic simulator of the command line is not at hand. The policy is the
/// k-anonymity minimum of 3 (or S if smaller).
pub fn sample_epoch(shape: &BatchShape, sites: usize, seed: u64) -> EpochInput {
    let interval_seconds = interval_for_readings(shape.readings_per_site);
    let mut records = Vec::with_capacity(sites);
    let mut meter_keys = Vec::with_capacity(sites);
    for s in 0..sites as u64 {
        let sample = sample_site(shape, seed, s, interval_seconds);
        let message = MeterMessage {
            site_id: sample.site_id,
            epoch: SAMPLE_EPOCH,
            interval_seconds,
            readings_wh: sample.readings_wh,
        };
        let key = sample.meter.public_key();
        records.push(SiteRecord {
            site_id: sample.site_id,
            meter_public_key: [key.x, key.y],
            capacity_w: sample.capacity_w,
            prices_uusd_per_kwh: sample.prices_uusd_per_kwh,
            location: LocationRecord::from_location(&sample.location),
            signature: SignatureRecord::from_signature(&sample.meter.sign(message.hash())),
            readings_wh: message.readings_wh,
        });
        meter_keys.push((sample.site_id, sample.meter));
    }
    EpochInput {
        file: BatchFile {
            version: BATCH_FILE_VERSION,
            epoch: SAMPLE_EPOCH,
            interval_seconds: u64::from(interval_seconds),
            slots: sample_slots(shape).into_iter().map(u32::from).collect(),
            sites: records,
        },
        meter_keys,
        source: format!("sample_epoch({sites} synthetic sites, seed {seed})"),
        make_ms: None,
        policy: ValidationPolicy {
            min_sites_per_batch: crate::batch::DEFAULT_MIN_SITES_PER_BATCH.min(shape.sites),
        },
    }
}

/// [`bench`] on the batch statement, with a [`sample_batch_witness`] of `shape`; then, with
/// the same keys, the epoch check and the tamper pass on `epoch` (see the module doc). The
/// report is returned even when a check fails: see [`BenchReport::failures`].
pub fn bench_batch(
    shape: &BatchShape,
    options: &BenchOptions,
    epoch: Option<EpochInput>,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError> {
    let witness = sample_batch_witness(shape, options.seed).map_err(BenchError::Witness)?;
    let shape = *shape;
    let batch_concurrency = options.batch_concurrency;
    bench_with(
        &shape,
        BatchCircuit::blank(shape),
        move || -> Result<(BatchCircuit, Vec<Fr>), String> {
            let circuit = BatchCircuit::new(shape, &witness).map_err(|e| e.to_string())?;
            let inputs = circuit
                .public_inputs()
                .ok_or("the circuit has no witness")?
                .to_field_elements();
            Ok((circuit, inputs))
        },
        options,
        progress,
        move |keys, pvk, rng, single_prove_ms, progress| match epoch {
            None => Ok((None, None)),
            Some(input) => {
                let run = EpochRun {
                    single_prove_ms,
                    concurrency: batch_concurrency,
                };
                let (epoch, tamper) = check_epoch(keys, pvk, &input, run, rng, progress)?;
                Ok((Some(epoch), tamper))
            }
        },
    )
}

/// A site's witness from its private output record (what `prepare_epoch` placed).
fn site_witness(site: &PrivateSite) -> Result<SiteWitness, BenchError> {
    site.site_witness()
        .map_err(|e| BenchError::Witness(e.to_string()))
}

/// The epoch's registry tree, rebuilt from the private output's leaves.
fn registry_of(private: &PrivateOutput) -> Result<MerkleTree, BenchError> {
    private
        .registry_tree()
        .map_err(|e| BenchError::Witness(e.to_string()))
}

/// Batch `batch_index`'s witness, rebuilt from the private output and the registry tree (the
/// prepared circuits do not expose theirs).
fn batch_witness(
    private: &PrivateOutput,
    schedule: &Schedule,
    tree: &MerkleTree,
    batch_index: u64,
) -> Result<BatchWitness, BenchError> {
    private
        .batch_witness(schedule, tree, batch_index)
        .map_err(|e| BenchError::Witness(e.to_string()))
}

/// Validates, places, proves and verifies every batch of `input` with `keys`, then runs the
/// tamper pass on its first batch.
/// How the epoch check proves its batches.
struct EpochRun {
    /// The benchmark's single-proof time (ms), the sequential baseline of the throughput.
    single_prove_ms: f64,
    /// Batches at once (`None`: [`ConcurrencyPlan::for_keys`]).
    concurrency: Option<usize>,
}

fn check_epoch(
    keys: &Keys,
    pvk: &PreparedVerifyingKey<Bn254>,
    input: &EpochInput,
    run: EpochRun,
    rng: &mut ChaCha20Rng,
    progress: &mut dyn FnMut(&str),
) -> Result<(EpochReport, Option<TamperReport>), BenchError> {
    let shape = keys.shape;
    progress(&format!(
        "epoch check: validating {} sites ({})",
        input.file.sites.len(),
        input.source
    ));
    let (validated, validate_ms) = timed(|| validate(&input.file, &shape, &input.policy));
    let validated = validated?;
    progress("epoch check: placing the sites in the registry, building the witnesses");
    // Location salts from the seeded benchmark generator: reproducible, for benchmarks only.
    let (prepared, prepare_ms) = timed(|| prepare_epoch(&validated, rng));
    let prepared = prepared?;

    // The tamper pass needs the first batch's witness and a site of another batch.
    let tree = registry_of(&prepared.private)?;
    let first = batch_witness(&prepared.private, &validated.schedule, &tree, 0)?;
    let other_site = prepared
        .private
        .sites
        .iter()
        .find(|s| s.batch_index != 0)
        .map(|s| site_witness(s).map(|w| (s.batch_index, w)))
        .transpose()?;
    let first_public = prepared
        .batches
        .first()
        .map(|b| b.public_inputs)
        .ok_or_else(|| BenchError::Witness("the epoch has no batch".into()))?;
    if first
        .public_inputs(&shape)
        .map_err(|e| BenchError::Witness(format!("batch 0: {e}")))?
        != first_public
    {
        return Err(BenchError::Witness(
            "the rebuilt witness of batch 0 does not give the prepared public inputs".into(),
        ));
    }

    let total = prepared.batches.len();
    let plan = ConcurrencyPlan::for_keys(keys);
    let concurrency = run.concurrency.unwrap_or(plan.limit).max(1);
    progress(&format!(
        "epoch check: proving {total} batches, {concurrency} at once ({})",
        plan.describe()
    ));
    let real_sites: usize = prepared.batches.iter().map(|b| b.site_ids.len()).sum();
    let mut circuits = Vec::with_capacity(total);
    let mut batches = Vec::with_capacity(total);
    for batch in prepared.batches {
        circuits.push(batch.circuit.clone());
        batches.push(batch);
    }
    // Proving threads report each finished batch through a channel; this thread prints them
    // as they come (the progress callback is not shareable across threads).
    let finished = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<String>();
    let start = Instant::now();
    let outcomes = std::thread::scope(|scope| {
        let proving = scope.spawn(|| {
            let on_done = |i: usize, outcome: &BatchOutcome| {
                let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                // The receiver outlives the proving thread: a send cannot fail here.
                let _ = tx.send(format!(
                    "epoch check: batch {}/{total} proved in {} ({n} of {total} done)",
                    i + 1,
                    duration(outcome.elapsed.as_secs_f64() * 1e3)
                ));
            };
            let outcomes = prove_batches(keys, circuits, concurrency, rng, &on_done);
            drop(tx);
            outcomes
        });
        for line in rx {
            progress(&line);
        }
        proving
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    let wall_ms = ms(start.elapsed());
    let mut rows = Vec::with_capacity(total);
    let mut first_proof = None;
    let (mut energy, mut revenue) = (0u128, 0u128);
    for (i, (batch, outcome)) in batches.into_iter().zip(outcomes).enumerate() {
        let public = batch.public_inputs;
        energy += public.total_energy_wh;
        revenue += public.total_revenue_nusd;
        let prove_ms = outcome.elapsed.as_secs_f64() * 1e3;
        let (verify_ms, error) = match outcome.proof {
            Ok(proof) => {
                let (verdict, verify_ms) =
                    timed(|| verify(pvk, &public.to_field_elements(), &proof));
                // The public-input cases of the tamper pass need a proof that verifies.
                if i == 0 && verdict.is_ok() {
                    first_proof = Some(proof);
                }
                (Some(verify_ms), verdict.err().map(|e| e.to_string()))
            }
            Err(e) => (None, Some(format!("proving failed: {e}"))),
        };
        rows.push(EpochBatchReport {
            batch_index: batch.batch_index,
            sites: batch.site_ids.len(),
            total_energy_wh: public.total_energy_wh.to_string(),
            total_revenue_nusd: public.total_revenue_nusd.to_string(),
            prove_ms,
            verify_ms,
            verified: error.is_none(),
            error,
        });
    }
    let hours = wall_ms / 3.6e6;
    let throughput = (total > 0 && wall_ms > 0.0).then(|| EpochThroughput {
        concurrency,
        plan,
        wall_ms,
        batches_per_hour: total as f64 / hours,
        sites_per_second: real_sites as f64 / (wall_ms / 1e3),
        sequential_estimate_ms: total as f64 * run.single_prove_ms,
    });
    let epoch = EpochReport {
        source: input.source.clone(),
        epoch: validated.epoch,
        sites: validated.sites().len(),
        interval_seconds: validated.interval_seconds,
        min_sites_per_batch: input.policy.min_sites_per_batch,
        make_ms: input.make_ms,
        validate_ms,
        prepare_ms,
        all_verified: !rows.is_empty() && rows.iter().all(|r| r.verified),
        batches: rows,
        total_energy_wh: energy.to_string(),
        total_revenue_nusd: revenue.to_string(),
        throughput,
    };

    progress("tamper pass on batch 0");
    let tamper = Tamper {
        keys,
        pvk,
        shape,
        honest: &first,
        public: first_public,
        proof: first_proof.as_ref(),
        registry_root: prepared.registry_root,
        meter_keys: &input.meter_keys,
        other_site: other_site.as_ref(),
    }
    .run(rng, progress)?;
    Ok((epoch, Some(tamper)))
}

/// The tamper pass's inputs: the honest first batch of the epoch and its proof.
struct Tamper<'a> {
    keys: &'a Keys,
    pvk: &'a PreparedVerifyingKey<Bn254>,
    shape: BatchShape,
    /// The honest witness of the batch.
    honest: &'a BatchWitness,
    /// Its public inputs.
    public: PublicInputs,
    /// Its proof, if proving it succeeded.
    proof: Option<&'a Proof<Bn254>>,
    registry_root: Fr,
    meter_keys: &'a [(u64, PrivateKey)],
    /// A site of another batch (and that batch's index), if the epoch has one.
    other_site: Option<&'a (u64, SiteWitness)>,
}

/// The rows of the tamper pass as they are built.
#[derive(Default)]
struct Rows {
    rows: Vec<TamperRow>,
    skipped: Vec<String>,
}

impl Rows {
    fn push(&mut self, id: &str, case: String, expected: String, (observed, ok): (String, bool)) {
        self.rows.push(TamperRow {
            id: id.to_string(),
            case,
            expected,
            observed,
            ok,
        });
    }
}

/// How a refusal by the satisfiability check is written in the report.
fn unsatisfied(group: &str) -> String {
    format!("unsatisfied: '{group}'")
}

/// The expected outcome of a public-input case.
fn unsatisfied_and_rejected(group: &str) -> String {
    format!("{}; honest proof rejected", unsatisfied(group))
}

/// The index of the first reading with the largest value (the midday peak of a solar site).
fn peak_reading(site: &SiteWitness) -> usize {
    let max = site.readings_wh.iter().copied().max().unwrap_or(0);
    site.readings_wh.iter().position(|&r| r == max).unwrap_or(0)
}

/// Synthesizes `circuit` as the prover does (prove mode, matrices, no tracing) and returns the
/// R1CS matrices (A, B, C) and the full assignment `[1, public inputs.., witness..]`.
fn synthesize(circuit: BatchCircuit) -> Result<(Vec<Matrix<Fr>>, Vec<Fr>), SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    untraced(|| circuit.generate_constraints(cs.clone()))?;
    cs.finalize();
    let matrices = cs
        .to_matrices()?
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or(SynthesisError::PredicateNotFound)?;
    let z = {
        let inner = cs.borrow().ok_or(SynthesisError::MissingCS)?;
        [inner.instance_assignment()?, inner.witness_assignment()?].concat()
    };
    Ok((matrices, z))
}

/// The first R1CS constraint that `z` violates (what the prover's check computes).
fn first_violated(matrices: &[Matrix<Fr>], z: &[Fr]) -> Option<usize> {
    use rayon::prelude::*;
    let [a, b, c] = matrices else {
        return Some(0);
    };
    (0..a.len()).into_par_iter().find_first(|&i| {
        evaluate_constraint(&a[i], z) * evaluate_constraint(&b[i], z)
            != evaluate_constraint(&c[i], z)
    })
}

impl Tamper<'_> {
    /// The public inputs a cheating prover would claim for `w`: its own totals and readings
    /// root, with the batch's real registry root, batch index, epoch, interval and the
    /// published schedule's hash. So that only the tampered part can fail.
    fn claim(&self, w: &BatchWitness) -> Result<PublicInputs, BenchError> {
        let (mut energy, mut revenue) = (0u128, 0u128);
        for site in w.sites.iter().flatten() {
            let (e, r) = site.totals(&w.schedule);
            energy += e;
            revenue += r;
        }
        let readings_root = readings_tree(w, &self.shape)
            .map_err(|e| BenchError::Witness(format!("tampered readings tree: {e}")))?
            .root();
        Ok(PublicInputs {
            total_energy_wh: energy,
            total_revenue_nusd: revenue,
            readings_root,
            ..self.public
        })
    }

    /// Proves `w` claiming `public`: the prover must refuse, naming `group`.
    fn prove_refused(
        &self,
        w: &BatchWitness,
        public: PublicInputs,
        group: &str,
        rng: &mut ChaCha20Rng,
    ) -> (String, bool) {
        let circuit = match BatchCircuit::with_public_inputs(self.shape, w, public) {
            Ok(c) => c,
            Err(e) => return (format!("the tampered circuit was not built: {e}"), false),
        };
        match prove(self.keys, circuit, rng, &mut |_| {}) {
            Err(ProveError::Unsatisfied { group: found, .. }) => {
                let ok = found == group;
                (unsatisfied(&found), ok)
            }
            Err(e) => (format!("refused otherwise: {e}"), false),
            Ok(_) => ("ACCEPTED: a proof was made".to_string(), false),
        }
    }

    /// The honest proof must not verify with the tampered public inputs.
    fn verify_rejected(&self, public: &PublicInputs) -> (String, bool) {
        let Some(proof) = self.proof else {
            return ("no honest proof of this batch to check".to_string(), false);
        };
        match verify(self.pvk, &public.to_field_elements(), proof) {
            Err(VerifyError::Rejected) => ("honest proof rejected".to_string(), true),
            Err(e) => (format!("verify failed otherwise: {e}"), false),
            Ok(()) => ("ACCEPTED: the honest proof verifies".to_string(), false),
        }
    }

    /// A public-input case: proving the honest witness with `public` is refused naming
    /// `group`, and the honest proof does not verify with `public`.
    fn public_input_case(
        &self,
        public: PublicInputs,
        group: &str,
        rng: &mut ChaCha20Rng,
    ) -> (String, bool) {
        let (proved, proved_ok) = self.prove_refused(self.honest, public, group, rng);
        let (verified, verified_ok) = self.verify_rejected(&public);
        (format!("{proved}; {verified}"), proved_ok && verified_ok)
    }

    /// A reading of 2^32 cannot be put in a `BatchWitness` (readings are u32), so it is set in
    /// the synthesized assignment of the honest batch. The circuit's reading is the sum of its
    /// 24 range bits, so a cheating prover must give the top "bit" the value 2^(32 - 23) and
    /// the others 0. The check the prover runs must then fail in the reading's range group.
    fn out_of_range_reading(&self, position: usize, index: usize) -> (String, bool) {
        let group = format!("site {position}: reading {index} range");
        let reading = match &self.honest.sites[position] {
            Some(site) => site.readings_wh[index],
            None => return (format!("position {position} is empty"), false),
        };
        let circuit = match BatchCircuit::with_public_inputs(self.shape, self.honest, self.public) {
            Ok(c) => c,
            Err(e) => return (format!("the circuit was not built: {e}"), false),
        };
        let groups = circuit.constraint_groups();
        let (matrices, mut z) = match synthesize(circuit) {
            Ok(x) => x,
            Err(e) => return (format!("synthesis failed: {e}"), false),
        };
        if let Some(i) = first_violated(&matrices, &z) {
            return (
                format!(
                    "the honest batch itself fails constraint #{i} ({})",
                    groups.name_of(i).unwrap_or_default()
                ),
                false,
            );
        }
        // The group's constraints: b * (1 - b) = 0 for each of the reading's 24 bits (the
        // reading is their sum sum_j 2^j b_j). Its variables: the bits, low bit first.
        let [a, b, c] = &matrices[..] else {
            return ("the circuit is not R1CS".to_string(), false);
        };
        let n = a.len();
        let in_group = |i: usize| groups.name_of(i).as_deref() == Some(group.as_str());
        let Some(start) = (0..n).find(|&i| in_group(i)) else {
            return (format!("the circuit has no group '{group}'"), false);
        };
        let end = (start..n).find(|&i| !in_group(i)).unwrap_or(n);
        let mut vars: Vec<usize> = (start..end)
            .flat_map(|i| a[i].iter().chain(&b[i]).chain(&c[i]).map(|&(_, v)| v))
            .filter(|&v| v != 0)
            .collect();
        vars.sort_unstable();
        vars.dedup();
        let bits = gridproof_circuits::statement::READING_BOUND_BITS;
        let located = vars.len() == bits && {
            let mut power = Fr::from(1u64);
            let mut sum = Fr::from(0u64);
            let mut boolean = true;
            for &v in &vars {
                boolean &= z[v] == Fr::from(0u64) || z[v] == Fr::from(1u64);
                sum += z[v] * power;
                power.double_in_place();
            }
            boolean && sum == Fr::from(reading)
        };
        if !located {
            return (
                format!("could not find the variable of reading {index} and its bits in '{group}'"),
                false,
            );
        }
        for &v in &vars {
            z[v] = Fr::from(0u64);
        }
        z[vars[bits - 1]] = Fr::from(1u64 << (32 - (bits - 1)));
        match first_violated(&matrices, &z) {
            Some(i) => {
                let found = groups.name_of(i).unwrap_or_else(|| "(unnamed)".into());
                let ok = found == group;
                (unsatisfied(&found), ok)
            }
            None => (
                "ACCEPTED: the assignment satisfies every constraint".to_string(),
                false,
            ),
        }
    }

    /// Non-canonical encodings in a proofs file of the honest proof: the parser must refuse
    /// each, since `x + r` is the same field element as `x` (the proof would verify).
    fn non_canonical(&self, out: &mut Rows) {
        let Some(proof) = self.proof else {
            out.skipped.push(
                "non-canonical encodings: batch 0 has no honest proof to write in a proofs file"
                    .into(),
            );
            return;
        };
        let honest = ProofsFile::new(
            self.public.epoch,
            self.registry_root,
            vec![BatchProof {
                batch_index: self.public.batch_index,
                public_inputs: self.public.to_field_elements(),
                proof: proof.clone(),
            }],
        );
        let (text, parses) = match &honest {
            Ok(file) => {
                let text = file.to_json();
                let parses = matches!(ProofsFile::from_json(&text), Ok(back) if &back == file);
                (text, parses)
            }
            Err(e) => {
                let why = format!("the honest proofs file was not built: {e}");
                for id in [
                    "noncanonical_total_revenue",
                    "noncanonical_registry_root",
                    "noncanonical_proof_coordinate",
                ] {
                    out.push(id, id.into(), "parse refused".into(), (why.clone(), false));
                }
                return;
            }
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            out.skipped
                .push("non-canonical encodings: the proofs file is not JSON".into());
            return;
        };
        let r: BigUint = Fr::MODULUS.into();
        let q: BigUint = Fq::MODULUS.into();
        let cases: [(&str, &str, &str, &BigUint, &str); 3] = [
            (
                "noncanonical_total_revenue",
                "/batches/0/public_inputs/total_revenue_nusd",
                "batches[0].public_inputs.total_revenue_nusd",
                &r,
                "r",
            ),
            (
                "noncanonical_registry_root",
                "/batches/0/public_inputs/registry_root",
                "batches[0].public_inputs.registry_root",
                &r,
                "r",
            ),
            (
                "noncanonical_proof_coordinate",
                "/batches/0/proof/a/0",
                "batches[0].proof.a[0]",
                &q,
                "q",
            ),
        ];
        for (id, pointer, at, modulus, name) in cases {
            let case = format!(
                "a non-canonical encoding in a proofs file: {at} written as its value + {name}"
            );
            let expected = format!("parse refused at {at} (not below {name})");
            let mut tampered = doc.clone();
            let Some(slot) = tampered.pointer_mut(pointer) else {
                out.push(
                    id,
                    case,
                    expected,
                    (format!("{at} is not in the file"), false),
                );
                continue;
            };
            let value = slot
                .as_str()
                .and_then(|s| BigUint::parse_bytes(s.as_bytes(), 10))
                .unwrap_or_default();
            *slot = serde_json::Value::String((value + modulus).to_str_radix(10));
            let observed = match ProofsFile::from_json(&tampered.to_string()) {
                Err(ProofsFileError::Number { at: found, source }) => {
                    let not_in_field = matches!(source, EncodingError::NotInField(_));
                    let why = if not_in_field {
                        "not below r".to_string()
                    } else {
                        source.to_string().chars().take(80).collect()
                    };
                    (
                        format!("parse refused at {found} ({why})"),
                        parses && found == at && name == "r" && not_in_field,
                    )
                }
                Err(ProofsFileError::NotInBaseField { at: found, .. }) => (
                    format!("parse refused at {found} (not below q)"),
                    parses && found == at && name == "q",
                ),
                Err(e) => (format!("refused otherwise: {e}"), false),
                Ok(_) => ("ACCEPTED: the file parsed".to_string(), false),
            };
            let observed = if parses {
                observed
            } else {
                (
                    format!("{} (but the honest file does not parse back)", observed.0),
                    false,
                )
            };
            out.push(id, case, expected, observed);
        }
    }

    /// Every case, in order.
    fn run(
        &self,
        rng: &mut ChaCha20Rng,
        progress: &mut dyn FnMut(&str),
    ) -> Result<TamperReport, BenchError> {
        let w0 = self.honest;
        let real: Vec<usize> = (0..w0.sites.len())
            .filter(|&i| w0.sites[i].is_some())
            .collect();
        let (Some(&a), b) = (real.first(), real.get(1).copied()) else {
            return Err(BenchError::Witness("batch 0 has no real site".into()));
        };
        let b = b.unwrap_or(a);
        let site = |i: usize| w0.sites[i].as_ref().expect("a position listed in `real`");
        let k = peak_reading(site(a));
        let mut out = Rows::default();
        let mut step = |what: &str| progress(&format!("tamper pass: {what}"));

        step("a reading one above the capacity bound");
        {
            let mut w = w0.clone();
            let s = w.sites[a].as_mut().expect("a real position");
            let bound = reading_bound_wh(s.entry.capacity_w, w.interval_seconds);
            match u32::try_from(bound + 1) {
                Err(_) => out
                    .skipped
                    .push("reading_over_bound: the capacity bound is 2^32 - 1".into()),
                Ok(over) => {
                    s.readings_wh[k] = over;
                    let key = self
                        .meter_keys
                        .iter()
                        .find(|(id, _)| *id == s.entry.site_id)
                        .map(|(_, key)| key);
                    if let Some(key) = key {
                        s.signature = key.sign(s.message(w.epoch, w.interval_seconds).hash());
                    }
                    let how = if key.is_some() {
                        "re-signed by its meter"
                    } else {
                        "not re-signed: no meter key"
                    };
                    let group = format!("site {a}: reading {k} capacity bound");
                    let public = self.claim(&w)?;
                    out.push(
                        "reading_over_bound",
                        format!(
                            "a reading one above the capacity bound (site {a}, reading {k} = \
                             {over} Wh, bound {bound} Wh; {how})"
                        ),
                        unsatisfied(&group),
                        self.prove_refused(&w, public, &group, rng),
                    );
                }
            }
        }

        step("a reading of 2^32");
        out.push(
            "reading_2_pow_32",
            format!(
                "a reading of 2^32 Wh (site {a}, reading {k}; set in the synthesized assignment \
                 as the sum of its range bits, the top one 2^9, since the circuit API holds u32 \
                 readings)"
            ),
            unsatisfied(&format!("site {a}: reading {k} range")),
            self.out_of_range_reading(a, k),
        );

        step("a wrong price");
        {
            let mut w = w0.clone();
            let slot = w.schedule.slots()[peak_reading(site(b))] as usize;
            let s = w.sites[b].as_mut().expect("a real position");
            let old = s.entry.prices_uusd_per_kwh[slot];
            let new = old.checked_add(1).unwrap_or(old - 1);
            s.entry.prices_uusd_per_kwh[slot] = new;
            let public = self.claim(&w)?;
            out.push(
                "wrong_price",
                format!(
                    "a wrong price (site {b}, slot {slot}: {new} instead of {old} uUSD/kWh; its \
                     leaf is no longer in the registry)"
                ),
                unsatisfied("registry membership"),
                self.prove_refused(&w, public, "registry membership", rng),
            );
        }

        step("a wrong slot");
        {
            let slots = w0.schedule.slots();
            let from = slots[k] as usize;
            let prices = &site(a).entry.prices_uusd_per_kwh;
            let to = (0..self.shape.price_slots)
                .filter(|&j| j != from)
                .max_by_key(|&j| prices[j])
                .expect("a schedule has at least 4 price slots");
            let mut moved = slots.to_vec();
            moved[k] = to as u8;
            let mut w = w0.clone();
            w.schedule = Schedule::new(moved, self.shape.price_slots)
                .map_err(|e| BenchError::Witness(format!("tampered schedule: {e}")))?;
            let public = self.claim(&w)?;
            out.push(
                "wrong_slot",
                format!(
                    "a wrong slot (interval {k} priced in slot {to} instead of {from}; the \
                     published schedule hash is claimed)"
                ),
                unsatisfied("schedule"),
                self.prove_refused(&w, public, "schedule", rng),
            );
        }

        step("a forged signature");
        {
            let mut w = w0.clone();
            w.sites[b].as_mut().expect("a real position").signature.s += Fr::from(1u64);
            let group = format!("site {b}: signature");
            out.push(
                "forged_signature",
                format!("a forged signature (site {b}: S + 1)"),
                unsatisfied(&group),
                self.prove_refused(&w, self.public, &group, rng),
            );
        }

        step("a swapped signature");
        {
            let donor = if a != b {
                Some((format!("site {a}'s"), site(a).signature))
            } else {
                self.other_site.map(|(batch, s)| {
                    (
                        format!("site {} of batch {batch}'s", s.entry.site_id),
                        s.signature,
                    )
                })
            };
            match donor {
                None => out
                    .skipped
                    .push("swapped_signature: the epoch has a single site".into()),
                Some((whose, signature)) => {
                    let mut w = w0.clone();
                    w.sites[b].as_mut().expect("a real position").signature = signature;
                    let group = format!("site {b}: signature");
                    out.push(
                        "swapped_signature",
                        format!("a swapped signature (site {b} carries {whose} valid signature)"),
                        unsatisfied(&group),
                        self.prove_refused(&w, self.public, &group, rng),
                    );
                }
            }
        }

        step("a leaf outside the batch");
        {
            let mut public = self.public;
            public.batch_index += 1;
            out.push(
                "batch_index_plus_one",
                format!(
                    "a leaf outside the batch: batch {}'s leaves claimed as batch {}",
                    self.public.batch_index, public.batch_index
                ),
                unsatisfied_and_rejected("registry membership"),
                self.public_input_case(public, "registry membership", rng),
            );
        }
        match self.other_site {
            None => out
                .skipped
                .push("leaf_of_another_batch: the epoch has a single batch".into()),
            Some((batch, other)) => {
                let position = self.shape.sites - 1;
                let place = if w0.sites[position].is_some() {
                    format!("in place of position {position}'s site")
                } else {
                    format!("in the empty position {position}")
                };
                let mut w = w0.clone();
                w.sites[position] = Some(other.clone());
                let public = self.claim(&w)?;
                out.push(
                    "leaf_of_another_batch",
                    format!(
                        "a leaf outside the batch (site {} of batch {batch}, {place})",
                        other.entry.site_id
                    ),
                    unsatisfied("registry membership"),
                    self.prove_refused(&w, public, "registry membership", rng),
                );
            }
        }

        step("wrong and overflowing totals");
        {
            let mut public = self.public;
            public.total_revenue_nusd += 1;
            out.push(
                "total_revenue_plus_one",
                "a wrong total: total_revenue_nusd + 1".into(),
                unsatisfied_and_rejected("totals"),
                self.public_input_case(public, "totals", rng),
            );
        }
        if self.public.total_revenue_nusd == 0 {
            out.skipped
                .push("total_revenue_wrapped: batch 0 earned nothing".into());
        } else {
            let mut public = self.public;
            public.total_revenue_nusd -= 1;
            out.push(
                "total_revenue_wrapped",
                "an overflowing total: total_revenue_nusd + r - 1 (as a field element: the \
                 total - 1 a wrapped sum would give)"
                    .into(),
                unsatisfied_and_rejected("totals"),
                self.public_input_case(public, "totals", rng),
            );
        }
        {
            let mut public = self.public;
            public.total_energy_wh += 1;
            out.push(
                "total_energy_plus_one",
                "a wrong total: total_energy_wh + 1".into(),
                unsatisfied_and_rejected("totals"),
                self.public_input_case(public, "totals", rng),
            );
        }

        step("non-canonical encodings in a proofs file");
        self.non_canonical(&mut out);

        Ok(TamperReport {
            batch_index: self.public.batch_index,
            all_ok: !out.rows.is_empty() && out.rows.iter().all(|r| r.ok),
            rows: out.rows,
            skipped: out.skipped,
        })
    }
}

/// Threads available to arkworks' parallel code (rayon's global pool defaults to this).
fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Times the MSMs and FFTs one Groth16 proof with this key and assignment performs.
fn measure_floor(
    pk: &PreparedProvingKey,
    assignment: &Assignment,
    rng: &mut ChaCha20Rng,
) -> Result<FloorReport, BenchError> {
    // The MSMs as the prover runs them, on the real assignment; h (the witness map's output)
    // is full-size random-looking scalars, so random ones time the same.
    let h: Vec<Fr> = (0..pk.h_query_len()).map(|_| Fr::rand(rng)).collect();
    let t =
        time_msms(pk, h, &assignment.full, assignment.num_instance).map_err(ProveError::from)?;

    // n - 1 H points (libsnark reduction) or n (snarkjs' reduction, imported keys).
    let domain_size = pk.h_query_len().next_power_of_two();
    let fft_ms = match GeneralEvaluationDomain::<Fr>::new(domain_size) {
        Some(domain) => {
            let coset = domain
                .get_coset(Fr::GENERATOR)
                .expect("the multiplicative generator is outside the subgroup");
            let mut v: Vec<Fr> = (0..domain.size()).map(|_| Fr::rand(rng)).collect();
            let (_, t) = timed(|| {
                for _ in 0..3 {
                    domain.ifft_in_place(&mut v);
                    coset.fft_in_place(&mut v);
                }
                coset.ifft_in_place(&mut v);
                black_box(&v);
            });
            t
        }
        None => 0.0,
    };
    Ok(FloorReport {
        scalars_ms: t.scalars.wall_ms,
        msm_a_ms: t.msm_a.wall_ms,
        msm_b_g1_ms: t.msm_b_g1.wall_ms,
        msm_b_g2_ms: t.msm_b_g2.wall_ms,
        msm_l_ms: t.msm_l.wall_ms,
        msm_h_ms: t.msm_h.wall_ms,
        fft_ms,
        total_ms: t.total.wall_ms + fft_ms,
    })
}

fn duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

fn bytes(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b as f64 >= MIB {
        format!("{:.1} MiB", b as f64 / MIB)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Wh as kWh with 3 decimals, from a decimal string.
fn kwh(wh: &str) -> String {
    match wh.parse::<u128>() {
        Ok(v) => format!("{}.{:03}", v / 1000, v % 1000),
        Err(_) => wh.to_string(),
    }
}

/// nano-USD as USD with 2 decimals (rounded down), from a decimal string.
fn usd(nusd: &str) -> String {
    match nusd.parse::<u128>() {
        Ok(v) => format!(
            "{}.{:02}",
            v / 1_000_000_000,
            (v % 1_000_000_000) / 10_000_000
        ),
        Err(_) => nusd.to_string(),
    }
}

/// Writes `rows` as a table with a header, each column as wide as its widest cell.
fn table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::from("   ");
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(&format!(" {cell}"));
            } else {
                out.push_str(&format!(" {cell:<w$} "));
            }
        }
        writeln!(f, "{}", out.trim_end())
    };
    line(f, &mut header.iter().copied())?;
    for row in rows {
        line(f, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

impl fmt::Display for BenchReport {
    /// A human-readable table, one measurement per line, then the epoch check and the tamper
    /// pass.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<28} {v}");
        writeln!(
            f,
            "gridproof bench: {} ({} threads, {} MSM backend)",
            self.shape, self.threads, self.backend
        )?;
        row(
            f,
            "constraints",
            format!(
                "{} total, {:.1} per reading, {:.1} per site",
                thousands(self.constraints),
                self.constraints_per_reading,
                self.constraints_per_site
            ),
        )?;
        row(
            f,
            "variables / public inputs",
            format!(
                "{} / {} (FFT domain 2^{})",
                thousands(self.variables),
                self.public_inputs,
                self.fft_domain_size.trailing_zeros()
            ),
        )?;
        if let Some(setup) = self.setup_ms {
            row(f, "setup (development)", duration(setup))?;
        }
        row(
            f,
            "proving key",
            format!(
                "{}, loaded in {}",
                bytes(self.proving_key_bytes),
                duration(self.proving_key_load_ms)
            ),
        )?;
        row(
            f,
            "verifying key",
            format!(
                "{}, loaded in {}",
                bytes(self.verifying_key_bytes),
                duration(self.verifying_key_load_ms)
            ),
        )?;
        row(
            f,
            "constraint matrices",
            format!(
                "{}, built in {} (once, with the keys)",
                bytes(self.matrices_bytes),
                duration(self.matrices_ms)
            ),
        )?;
        row(f, "witness", duration(self.witness_ms))?;
        row(f, "synthesis", duration(self.synthesis_ms))?;
        row(f, "row values + check", duration(self.check_ms))?;
        row(f, "proof (FFTs + MSMs)", duration(self.proof_ms))?;
        row(f, "prove total", duration(self.prove_total_ms))?;
        row(f, "verify", duration(self.verify_ms))?;
        let note = if self.peak_rss_prove_includes_setup {
            " (includes setup)"
        } else {
            ""
        };
        if let Some(peak) = self.peak_rss_prove_bytes {
            row(
                f,
                "peak memory (load + prove)",
                format!("{}{note}", bytes(peak)),
            )?;
        }
        if let Some(peak) = self.peak_rss_run_bytes {
            row(
                f,
                "peak memory (whole run)",
                format!("{}{note}, setup excluded", bytes(peak)),
            )?;
        }
        if let Some(peak) = self.peak_rss_setup_bytes {
            row(f, "peak memory (setup)", bytes(peak))?;
        }
        row(
            f,
            "proof working memory",
            format!(
                "{} measured, {} estimated (batch concurrency limit)",
                self.proof_working_bytes
                    .map_or_else(|| "-".to_string(), bytes),
                bytes(self.proof_working_estimate_bytes)
            ),
        )?;
        let fl = &self.floor;
        row(
            f,
            "floor: MSMs",
            format!(
                "scalars {}, A {}, B(G1) {}, B(G2) {}, L {}, H {}",
                duration(fl.scalars_ms),
                duration(fl.msm_a_ms),
                duration(fl.msm_b_g1_ms),
                duration(fl.msm_b_g2_ms),
                duration(fl.msm_l_ms),
                duration(fl.msm_h_ms)
            ),
        )?;
        row(f, "floor: 7 FFTs", duration(fl.fft_ms))?;
        row(f, "floor: total", duration(fl.total_ms))?;
        row(
            f,
            "prove total / floor",
            format!("{:.2}x", self.prove_over_floor),
        )?;

        if let Some(e) = &self.epoch {
            writeln!(f)?;
            let sizes: Vec<String> = e.batches.iter().map(|b| b.sites.to_string()).collect();
            writeln!(
                f,
                "epoch check: epoch {}, {} sites in {} batches of {} real sites (k-anonymity \
                 minimum {}), {} s intervals",
                e.epoch,
                e.sites,
                e.batches.len(),
                sizes.join(", "),
                e.min_sites_per_batch,
                e.interval_seconds
            )?;
            row(f, "source", e.source.clone())?;
            row(
                f,
                "make / validate / prepare",
                format!(
                    "{} / {} / {}",
                    e.make_ms.map_or_else(|| "-".to_string(), duration),
                    duration(e.validate_ms),
                    duration(e.prepare_ms)
                ),
            )?;
            let rows: Vec<Vec<String>> = e
                .batches
                .iter()
                .map(|b| {
                    vec![
                        b.batch_index.to_string(),
                        b.sites.to_string(),
                        kwh(&b.total_energy_wh),
                        usd(&b.total_revenue_nusd),
                        duration(b.prove_ms),
                        b.verify_ms.map_or_else(|| "-".to_string(), duration),
                        match (&b.error, b.verified) {
                            (_, true) => "verified".to_string(),
                            (Some(err), false) => format!("FAILED: {err}"),
                            (None, false) => "FAILED".to_string(),
                        },
                    ]
                })
                .collect();
            table(
                f,
                &[
                    "batch",
                    "sites",
                    "energy kWh",
                    "revenue USD",
                    "prove",
                    "verify",
                    "result",
                ],
                &rows,
            )?;
            let verified = e.batches.iter().filter(|b| b.verified).count();
            writeln!(
                f,
                "  {}: {verified} of {} batches verified; epoch total {} kWh, {} USD",
                if e.all_verified { "ok" } else { "FAILED" },
                e.batches.len(),
                kwh(&e.total_energy_wh),
                usd(&e.total_revenue_nusd)
            )?;
            if let Some(t) = &e.throughput {
                row(
                    f,
                    "epoch throughput",
                    format!(
                        "{} batches in {} with {} at once: {:.0} batches/h, {:.1} sites/s                          ({:.2}x one at a time at the single-proof time, {})",
                        e.batches.len(),
                        duration(t.wall_ms),
                        t.concurrency,
                        t.batches_per_hour,
                        t.sites_per_second,
                        t.sequential_estimate_ms / t.wall_ms,
                        duration(t.sequential_estimate_ms)
                    ),
                )?;
                row(f, "batch concurrency", t.plan.describe())?;
            }
        }

        if let Some(t) = &self.tamper {
            writeln!(f)?;
            writeln!(
                f,
                "tamper pass on batch {}: each tampered input must be refused",
                t.batch_index
            )?;
            let rows: Vec<Vec<String>> = t
                .rows
                .iter()
                .map(|r| {
                    vec![
                        if r.ok { "ok" } else { "FAIL" }.to_string(),
                        r.id.clone(),
                        r.expected.clone(),
                        r.observed.clone(),
                    ]
                })
                .collect();
            table(f, &["ok", "case", "expected", "observed"], &rows)?;
            for r in &t.rows {
                writeln!(f, "    {}: {}", r.id, r.case)?;
            }
            for s in &t.skipped {
                writeln!(f, "    skipped: {s}")?;
            }
            let refused = t.rows.iter().filter(|r| r.ok).count();
            writeln!(
                f,
                "  {}: {refused} of {} tampered inputs refused as expected",
                if t.all_ok { "ok" } else { "FAILED" },
                t.rows.len()
            )?;
        }
        Ok(())
    }
}
