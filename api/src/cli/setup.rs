//! `gridproof setup`: development Groth16 keys for one batch shape (single-party setup).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use gridproof_circuits::statement::{BatchCircuit, BatchShape};
use gridproof_prover::fs::{replace_dir, sibling_path, ReplaceDirError};

use super::{parse_count, CliError};

/// Options of `setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// S: sites per batch (a power of two). Every batch proof covers S registry leaves.
    #[arg(long, value_parser = parse_count)]
    pub sites: usize,
    /// T: readings per site per epoch (e.g. 24 hourly or 96 quarter-hourly readings).
    #[arg(long, value_parser = parse_count)]
    pub readings_per_site: usize,
    /// P: time-of-use price slots per site (4 to 11).
    #[arg(long, default_value_t = BatchShape::DEFAULT_PRICE_SLOTS, value_parser = parse_count)]
    pub price_slots: usize,
    /// The key directory to create (manifest.json, proving.key, verifying.key).
    #[arg(long, value_name = "KEYS")]
    pub out: PathBuf,
    /// Replace KEYS if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The banner printed whenever development keys are made.
pub const DEVELOPMENT_SETUP_WARNING: &str = "\
WARNING: DEVELOPMENT SETUP. This is a single-party Groth16 setup: this machine drew the toxic
WARNING: waste, and whoever had it can forge proofs of any totals. Use these keys for development
WARNING: and tests only; production keys come from a phase-2 ceremony.";

/// Runs `setup`: prints [`make_keys`]'s summary on stdout.
pub fn run(args: &SetupArgs) -> Result<(), CliError> {
    let summary = make_keys(args)?;
    println!("{summary}");
    Ok(())
}

/// The work of `setup` (warning and progress on stderr): makes and saves the keys and returns
/// the summary that `setup` prints. `gridproof demo` makes its keys through this too.
pub fn make_keys(args: &SetupArgs) -> Result<serde_json::Value, CliError> {
    let shape = BatchShape::new(args.sites, args.readings_per_site, args.price_slots)?;
    // An empty directory is as good as none; anything else needs --force.
    let occupied = match std::fs::read_dir(&args.out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => args.out.symlink_metadata().is_ok(),
    };
    if occupied {
        if !args.force {
            return Err(CliError::Exists(args.out.clone()));
        }
        if !args
            .out
            .join(gridproof_prover::keys::MANIFEST_FILE)
            .is_file()
        {
            return Err(CliError::Input(format!(
                "{} exists and is not a gridproof key directory; refusing to replace it even with --force",
                args.out.display()
            )));
        }
    }
    eprintln!("{DEVELOPMENT_SETUP_WARNING}");
    eprintln!(
        "setup: S = {} sites per batch, T = {} readings per site, P = {} price slots, registry depth {}",
        shape.sites, shape.readings_per_site, shape.price_slots, shape.registry_depth
    );
    let started = Instant::now();
    eprintln!("setup: synthesizing the circuit and generating the keys ...");
    let keys = gridproof_prover::setup_development_with(
        &shape,
        BatchCircuit::blank(shape),
        &mut rand::rngs::OsRng,
    )?;
    eprintln!(
        "setup: {} constraints, keys generated in {:.1} s",
        keys.num_constraints,
        started.elapsed().as_secs_f64()
    );
    let saving = Instant::now();
    // Keys::save refuses a non-empty directory; --force saves the new keys beside it and only
    // then swaps them in (the old keys are kept until the new ones are in place).
    let manifest = if occupied {
        let staged = sibling_path(&args.out, "new").map_err(|source| CliError::Io {
            action: "write",
            path: args.out.clone(),
            source,
        })?;
        let manifest = keys.save(&staged)?;
        match replace_dir(&staged, &args.out) {
            Ok(()) => {}
            // The new keys are in place; only the old copy is left over.
            Err(e @ ReplaceDirError::BackupLeft { .. }) => eprintln!("warning: {e}"),
            Err(e) => {
                // The old keys are back: drop the new ones, unless the message has to point
                // at both because the old could not be put back.
                if !matches!(e, ReplaceDirError::Restore { .. }) {
                    let _ = std::fs::remove_dir_all(&staged);
                }
                return Err(e.into());
            }
        }
        manifest
    } else {
        keys.save(&args.out)?
    };
    eprintln!(
        "setup: wrote {} in {:.1} s (proving key {} bytes, verifying key {} bytes)",
        args.out.display(),
        saving.elapsed().as_secs_f64(),
        manifest.proving_key.bytes,
        manifest.verifying_key.bytes
    );
    Ok(serde_json::json!({
            "keys": args.out.display().to_string(),
            "provenance": "development",
            "sites": shape.sites,
            "readings_per_site": shape.readings_per_site,
            "price_slots": shape.price_slots,
            "registry_depth": shape.registry_depth,
            "num_constraints": manifest.num_constraints,
            "verifying_key_sha256": manifest.verifying_key.sha256,
            "proving_key_sha256": manifest.proving_key.sha256,
    }))
}
