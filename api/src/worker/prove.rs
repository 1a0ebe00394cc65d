//! The `prove_batch` job: one batch of a planned epoch, proved with the process's keys.
//!
//! The witness is rebuilt from the store (the batch's registry path needs every leaf of the
//! epoch, so the whole epoch is read and validated again) and checked against the recorded
//! plan: the rebuilt registry root and every batch's sites must equal the stored ones, or the
//! job fails as inconsistent instead of proving something else than was planned. The proof
//! runs on the blocking pool; the lease is heartbeaten meanwhile.

use std::sync::Arc;

use gridproof_circuits::statement::PublicInputs;
use gridproof_prover::{Bn254, Keys, Proof, ProofJson, ProveError, ProvePhase};

use super::plan::{load_epoch_input, prepare, validate_input, EpochInput};
use super::{fr_to_be_bytes, public_inputs_json, with_heartbeat, JobError, WorkerConfig};
use crate::store::{BatchStatus, EpochStatus, Lease, Store};

/// Prometheus histogram of the seconds each successful batch proof took (`/metrics`; buckets
/// in [`crate::http::prometheus`]).
pub const PROVE_SECONDS: &str = "gridproof_prove_seconds";

/// Runs a claimed `prove_batch` job to its recorded proof.
pub(crate) async fn run(
    store: &Store,
    config: &WorkerConfig,
    lease: &mut Lease,
) -> Result<(), JobError> {
    let epoch_number = lease.job.epoch;
    let batch_index = lease
        .job
        .batch_index
        .ok_or_else(|| JobError::Inconsistent(format!("job {} has no batch", lease.job.id)))?;
    let epoch = store
        .epoch(epoch_number)
        .await?
        .ok_or_else(|| JobError::Data(format!("epoch {epoch_number} does not exist")))?;
    if epoch.status != EpochStatus::Proving {
        return Err(JobError::Data(format!(
            "epoch {epoch_number} is {}{}: its batches are not proved any more",
            epoch.status,
            epoch
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )));
    }
    let registry_root = epoch.registry_root.ok_or_else(|| {
        JobError::Inconsistent(format!("epoch {epoch_number} has no registry root"))
    })?;
    let batches = store.batches(epoch_number).await?;
    let batch = batches.get(batch_index as usize).ok_or_else(|| {
        JobError::Inconsistent(format!(
            "batch {batch_index} of epoch {epoch_number} is not planned"
        ))
    })?;
    if batch.status != BatchStatus::Pending {
        return Err(JobError::Inconsistent(format!(
            "batch {batch_index} of epoch {epoch_number} is {}, not pending",
            batch.status
        )));
    }
    let planned: Vec<Vec<u64>> = batches.iter().map(|b| b.site_ids.clone()).collect();
    let order: Vec<u64> = planned.iter().flatten().copied().collect();
    let input = load_epoch_input(store, &epoch, Some(&order), &config.cipher).await?;
    tracing::info!(
        sites = batch.site_ids.len(),
        epoch_sites = order.len(),
        "proving: rebuilding the epoch's registry and the batch's witness"
    );
    let keys = Arc::clone(&config.keys);
    let k = config.min_sites_per_batch;
    let (public_inputs, proof) = with_heartbeat(store, config, lease, move || {
        prove_batch(&keys, &input, &planned, &registry_root, batch_index, k)
    })
    .await??;
    let epoch_proved = store
        .complete_prove_batch(
            lease,
            &public_inputs_json(&public_inputs),
            &serde_json::to_string(&ProofJson::from_proof(&proof))
                .expect("a proof of decimal strings always serializes"),
        )
        .await?;
    tracing::info!(
        total_energy_wh = %public_inputs.total_energy_wh,
        total_revenue_nusd = %public_inputs.total_revenue_nusd,
        epoch_proved,
        "proved"
    );
    Ok(())
}

/// The CPU-bound part: validate and place the whole epoch, check it against the stored plan,
/// prove batch `batch_index`.
fn prove_batch(
    keys: &Keys,
    input: &EpochInput,
    planned: &[Vec<u64>],
    registry_root: &[u8; 32],
    batch_index: u32,
    min_sites_per_batch: usize,
) -> Result<(PublicInputs, Proof<Bn254>), JobError> {
    // The plan was checked against k-anonymity when it was made; here every batch is checked
    // again below, so validation only needs to rebuild the same placement.
    let validated = validate_input(input, &keys.shape, 1)?;
    let prepared = prepare(&validated, &input.salts)?;
    if &fr_to_be_bytes(&prepared.registry_root) != registry_root {
        return Err(JobError::Inconsistent(
            "the registry root rebuilt from the stored installations differs from the one \
             recorded by the plan"
                .into(),
        ));
    }
    let rebuilt: Vec<&Vec<u64>> = prepared.batches.iter().map(|b| &b.site_ids).collect();
    if rebuilt.len() != planned.len() || rebuilt.iter().zip(planned).any(|(a, b)| *a != b) {
        return Err(JobError::Inconsistent(
            "the batches rebuilt from the stored data differ from the recorded plan (was it \
             made with keys of another shape?)"
                .into(),
        ));
    }
    let batch = prepared
        .batches
        .into_iter()
        .nth(batch_index as usize)
        .ok_or_else(|| JobError::Inconsistent(format!("batch {batch_index} is not planned")))?;
    if batch.site_ids.len() < min_sites_per_batch {
        return Err(JobError::Data(format!(
            "batch {batch_index} holds {} real sites, fewer than the k-anonymity minimum of \
             {min_sites_per_batch}: refusing to prove it",
            batch.site_ids.len()
        )));
    }
    let mut progress = |phase: ProvePhase| {
        let phase = match phase {
            ProvePhase::Synthesizing => "synthesizing the witness",
            ProvePhase::Checking => "checking every constraint",
            ProvePhase::Proving => "proving (FFTs and MSMs)",
        };
        tracing::info!(phase, "proving");
    };
    let started = std::time::Instant::now();
    let proof = gridproof_prover::prove(keys, batch.circuit, &mut rand::rngs::OsRng, &mut progress)
        .map_err(|e| match e {
            e @ ProveError::Unsatisfied { .. } => JobError::Unsatisfied(e),
            e => JobError::Prove(e),
        })?;
    // Witness, synthesis, satisfiability check and proof of this batch (what `gridproof bench`
    // calls "prove total"); the epoch's re-validation before it is not included.
    metrics::histogram!(PROVE_SECONDS).record(started.elapsed().as_secs_f64());
    Ok((batch.public_inputs, proof))
}
