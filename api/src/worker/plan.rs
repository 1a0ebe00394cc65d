//! The `plan_epoch` job: a closed epoch's registry and batches, from the stored installations
//! and readings.
//!
//! The rule (docs/service-workers.md, "Planning"):
//! - **Which sites**: every installation with a reading for the epoch. A registered site
//!   without readings is not in the epoch's registry at all: a leaf inside a batch's range must
//!   carry a valid meter signature over the epoch's readings, so such a site could not be
//!   proved, and a leaf outside every batch would be committed to but never proved.
//! - **Order**: ascending site id (as u64). Registry leaf `b*S + p` is the p-th site of batch b.
//! - **Batches**: the prover's plan ([`gridproof_prover::epoch::plan_batches`]): ceil(n / S)
//!   batches, sizes as even as possible (they differ by at most one; earlier batches take the
//!   extra sites), each batch's unused leaves empty. If the smallest batch would hold fewer real
//!   sites than the k-anonymity minimum, no arrangement can do better (more batches are only
//!   smaller), so the epoch fails with the reason.
//! - **Leaves**: each site's registry entry commits to its location with the salt stored
//!   (sealed) with its installation, so the same database content always gives the same
//!   registry root and the same batches.
//!
//! Everything is then checked exactly as `gridproof prove` checks a batch file (signatures,
//! capacity bounds, counts against the keys' shape): the epoch's data are turned into a batch
//! file v1 and go through the prover's own validation and placement.

use std::collections::HashMap;

use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::statement::BatchShape;
use gridproof_circuits::Fr;
use gridproof_prover::batch::{
    validate, BatchFile, LocationRecord, SignatureRecord, SiteRecord, ValidatedBatch,
    ValidationPolicy, BATCH_FILE_VERSION,
};
use gridproof_prover::epoch::{plan_batches, prepare_epoch_with_salts, PlanError, PreparedEpoch};

use super::{fr_to_be_bytes, with_heartbeat, JobError, WorkerConfig};
use crate::store::{Epoch, EpochStatus, Lease, LocationCipher, NewBatch, Store};

/// What an epoch is planned and proved from: its sites as a batch file v1 (in registry order)
/// and each site's location salt. Secret (locations, salts, readings): no `Debug`, never
/// logged.
pub struct EpochInput {
    /// The epoch's schedule and sites.
    pub file: BatchFile,
    /// `salts[i]`: the location salt of `file.sites[i]`, as registered.
    pub salts: Vec<Fr>,
}

/// An epoch's plan: what [`Store::complete_plan_epoch`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPlan {
    /// Root of the epoch's registry tree (public).
    pub registry_root: Fr,
    /// The batches and their sites, in registry order.
    pub batches: Vec<NewBatch>,
}

/// Reads what `epoch` is planned or proved from. `site_ids`: the sites in registry order (a
/// prove job passes the stored plan's order); `None` means every site with a reading for the
/// epoch, in ascending site id (the planning rule).
pub async fn load_epoch_input(
    store: &Store,
    epoch: &Epoch,
    site_ids: Option<&[u64]>,
    cipher: &LocationCipher,
) -> Result<EpochInput, JobError> {
    let mut readings: HashMap<u64, _> = store
        .epoch_readings(epoch.epoch)
        .await?
        .into_iter()
        .map(|r| (r.site_id, r))
        .collect();
    let order: Vec<u64> = match site_ids {
        Some(ids) => ids.to_vec(),
        None => {
            let mut ids: Vec<u64> = readings.keys().copied().collect();
            ids.sort_unstable();
            ids
        }
    };
    let installations: HashMap<u64, _> = store
        .installations(&order)
        .await?
        .into_iter()
        .map(|i| (i.site_id, i))
        .collect();
    let mut sites = Vec::with_capacity(order.len());
    let mut salts = Vec::with_capacity(order.len());
    for site_id in order {
        let installation = installations.get(&site_id).ok_or_else(|| {
            JobError::Inconsistent(format!("site {site_id} is planned but not registered"))
        })?;
        let reading = readings.remove(&site_id).ok_or_else(|| {
            JobError::Inconsistent(format!(
                "site {site_id} is planned but has no reading for epoch {}",
                epoch.epoch
            ))
        })?;
        let secret = cipher.open(site_id, &installation.location)?;
        salts.push(secret.salt);
        sites.push(SiteRecord {
            site_id,
            meter_public_key: [
                installation.meter_public_key.x,
                installation.meter_public_key.y,
            ],
            capacity_w: installation.capacity_w,
            prices_uusd_per_kwh: installation.prices_uusd_per_kwh.clone(),
            location: LocationRecord::from_location(&secret.location),
            readings_wh: reading.readings_wh,
            signature: SignatureRecord::from_signature(&reading.signature),
        });
    }
    Ok(EpochInput {
        file: BatchFile {
            version: BATCH_FILE_VERSION,
            epoch: epoch.epoch,
            interval_seconds: u64::from(epoch.interval_seconds),
            slots: epoch.slots.iter().map(|&s| u32::from(s)).collect(),
            sites,
        },
        salts,
    })
}

