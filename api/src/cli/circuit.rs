//! `gridproof circuit export`: the batch statement's constraint system as an iden3 `.r1cs`
//! (for `snarkjs zkey new` and the phase-2 ceremony), and the `.wtns` helpers behind
//! `gridproof prove --witness-dir`. Formats and wire order: `gridproof_prover::iden3`,
//! docs/iden3.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use gridproof_circuits::statement::BatchShape;
use gridproof_prover::fs::{StagedFile, SECRET_FILE_MODE};
use gridproof_prover::iden3::{circuit_r1cs, write_r1cs_file, write_wtns};
use gridproof_prover::Fr;

use super::files::ensure_absent;
use super::{parse_count, CliError};

/// The commands of `circuit`.
#[derive(Debug, Subcommand)]
pub enum CircuitCommand {
    /// Write the constraint system of the batch statement of one shape (S, T, P) as an iden3
    /// .r1cs file: wire 0 = 1, then the public inputs in the proofs file's order, then the
    /// private witness. Prints the counts and the powers-of-tau size a ceremony needs.
    Export(ExportArgs),
}

/// Options of `circuit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// S: sites per batch (a power of two), as given to `gridproof setup`.
    #[arg(long, value_parser = parse_count)]
    pub sites: usize,
    /// T: readings per site per epoch, as given to `gridproof setup`.
    #[arg(long, value_parser = parse_count)]
    pub readings_per_site: usize,
    /// P: time-of-use price slots per site (4 to 11), as given to `gridproof setup`.
    #[arg(long, default_value_t = BatchShape::DEFAULT_PRICE_SLOTS, value_parser = parse_count)]
    pub price_slots: usize,
    /// The .r1cs file to write (public: it holds no secret).
    #[arg(long, value_name = "FILE.r1cs")]
    pub out: PathBuf,
    /// Replace FILE.r1cs if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `circuit` command.
pub fn run(command: CircuitCommand) -> Result<(), CliError> {
    match command {
        CircuitCommand::Export(args) => {
            let summary = export(&args)?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// The work of `circuit export` (progress on stderr): synthesizes the blank circuit of the shape
/// in setup mode (as `gridproof setup` does), writes the .r1cs atomically and returns the
/// summary that is printed on stdout.
pub fn export(args: &ExportArgs) -> Result<serde_json::Value, CliError> {
    let shape = BatchShape::new(args.sites, args.readings_per_site, args.price_slots)?;
    ensure_absent(&args.out, args.force)?;
    let iden3_err = |source| CliError::Iden3 {
        path: args.out.clone(),
        source,
    };
    eprintln!(
        "circuit export: S = {} sites per batch, T = {} readings per site, P = {} price slots, \
         registry depth {}: synthesizing the constraint system ...",
        shape.sites, shape.readings_per_site, shape.price_slots, shape.registry_depth
    );
    let started = Instant::now();
    let r1cs = circuit_r1cs(shape).map_err(iden3_err)?;
    let written = write_r1cs_file(&args.out, &r1cs).map_err(iden3_err)?;
    let power = r1cs.required_ptau_power();
    eprintln!(
        "circuit export: wrote {} in {:.1} s: {} constraints, {} wires (the constant 1, {} public \
         inputs, {} private), {} bytes, SHA-256 {}",
        args.out.display(),
        started.elapsed().as_secs_f64(),
        r1cs.num_constraints(),
        r1cs.num_wires(),
        r1cs.num_public_inputs(),
        r1cs.num_witness,
        written.bytes,
        written.sha256
    );
    eprintln!(
        "circuit export: a phase-2 ceremony needs a prepared powers-of-tau file of power >= {power} \
         (2^{power} = {} >= {} constraints + {} public inputs + 1), e.g. \
         powersOfTau28_hez_final_{:02}.ptau",
        1u64 << power,
        r1cs.num_constraints(),
        r1cs.num_public_inputs(),
        power.max(8)
    );
    Ok(serde_json::json!({
        "r1cs": args.out.display().to_string(),
        "sites": shape.sites,
        "readings_per_site": shape.readings_per_site,
        "price_slots": shape.price_slots,
        "registry_depth": shape.registry_depth,
        "num_constraints": r1cs.num_constraints(),
        "num_wires": r1cs.num_wires(),
        "num_public_inputs": r1cs.num_public_inputs(),
        "num_private_wires": r1cs.num_witness,
        "ptau_power": power,
        "bytes": written.bytes,
        "sha256": written.sha256,
    }))
}

/// The witness file of one batch in `--witness-dir`: `batch-<batch_index>.wtns`.
pub fn witness_path(dir: &Path, batch_index: u64) -> PathBuf {
    dir.join(format!("batch-{batch_index}.wtns"))
}

/// Makes the witness directory (mode 0700: the witnesses are secret) and refuses to go on if
/// a witness file of one of `batch_indices` exists and `force` is not set.
pub fn prepare_witness_dir(
    dir: &Path,
    batch_indices: impl IntoIterator<Item = u64>,
    force: bool,
) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| CliError::Io {
        action: "create the witness directory",
        path: dir.to_path_buf(),
        source,
    })?;
    for batch_index in batch_indices {
        ensure_absent(&witness_path(dir, batch_index), force)?;
    }
    Ok(())
}

/// Writes one batch's full assignment `[1, public inputs..., witness...]` as a `.wtns` beside
/// its target (mode 0600, fsynced), to be renamed into place with [`StagedFile::commit`].
pub fn stage_witness(path: &Path, full_assignment: &[Fr]) -> Result<StagedFile, CliError> {
    let mut bytes = Vec::with_capacity(76 + 32 * full_assignment.len());
    write_wtns(&mut bytes, full_assignment).map_err(|source| CliError::Iden3 {
        path: path.to_path_buf(),
        source,
    })?;
    StagedFile::create(path, &bytes, SECRET_FILE_MODE).map_err(|source| CliError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}
