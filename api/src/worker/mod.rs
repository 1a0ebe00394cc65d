//! Proving workers: the processes that take `plan_epoch` and `prove_batch` jobs from the
//! store's queue and run them (docs/service-workers.md is the reference).
//!
//! - A **plan** job ([`plan`]) turns a closed epoch's stored installations and readings into
//!   its registry and batches, deterministically: the same database content gives the same
//!   registry root and the same batches, whichever worker plans and however often.
//! - A **prove** job ([`prove`]) rebuilds the epoch from the same data, checks it against the
//!   stored plan and proves its one batch with the keys loaded once per process.
//!
//! Every job's CPU-bound part runs on tokio's blocking pool while the async side heartbeats the
//! job's lease every third of the lease, so a live worker keeps its job and a dead one loses it
//! to the next claim once the lease expires. Results are written by the store in the transaction
//! that ends the job, so a job's result exists exactly once, whatever crashes in between.
//!
//! [`run_workers`] is the entry point for `gridproof worker` and for `gridproof serve`, which
//! runs the same workers beside its HTTP server.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::statement::PublicInputs;
use gridproof_prover::proofs_file::PUBLIC_INPUT_NAMES;
use gridproof_prover::{Keys, ProofsFile, ProofsFileError};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::store::{
    Batch, Epoch, JobKind, JobState, Lease, LocationCipher, LocationError, Retry, Store, StoreError,
};

pub mod plan;
pub mod prove;

/// The k-anonymity minimum unless configured (DESIGN.md: default 3 real sites per batch).
pub const DEFAULT_MIN_SITES_PER_BATCH: usize = gridproof_prover::batch::DEFAULT_MIN_SITES_PER_BATCH;

/// How workers run. Cheap to clone (the keys and the cipher are shared).
#[derive(Clone)]
pub struct WorkerConfig {
    /// The proving keys, loaded once per process; their shape fixes S, T and P.
    pub keys: Arc<Keys>,
    /// Opens the installations' sealed locations, which the registry leaves commit to.
    pub cipher: Arc<LocationCipher>,
    /// Concurrent workers in this process (each runs one job at a time; a proof already uses
    /// every core, so more than one mostly helps to overlap planning and database waits).
    pub workers: usize,
    /// How long a claimed job stays ours without a heartbeat; heartbeats come every third of
    /// it. A killed worker's job is taken over after at most this long.
    pub lease: Duration,
    /// k-anonymity: no batch is planned or proved with fewer real sites.
    pub min_sites_per_batch: usize,
    /// Attempts of each `prove_batch` job the plan queues (a failing or crashing proof is
    /// retried until then, and then fails its batch and its epoch).
    pub prove_max_attempts: u32,
    /// Delay before the first retry of a failed attempt; doubled per attempt, at most
    /// [`MAX_RETRY_DELAY`].
    pub retry_delay: Duration,
    /// How often an idle worker asks the queue for a job.
    pub poll_interval: Duration,
    /// Stop when no job is queued or running any more instead of waiting for new ones (a
    /// one-shot run: cron, tests).
    pub once: bool,
    /// Prefix of the worker names recorded as lease owners (`<name>/<n>`); by default the host
    /// name, the process id and a random tag.
    pub name: String,
}

/// The longest delay before a retry.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

impl WorkerConfig {
    /// The defaults: one worker, a 60 s lease, k = 3, 3 prove attempts, retries after 5 s,
    /// polling every second.
    pub fn new(keys: Arc<Keys>, cipher: Arc<LocationCipher>) -> Self {
        WorkerConfig {
            keys,
            cipher,
            workers: 1,
            lease: Duration::from_secs(60),
            min_sites_per_batch: DEFAULT_MIN_SITES_PER_BATCH,
            prove_max_attempts: 3,
            retry_delay: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            once: false,
            name: default_worker_name(),
        }
    }

    fn retry_after(&self, attempt: i64) -> Duration {
        retry_delay(self.retry_delay, attempt)
    }

    fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(50))
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("shape", &self.keys.shape)
            .field("cipher", &self.cipher)
            .field("workers", &self.workers)
            .field("lease", &self.lease)
            .field("min_sites_per_batch", &self.min_sites_per_batch)
            .field("prove_max_attempts", &self.prove_max_attempts)
            .field("once", &self.once)
            .field("name", &self.name)
            .finish()
    }
}

