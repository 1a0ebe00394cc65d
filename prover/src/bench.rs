//! The benchmark behind `gridproof bench` (and the criterion benches): constraints, setup,
//! key sizes and load times, witness + synthesis, satisfiability check, proof, verification,
//! peak memory, and, in the same run, the floor: this machine's arkworks MSMs and FFTs of
//! exactly the sizes one Groth16 proof of this circuit needs.
//!
//! Peak memory is the process's VmHWM from `/proc/self/status`. It is reset (`/proc/self/
//! clear_refs`) after the setup, so `peak_rss_prove_bytes` covers loading the keys and proving;
//! memory the allocator kept from the setup still counts, so for an exact figure at large S run
//! the benchmark on keys made beforehand ([`BenchOptions::keys_dir`]).

use std::fmt;
use std::fs;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ark_bn254::{Bn254, G1Projective, G2Projective};
use ark_ec::VariableBaseMSM;
use ark_ff::{FftField, PrimeField, UniformRand};
use ark_groth16::ProvingKey;
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::ConstraintSynthesizer;
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::merkle::MerkleTree;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::{reading_bound_wh, Location, RegistryEntry};
use gridproof_circuits::schedule::Schedule;
use gridproof_circuits::statement::{BatchCircuit, BatchWitness, SiteWitness};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::keys::{load_verifying_key, setup_development_with, Keys, KeysError};
use crate::prove::{
    prove_keeping_assignment, Assignment, ConstraintGroupNames, ProveError, ProvePhase,
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
    /// Seed of the setup's and the prover's randomness. Benchmark keys are development keys:
    /// never use them for anything real.
    pub seed: u64,
}

