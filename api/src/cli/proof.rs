//! `gridproof proof to-snarkjs`: one batch proof of a proofs file as snarkjs' `proof.json` and
//! `public.json`, and the snarkjs side of `gridproof verify --snarkjs-proof` (a proof made by
//! snarkjs or rapidsnark, checked with gridproof's verifier). Formats:
//! `gridproof_prover::iden3::snarkjs`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use gridproof_circuits::statement::PublicInputs;
use gridproof_prover::fs::{read_bounded, BoundedReadError};
use gridproof_prover::iden3::{
    parse_snarkjs_proof, parse_snarkjs_public, snarkjs_proof_json, snarkjs_public_json,
};
use gridproof_prover::{load_verifying_key, prepare, read_manifest, verify, ProofsFile};

use super::files::{ensure_absent, pretty_json, write_atomically, PUBLIC_FILE_MODE};
use super::{parse_u64, CliError};

/// Name of the proof file in `--out`, as snarkjs calls it.
pub const PROOF_FILE: &str = "proof.json";
/// Name of the public inputs file in `--out`, as snarkjs calls it.
pub const PUBLIC_FILE: &str = "public.json";
/// snarkjs JSON files are a few hundred bytes (a few KB for many public inputs).
const MAX_SNARKJS_JSON_BYTES: u64 = 1 << 20;

/// The commands of `proof`.
#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Write one batch's proof and public inputs as snarkjs' proof.json and public.json, for
    /// `snarkjs groth16 verify` with a verification key of the same circuit.
    ToSnarkjs(ToSnarkjsArgs),
}

/// Options of `proof to-snarkjs`.
#[derive(Debug, Args)]
pub struct ToSnarkjsArgs {
    /// The proofs file v1 written by `gridproof prove`.
    #[arg(long, value_name = "PROOFS.json")]
    pub proofs: PathBuf,
    /// The batch_index of the batch to convert.
    #[arg(long, value_name = "I", value_parser = parse_u64)]
    pub batch: u64,
    /// The directory to write proof.json and public.json into (created if absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace DIR/proof.json and DIR/public.json if they exist.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `proof` command.
pub fn run(command: ProofCommand) -> Result<(), CliError> {
    match command {
        ProofCommand::ToSnarkjs(args) => {
            let summary = to_snarkjs(&args)?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// The work of `proof to-snarkjs`: returns the summary printed on stdout.
pub fn to_snarkjs(args: &ToSnarkjsArgs) -> Result<serde_json::Value, CliError> {
    let file = ProofsFile::read(&args.proofs)?;
    let batch = file
        .batches
        .iter()
        .find(|b| b.batch_index == args.batch)
        .ok_or_else(|| {
            let present: Vec<String> = file
                .batches
                .iter()
                .map(|b| b.batch_index.to_string())
                .collect();
            CliError::Input(format!(
                "{}: no batch with batch_index {} (the file has {})",
                args.proofs.display(),
                args.batch,
                present.join(", ")
            ))
        })?;
    let proof_path = args.out.join(PROOF_FILE);
    let public_path = args.out.join(PUBLIC_FILE);
    ensure_absent(&proof_path, args.force)?;
    ensure_absent(&public_path, args.force)?;
    std::fs::create_dir_all(&args.out).map_err(|source| CliError::Io {
        action: "create the directory",
        path: args.out.clone(),
        source,
    })?;
    write_atomically(
        &public_path,
        pretty_json(&snarkjs_public_json(&batch.public_inputs)).as_bytes(),
        PUBLIC_FILE_MODE,
    )?;
    write_atomically(
        &proof_path,
        pretty_json(&snarkjs_proof_json(&batch.proof)).as_bytes(),
        PUBLIC_FILE_MODE,
    )?;
    eprintln!(
        "proof to-snarkjs: batch {} of epoch {}: wrote {} and {} ({} public inputs)",
        batch.batch_index,
        file.epoch,
        proof_path.display(),
        public_path.display(),
        batch.public_inputs.len()
    );
    Ok(serde_json::json!({
        "batch_index": batch.batch_index,
        "proof": proof_path.display().to_string(),
        "public": public_path.display().to_string(),
    }))
}

fn read_small(path: &Path) -> Result<String, CliError> {
    let bytes = read_bounded(path, MAX_SNARKJS_JSON_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => CliError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        },
        too_large @ BoundedReadError::TooLarge { .. } => {
            CliError::Input(format!("{}: {too_large}", path.display()))
        }
    })?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::Input(format!("{}: not UTF-8 text", path.display())))
}

/// `verify --snarkjs-proof P --snarkjs-public Q`: checks a proof in snarkjs' JSON (from
/// snarkjs, rapidsnark or `proof to-snarkjs`) with the key directory's verifying key. Prints
/// one line on stdout; an error (exit 1) unless the proof verifies.
pub fn verify_snarkjs(keys: &Path, proof_path: &Path, public_path: &Path) -> Result<(), CliError> {
    let manifest = read_manifest(keys)?;
    if let Some(warning) = manifest.provenance.warning() {
        eprintln!("note: {warning}");
    }
    let (_shape, vk) = load_verifying_key(keys)?;
    let proof =
        parse_snarkjs_proof(&read_small(proof_path)?).map_err(|source| CliError::Iden3 {
            path: proof_path.to_path_buf(),
            source,
        })?;
    let inputs =
        parse_snarkjs_public(&read_small(public_path)?).map_err(|source| CliError::Iden3 {
            path: public_path.to_path_buf(),
            source,
        })?;
    verify(&prepare(&vk), &inputs, &proof)?;
    let totals = PublicInputs::from_field_elements(&inputs)
        .map(|p| {
            format!(
                " (epoch {}, batch {}, total_energy_wh {}, total_revenue_nusd {})",
                p.epoch, p.batch_index, p.total_energy_wh, p.total_revenue_nusd
            )
        })
        .unwrap_or_default();
    println!("snarkjs proof {}: verified{totals}", proof_path.display());
    Ok(())
}
