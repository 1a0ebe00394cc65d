//! `gridproof worker`: proving workers on their own, sharing the store's job queue with any
//! other worker (and `gridproof serve`) on the same database. docs/service-workers.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use gridproof_prover::parallel::ConcurrencyPlan;
use gridproof_prover::Keys;

use super::{parse_count, CliError};
use crate::store::{LocationCipher, Store, StoreOptions};
use crate::worker::{run_workers, WorkerConfig, WorkerError, DEFAULT_MIN_SITES_PER_BATCH};

/// Options of `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The key directory (its shape fixes S, T and P of every batch these workers prove).
    #[arg(long, value_name = "KEYS", env = "GRIDPROOF_KEYS")]
    pub keys: PathBuf,
    /// How the workers run (shared with `serve`).
    #[command(flatten)]
    pub tuning: WorkerTuning,
    /// Exit once no job is queued or running (instead of waiting for new epochs).
    #[arg(long)]
    pub once: bool,
}

/// How many proofs run at once: fixed, or derived from the machine ([`ConcurrencyPlan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// The limit [`ConcurrencyPlan::for_keys`] derives from the circuit, threads and memory.
    Auto,
    /// Exactly this many (at least 1).
    Fixed(usize),
}

impl Concurrency {
    /// The fixed number, or `None` for `auto`.
    pub fn fixed(self) -> Option<usize> {
        match self {
            Concurrency::Auto => None,
            Concurrency::Fixed(n) => Some(n),
        }
    }
}

/// `auto` or a count of at least 1.
pub(crate) fn parse_concurrency(s: &str) -> Result<Concurrency, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Concurrency::Auto);
    }
    parse_count(s)
        .map(Concurrency::Fixed)
        .map_err(|e| format!("{e} (or `auto`)"))
}

/// Worker options that `worker` and `serve` share.
#[derive(Debug, Clone, Args)]
pub struct WorkerTuning {
    /// Concurrent workers in this process, each proving one batch at a time: a number, or
    /// `auto` (default) for as many as this machine's threads and free memory allow for the
    /// keys' circuit (batch parallelism: docs/service-workers.md).
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_concurrency)]
    pub workers: Concurrency,
    /// Lease of a claimed job in seconds: heartbeats every third of it; a killed worker's job is
    /// taken over by another worker at most this long after the last heartbeat.
    #[arg(long, default_value_t = 60, value_parser = parse_count)]
    pub lease_secs: usize,
    /// k-anonymity: plan and prove no batch with fewer real sites than this.
    #[arg(long, default_value_t = DEFAULT_MIN_SITES_PER_BATCH, value_parser = parse_count)]
    pub k_min: usize,
    /// Attempts of each batch's prove job before the batch and its epoch fail.
    #[arg(long, default_value_t = 3, value_parser = parse_count)]
    pub prove_attempts: usize,
    /// Seconds before the first retry of a failed attempt (doubled per attempt, at most 300).
    #[arg(long, default_value_t = 5, value_parser = parse_count)]
    pub retry_secs: usize,
    /// How often an idle worker polls the queue, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = parse_count)]
    pub poll_ms: usize,
}

impl WorkerTuning {
    /// The workers' configuration for these keys and this location key.
    pub fn config(
        &self,
        keys: Arc<Keys>,
        cipher: Arc<LocationCipher>,
    ) -> Result<WorkerConfig, WorkerError> {
        let plan = ConcurrencyPlan::for_keys(&keys);
        let mut config = WorkerConfig::new(keys, cipher);
        config.workers = match self.workers {
            Concurrency::Auto => {
                tracing::info!(workers = plan.limit, plan = %plan.describe(), "batch parallelism");
                plan.limit
            }
            Concurrency::Fixed(n) => n,
        };
        config.lease = Duration::from_secs(self.lease_secs as u64);
        config.min_sites_per_batch = self.k_min;
        config.prove_max_attempts = u32::try_from(self.prove_attempts)
            .map_err(|_| WorkerError::Config("--prove-attempts is too large".into()))?;
        config.retry_delay = Duration::from_secs(self.retry_secs as u64);
        config.poll_interval = Duration::from_millis(self.poll_ms as u64);
        Ok(config)
    }
}

/// Runs `worker` until SIGINT/SIGTERM (or, with `--once`, until the queue is empty).
pub fn run(args: &WorkerArgs) -> Result<(), CliError> {
    super::serve::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            action: "start",
            path: PathBuf::from("the async runtime"),
            source,
        })?;
    runtime.block_on(run_async(args)).map_err(CliError::from)
}

async fn run_async(args: &WorkerArgs) -> Result<(), WorkerError> {
    let cipher = Arc::new(LocationCipher::from_env()?);
    let keys = load_keys(&args.keys).await?;
    let store = Store::open_from_env(&StoreOptions::default()).await?;
    tracing::info!(store = ?store, location_key = cipher.key_id(), "store open");
    let mut config = args.tuning.config(keys, cipher)?;
    config.once = args.once;
    let result = run_workers(store.clone(), config, crate::http::shutdown_signal()).await;
    store.close().await;
    result
}

/// Loads the proving keys once for every worker of the process (off the async runtime: a
/// large key takes seconds), warning if they are development keys.
pub async fn load_keys(dir: &Path) -> Result<Arc<Keys>, WorkerError> {
    let loading = Instant::now();
    let owned = dir.to_path_buf();
    // The circuit's constraint matrices are built here too, once, so that no job pays for
    // them and the memory they hold is taken before the workers size their concurrency.
    let (keys, matrices_bytes) = tokio::task::spawn_blocking(move || {
        let keys = Keys::load(&owned)?;
        let bytes = keys.prepare_for_proving()?;
        Ok::<_, WorkerError>((keys, bytes))
    })
    .await
    .map_err(|e| WorkerError::Panicked(e.to_string()))??;
    if let Some(warning) = keys.provenance.warning() {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        keys = %dir.display(),
        constraints = keys.num_constraints,
        matrices_bytes,
        seconds = loading.elapsed().as_secs_f64(),
        "loaded the proving key"
    );
    Ok(Arc::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_auto_or_a_positive_count() {
        assert_eq!(parse_concurrency("auto"), Ok(Concurrency::Auto));
        assert_eq!(parse_concurrency("AUTO"), Ok(Concurrency::Auto));
        assert_eq!(parse_concurrency("3"), Ok(Concurrency::Fixed(3)));
        assert_eq!(Concurrency::Fixed(3).fixed(), Some(3));
        assert_eq!(Concurrency::Auto.fixed(), None);
        for bad in ["0", "-1", "two", ""] {
            let err = parse_concurrency(bad).unwrap_err();
            assert!(err.contains("auto"), "{bad}: {err}");
        }
    }
}