/// The MSM + FFT floor of one proof, measured with arkworks on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorReport {
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
    /// Building the circuit's witness (native twin: public inputs, hashes).
    pub witness_ms: f64,
    /// Constraint synthesis in prove mode (witness assignment and matrices).
    pub synthesis_ms: f64,
    /// The check that the witness satisfies every constraint.
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
    /// True if the peak could not be reset after the setup, so the prove peak includes it.
    pub peak_rss_prove_includes_setup: bool,
    /// The MSM + FFT floor measured in this run.
    pub floor: FloorReport,
    /// prove_total_ms / floor.total_ms: how far proving is from the arithmetic it must do.
    pub prove_over_floor: f64,
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
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak resident set size to the current one (Linux: `5 > /proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

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
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone,
    W: FnOnce() -> Result<(C, Vec<Fr>), E>,
    E: fmt::Display,
{
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    let mut setup_ms = None;
    let mut peak_rss_setup_bytes = None;
    let _owned;
    let keys_dir: PathBuf = match &options.keys_dir {
        Some(dir) => dir.clone(),
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
    let (keys, proving_key_load_ms) = timed(|| Keys::load(&keys_dir));
    let keys = keys?;
    if keys.shape != *shape {
        return Err(BenchError::WrongKeys {
            keys: ShapeRecord::of(&keys.shape),
            bench: ShapeRecord::of(shape),
        });
    }
    let (vk, verifying_key_load_ms) = timed(|| load_verifying_key(&keys_dir));
    let (_, vk) = vk?;
    let manifest = crate::keys::read_manifest(&keys_dir)?;

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
    let floor = measure_floor(&keys.proving_key, &assignment, &mut rng);

    let constraints = keys.num_constraints as u64;
    let prove_total_ms = witness_ms + synthesis_ms + check_ms + proof_ms;
    Ok(BenchReport {
        shape: ShapeRecord::of(shape),
        threads: available_threads(),
        constraints,
        constraints_per_reading: constraints as f64
            / (shape.sites as f64 * shape.readings_per_site as f64),
        constraints_per_site: constraints as f64 / shape.sites as f64,
        variables: keys.proving_key.a_query.len() as u64,
        public_inputs: keys.num_public_inputs() as u64,
        fft_domain_size: keys.proving_key.h_query.len() as u64 + 1,
        setup_ms,
        proving_key_bytes: manifest.proving_key.bytes,
        verifying_key_bytes: manifest.verifying_key.bytes,
        proving_key_load_ms,
        verifying_key_load_ms,
        witness_ms,
        synthesis_ms,
        check_ms,
        proof_ms,
        prove_total_ms,
        verify_ms: verify_total / f64::from(VERIFY_RUNS),
        peak_rss_setup_bytes,
        peak_rss_prove_bytes,
        peak_rss_prove_includes_setup,
        prove_over_floor: prove_total_ms / floor.total_ms,
        floor,
    })
}

/// Threads available to arkworks' parallel code (rayon's global pool defaults to this).
fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Times the MSMs and FFTs one Groth16 proof with this key and assignment performs.
fn measure_floor(
    pk: &ProvingKey<Bn254>,
    assignment: &Assignment,
    rng: &mut ChaCha20Rng,
) -> FloorReport {
    type BigInt = <Fr as PrimeField>::BigInt;
    // As the prover: scalars of the A and B MSMs are all variables but the constant 1.
    let scalars: Vec<BigInt> = assignment.full[1..]
        .iter()
        .map(|s| s.into_bigint())
        .collect();
    let witness = &scalars[assignment.num_instance - 1..];
    let (_, msm_a_ms) = timed(|| black_box(G1Projective::msm_bigint(&pk.a_query[1..], &scalars)));
    let (_, msm_b_g1_ms) =
        timed(|| black_box(G1Projective::msm_bigint(&pk.b_g1_query[1..], &scalars)));
    let (_, msm_b_g2_ms) =
        timed(|| black_box(G2Projective::msm_bigint(&pk.b_g2_query[1..], &scalars)));
    let (_, msm_l_ms) = timed(|| black_box(G1Projective::msm_bigint(&pk.l_query, witness)));
    drop(scalars);
    let h: Vec<BigInt> = (0..pk.h_query.len())
        .map(|_| Fr::rand(rng).into_bigint())
        .collect();
    let (_, msm_h_ms) = timed(|| black_box(G1Projective::msm_bigint(&pk.h_query, &h)));
    drop(h);

    let domain_size = pk.h_query.len() + 1;
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
    let total_ms = msm_a_ms + msm_b_g1_ms + msm_b_g2_ms + msm_l_ms + msm_h_ms + fft_ms;
    FloorReport {
        msm_a_ms,
        msm_b_g1_ms,
        msm_b_g2_ms,
        msm_l_ms,
        msm_h_ms,
        fft_ms,
        total_ms,
    }
}

/// A synthetic batch of `shape` for benchmarks: S real sites (every position filled), readings
/// on a daily curve under each site's capacity bound, P prices, a time-of-use schedule, every
/// site signed by a meter key derived from `seed`. Batch 0 of a registry of exactly these sites.
pub fn sample_batch_witness(shape: &BatchShape, seed: u64) -> Result<BatchWitness, String> {
    const EPOCH: u64 = 20300;
    let t = shape.readings_per_site;
    let p = shape.price_slots;
    let interval_seconds: u32 = if t > 0 && 86_400 % t == 0 {
        (86_400 / t) as u32
    } else {
        3600
    };
    // Time-of-use slot by time of day: P equal parts of the day.
    let slots: Vec<u8> = (0..t).map(|i| ((i * p) / t.max(1)) as u8).collect();
    let schedule = Schedule::new(slots, p).map_err(|e| e.to_string())?;
    let mut sites = Vec::with_capacity(shape.sites);
    let mut leaves = Vec::with_capacity(shape.sites);
    for s in 0..shape.sites as u64 {
        let mut key_bytes = [0u8; 32];
        key_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        key_bytes[8..16].copy_from_slice(&s.to_le_bytes());
        key_bytes[31] = 0x6b;
        let meter = PrivateKey::from_bytes(key_bytes);
        let capacity_w = 5_000 + 1_000 * (s as u32 % 200);
        let location = Location {
            latitude_microdeg: 41_878_113 + s as i64,
            longitude_microdeg: -87_629_799,
            region: "US-IL".into(),
        };
        let entry = RegistryEntry {
            site_id: 100 + s,
            meter_key: meter.public_key(),
            capacity_w,
            prices_uusd_per_kwh: (0..p as u32)
                .map(|k| 60_000 + 15_000 * k + s as u32)
                .collect(),
            location_commitment: location
                .commitment(Fr::from(1_000 + s))
                .map_err(|e| e.to_string())?,
        };
        let bound = reading_bound_wh(capacity_w, interval_seconds);
        // A day's curve: zero at night, rising to 7/8 of the bound at noon.
        let readings_wh: Vec<u32> = (0..t)
            .map(|i| {
                let hour_eighths = (8 * i / t.max(1)) as u64; // 0..7 over the day
                let sun = 4u64.saturating_sub(hour_eighths.abs_diff(4)); // 0..4
                (bound * (2 * sun).min(7) / 8) as u32
            })
            .collect();
        let message = MeterMessage {
            site_id: entry.site_id,
            epoch: EPOCH,
            interval_seconds,
            readings_wh: readings_wh.clone(),
        };
        leaves.push(entry.leaf().map_err(|e| e.to_string())?);
        sites.push(Some(SiteWitness {
            entry,
            readings_wh,
            signature: meter.sign(message.hash()),
        }));
    }
    let tree = MerkleTree::new(shape.registry_depth, &leaves).map_err(|e| e.to_string())?;
    let registry_path = tree
        .subtree_path(shape.subtree_height(), 0)
        .map_err(|e| e.to_string())?
        .siblings;
    Ok(BatchWitness {
        epoch: EPOCH,
        interval_seconds,
        schedule,
        batch_index: 0,
        registry_root: tree.root(),
        sites,
        registry_path,
    })
}

/// [`bench`] on the batch statement, with a [`sample_batch_witness`] of `shape`.
pub fn bench_batch(
    shape: &BatchShape,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError> {
    let witness = sample_batch_witness(shape, options.seed).map_err(BenchError::Witness)?;
    let shape = *shape;
    bench(
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
    )
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
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for BenchReport {
    /// A human-readable table, one measurement per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: String| writeln!(f, "  {k:<28} {v}");
        writeln!(
            f,
            "gridproof bench: {} ({} threads)",
            self.shape, self.threads
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
        row(f, "witness", duration(self.witness_ms))?;
        row(f, "synthesis", duration(self.synthesis_ms))?;
        row(f, "satisfiability check", duration(self.check_ms))?;
        row(f, "proof (FFTs + MSMs)", duration(self.proof_ms))?;
        row(f, "prove total", duration(self.prove_total_ms))?;
        row(f, "verify", duration(self.verify_ms))?;
        if let Some(peak) = self.peak_rss_prove_bytes {
            let note = if self.peak_rss_prove_includes_setup {
                " (includes setup)"
            } else {
                ""
            };
            row(
                f,
                "peak memory (load + prove)",
                format!("{}{note}", bytes(peak)),
            )?;
        }
        if let Some(peak) = self.peak_rss_setup_bytes {
            row(f, "peak memory (setup)", bytes(peak))?;
        }
        let fl = &self.floor;
        row(
            f,
            "floor: MSMs",
            format!(
                "A {}, B(G1) {}, B(G2) {}, L {}, H {}",
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
        )
    }
}