/// Checks the input as `gridproof prove` checks a batch file (every problem listed, each
/// naming its site) and spreads its sites over batches; `min_sites_per_batch` is the
/// k-anonymity minimum.
pub fn validate_input(
    input: &EpochInput,
    shape: &BatchShape,
    min_sites_per_batch: usize,
) -> Result<ValidatedBatch, JobError> {
    let n = input.file.sites.len();
    let epoch = input.file.epoch;
    if n == 0 {
        return Err(JobError::Data(format!(
            "epoch {epoch} has no readings: there is nothing to prove"
        )));
    }
    match plan_batches(n, shape, min_sites_per_batch) {
        Ok(_) => {}
        Err(PlanError::TooFewSites { n_sites, min }) => {
            return Err(JobError::Data(format!(
                "too few sites for k-anonymity: epoch {epoch} has readings from {n_sites} \
                 site(s), but every batch must hold at least {min} real sites (a batch's totals \
                 are public, so a smaller batch would reveal too much about each of its sites)"
            )))
        }
        Err(e) => return Err(JobError::Data(format!("epoch {epoch}: {e}"))),
    }
    let policy = ValidationPolicy {
        min_sites_per_batch,
    };
    validate(&input.file, shape, &policy).map_err(|e| {
        JobError::Data(format!(
            "epoch {epoch}: the stored installations and readings fail validation against the \
             keys (S={}, T={}, P={}): {e}",
            shape.sites, shape.readings_per_site, shape.price_slots
        ))
    })
}

/// Places a validated epoch in its registry with the registered salts and builds every batch's
/// witness (the prover's own placement).
pub fn prepare(batch: &ValidatedBatch, salts: &[Fr]) -> Result<PreparedEpoch, JobError> {
    prepare_epoch_with_salts(batch, salts).map_err(|e| {
        JobError::Data(format!(
            "epoch {}: cannot place the sites in the registry: {e}",
            batch.epoch
        ))
    })
}

/// The plan of a prepared epoch.
pub fn plan_of(prepared: &PreparedEpoch) -> Result<EpochPlan, JobError> {
    let batches = prepared
        .batches
        .iter()
        .map(|b| {
            Ok(NewBatch {
                batch_index: u32::try_from(b.batch_index).map_err(|_| {
                    JobError::Data(format!("batch index {} is too large", b.batch_index))
                })?,
                site_ids: b.site_ids.clone(),
            })
        })
        .collect::<Result<_, JobError>>()?;
    Ok(EpochPlan {
        registry_root: prepared.registry_root,
        batches,
    })
}

/// Plans `input`: validation, placement, plan (CPU-bound: signatures and hashes of every site).
pub fn plan_input(
    input: &EpochInput,
    shape: &BatchShape,
    min_sites_per_batch: usize,
) -> Result<EpochPlan, JobError> {
    let validated = validate_input(input, shape, min_sites_per_batch)?;
    plan_of(&prepare(&validated, &input.salts)?)
}

/// The plan of `epoch` from the store as it is now, without recording it (for tests and for
/// checking that planning is reproducible). Blocks the calling task for the CPU-bound part.
pub async fn build_plan(
    store: &Store,
    epoch: u64,
    shape: &BatchShape,
    min_sites_per_batch: usize,
    cipher: &LocationCipher,
) -> Result<EpochPlan, JobError> {
    let epoch = store
        .epoch(epoch)
        .await?
        .ok_or_else(|| JobError::Data(format!("epoch {epoch} does not exist")))?;
    let input = load_epoch_input(store, &epoch, None, cipher).await?;
    plan_input(&input, shape, min_sites_per_batch)
}

/// Runs a claimed `plan_epoch` job to its recorded plan.
pub(crate) async fn run(
    store: &Store,
    config: &WorkerConfig,
    lease: &mut Lease,
) -> Result<(), JobError> {
    let epoch_number = lease.job.epoch;
    let epoch = store
        .epoch(epoch_number)
        .await?
        .ok_or_else(|| JobError::Data(format!("epoch {epoch_number} does not exist")))?;
    if epoch.status != EpochStatus::Proving {
        return Err(JobError::Data(format!(
            "epoch {epoch_number} is {}, not proving: nothing to plan",
            epoch.status
        )));
    }
    let input = load_epoch_input(store, &epoch, None, &config.cipher).await?;
    tracing::info!(
        sites = input.file.sites.len(),
        "planning: validating the stored readings and building the registry"
    );
    let shape = config.keys.shape;
    let k = config.min_sites_per_batch;
    let plan =
        with_heartbeat(store, config, lease, move || plan_input(&input, &shape, k)).await??;
    let prove_jobs = store
        .complete_plan_epoch(
            lease,
            &fr_to_be_bytes(&plan.registry_root),
            &plan.batches,
            config.prove_max_attempts,
        )
        .await?;
    let sizes: Vec<usize> = plan.batches.iter().map(|b| b.site_ids.len()).collect();
    tracing::info!(
        batches = plan.batches.len(),
        sites_per_batch = ?sizes,
        registry_root = %field_to_decimal(&plan.registry_root),
        prove_jobs = ?prove_jobs,
        "planned: prove jobs queued"
    );
    Ok(())
}
