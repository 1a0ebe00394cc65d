//! `gridproof export-verifier`: the Solidity Groth16 verifier of a key directory, generated from
//! the repository's template (`prover/templates/Groth16Verifier.sol.tmpl`).

use std::path::PathBuf;

use clap::Args;
use gridproof_prover::{load_verifying_key, read_manifest, solidity};

use super::files::{ensure_absent, write_atomically, PUBLIC_FILE_MODE};
use super::CliError;

/// Options of `export-verifier`.
#[derive(Debug, Args)]
pub struct ExportVerifierArgs {
    /// The key directory (only manifest.json and verifying.key are read).
    #[arg(long, value_name = "KEYS", env = "GRIDPROOF_KEYS")]
    pub keys: PathBuf,
    /// The Solidity file to write (contract `Groth16Verifier`).
    #[arg(long, value_name = "FILE.sol")]
    pub out: PathBuf,
    /// Replace FILE.sol if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `export-verifier`: writes the verifier and prints its path and key hash on stderr.
pub fn run(args: &ExportVerifierArgs) -> Result<(), CliError> {
    ensure_absent(&args.out, args.force)?;
    let manifest = read_manifest(&args.keys)?;
    if let Some(warning) = manifest.provenance.warning() {
        eprintln!("note: {warning}");
    }
    let (shape, vk) = load_verifying_key(&args.keys)?;
    let description = solidity::describe_key(&shape, &manifest.provenance);
    let source = solidity::render_verifier(&vk, &description)
        .map_err(|e| CliError::Input(format!("cannot generate the verifier: {e}")))?;
    write_atomically(&args.out, source.as_bytes(), PUBLIC_FILE_MODE)?;
    eprintln!(
        "export-verifier: wrote {} ({} public inputs)",
        args.out.display(),
        vk.gamma_abc_g1.len().saturating_sub(1)
    );
    Ok(())
}
