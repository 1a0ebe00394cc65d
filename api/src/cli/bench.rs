//! `gridproof bench`: constraints, timings, key sizes and memory for one batch shape, with the
//! machine's MSM + FFT floor measured in the same run, then the epoch check (a realistic epoch
//! from `meter simulate`, every batch proved and verified) and the tamper pass (each tampered
//! input refused) with the same keys (see `gridproof_prover::bench`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use gridproof_circuits::statement::BatchShape;
use gridproof_prover::batch::{ValidationPolicy, DEFAULT_MIN_SITES_PER_BATCH};
use gridproof_prover::bench::{interval_for_readings, BenchError, EpochInput};
use gridproof_prover::{BenchOptions, MsmBackend};

use super::files::pretty_json;
use super::simulate::{seed_bytes, simulate, SimulationParams};
use super::worker::{parse_concurrency, Concurrency};
use super::{parse_count, parse_u64, CliError};

/// S, T and P of `bench` when neither they nor `--keys` are given.
const DEFAULT_SHAPE: (usize, usize) = (4, 24);

/// The epoch (a day number) of the simulated epoch: 2025-07-31, a summer day.
pub const BENCH_EPOCH: u64 = 20300;

/// Options of `bench`.
#[derive(Debug, Args)]
#[command(
    long_about = "Measure one batch shape: constraints (total, per reading, per site), \
development setup, key sizes and load times, witness + synthesis, satisfiability check, proof, \
verification, peak memory, and the floor (this machine's MSMs and FFTs of the sizes one proof \
needs) in the same run.\n\nThen, with the same keys, the epoch check: `meter simulate` makes a \
realistic epoch (--epoch-sites sites), which is validated, placed, and every batch is proved and \
verified; and the tamper pass on its first batch: a reading one above the capacity bound \
(re-signed by its meter), a reading of 2^32, a wrong price, a wrong slot, a forged and a \
swapped signature, a leaf outside the batch, wrong and overflowing totals, and non-canonical \
encodings in a proofs file must each be refused.\n\nExits non-zero if a batch of the epoch does \
not verify or a tampered input is not refused (the report is printed first)."
)]
pub struct BenchArgs {
    /// S: sites per batch (a power of two). Default 4, or the shape of --keys.
    #[arg(long, value_parser = parse_count)]
    pub sites: Option<usize>,
    /// T: readings per site. Default 24, or the shape of --keys.
    #[arg(long, value_parser = parse_count)]
    pub readings_per_site: Option<usize>,
    /// P: time-of-use price slots per site (4 to 11). Default 4, or the shape of --keys.
    #[arg(long, value_parser = parse_count)]
    pub price_slots: Option<usize>,
    /// Benchmark these keys (made by `gridproof setup`) instead of running and timing a
    /// development setup; the shape is read from KEYS/manifest.json.
    #[arg(long, value_name = "KEYS")]
    pub keys: Option<PathBuf>,
    /// Seed of the benchmark's randomness (development keys only) and of the simulated epoch.
    #[arg(long, default_value = "0", value_parser = parse_u64)]
    pub seed: u64,
    /// Sites of the simulated epoch. Default 2*S+1 (three batches of at least 3 real sites
    /// each for S >= 4; 2*S for S < 4).
    #[arg(long, value_name = "N", value_parser = parse_count, conflicts_with = "no_epoch")]
    pub epoch_sites: Option<usize>,
    /// Skip the epoch check and the tamper pass (only the measurements of one proof).
    #[arg(long)]
    pub no_epoch: bool,
    /// Batches of the epoch check proved at once: a number, or `auto` (default) for the limit
    /// derived from the circuit's size, this machine's threads and its free memory. The report
    /// gives the epoch's throughput either way.
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_concurrency)]
    pub batch_concurrency: Concurrency,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The prover's MSM backend (as `prove --msm`); the floor is measured with it too.
    #[arg(long, value_name = "stock|arkworks|hybrid", default_value_t = MsmBackend::default())]
    pub msm: MsmBackend,
    /// Side by side: prove the same batch from --zkey's keys with gridproof (in process) and
    /// with this prover (a separate process on the same zkey and gridproof's exported
    /// witness), and report each time, peak memory and the ratio. Repeatable. With `snarkjs`,
    /// rapidsnark runs too when RAPIDSNARK names its `prover`.
    #[arg(long, value_enum, requires = "zkey")]
    pub peer: Vec<PeerName>,
    /// The zkey of --peer (e.g. a ceremony's final zkey for this shape); gridproof imports it
    /// (`keys import`) and the peers read it. Needs --sites and --readings-per-site.
    #[arg(
        long,
        value_name = "FINAL.zkey",
        requires = "peer",
        conflicts_with = "keys"
    )]
    pub zkey: Option<PathBuf>,
    /// With --peer: also prove with these development keys of the same shape, to compare
    /// gridproof's prove time with imported and with its own keys.
    #[arg(long, value_name = "KEYS", requires = "peer")]
    pub dev_keys: Option<PathBuf>,
    /// With --peer: proofs per prover; the median time is reported.
    #[arg(long, default_value = "1", value_parser = parse_count, requires = "peer")]
    pub runs: usize,
    /// With --peer: the snarkjs CLI (default: `snarkjs` on the PATH, else
    /// tools/node/node_modules/.bin/snarkjs).
    #[arg(long, value_name = "PATH", env = "SNARKJS", requires = "peer")]
    pub snarkjs: Option<PathBuf>,
    /// With --peer: where the witness file and the peers' proofs go (default: a folder in the
    /// system's temporary directory).
    #[arg(long, value_name = "DIR", requires = "peer")]
    pub work_dir: Option<PathBuf>,
}

