//! `gridproof ceremony ...`: tools around the phase-2 ceremony of `CEREMONY.md`. The ceremony
//! itself runs with snarkjs' `zkey` commands; this group holds what snarkjs does not provide.
//!
//! `ceremony insecure-ptau` writes an INSECURE, TEST-ONLY powers-of-tau file from a known seed,
//! for tests and benchmarks where no public `.ptau` can be downloaded. Its toxic waste is known:
//! keys made from it can be forged by anyone with the seed, whatever phase 2 follows.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};
use gridproof_prover::insecure_ptau::{
    ptau_size, write_insecure_ptau, InsecureSecrets, PtauContents, MAX_POWER, MIN_POWER,
};

use super::files::ensure_absent;
use super::CliError;

/// The `ceremony` commands.
#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// INSECURE, TEST ONLY: write a snarkjs powers-of-tau file (prepared for phase 2) whose tau,
    /// alpha and beta come from a KNOWN seed. Anyone with the seed can forge proofs for every
    /// key made from it; real keys start from a public powers-of-tau file (CEREMONY.md).
    InsecurePtau(InsecurePtauArgs),
}

/// Options of `ceremony insecure-ptau`.
#[derive(Debug, Args)]
pub struct InsecurePtauArgs {
    /// N: the file serves circuits of up to 2^N - 1 constraints plus public inputs (snarkjs'
    /// rule); 1 to 27. Size: about 1.2 KB x 2^N (2.4 GB at N = 21).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(MIN_POWER as i64..=MAX_POWER as i64)
    )]
    pub power: u32,
    /// The .ptau file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The seed of tau, alpha and beta, in hex. Without it a random seed is drawn and printed:
    /// the secrets are known either way.
    #[arg(long, value_name = "HEX", value_parser = parse_seed)]
    pub seed: Option<Seed>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// A seed given in hex (at least one byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed(pub Vec<u8>);

fn parse_seed(s: &str) -> Result<Seed, String> {
    let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| format!("not hex ({e}); give an even number of hex digits"))?;
    if bytes.is_empty() {
        return Err("the seed is empty".to_string());
    }
    Ok(Seed(bytes))
}

/// The banner printed before and after an insecure file is written.
pub const INSECURE_PTAU_WARNING: &str = "\
WARNING: INSECURE TEST-ONLY POWERS OF TAU. Its tau, alpha and beta come from a KNOWN seed: anyone
WARNING: with the seed can forge proofs for EVERY key made from this file, whatever phase-2
WARNING: contributions follow. Use it for tests and benchmarks only, NEVER for real keys; real
WARNING: ceremonies start from a public perpetual powers-of-tau file (see CEREMONY.md).";

/// Runs a `ceremony` command.
pub fn run(command: CeremonyCommand) -> Result<(), CliError> {
    match command {
        CeremonyCommand::InsecurePtau(args) => insecure_ptau(&args),
    }
}

/// Writes the insecure file; prints the warning and progress on stderr and a JSON summary
/// (marked `"insecure": true`, with the seed) on stdout.
fn insecure_ptau(args: &InsecurePtauArgs) -> Result<(), CliError> {
    ensure_absent(&args.out, args.force)?;
    let seed = match &args.seed {
        Some(seed) => seed.0.clone(),
        None => rand::random::<[u8; 32]>().to_vec(),
    };
    let seed_hex = hex::encode(&seed);
    let contents = PtauContents::PreparedForPhase2;
    eprintln!("{INSECURE_PTAU_WARNING}");
    eprintln!(
        "ceremony insecure-ptau: power {}, seed {seed_hex}, {} bytes to {}",
        args.power,
        ptau_size(args.power, contents),
        args.out.display()
    );
    let started = Instant::now();
    let secrets = InsecureSecrets::from_seed(&seed);
    let summary = write_insecure_ptau(&args.out, args.power, &secrets, contents, &mut |p| {
        eprintln!(
            "ceremony insecure-ptau: section {:>2} ({}): {} points ({:.1} s)",
            p.section,
            p.name,
            p.points,
            started.elapsed().as_secs_f64()
        )
    })
    .map_err(|e| CliError::Input(format!("ceremony insecure-ptau: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{INSECURE_PTAU_WARNING}");
    println!(
        "{}",
        serde_json::json!({
            "insecure": true,
            "warning": gridproof_prover::insecure_ptau::WARNING,
            "path": summary.path,
            "power": summary.power,
            "bytes": summary.bytes,
            "seed": seed_hex,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_hex() {
        assert_eq!(parse_seed("00ff"), Ok(Seed(vec![0, 255])));
        assert_eq!(parse_seed("0x01"), Ok(Seed(vec![1])));
        assert!(parse_seed("").is_err());
        assert!(parse_seed("abc").is_err());
        assert!(parse_seed("zz").is_err());
    }
}
