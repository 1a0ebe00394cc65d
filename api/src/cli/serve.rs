//! `gridproof serve`: the HTTP API over the store of `DATABASE_URL` (default: the SQLite file
//! `gridproof.db`), until SIGINT or SIGTERM; in-flight requests finish before it exits.
//!
//! The pieces are separate so that more tasks (proving workers, the publisher) can run beside
//! the server on the same store: [`open_service`] opens the store and the location cipher,
//! [`start_service`] binds the socket and runs the routes ([`crate::http::router`]), the
//! workers and the publisher until [`RunningService::stop`]. `gridproof demo` runs the same
//! [`start_service`] in its own process, on an ephemeral port.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::worker::{load_keys, WorkerTuning};
use super::CliError;
use crate::http::{self, AppState, HttpConfig};
use crate::publisher::Publisher;
use crate::store::{LocationCipher, LocationError, Store, StoreError, StoreOptions};
use crate::worker::WorkerConfig;

/// Options of `gridproof serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRIDPROOF_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The store: `postgres://...`, `sqlite://PATH` or a file path.
    #[arg(long, env = "DATABASE_URL", default_value = crate::store::DEFAULT_SQLITE_PATH)]
    pub database_url: String,
    /// File holding the 32-byte location key as 64 hex characters (mode 0600); without it the
    /// key comes from GRIDPROOF_LOCATION_KEY_FILE or GRIDPROOF_LOCATION_KEY.
    #[arg(long)]
    pub location_key_file: Option<PathBuf>,
    /// File holding the Ed25519 key that signs the audit log's heads (`gridproof audit keygen
    /// --out FILE`; mode 0600). Without it, an SQLite store uses (creating it the first time)
    /// `<database>.audit-key` beside the database file; PostgreSQL needs the key given.
    #[arg(long, value_name = "FILE", env = crate::audit::head::AUDIT_KEY_FILE_ENV)]
    pub audit_key: Option<PathBuf>,
    /// Largest request body of ordinary routes, bytes.
    #[arg(long, default_value_t = HttpConfig::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest body of `POST /v1/readings/batch`, bytes.
    #[arg(long, default_value_t = HttpConfig::default().max_batch_body_bytes)]
    pub max_batch_body_bytes: usize,
    /// Proving keys: with them, proving workers run in this process beside the API (closed
    /// epochs are planned and proved); without them, only the API runs and `gridproof worker`
    /// processes prove (docs/service-workers.md).
    #[arg(long, value_name = "KEYS", env = "GRIDPROOF_KEYS")]
    pub keys: Option<PathBuf>,
    /// The in-process workers (with --keys).
    #[command(flatten)]
    pub workers: WorkerTuning,
    /// The publisher (with --rpc-url, --private-key and --oracle).
    #[command(flatten)]
    pub chain: PublisherArgs,
}

/// Options of the publisher that `serve` runs beside the API (docs/service-publisher.md):
/// all of --rpc-url, --private-key and --oracle, or none (epochs then stop at `proved`).
#[derive(Debug, Args)]
pub struct PublisherArgs {
    /// JSON-RPC endpoint of the chain (http://...).
    #[arg(long, env = "GRIDPROOF_RPC_URL", requires_all = ["private_key", "oracle"])]
    pub rpc_url: Option<String>,
    /// The publisher's secp256k1 key, hex (one publisher per key; it needs REGISTRAR_ROLE on
    /// the oracle to open epochs). Prefer the environment variable to the command line.
    #[arg(long, env = "GRIDPROOF_PRIVATE_KEY", hide_env_values = true, requires_all = ["rpc_url", "oracle"])]
    pub private_key: Option<String>,
    /// Address of RevenueOracle.
    #[arg(long, env = "GRIDPROOF_ORACLE", requires_all = ["rpc_url", "private_key"])]
    pub oracle: Option<alloy::primitives::Address>,
    /// Blocks (the transaction's included) before a transaction counts as confirmed.
    #[arg(long, default_value_t = 2)]
    pub confirmations: u64,
    /// Seconds after which a transaction not mined is replaced with fees raised by 12.5 %.
    #[arg(long, default_value_t = 180)]
    pub replace_after_secs: u64,
    /// Highest max fee per gas a replacement may bid, wei (default: no cap).
    #[arg(long)]
    pub max_fee_per_gas_cap: Option<u128>,
    /// Least time between two audit-log heads anchored on the oracle (`publishAuditHead`; needs
    /// REGISTRAR_ROLE), published only when the log grew: seconds, or a number with s, m or h
    /// (`90`, `90s`, `10m`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_interval)]
    pub audit_head_interval: std::time::Duration,
}

