//! `gridproof bench --peer snarkjs|rapidsnark --zkey FINAL.zkey`: the same batch proved from the
//! same zkey and the same witness by gridproof (in process) and by each peer (a separate
//! process reading the zkey and gridproof's exported `.wtns`), with wall time and peak memory of
//! each, in one run. Every peer's proof must verify with gridproof's verifier on gridproof's
//! public inputs, so the comparison is of provers of one statement, not of two statements.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gridproof_circuits::statement::{BatchCircuit, BatchShape};
use gridproof_prover::bench::{peak_rss_bytes, sample_batch_witness};
use gridproof_prover::iden3::{parse_snarkjs_proof, parse_snarkjs_public, write_wtns};
use gridproof_prover::keys::Provenance;
use gridproof_prover::peer::{run_peer, Peer, PeerKind};
use gridproof_prover::prove::prove_keeping_assignment;
use gridproof_prover::{prepare, verify, Keys, MsmBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use super::files::pretty_json;
use super::CliError;

/// What `bench --peer` runs.
#[derive(Debug, Clone)]
pub struct PeerBenchOptions {
    /// The shape the zkey was made for.
    pub shape: BatchShape,
    /// The ceremony's (or a benchmark's) final zkey, read by every prover.
    pub zkey: PathBuf,
    /// The peers, in the order given.
    pub peers: Vec<Peer>,
    /// Development keys of the same shape: gridproof also proves with them, to compare its
    /// prove time with imported keys against its own setup.
    pub dev_keys: Option<PathBuf>,
    /// Seed of the sample batch.
    pub seed: u64,
    /// Proofs per prover (the median time is reported).
    pub runs: usize,
    /// Where the witness and the peers' proofs go.
    pub work_dir: PathBuf,
    /// gridproof's MSM backend (`--msm`).
    pub backend: MsmBackend,
}

/// One prover's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct ProverRow {
    /// "gridproof", "gridproof (development keys)", "snarkjs", "rapidsnark".
    pub prover: String,
    /// What the time covers.
    pub covers: &'static str,
    /// Median wall time of the runs, milliseconds.
    pub median_ms: f64,
    /// Every run, milliseconds.
    pub runs_ms: Vec<f64>,
    /// Peak resident memory while proving, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// This prover's median time over gridproof's (imported keys).
    pub time_vs_gridproof: f64,
}

/// The report of `bench --peer`.
#[derive(Debug, Clone, Serialize)]
pub struct PeerBenchReport {
    /// S, T, P.
    pub shape: (usize, usize, usize),
    /// Constraints of the circuit.
    pub num_constraints: usize,
    /// The zkey.
    pub zkey: String,
    /// Its size in bytes.
    pub zkey_bytes: u64,
    /// Time to import the zkey into gridproof keys (read, parse, compare with the circuit).
    pub import_ms: f64,
    /// gridproof's MSM backend.
    pub msm_backend: MsmBackend,
    /// The provers, gridproof first.
    pub rows: Vec<ProverRow>,
}

