//! `gridproof verify`: checks every batch proof of a proofs file v1 with the verifying key only.

use std::path::PathBuf;

use clap::Args;
use gridproof_circuits::statement::PublicInputs;
use gridproof_prover::{load_verifying_key, read_manifest, verify_proofs_file, ProofsFile};

use super::CliError;

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The key directory (only manifest.json and verifying.key are read).
    #[arg(long, value_name = "KEYS", env = "GRIDPROOF_KEYS")]
    pub keys: PathBuf,
    /// The proofs file v1 written by `gridproof prove`.
    #[arg(
        long,
        value_name = "PROOFS.json",
        required_unless_present_any = ["snarkjs_proof", "disclosure"]
    )]
    pub proofs: Option<PathBuf>,
    /// Instead of a proofs file: a proof in snarkjs' proof.json form (from snarkjs, rapidsnark
    /// or `gridproof proof to-snarkjs`), checked with this verifying key.
    #[arg(
        long,
        value_name = "proof.json",
        conflicts_with = "proofs",
        requires = "snarkjs_public"
    )]
    pub snarkjs_proof: Option<PathBuf>,
    /// The public inputs of --snarkjs-proof, snarkjs' public.json.
    #[arg(long, value_name = "public.json", requires = "snarkjs_proof")]
    pub snarkjs_public: Option<PathBuf>,
    /// A disclosure BUNDLE file to open and check link by link (docs/disclosure.md); with
    /// --proofs or --rpc-url/--oracle its public inputs are matched against that public record.
    #[arg(
        long,
        value_name = "BUNDLE",
        requires = "regulator_key",
        conflicts_with = "snarkjs_proof"
    )]
    pub disclosure: Option<PathBuf>,
    /// The regulator's secret key file (`gridproof regulator keygen`) that opens --disclosure.
    #[arg(long, value_name = "KEYFILE", requires = "disclosure")]
    pub regulator_key: Option<PathBuf>,
    /// With --disclosure: match the batch against RevenueOracle on this JSON-RPC endpoint.
    #[arg(
        long,
        value_name = "URL",
        requires_all = ["disclosure", "oracle"],
        conflicts_with = "proofs"
    )]
    pub rpc_url: Option<String>,
    /// With --rpc-url: the RevenueOracle address.
    #[arg(long, value_name = "ADDR", requires = "rpc_url")]
    pub oracle: Option<String>,
    /// With --disclosure: print the bundle, every check and the timings as JSON.
    #[arg(long, requires = "disclosure")]
    pub json: bool,
}

/// Runs `verify`: one line per batch on stdout; an error (exit 1) unless every batch verifies.
pub fn run(args: &VerifyArgs) -> Result<(), CliError> {
    if let Some(bundle) = &args.disclosure {
        return super::disclose::verify_disclosure(args, bundle);
    }
    let (Some(proofs), None) = (&args.proofs, &args.snarkjs_proof) else {
        // clap requires exactly one of --proofs and --snarkjs-proof (with --snarkjs-public).
        return match (&args.snarkjs_proof, &args.snarkjs_public) {
            (Some(proof), Some(public)) => super::proof::verify_snarkjs(&args.keys, proof, public),
            _ => Err(CliError::Input(
                "give --proofs, or --snarkjs-proof with --snarkjs-public".into(),
            )),
        };
    };
    let manifest = read_manifest(&args.keys)?;
    if let Some(warning) = manifest.provenance.warning() {
        eprintln!("note: {warning}");
    }
    let (_shape, vk) = load_verifying_key(&args.keys)?;
    let file = ProofsFile::read(proofs)?;
    let report = verify_proofs_file(&vk, &file)?;
    let mut failed = 0;
    for (verdict, batch) in report.batches.iter().zip(&file.batches) {
        match &verdict.result {
            Ok(()) => {
                let totals = PublicInputs::from_field_elements(&batch.public_inputs)
                    .map(|p| {
                        format!(
                            " (total_energy_wh {}, total_revenue_nusd {})",
                            p.total_energy_wh, p.total_revenue_nusd
                        )
                    })
                    .unwrap_or_default();
                println!("batch {}: verified{totals}", verdict.batch_index);
            }
            Err(e) => {
                failed += 1;
                println!("batch {}: FAILED: {e}", verdict.batch_index);
            }
        }
    }
    if failed > 0 || !report.all_verified() {
        return Err(CliError::VerificationFailed {
            failed: failed.max(1),
            total: report.batches.len(),
        });
    }
    eprintln!(
        "verify: all {} batch proof(s) of epoch {} verified",
        report.batches.len(),
        file.epoch
    );
    Ok(())
}
