//! `gridproof prove`: batch file v1 in, proofs file v1 and the private output out.
//!
//! Order of work, so that bad input costs nothing and never leaves a partial file: read the
//! keys' manifest (shape only), parse and validate the whole batch file (every problem listed),
//! refuse if an output exists, load the proving key, place the sites and prove each batch (with
//! progress on stderr), then stage both outputs as temporary files and rename them into place
//! (the private output first: proofs without it could never be disclosed from). If a rename
//! fails, the error says which of the two files was written and which was not.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_prover::batch::{validate, BatchFile, ValidationPolicy, DEFAULT_MIN_SITES_PER_BATCH};
use gridproof_prover::epoch::prepare_epoch;
use gridproof_prover::private_output::default_private_output_path;
use gridproof_prover::{read_shape, BatchProof, Keys, MsmBackend, ProofsFile, ProvePhase};

use super::files::ensure_absent;
use super::{parse_count, CliError};

/// Options of `prove`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The key directory made by `gridproof setup` (its shape fixes S, T and P).
    #[arg(long, value_name = "KEYS", env = "GRIDPROOF_KEYS")]
    pub keys: PathBuf,
    /// The batch file v1: the epoch's schedule, registry entries and signed readings.
    #[arg(long, value_name = "BATCH.json")]
    pub batch: PathBuf,
    /// Where to write the proofs file v1 (public).
    #[arg(long, value_name = "PROOFS.json")]
    pub out: PathBuf,
    /// Where to write the private output (secret, CEII: locations, salts, leaves, readings;
    /// mode 0600). Default: beside the proofs file, PROOFS.private.json.
    #[arg(long, value_name = "FILE")]
    pub private_out: Option<PathBuf>,
    /// k-anonymity: refuse if any batch would hold fewer real sites than this.
    #[arg(long, default_value_t = DEFAULT_MIN_SITES_PER_BATCH, value_parser = parse_count)]
    pub min_sites_per_batch: usize,
    /// Only validate the batch file against the keys and print the batch plan; prove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace existing output files (the old private output's salts are lost).
    #[arg(long)]
    pub force: bool,
    /// Also write each batch's full assignment as DIR/batch-<batch_index>.wtns (iden3 format,
    /// for `snarkjs wtns check`, snarkjs or rapidsnark proving). SECRET like the private
    /// output (every site's identity, key and readings): mode 0600 in a 0700 directory.
    #[arg(long, value_name = "DIR")]
    pub witness_dir: Option<PathBuf>,
    /// The prover's MSM backend: hybrid (halo2curves for full-size scalars, arkworks for
    /// small ones; the fastest), arkworks (gridproof's prover with arkworks' MSMs) or stock
    /// (ark-groth16's own prover). All make proofs of the same statement.
    #[arg(long, value_name = "stock|arkworks|hybrid", default_value_t = MsmBackend::default())]
    pub msm: MsmBackend,
}

/// Runs `prove`: prints [`prove_to_files`]'s summary on stdout.
pub fn run(args: &ProveArgs) -> Result<(), CliError> {
    let summary = prove_to_files(args)?;
    println!("{summary}");
    Ok(())
}

