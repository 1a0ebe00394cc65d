//! Durable storage of the service: one [`Store`] over either an embedded SQLite file (the
//! default, `gridproof.db`) or PostgreSQL (when the URL is `postgres://...`), with the schema of
//! `migrations/sqlite` or `migrations/postgres` applied on open. docs/service-storage.md is the
//! reference for the schema, the durability settings and the job queue.
//!
//! What callers can rely on:
//! - **Durability**: every function that returns `Ok` after a change has committed it (SQLite:
//!   WAL with `synchronous=FULL`, so the commit is on disk; PostgreSQL: its default
//!   `synchronous_commit=on`). Nothing acknowledged is lost on a crash.
//! - **Atomicity**: every change of several rows is one transaction.
//! - **No domain checks**: signatures, capacity bounds, k-anonymity and the like are checked by
//!   the caller; the store keeps data consistent (keys, states, leases) and nothing more.
//! - **Secrets**: only token hashes and sealed locations ([`location`]) reach the database.
//!
//! The functions live in one module per table ([`tokens`], [`installations`], [`epochs`],
//! [`readings`], [`batches`], [`jobs`]) as inherent methods of [`Store`]. SQL is written once
//! where both backends accept it (SQLite also takes `$1` placeholders; generated bulk statements
//! use `?` there, which SQLite binds in linear rather than quadratic time) and per backend only
//! where it must differ (arrays, row locks, the clock).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod audit;
pub mod batches;
mod codec;
pub mod disclosures;
pub mod epochs;
pub mod installations;
pub mod jobs;
pub mod location;
pub mod publications;
pub mod readings;
pub mod tokens;

// The audit log (docs/audit-log.md).
pub use audit::{AuditEntry, AuditEvent, AuditRoot, InclusionProof};
pub use batches::{Batch, BatchStatus, NewBatch};
pub use disclosures::{
    Decision, Disclosure, DisclosureState, NewDisclosure, NewRegulatorToken, Regulator, RegulatorId,
};
pub use epochs::{CloseOutcome, Epoch, EpochStatus, NewEpoch, OpenOutcome};
pub use installations::{Installation, NewInstallation, RegisterOutcome};
pub use jobs::{Job, JobKind, JobState, Lease, NewJob, Retry};
pub use location::{LocationCipher, LocationError, LocationSecret, SealedLocation};
pub use publications::{NewPublication, Publication, PublicationKind, PublicationState, SignedTx};
pub use readings::{NewReading, ReadingOutcome, StoredReading};
pub use tokens::{OperatorId, Role, TokenId, TokenRecord};

/// Where the store lives when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_PATH: &str = "gridproof.db";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open the database {target}: {source}")]
    Open {
        /// The file or the URL without its password.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database URL is not one the store understands.
    #[error("unsupported database URL {0:?}: use postgres://..., sqlite://PATH or a file path")]
    Url(String),
    /// The embedded migrations could not be applied (or the database has migrations this
    /// binary does not know: it is newer than the binary).
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A row holds a value the schema conventions do not allow (written by something else).
    #[error("corrupt value in column {column}: {detail}")]
    Corrupt {
        /// Table and column.
        column: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The thing referred to does not exist.
    #[error("{what} not found")]
    NotFound {
        /// For example "epoch 20300".
        what: String,
    },
    /// The thing exists with different content.
    #[error("{what} already exists with different content")]
    Conflict {
        /// For example "epoch 20300".
        what: String,
    },
    /// The operation does not apply in the current state.
    #[error("{what} is {actual}, but this needs {expected}")]
    State {
        /// For example "epoch 20300".
        what: String,
        /// The state found.
        actual: String,
        /// The state required.
        expected: String,
    },
    /// The arguments are inconsistent (a caller's bug, not bad data in the database).
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// A job operation by a worker that no longer holds the job's lease (it expired and another
    /// worker took the job over, or the job ended). The worker must drop its work.
    #[error("worker {worker} no longer holds job {job_id} (attempt {attempt})")]
    LeaseLost {
        /// The job.
        job_id: i64,
        /// The worker that tried.
        worker: String,
        /// The attempt it held.
        attempt: i64,
    },
    /// A location could not be sealed or opened.
    #[error(transparent)]
    Location(#[from] LocationError),
}

impl StoreError {
    pub(crate) fn corrupt(column: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            column,
            detail: detail.into(),
        }
    }
}

/// Connection settings; the defaults suit one `gridproof serve` process.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL: connections in the pool.
    pub max_connections: u32,
    /// SQLite: read-only connections (writes always go through one connection, so writers
    /// queue in the pool instead of spinning on SQLite's lock).
    pub sqlite_readers: u32,
    /// SQLite: how long a statement waits for another process's write lock (`busy_timeout`).
    pub busy_timeout: Duration,
    /// How long to wait for a free connection (and, on PostgreSQL, to connect).
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            sqlite_readers: 4,
            busy_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The database of the service. Cheap to clone (it holds connection pools); share one per
/// process. See the module documentation for the guarantees.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Sqlite { path, .. } => write!(f, "Store(sqlite {})", path.display()),
            Backend::Postgres(_) => f.write_str("Store(postgres)"),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        path: PathBuf,
    },
    Postgres(PgPool),
}