/// `base` doubled per attempt after the first, at most [`MAX_RETRY_DELAY`].
fn retry_delay(base: Duration, attempt: i64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    base.saturating_mul(1u32 << doublings).min(MAX_RETRY_DELAY)
}

/// `host:pid:tag`: unique enough that two processes never share a name (the fencing token also
/// carries the attempt, so even a shared name could not record a result twice).
fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Why the workers could not run (a job's own failure is recorded on the job, not here).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The database could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The proving keys could not be loaded.
    #[error("keys: {0}")]
    Keys(#[from] gridproof_prover::KeysError),
    /// The location key could not be loaded.
    #[error("location key: {0}")]
    LocationKey(#[from] LocationError),
    /// The keys' circuit could not be synthesized to build its constraint matrices.
    #[error("keys: the constraint matrices: {0}")]
    Matrices(#[from] gridproof_prover::ProveError),
    /// The configuration cannot work.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// A worker task panicked (a bug); the others were stopped.
    #[error("a worker task panicked: {0}")]
    Panicked(String),
}

/// Why one attempt of a job failed. [`JobError::is_permanent`] decides whether it is retried.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed (retried).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Another worker took the job over: this attempt's work is dropped, nothing is recorded.
    #[error("lease lost: {0}")]
    LeaseLost(StoreError),
    /// A sealed location could not be opened: wrong or missing key (retried, so that a worker
    /// with the right key can still take the job).
    #[error("cannot open a location: {0}")]
    Location(#[from] LocationError),
    /// The epoch's data cannot be planned or proved: bad or missing readings, too few sites for
    /// k-anonymity, data that do not fit the keys' shape. Permanent: a closed epoch's data do
    /// not change.
    #[error("{0}")]
    Data(String),
    /// The stored plan does not match what the data give now (a bug or an edited database).
    /// Permanent.
    #[error("the stored plan is inconsistent: {0}")]
    Inconsistent(String),
    /// The witness does not satisfy the statement (the data passed validation, so a bug).
    /// Permanent.
    #[error("proving failed: {0}")]
    Unsatisfied(gridproof_prover::ProveError),
    /// The prover failed otherwise (wrong keys for the circuit, synthesis error); retried.
    #[error("proving failed: {0}")]
    Prove(gridproof_prover::ProveError),
    /// The job's CPU-bound part panicked (retried; a job that panics every time ends failed
    /// after its attempts).
    #[error("the job's computation panicked: {0}")]
    Panicked(String),
}

impl JobError {
    /// True when retrying cannot help: the job fails for good at once.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            JobError::Data(_) | JobError::Inconsistent(_) | JobError::Unsatisfied(_)
        )
    }

    /// True when the attempt ended because another worker holds the job now.
    pub fn is_lease_lost(&self) -> bool {
        matches!(
            self,
            JobError::LeaseLost(_) | JobError::Store(StoreError::LeaseLost { .. })
        )
    }
}

/// Runs `config.workers` workers on `store` until `shutdown` resolves (or, with
/// [`WorkerConfig::once`], until no job is queued or running). On shutdown the workers stop
/// claiming and finish the jobs they hold; a job abandoned by a killed process is taken over by
/// another worker when its lease expires.
pub async fn run_workers(
    store: Store,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    if config.workers == 0 {
        return Err(WorkerError::Config("--workers must be at least 1".into()));
    }
    if config.lease < Duration::from_millis(300) {
        return Err(WorkerError::Config(
            "the lease must be at least 300 ms (heartbeats come every third of it)".into(),
        ));
    }
    if config.prove_max_attempts == 0 {
        return Err(WorkerError::Config(
            "prove jobs need at least 1 attempt".into(),
        ));
    }
    if config.min_sites_per_batch == 0 {
        return Err(WorkerError::Config(
            "the k-anonymity minimum must be at least 1".into(),
        ));
    }
    let shape = config.keys.shape;
    tracing::info!(
        workers = config.workers,
        name = %config.name,
        sites_per_batch = shape.sites,
        readings_per_site = shape.readings_per_site,
        price_slots = shape.price_slots,
        lease_ms = config.lease.as_millis() as u64,
        min_sites_per_batch = config.min_sites_per_batch,
        once = config.once,
        "workers starting"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = Arc::new(config);
    let mut tasks = JoinSet::new();
    for n in 0..config.workers {
        let name = format!("{}/{n}", config.name);
        tasks.spawn(worker_loop(
            store.clone(),
            Arc::clone(&config),
            name,
            stop_rx.clone(),
        ));
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopping = false;
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                stopping = true;
                tracing::info!("shutdown requested: finishing the jobs in hand, claiming no more");
                let _ = stop_tx.send(true);
            }
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    if outcome.is_ok() {
                        outcome = Err(WorkerError::Panicked(e.to_string()));
                    }
                    let _ = stop_tx.send(true);
                }
            },
        }
    }
    tracing::info!("workers stopped");
    outcome
}