/// A prover `bench --peer` runs beside gridproof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerName {
    /// `snarkjs groth16 prove` (npm snarkjs).
    Snarkjs,
    /// rapidsnark's `prover` (the path in RAPIDSNARK).
    Rapidsnark,
}

/// The benchmarked shape: the keys' (checked against any of --sites, --readings-per-site,
/// --price-slots given), or the options' with their defaults.
pub fn resolve_shape(args: &BenchArgs) -> Result<BatchShape, CliError> {
    let Some(keys) = &args.keys else {
        return Ok(BatchShape::new(
            args.sites.unwrap_or(DEFAULT_SHAPE.0),
            args.readings_per_site.unwrap_or(DEFAULT_SHAPE.1),
            args.price_slots.unwrap_or(BatchShape::DEFAULT_PRICE_SLOTS),
        )?);
    };
    let (shape, _) = gridproof_prover::read_shape(keys)?;
    for (option, given, of_keys) in [
        ("--sites", args.sites, shape.sites),
        (
            "--readings-per-site",
            args.readings_per_site,
            shape.readings_per_site,
        ),
        ("--price-slots", args.price_slots, shape.price_slots),
    ] {
        if let Some(given) = given.filter(|&g| g != of_keys) {
            return Err(CliError::Input(format!(
                "{option} {given} does not match the keys: the keys are for S={} sites, T={} \
                 readings, P={} price slots ({}); with --keys the shape comes from the keys \
                 (omit {option}, or use keys of that shape)",
                shape.sites,
                shape.readings_per_site,
                shape.price_slots,
                keys.join(gridproof_prover::keys::MANIFEST_FILE).display()
            )));
        }
    }
    Ok(shape)
}

/// The default number of sites of the simulated epoch for S sites per batch: three batches
/// of at least 3 real sites each (and an empty position) for S >= 4, two full batches below.
pub fn default_epoch_sites(sites_per_batch: usize) -> usize {
    if sites_per_batch >= 4 {
        2 * sites_per_batch + 1
    } else {
        2 * sites_per_batch
    }
}