/// Which database a [`Store`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Runs `$body` with `$pool` bound to a pool for reads (SQLite: the read-only pool). `$pg` is a
/// `bool` constant: true on PostgreSQL, for SQL that differs.
macro_rules! read_pool {
    ($store:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { reader, .. } => {
                let $pool = reader;
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            $crate::store::Backend::Postgres(pool) => {
                let $pool = pool;
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx` and commits it when `$body` yields
/// its value (an early `?` drops the transaction, which rolls it back). SQLite: `BEGIN
/// IMMEDIATE` on the single writer connection (takes the write lock up front, so the
/// transaction cannot fail half-way on a lock upgrade); PostgreSQL: `BEGIN` (read committed).
macro_rules! write_tx {
    ($store:expr, |$tx:ident, $pg:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { writer, .. } => {
                #[allow(unused_mut)]
                let mut $tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                #[allow(unused_variables)]
                let $pg = false;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                #[allow(unused_variables)]
                let $pg = true;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use {read_pool, write_tx};

impl Store {
    /// Opens the store named by `url` and applies the migrations: `postgres://...` or
    /// `postgresql://...` for PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain file path for
    /// SQLite (the file is created if missing).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
                target: redact_url(url),
                source,
            })?;
            Self::open_postgres(connect, options).await
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(path.into(), options).await
        } else if url.contains("://") || url.is_empty() {
            Err(StoreError::Url(redact_url(url)))
        } else {
            Self::open_sqlite(url.into(), options).await
        }
    }

    /// Opens the store of `DATABASE_URL`, or the SQLite file [`DEFAULT_SQLITE_PATH`] in the
    /// working directory when it is unset.
    pub async fn open_from_env(options: &StoreOptions) -> Result<Store, StoreError> {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SQLITE_PATH.to_string());
        Self::open(&url, options).await
    }

    /// Opens (creating it if missing) the SQLite file at `path`: WAL journal,
    /// `synchronous=FULL`, foreign keys on, `busy_timeout` from `options`; then migrates.
    pub async fn open_sqlite(path: PathBuf, options: &StoreOptions) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            target: path.display().to_string(),
            source,
        };
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(open_error)?;
        SQLITE_MIGRATIONS.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.sqlite_readers.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(open_error)?;
        Ok(Store {
            backend: Backend::Sqlite {
                writer,
                reader,
                path,
            },
        })
    }

    /// Connects to PostgreSQL with `connect` and migrates (migrations take an advisory lock, so
    /// several processes may start at once).
    pub async fn open_postgres(
        connect: PgConnectOptions,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let target = format!(
            "postgres://{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|source| StoreError::Open { target, source })?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Store {
            backend: Backend::Postgres(pool),
        })
    }

    /// Applies any migration not yet applied (idempotent; [`Store::open`] already does it).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => SQLITE_MIGRATIONS.run(writer).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Which database this store uses.
    pub fn backend_kind(&self) -> BackendKind {
        match &self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, reader, .. } => {
                sqlx::query("SELECT 1").execute(reader).await?;
                // The writer is the one that matters for acknowledgements.
                sqlx::query("SELECT 1").execute(writer).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection, waiting for the ones in use (graceful shutdown).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// `url` without a password, for messages.
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_repeated_in_messages() {
        assert_eq!(
            redact_url("postgres://gp:s3cret@db:5432/x"),
            "postgres://gp:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    }
}