/// The work of `prove` (progress on stderr): validates, proves and writes both outputs, and
/// returns the summary that `prove` prints (with `--dry-run`, the batch plan; nothing written).
/// `gridproof demo` proves through this too.
pub fn prove_to_files(args: &ProveArgs) -> Result<serde_json::Value, CliError> {
    let private_out = args
        .private_out
        .clone()
        .unwrap_or_else(|| default_private_output_path(&args.out));
    if private_out == args.out {
        return Err(CliError::Input(
            "--private-out must differ from --out: the private output is secret".into(),
        ));
    }
    if args.out == args.batch || private_out == args.batch {
        return Err(CliError::Input(
            "the outputs must not replace the batch file".into(),
        ));
    }
    if !args.dry_run {
        ensure_absent(&args.out, args.force)?;
        ensure_absent(&private_out, args.force)?;
    }

    let (shape, manifest) = read_shape(&args.keys)?;
    if let Some(warning) = manifest.provenance.warning() {
        eprintln!("note: {warning}");
    }

    let file = BatchFile::read(&args.batch)?;
    let policy = ValidationPolicy {
        min_sites_per_batch: args.min_sites_per_batch,
    };
    let validated = validate(&file, &shape, &policy)?;
    let sizes: Vec<String> = validated
        .plan()
        .iter()
        .map(|a| a.site_count.to_string())
        .collect();
    eprintln!(
        "prove: {} valid: epoch {}, {} sites in {} batch(es) of up to {} sites ({} real sites each)",
        args.batch.display(),
        validated.epoch,
        validated.sites().len(),
        validated.plan().len(),
        shape.sites,
        sizes.join(", ")
    );
    if args.dry_run {
        return Ok(serde_json::json!({
            "valid": true,
            "epoch": validated.epoch,
            "sites": validated.sites().len(),
            "batches": validated.plan().iter().map(|a| serde_json::json!({
                "batch_index": a.batch_index,
                "sites": a.site_count,
            })).collect::<Vec<_>>(),
        }));
    }

    if let Some(dir) = &args.witness_dir {
        let indices = validated.plan().iter().map(|a| a.batch_index);
        super::circuit::prepare_witness_dir(dir, indices, args.force)?;
    }

    let loading = Instant::now();
    let keys = Keys::load_with_backend(&args.keys, args.msm)?;
    eprintln!(
        "prove: loaded the proving key ({} constraints, {} MSM backend) in {:.1} s",
        keys.num_constraints,
        args.msm,
        loading.elapsed().as_secs_f64()
    );
    if keys.shape != shape {
        return Err(CliError::Input(format!(
            "{}: the proving key's shape differs from manifest.json's",
            args.keys.display()
        )));
    }

    let epoch = prepare_epoch(&validated, &mut rand::rngs::OsRng)?;
    let total = epoch.batches.len();
    let mut proofs = Vec::with_capacity(total);
    let mut summary = Vec::with_capacity(total);
    let mut witnesses = Vec::new();
    let proving = Instant::now();
    for (i, batch) in epoch.batches.into_iter().enumerate() {
        let started = Instant::now();
        let mut progress = |phase: ProvePhase| {
            let name = match phase {
                ProvePhase::Synthesizing => "synthesizing the witness",
                ProvePhase::Checking => "checking every constraint",
                ProvePhase::Proving => "proving (FFTs and MSMs)",
            };
            eprintln!(
                "prove: batch {}/{total} ({} sites): {name} ... [{:.1} s]",
                i + 1,
                batch.site_ids.len(),
                started.elapsed().as_secs_f64()
            );
        };
        let (proof, assignment) = gridproof_prover::prove::prove_keeping_assignment(
            &keys,
            batch.circuit,
            &mut rand::rngs::OsRng,
            &mut progress,
        )
        .map_err(|source| CliError::Prove {
            batch_index: batch.batch_index,
            source,
        })?;
        if let Some(dir) = &args.witness_dir {
            let path = super::circuit::witness_path(dir, batch.batch_index);
            witnesses.push(super::circuit::stage_witness(&path, &assignment.full)?);
        }
        drop(assignment);
        eprintln!(
            "prove: batch {}/{total}: proved in {:.1} s",
            i + 1,
            started.elapsed().as_secs_f64()
        );
        summary.push(serde_json::json!({
            "batch_index": batch.batch_index,
            "sites": batch.site_ids.len(),
            "total_energy_wh": batch.public_inputs.total_energy_wh.to_string(),
            "total_revenue_nusd": batch.public_inputs.total_revenue_nusd.to_string(),
        }));
        proofs.push(BatchProof {
            batch_index: batch.batch_index,
            public_inputs: batch.public_inputs.to_field_elements(),
            proof,
        });
    }
    let proofs_file = ProofsFile::new(epoch.epoch, epoch.registry_root, proofs)?;

    // Stage both, then rename: the private output first. A staged file that is never committed
    // is removed, so a failure here leaves at most the private output in place.
    let private_staged = epoch.private.stage(&private_out)?;
    let proofs_staged = proofs_file.stage(&args.out)?;
    private_staged
        .commit()
        .map_err(|source| CliError::OutputsIncomplete {
            failed: private_out.clone(),
            written: None,
            source,
        })?;
    proofs_staged
        .commit()
        .map_err(|source| CliError::OutputsIncomplete {
            failed: args.out.clone(),
            written: Some(private_out.clone()),
            source,
        })?;
    for staged in witnesses {
        let path = staged.target().to_path_buf();
        staged.commit().map_err(|source| {
            CliError::Input(format!(
                "wrote {} and {}, but cannot write the witness {}: {source}",
                args.out.display(),
                private_out.display(),
                path.display()
            ))
        })?;
    }
    if let Some(dir) = &args.witness_dir {
        eprintln!(
            "prove: wrote {total} witness file(s) batch-<i>.wtns in {} (secret: never publish them)",
            dir.display()
        );
    }
    eprintln!(
        "prove: {total} batch(es) proved in {:.1} s; wrote {} and the private output {} (secret: keep it, never publish it)",
        proving.elapsed().as_secs_f64(),
        args.out.display(),
        private_out.display()
    );
    let (energy, revenue) = epoch_totals(&proofs_file);
    Ok(serde_json::json!({
        "proofs": args.out.display().to_string(),
        "private_output": private_out.display().to_string(),
        "epoch": epoch.epoch,
        "registry_root": field_to_decimal(&epoch.registry_root),
        "total_energy_wh": energy.to_string(),
        "total_revenue_nusd": revenue.to_string(),
        "batches": summary,
    }))
}

/// Epoch totals (energy Wh, revenue nUSD) summed over the batches' public inputs.
pub fn epoch_totals(file: &ProofsFile) -> (u128, u128) {
    use gridproof_circuits::statement::PublicInputs;
    file.batches
        .iter()
        .filter_map(|b| PublicInputs::from_field_elements(&b.public_inputs).ok())
        .fold((0, 0), |(e, r), p| {
            (e + p.total_energy_wh, r + p.total_revenue_nusd)
        })
}