/// A duration of `serve`'s command line: whole seconds, or a whole number followed by `s`, `m`
/// or `h` (at least 1 second, at most 30 days).
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (digits, unit_seconds) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        _ => (text, 1),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use seconds or e.g. 90s, 10m, 1h"))?;
    let seconds = n.saturating_mul(unit_seconds);
    if !(1..=30 * 86_400).contains(&seconds) {
        return Err(format!(
            "{text:?} is {seconds} s; it must be 1 s to 30 days"
        ));
    }
    Ok(std::time::Duration::from_secs(seconds))
}

impl PublisherArgs {
    /// The publisher's configuration, or `None` without a chain.
    pub fn config(&self) -> Option<crate::publisher::PublisherConfig> {
        let (Some(url), Some(key), Some(oracle)) = (&self.rpc_url, &self.private_key, self.oracle)
        else {
            return None;
        };
        let mut c = crate::publisher::PublisherConfig::new(url.clone(), key.clone(), oracle);
        c.confirmations = self.confirmations;
        c.replace_after = std::time::Duration::from_secs(self.replace_after_secs);
        c.max_fee_per_gas_cap = self.max_fee_per_gas_cap;
        c.audit_head_interval = self.audit_head_interval;
        Some(c)
    }
}

/// Why `serve` or `token` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store could not be opened or used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The location key could not be loaded.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// The runtime, the socket or the server failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A command-line value is inconsistent.
    #[error("{0}")]
    Usage(String),
    /// The in-process proving workers could not start or failed.
    #[error("workers: {0}")]
    Workers(#[from] crate::worker::WorkerError),
    /// The publisher could not start or failed.
    #[error("publisher: {0}")]
    Publisher(#[from] crate::publisher::PublishError),
    /// The audit key could not be loaded or made.
    #[error(transparent)]
    AuditKey(#[from] crate::audit::AuditKeyError),
    /// The task running the service panicked (a bug).
    #[error("the service task panicked: {0}")]
    Panicked(String),
}

/// A multi-threaded tokio runtime for a service command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ServiceError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServiceError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Logs carry request ids and token
/// ids, never tokens, locations or keys.
pub fn init_tracing() {
    init_tracing_at("info");
}

/// [`init_tracing`] with another default level than `info` when `RUST_LOG` is unset (`demo`
/// shows only warnings and errors of the service it runs, beside its own progress).
pub fn init_tracing_at(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The store of `database_url` and the location cipher (from `key_file` or the environment).
pub async fn open_service(
    database_url: &str,
    key_file: Option<&std::path::Path>,
) -> Result<(Store, LocationCipher), ServiceError> {
    let cipher = match key_file {
        Some(path) => LocationCipher::from_key_file(path)?,
        None => LocationCipher::from_env()?,
    };
    let store = Store::open(database_url, &StoreOptions::default()).await?;
    Ok((store, cipher))
}

/// The audit head-signing key of `serve`: the file given, else for an SQLite store the file
/// beside the database ([`crate::audit::head::default_key_path`]), made on first start. Only its
/// public key is logged.
pub fn audit_key(
    file: Option<&std::path::Path>,
    database_url: &str,
) -> Result<crate::audit::AuditKey, ServiceError> {
    let key = match file {
        Some(path) => crate::audit::AuditKey::load(path)?,
        None => {
            let path = crate::audit::head::default_key_path(database_url).ok_or_else(|| {
                ServiceError::Usage(
                    "a PostgreSQL store needs --audit-key FILE (or GRIDPROOF_AUDIT_KEY_FILE): \
                     make one with `gridproof audit keygen --out FILE`"
                        .into(),
                )
            })?;
            let (key, created) = crate::audit::AuditKey::load_or_create(&path)?;
            if created {
                tracing::warn!(path = %path.display(), "created an audit key beside the database");
            }
            key
        }
    };
    tracing::info!(public_key = %key.public_key_hex(), "audit heads are signed with this key");
    Ok(key)
}

/// Runs `gridproof serve`.
pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    init_tracing();
    let rt = runtime()?;
    rt.block_on(serve(args))?;
    Ok(())
}

async fn serve(args: &ServeArgs) -> Result<(), ServiceError> {
    let (store, cipher) =
        open_service(&args.database_url, args.location_key_file.as_deref()).await?;
    tracing::info!(backend = ?store.backend_kind(), location_key_id = cipher.key_id(), "store open");
    let config = HttpConfig {
        max_body_bytes: args.max_body_bytes,
        max_batch_body_bytes: args.max_batch_body_bytes,
        ..HttpConfig::default()
    };
    // Keys are loaded before the socket opens: a bad --keys fails the start, not later.
    let workers = match &args.keys {
        Some(dir) => Some(
            args.workers
                .config(load_keys(dir).await?, std::sync::Arc::new(cipher.clone()))?,
        ),
        None => None,
    };
    // The chain is checked before the socket opens too (key, endpoint, oracle code).
    let publisher = match args.chain.config() {
        Some(c) => Some(crate::publisher::Publisher::connect(store.clone(), c).await?),
        None => None,
    };
    if let Some(config) = &workers {
        eprintln!(
            "gridproof serve: {} proving worker(s) in this process",
            config.workers
        );
    }
    if let Some(p) = &publisher {
        eprintln!(
            "gridproof serve: publishing as {} on chain {}",
            p.sender(),
            p.chain_id()
        );
    }
    let audit_key = audit_key(args.audit_key.as_deref(), &args.database_url)?;
    let state = AppState::new(store, cipher, config).with_audit_key(audit_key);
    // The publisher anchors the heads this service signs (docs/audit-log.md, "On-chain heads").
    let publisher = match (publisher, &state.audit_key) {
        (Some(p), Some(key)) => Some(p.with_audit_key(std::sync::Arc::clone(key))),
        (p, _) => p,
    };
    // Disclosure bundles rebuild an epoch's registry with the keys' shape.
    let state = state.with_batch_shape(workers.as_ref().map(|w| w.keys.shape));
    let service = start_service(args.listen, state, workers, publisher).await?;
    eprintln!("gridproof serve: listening on http://{}", service.address());
    // One signal stops both the server (in-flight requests finish) and the workers (held jobs
    // finish; an unfinished one is taken over by another worker after its lease).
    service.run_until(http::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A service started by [`start_service`]: the API on [`RunningService::address`], with its
/// workers and publisher, until [`RunningService::stop`] (or until it is dropped, which stops
/// it the same way).
#[derive(Debug)]
pub struct RunningService {
    address: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl RunningService {
    /// The address the API listens on (the port chosen when `listen` had port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// True once the service ended by itself (a task failed); [`RunningService::stop`] returns
    /// why.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the service gracefully (in-flight requests and jobs in hand finish, the publisher
    /// ends its current step, the store is closed) and returns how it ended.
    pub async fn stop(self) -> Result<(), ServiceError> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| ServiceError::Panicked(e.to_string()))?
    }

    /// Runs until `shutdown` resolves (then stops gracefully) or the service ends by itself.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServiceError> {
        tokio::select! {
            () = shutdown => {}
            ended = &mut self.task => {
                return ended.map_err(|e| ServiceError::Panicked(e.to_string()))?;
            }
        }
        self.stop().await
    }
}

/// What `gridproof serve` runs, for it and for `gridproof demo`: binds `listen` (port 0 picks
/// a free one), then serves the API over `state` with the proving workers (`workers`) and the
/// publisher beside it, all on `state.store`, in a task of the current runtime. Returns once
/// the socket listens.
pub async fn start_service(
    listen: SocketAddr,
    state: AppState,
    workers: Option<WorkerConfig>,
    publisher: Option<Publisher>,
) -> Result<RunningService, ServiceError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServiceError::Io {
            what: format!("cannot listen on {listen}"),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServiceError::Io {
        what: "cannot read the listening address".into(),
        source,
    })?;
    tracing::info!(%address, "listening");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_service(listener, state, workers, publisher, stop_rx));
    Ok(RunningService {
        address,
        stop,
        task,
    })
}