/// Simulates the epoch of the epoch check with `meter simulate`'s simulator (a realistic
/// epoch: solar curves, sites in IL and MA, meter keys from the seed).
pub fn simulated_epoch(
    shape: &BatchShape,
    sites: usize,
    seed: u64,
) -> Result<EpochInput, CliError> {
    let interval_seconds = interval_for_readings(shape.readings_per_site);
    let seed_text = format!("gridproof-bench-{seed}");
    let params = SimulationParams {
        sites,
        epoch: BENCH_EPOCH,
        interval_seconds,
        readings_per_site: shape.readings_per_site,
    };
    let started = Instant::now();
    let mut sim = simulate(&params, seed_bytes(&seed_text))?;
    let make_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut source = format!(
        "gridproof meter simulate --sites {sites} --epoch {BENCH_EPOCH} --interval-seconds \
         {interval_seconds} --readings-per-site {} --seed {seed_text}",
        shape.readings_per_site
    );
    // The simulator's tariffs have 4 slots (night, morning, peak, evening); keys with more
    // price slots get the evening price repeated (the schedule never uses them).
    let p = shape.price_slots;
    if sim
        .batch
        .sites
        .iter()
        .any(|s| s.prices_uusd_per_kwh.len() < p)
    {
        for site in &mut sim.batch.sites {
            let last = site.prices_uusd_per_kwh.last().copied().unwrap_or(0);
            site.prices_uusd_per_kwh.resize(p, last);
        }
        source.push_str(&format!(" (tariffs padded to P = {p} prices)"));
    }
    Ok(EpochInput {
        file: sim.batch,
        meter_keys: sim.meter_keys,
        source,
        make_ms: Some(make_ms),
        policy: ValidationPolicy {
            min_sites_per_batch: DEFAULT_MIN_SITES_PER_BATCH.min(shape.sites),
        },
    })
}

/// Runs `bench`: progress on stderr, the report on stdout; an error if a check failed.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    if !args.peer.is_empty() {
        return run_peers(args);
    }
    let shape = resolve_shape(args)?;
    let epoch = if args.no_epoch {
        None
    } else {
        let sites = args
            .epoch_sites
            .unwrap_or_else(|| default_epoch_sites(shape.sites));
        Some(simulated_epoch(&shape, sites, args.seed)?)
    };
    let options = BenchOptions {
        keys_dir: args.keys.clone(),
        work_dir: None,
        seed: args.seed,
        backend: args.msm,
        batch_concurrency: args.batch_concurrency.fixed(),
    };
    let mut progress = |step: &str| eprintln!("bench: {step}");
    let report = gridproof_prover::bench_batch(&shape, &options, epoch, &mut progress)?;
    if args.json {
        print!("{}", pretty_json(&report));
    } else {
        print!("{report}");
    }
    let failures = report.failures();
    if !failures.is_empty() {
        return Err(BenchError::ChecksFailed(failures).into());
    }
    Ok(())
}