/// One worker: claim, run, repeat.
async fn worker_loop(
    store: Store,
    config: Arc<WorkerConfig>,
    name: String,
    mut stop: watch::Receiver<bool>,
) {
    let kinds = [JobKind::PlanEpoch, JobKind::ProveBatch];
    loop {
        if *stop.borrow() {
            return;
        }
        match store.claim_job(&name, &kinds, config.lease).await {
            Ok(Some(lease)) => {
                run_job(&store, &config, lease).await;
                continue;
            }
            Ok(None) if config.once => match queue_is_idle(&store).await {
                Ok(true) => {
                    tracing::info!(worker = %name, "no job queued or running: done");
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(worker = %name, error = %e, "cannot read the queue; trying again");
                }
            },
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "cannot claim a job; trying again");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// No job is queued (even for later) or running anywhere.
async fn queue_is_idle(store: &Store) -> Result<bool, StoreError> {
    let counts = store.job_counts().await?;
    Ok(!counts
        .iter()
        .any(|(_, state, n)| *n > 0 && matches!(state, JobState::Queued | JobState::Running)))
}

/// Runs one claimed job to its end: completed, failed (retried or not) or dropped because the
/// lease was lost. Never returns an error: every outcome is recorded on the job or logged.
async fn run_job(store: &Store, config: &WorkerConfig, lease: Lease) {
    let job = &lease.job;
    let span = tracing::info_span!(
        "job",
        id = job.id,
        kind = %job.kind,
        epoch = job.epoch,
        batch = job.batch_index,
        attempt = lease.attempt,
        max_attempts = job.max_attempts,
        worker = %lease.worker,
    );
    run_job_in_span(store, config, lease).instrument(span).await;
}

async fn run_job_in_span(store: &Store, config: &WorkerConfig, mut lease: Lease) {
    let job = lease.job.clone();
    tracing::info!("claimed");
    let started = Instant::now();
    let result = match job.kind {
        JobKind::PlanEpoch => plan::run(store, config, &mut lease).await,
        JobKind::ProveBatch => prove::run(store, config, &mut lease).await,
    };
    let seconds = started.elapsed().as_secs_f64();
    let error = match result {
        Ok(()) => {
            tracing::info!(seconds, "done");
            return;
        }
        Err(e) if e.is_lease_lost() => {
            tracing::warn!(seconds, error = %e, "lease lost to another worker: work dropped");
            return;
        }
        Err(e) => e,
    };
    let retry = if error.is_permanent() {
        Retry::Never
    } else {
        Retry::After(config.retry_after(lease.attempt))
    };
    let message = error.to_string();
    match store.fail_job(&lease, &message, retry).await {
        Ok(JobState::Queued) => tracing::warn!(
            seconds,
            error = %message,
            retry_in_s = config.retry_after(lease.attempt).as_secs_f64(),
            "attempt failed; will retry"
        ),
        Ok(_) => tracing::error!(
            seconds,
            error = %message,
            permanent = error.is_permanent(),
            "job failed for good (its batch and epoch are failed)"
        ),
        Err(e) => tracing::error!(
            seconds,
            error = %message,
            record_error = %e,
            "attempt failed and the failure could not be recorded; the lease will expire"
        ),
    }
}

/// Runs `work` on the blocking pool while heartbeating `lease` every third of the lease. If the
/// lease is lost meanwhile, waits for `work` to end (it cannot be interrupted; this keeps one
/// job's CPU per worker) and returns [`JobError::LeaseLost`].
pub(crate) async fn with_heartbeat<T, F>(
    store: &Store,
    config: &WorkerConfig,
    lease: &mut Lease,
    work: F,
) -> Result<T, JobError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let span = tracing::Span::current();
    let mut handle = tokio::task::spawn_blocking(move || span.in_scope(work));
    let every = config.heartbeat_every();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            joined = &mut handle => {
                return joined.map_err(|e| JobError::Panicked(join_error_text(e)));
            }
            _ = ticks.tick() => match store.heartbeat(lease, config.lease).await {
                Ok(()) => {}
                Err(e @ StoreError::LeaseLost { .. }) => {
                    let _ = handle.await;
                    return Err(JobError::LeaseLost(e));
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; trying again"),
            },
        }
    }
}

