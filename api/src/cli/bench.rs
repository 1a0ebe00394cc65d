//! `gridproof bench`: constraints, timings, key sizes and memory for one batch shape, with the
//! machine's MSM + FFT floor measured in the same run (see `gridproof_prover::bench`).

use std::path::PathBuf;

use clap::Args;
use gridproof_circuits::statement::BatchShape;
use gridproof_prover::BenchOptions;

use super::files::pretty_json;
use super::setup::to_prover_shape;
use super::{parse_count, parse_u64, CliError};

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// S: sites per batch (a power of two).
    #[arg(long, default_value = "4", value_parser = parse_count)]
    pub sites: usize,
    /// T: readings per site.
    #[arg(long, default_value = "24", value_parser = parse_count)]
    pub readings_per_site: usize,
    /// P: time-of-use price slots per site (4 to 11).
    #[arg(long, default_value_t = BatchShape::DEFAULT_PRICE_SLOTS, value_parser = parse_count)]
    pub price_slots: usize,
    /// Benchmark these keys (of the same shape) instead of running and timing a development setup.
    #[arg(long, value_name = "KEYS")]
    pub keys: Option<PathBuf>,
    /// Seed of the benchmark's randomness (development keys only).
    #[arg(long, default_value = "0", value_parser = parse_u64)]
    pub seed: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `bench`: progress on stderr, the report on stdout.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let shape = BatchShape::new(args.sites, args.readings_per_site, args.price_slots)?;
    let options = BenchOptions {
        keys_dir: args.keys.clone(),
        work_dir: None,
        seed: args.seed,
    };
    let mut progress = |step: &str| eprintln!("bench: {step}");
    let report = gridproof_prover::bench_batch(&to_prover_shape(&shape), &options, &mut progress)?;
    if args.json {
        print!("{}", pretty_json(&report));
    } else {
        print!("{report}");
    }
    Ok(())
}