/// `bench --peer`: the side-by-side benchmark (see [`super::bench_peer`]).
fn run_peers(args: &BenchArgs) -> Result<(), CliError> {
    use super::bench_peer::{bench_peers, find_peer, print_report, PeerBenchOptions};
    use gridproof_prover::peer::PeerKind;
    let zkey = args
        .zkey
        .clone()
        .ok_or_else(|| CliError::Input("--peer needs --zkey FINAL.zkey".into()))?;
    let (Some(sites), Some(readings)) = (args.sites, args.readings_per_site) else {
        return Err(CliError::Input(
            "--peer needs --sites and --readings-per-site: the shape the zkey was made for".into(),
        ));
    };
    let shape = BatchShape::new(
        sites,
        readings,
        args.price_slots.unwrap_or(BatchShape::DEFAULT_PRICE_SLOTS),
    )?;
    let mut kinds: Vec<PeerKind> = Vec::new();
    for name in &args.peer {
        let kind = match name {
            PeerName::Snarkjs => PeerKind::Snarkjs,
            PeerName::Rapidsnark => PeerKind::Rapidsnark,
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let rapidsnark_named = std::env::var_os("RAPIDSNARK").is_some_and(|p| !p.is_empty());
    if kinds.contains(&PeerKind::Snarkjs)
        && rapidsnark_named
        && !kinds.contains(&PeerKind::Rapidsnark)
    {
        kinds.push(PeerKind::Rapidsnark);
    }
    let peers = kinds
        .into_iter()
        .map(|kind| find_peer(kind, args.snarkjs.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let work_dir = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("gridproof-bench-peer-{}", std::process::id()))
    });
    let options = PeerBenchOptions {
        shape,
        zkey,
        peers,
        dev_keys: args.dev_keys.clone(),
        seed: args.seed,
        runs: args.runs,
        work_dir,
        backend: args.msm,
    };
    let report = bench_peers(&options, &mut |step: &str| eprintln!("bench: {step}"))?;
    print_report(&report, args.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(sites: Option<usize>, keys: Option<PathBuf>) -> BenchArgs {
        BenchArgs {
            sites,
            readings_per_site: None,
            price_slots: None,
            keys,
            seed: 0,
            epoch_sites: None,
            no_epoch: false,
            batch_concurrency: Concurrency::Auto,
            json: false,
            msm: MsmBackend::default(),
            peer: Vec::new(),
            zkey: None,
            dev_keys: None,
            runs: 1,
            snarkjs: None,
            work_dir: None,
        }
    }

    #[test]
    fn the_shape_defaults_without_keys() {
        let shape = resolve_shape(&args(None, None)).unwrap();
        assert_eq!(
            (shape.sites, shape.readings_per_site, shape.price_slots),
            (4, 24, 4)
        );
        assert_eq!(resolve_shape(&args(Some(16), None)).unwrap().sites, 16);
        assert!(resolve_shape(&args(Some(3), None)).is_err());
    }

    /// A key directory with only a manifest for (64, 96, 4): enough for `resolve_shape`.
    fn manifest_only_keys() -> PathBuf {
        use gridproof_prover::keys::{KeyFileRecord, FORMAT_VERSION};
        use gridproof_prover::{Manifest, Provenance, ShapeRecord};
        let dir = std::env::temp_dir().join(format!(
            "gridproof-bench-shape-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let record = |file: &str| KeyFileRecord {
            file: file.into(),
            bytes: 1,
            sha256: "0".repeat(64),
        };
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            shape: ShapeRecord::of(&BatchShape::new(64, 96, 4).unwrap()),
            provenance: Provenance::Development,
            num_constraints: 1,
            num_public_inputs: 8,
            qap_reduction: Default::default(),
            proving_key: record("proving.key"),
            verifying_key: record("verifying.key"),
            created_at: "2025-01-01T00:00:00Z".into(),
        };
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn with_keys_the_shape_comes_from_the_manifest() {
        let keys = manifest_only_keys();
        let shape = resolve_shape(&args(None, Some(keys.clone()))).unwrap();
        assert_eq!(
            (shape.sites, shape.readings_per_site, shape.price_slots),
            (64, 96, 4)
        );
        // The same shape typed again is fine; another is a clear error.
        assert!(resolve_shape(&args(Some(64), Some(keys.clone()))).is_ok());
        let err = resolve_shape(&args(Some(4), Some(keys.clone())))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--sites 4 does not match the keys: the keys are for S=64"),
            "{err}"
        );
        let mut t = args(None, Some(keys.clone()));
        t.readings_per_site = Some(24);
        let err = resolve_shape(&t).unwrap_err().to_string();
        assert!(err.contains("--readings-per-site 24"), "{err}");
        std::fs::remove_dir_all(&keys).unwrap();
    }

    #[test]
    fn the_default_epoch_has_two_or_more_batches_of_three_or_more_sites() {
        for s in [4usize, 8, 16, 64] {
            let n = default_epoch_sites(s);
            let batches = n.div_ceil(s);
            assert!(batches >= 2 && n / batches >= 3, "S={s}: {n} sites");
        }
        assert_eq!(default_epoch_sites(1), 2);
    }

    #[test]
    fn the_simulated_epoch_validates_for_its_shape() {
        let shape = BatchShape::new(4, 8, 5).unwrap();
        let input = simulated_epoch(&shape, 9, 1).unwrap();
        let validated =
            gridproof_prover::batch::validate(&input.file, &shape, &input.policy).unwrap();
        assert_eq!(validated.plan().len(), 3);
        assert_eq!(input.meter_keys.len(), 9);
        assert!(input.source.contains("--sites 9"), "{}", input.source);
    }
}