/// The body of [`start_service`]'s task: every part stops when `stop_rx` says so (or its sender
/// is dropped).
async fn run_service(
    listener: tokio::net::TcpListener,
    state: AppState,
    workers: Option<WorkerConfig>,
    publisher: Option<Publisher>,
    stop_rx: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let store = state.store.clone();
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let worker_task = workers.map(|config| {
        tokio::spawn(crate::worker::run_workers(
            store.clone(),
            config,
            stopped(stop_rx.clone()),
        ))
    });
    let publisher_task = publisher.map(|p| tokio::spawn(p.run(stopped(stop_rx.clone()))));
    let served = http::serve(listener, http::router(state), stopped(stop_rx)).await;
    let published = match publisher_task {
        Some(task) => task.await.map_err(|e| {
            crate::publisher::PublishError::Config(format!("the publisher task panicked: {e}"))
        })?,
        None => Ok(()),
    };
    let worked = match worker_task {
        Some(task) => task
            .await
            .map_err(|e| crate::worker::WorkerError::Panicked(e.to_string()))
            .and_then(|result| result),
        None => Ok(()),
    };
    store.close().await;
    served.map_err(|source| ServiceError::Io {
        what: "the HTTP server failed".into(),
        source,
    })?;
    worked?;
    published?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals_are_seconds_or_a_unit() {
        assert_eq!(parse_interval("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval(" 1h "), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "m",
            "0",
            "0s",
            "-5",
            "1.5m",
            "10 minutes",
            "31d",
            "721h",
            "9999999999999999999h",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }
}