fn join_error_text(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        let payload = e.into_panic();
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string())
    } else {
        e.to_string()
    }
}

/// A batch's public inputs as stored and served: the proofs file v1 object, each input by its
/// statement name in proof order, as a decimal string.
pub fn public_inputs_json(inputs: &PublicInputs) -> String {
    struct Named(Vec<gridproof_circuits::Fr>);
    impl Serialize for Named {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (name, value) in PUBLIC_INPUT_NAMES.iter().zip(&self.0) {
                map.serialize_entry(name, &field_to_decimal(value))?;
            }
            map.end()
        }
    }
    serde_json::to_string(&Named(inputs.to_field_elements()))
        .expect("a map of strings always serializes")
}

/// The proofs file v1 of a proved epoch, assembled from its stored batches (what `gridproof
/// verify` checks and the chain is sent), with every rule of the format checked.
pub fn stored_proofs_file(epoch: &Epoch, batches: &[Batch]) -> Result<ProofsFile, ProofsFileError> {
    use ark_ff::PrimeField;
    let root = epoch
        .registry_root
        .map(|r| field_to_decimal(&gridproof_circuits::Fr::from_be_bytes_mod_order(&r)))
        .ok_or_else(|| ProofsFileError::Json(format!("epoch {} is not planned", epoch.epoch)))?;
    let mut items = Vec::with_capacity(batches.len());
    for b in batches {
        let (Some(inputs), Some(proof)) = (&b.public_inputs, &b.proof) else {
            return Err(ProofsFileError::Json(format!(
                "batch {} of epoch {} is {}, not proved",
                b.batch_index, epoch.epoch, b.status
            )));
        };
        let inputs: serde_json::Value =
            serde_json::from_str(inputs).map_err(|e| ProofsFileError::Json(e.to_string()))?;
        let proof: serde_json::Value =
            serde_json::from_str(proof).map_err(|e| ProofsFileError::Json(e.to_string()))?;
        items.push(serde_json::json!({
            "batch_index": b.batch_index,
            "public_inputs": inputs,
            "proof": proof,
        }));
    }
    let doc = serde_json::json!({
        "version": 1,
        "epoch": epoch.epoch.to_string(),
        "registry_root": root,
        "batches": items,
    });
    ProofsFile::from_json(&doc.to_string())
}

/// The 32 big-endian bytes of a field element, as the store keeps roots.
pub(crate) fn fr_to_be_bytes(x: &gridproof_circuits::Fr) -> [u8; 32] {
    use ark_ff::{BigInteger, PrimeField};
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(5));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(10));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(20));
        assert_eq!(retry_delay(base, 40), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(base, 0), Duration::from_secs(5));
    }

    #[test]
    fn roots_round_trip_through_bytes() {
        use ark_ff::PrimeField;
        for x in [0u64, 1, 0xdead_beef] {
            let f = gridproof_circuits::Fr::from(x);
            assert_eq!(
                gridproof_circuits::Fr::from_be_bytes_mod_order(&fr_to_be_bytes(&f)),
                f
            );
        }
        let minus_one = -gridproof_circuits::Fr::from(1u64);
        let bytes = fr_to_be_bytes(&minus_one);
        assert_eq!(bytes[0], 0x30, "r - 1 starts with 0x30 big-endian");
        assert_eq!(
            gridproof_circuits::Fr::from_be_bytes_mod_order(&bytes),
            minus_one
        );
    }
}