impl std::fmt::Display for PeerBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, t, p) = self.shape;
        writeln!(
            f,
            "side-by-side: S = {s}, T = {t}, P = {p}: {} constraints; zkey {} ({:.1} MiB), \
             imported in {:.2} s; gridproof's MSM backend: {}",
            self.num_constraints,
            self.zkey,
            self.zkey_bytes as f64 / (1 << 20) as f64,
            self.import_ms / 1e3,
            self.msm_backend
        )?;
        writeln!(
            f,
            "  {:<30} {:>10} {:>12} {:>11}  what the time covers",
            "prover", "time", "peak RSS", "vs gridproof"
        )?;
        for row in &self.rows {
            let rss = row
                .peak_rss_bytes
                .map(|b| format!("{:.0} MiB", b as f64 / (1 << 20) as f64))
                .unwrap_or_else(|| "?".into());
            writeln!(
                f,
                "  {:<30} {:>8.2} s {:>12} {:>10.2}x  {}",
                row.prover,
                row.median_ms / 1e3,
                rss,
                row.time_vs_gridproof,
                row.covers
            )?;
        }
        Ok(())
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Resets this process's peak RSS to its current RSS (Linux), so the next peak is the prover's.
fn reset_peak_rss() {
    // Best effort: without it the peak includes the import, which the report then overstates.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The times of a prover's runs (ms), its peak RSS and the last full assignment.
type ProofRuns = (Vec<f64>, Option<u64>, Vec<gridproof_prover::Fr>);

/// Proves with `keys` `runs` times; returns the times, the peak RSS and the last assignment.
fn prove_runs(
    keys: &Keys,
    shape: &BatchShape,
    seed: u64,
    runs: usize,
    progress: &mut dyn FnMut(&str),
    label: &str,
) -> Result<ProofRuns, CliError> {
    let witness = sample_batch_witness(shape, seed)
        .map_err(|e| CliError::Input(format!("sample batch: {e}")))?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut times = Vec::with_capacity(runs);
    let mut full = Vec::new();
    // Part of loading the keys, as in the worker: the first proof must not pay for it.
    progress(&format!("{label}: building the constraint matrices"));
    keys.prepare_for_proving()
        .map_err(|source| CliError::Prove {
            batch_index: 0,
            source,
        })?;
    reset_peak_rss();
    for run in 0..runs {
        progress(&format!("{label}: proof {}/{runs}", run + 1));
        let circuit = BatchCircuit::new(*shape, &witness)
            .map_err(|e| CliError::Input(format!("sample batch: {e}")))?;
        let started = Instant::now();
        let (_proof, assignment) = prove_keeping_assignment(keys, circuit, &mut rng, &mut |_| {})
            .map_err(|source| CliError::Prove {
            batch_index: 0,
            source,
        })?;
        times.push(ms(started.elapsed()));
        full = assignment.full;
    }
    Ok((times, peak_rss_bytes(), full))
}

/// Runs the side-by-side benchmark.
pub fn bench_peers(
    options: &PeerBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<PeerBenchReport, CliError> {
    if options.runs == 0 {
        return Err(CliError::Input("--runs must be at least 1".into()));
    }
    let zkey_bytes = std::fs::metadata(&options.zkey)
        .map_err(|source| CliError::Io {
            action: "read",
            path: options.zkey.clone(),
            source,
        })?
        .len();
    progress(&format!("importing {}", options.zkey.display()));
    let started = Instant::now();
    let keys = Keys::import_zkey(&options.zkey, &options.shape)?.with_backend(options.backend)?;
    let import_ms = ms(started.elapsed());
    if !matches!(keys.provenance, Provenance::Ceremony { .. }) {
        return Err(CliError::Input(
            "imported keys must have a ceremony provenance".into(),
        ));
    }

    let shape = options.shape;
    let (gp_times, gp_peak, full) = prove_runs(
        &keys,
        &shape,
        options.seed,
        options.runs,
        progress,
        "gridproof",
    )?;
    let public_inputs = full[1..=keys.num_public_inputs()].to_vec();
    let pvk = prepare(&keys.verifying_key);
    let gp_median = median(&gp_times);
    let mut rows = vec![ProverRow {
        prover: "gridproof".into(),
        covers: "witness, synthesis, check, proof, self-verify (keys loaded)",
        median_ms: gp_median,
        runs_ms: gp_times,
        peak_rss_bytes: gp_peak,
        time_vs_gridproof: 1.0,
    }];
    let num_constraints = keys.num_constraints;
    drop(keys);

    if let Some(dir) = &options.dev_keys {
        progress(&format!("loading development keys {}", dir.display()));
        let dev = Keys::load_with_backend(dir, options.backend)?;
        if dev.shape != shape {
            return Err(CliError::Input(format!(
                "--dev-keys {} are for another shape than the zkey",
                dir.display()
            )));
        }
        let (times, peak, _) = prove_runs(
            &dev,
            &shape,
            options.seed,
            options.runs,
            progress,
            "gridproof (development keys)",
        )?;
        let median_ms = median(&times);
        rows.push(ProverRow {
            prover: "gridproof (development keys)".into(),
            covers: "the same, with keys from `gridproof setup`",
            median_ms,
            runs_ms: times,
            peak_rss_bytes: peak,
            time_vs_gridproof: median_ms / gp_median,
        });
    }

    std::fs::create_dir_all(&options.work_dir).map_err(|source| CliError::Io {
        action: "create",
        path: options.work_dir.clone(),
        source,
    })?;
    let wtns = options.work_dir.join("batch-0.wtns");
    let file = std::fs::File::create(&wtns).map_err(|source| CliError::Io {
        action: "write",
        path: wtns.clone(),
        source,
    })?;
    write_wtns(std::io::BufWriter::new(file), &full).map_err(|source| CliError::Iden3 {
        path: wtns.clone(),
        source,
    })?;
    drop(full);

    for peer in &options.peers {
        let name = peer.kind.name();
        let mut times = Vec::with_capacity(options.runs);
        let mut peak: Option<u64> = None;
        for run in 0..options.runs {
            progress(&format!("{name}: proof {}/{}", run + 1, options.runs));
            let measured = run_peer(peer, &options.zkey, &wtns, &options.work_dir)
                .map_err(|e| CliError::Input(e.to_string()))?;
            times.push(ms(measured.wall));
            peak = peak.max(measured.peak_rss_bytes);
            check_peer_proof(
                name,
                &measured.proof_json,
                &measured.public_json,
                &public_inputs,
                &pvk,
            )?;
        }
        let median_ms = median(&times);
        rows.push(ProverRow {
            prover: name.into(),
            covers: "process: read zkey and witness, prove, write proof",
            median_ms,
            runs_ms: times,
            peak_rss_bytes: peak,
            time_vs_gridproof: median_ms / gp_median,
        });
    }
    Ok(PeerBenchReport {
        shape: (shape.sites, shape.readings_per_site, shape.price_slots),
        num_constraints,
        zkey: options.zkey.display().to_string(),
        zkey_bytes,
        import_ms,
        msm_backend: options.backend,
        rows,
    })
}

/// A peer's proof must be of gridproof's statement: its public signals equal gridproof's public
/// inputs and its proof verifies with gridproof's verifier.
fn check_peer_proof(
    name: &str,
    proof_json: &Path,
    public_json: &Path,
    public_inputs: &[gridproof_prover::Fr],
    pvk: &gridproof_prover::PreparedVerifyingKey<gridproof_prover::Bn254>,
) -> Result<(), CliError> {
    let read = |path: &Path| super::files::read_to_string(path);
    let proof = parse_snarkjs_proof(&read(proof_json)?).map_err(|source| CliError::Iden3 {
        path: proof_json.to_path_buf(),
        source,
    })?;
    let public = parse_snarkjs_public(&read(public_json)?).map_err(|source| CliError::Iden3 {
        path: public_json.to_path_buf(),
        source,
    })?;
    if public != public_inputs {
        return Err(CliError::Input(format!(
            "{name}'s public signals ({}) are not gridproof's public inputs for the same witness",
            public_json.display()
        )));
    }
    verify(pvk, &public, &proof).map_err(|e| {
        CliError::Input(format!(
            "{name}'s proof does not verify with gridproof's verifier: {e}"
        ))
    })
}

/// Prints the report (text or JSON).
pub fn print_report(report: &PeerBenchReport, json: bool) {
    if json {
        print!("{}", pretty_json(report));
    } else {
        let mut out = String::new();
        let _ = write!(out, "{report}");
        print!("{out}");
    }
}

/// The program of a peer: `--snarkjs`/`SNARKJS` or `snarkjs` on the PATH (else the copy
/// `scripts/test` installs under tools/node); rapidsnark's `prover` from `RAPIDSNARK`.
pub fn find_peer(kind: PeerKind, snarkjs: Option<&Path>) -> Result<Peer, CliError> {
    let program = match kind {
        PeerKind::Snarkjs => match snarkjs {
            Some(path) => path.to_path_buf(),
            None => {
                let local = PathBuf::from("tools/node/node_modules/.bin/snarkjs");
                if on_path("snarkjs") || !local.is_file() {
                    PathBuf::from("snarkjs")
                } else {
                    local
                }
            }
        },
        PeerKind::Rapidsnark => match std::env::var_os("RAPIDSNARK") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => {
                return Err(CliError::Input(
                    "--peer rapidsnark needs RAPIDSNARK=/path/to/prover (build it with \
                     ../shared/tools/build-rapidsnark.sh)"
                        .into(),
                ))
            }
        },
    };
    Ok(Peer { kind, program })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
