//! Epochs: opened with an interval and a time-of-use schedule, closed to stop readings and
//! start proving, then carried through `proving -> proved -> published -> final` (or `failed`).
//!
//! Closing is race-free against readings: a reading batch checks the epoch's status inside its
//! own transaction (on PostgreSQL under `FOR SHARE`, which `close` waits for), so a reading
//! acknowledged as stored is always one the epoch's plan will see.

use std::fmt;

use super::codec::{bytes32, u32_from_db, u64_from_db, u64_to_db, unix_ms};
use super::jobs::{insert_job, JobKind, NewJob};
use super::{read_pool, write_tx, Store, StoreError};

/// Where an epoch is in its life (the `status` of `GET /v1/epochs/{epoch}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpochStatus {
    /// Accepting readings.
    Open,
    /// Closed; its batches are being planned and proved.
    Proving,
    /// Every batch is proved.
    Proved,
    /// Every batch proof was sent to the chain.
    Published,
    /// The oracle finalized the epoch.
    Final,
    /// A job failed for good (see [`Epoch::error`]).
    Failed,
}

impl EpochStatus {
    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochStatus::Open => "open",
            EpochStatus::Proving => "proving",
            EpochStatus::Proved => "proved",
            EpochStatus::Published => "published",
            EpochStatus::Final => "final",
            EpochStatus::Failed => "failed",
        }
    }

    /// Inverse of [`EpochStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => EpochStatus::Open,
            "proving" => EpochStatus::Proving,
            "proved" => EpochStatus::Proved,
            "published" => EpochStatus::Published,
            "final" => EpochStatus::Final,
            "failed" => EpochStatus::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for EpochStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An epoch to open (`PUT /v1/epochs/{epoch}`); the caller has validated the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEpoch {
    /// The epoch number (signed in every meter message).
    pub epoch: u64,
    /// Length of one reading interval in seconds.
    pub interval_seconds: u32,
    /// Time-of-use slot of each interval (so its length is T, the readings per site).
    pub slots: Vec<u8>,
}

/// An epoch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// The epoch number.
    pub epoch: u64,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// Slot of each interval.
    pub slots: Vec<u8>,
    /// Where it is in its life.
    pub status: EpochStatus,
    /// When it was opened (Unix ms).
    pub opened_at_ms: i64,
    /// When it was closed, if it was.
    pub closed_at_ms: Option<i64>,
    /// The registry root of its plan (32 bytes big-endian), once planned.
    pub registry_root: Option<[u8; 32]>,
    /// Why it failed, when [`EpochStatus::Failed`].
    pub error: Option<String>,
    /// Last change (Unix ms).
    pub updated_at_ms: i64,
}

/// What [`Store::open_epoch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// A new epoch.
    Opened,
    /// It already existed with the same interval and schedule (in any status): nothing changed.
    AlreadyExists,
}

/// What [`Store::close_epoch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// It was open; now `proving`, with a [`JobKind::PlanEpoch`] job queued (its id).
    Closed {
        /// The planning job.
        plan_job_id: i64,
    },
    /// It was already closed (any later status): nothing changed.
    AlreadyClosed(EpochStatus),
}

#[derive(sqlx::FromRow)]
struct EpochRow {
    epoch: i64,
    interval_seconds: i64,
    slots: Vec<u8>,
    status: String,
    opened_at_ms: i64,
    closed_at_ms: Option<i64>,
    registry_root: Option<Vec<u8>>,
    error: Option<String>,
    updated_at_ms: i64,
}

impl EpochRow {
    fn into_epoch(self) -> Result<Epoch, StoreError> {
        Ok(Epoch {
            epoch: u64_from_db(self.epoch),
            interval_seconds: u32_from_db(self.interval_seconds, "epochs.interval_seconds")?,
            slots: self.slots,
            status: parse_status(&self.status)?,
            opened_at_ms: self.opened_at_ms,
            closed_at_ms: self.closed_at_ms,
            registry_root: self
                .registry_root
                .map(|r| bytes32(&r, "epochs.registry_root"))
                .transpose()?,
            error: self.error,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

pub(crate) fn parse_status(s: &str) -> Result<EpochStatus, StoreError> {
    EpochStatus::parse(s).ok_or_else(|| StoreError::corrupt("epochs.status", s.to_string()))
}

const COLUMNS: &str = "epoch, interval_seconds, slots, status, opened_at_ms, closed_at_ms, \
                       registry_root, error, updated_at_ms";

/// The status of `epoch` under a row lock (PostgreSQL `FOR UPDATE`; SQLite's write
/// transaction already excludes every other writer). `None` if there is no such epoch.
macro_rules! lock_epoch_status {
    ($tx:expr, $pg:expr, $epoch:expr) => {{
        let status: Option<String> = sqlx::query_scalar(if $pg {
            "SELECT status FROM epochs WHERE epoch = $1 FOR UPDATE"
        } else {
            "SELECT status FROM epochs WHERE epoch = $1"
        })
        .bind(u64_to_db($epoch))
        .fetch_optional(&mut *$tx)
        .await?;
        status
            .map(|s| $crate::store::epochs::parse_status(&s))
            .transpose()?
    }};
}
pub(crate) use lock_epoch_status;

impl Store {
    /// Opens an epoch. Idempotent for the same interval and schedule; another schedule for an
    /// existing epoch is [`StoreError::Conflict`].
    pub async fn open_epoch(&self, new: &NewEpoch) -> Result<OpenOutcome, StoreError> {
        if new.slots.is_empty() || new.interval_seconds == 0 {
            return Err(StoreError::Invalid(
                "an epoch needs at least one interval of at least one second".into(),
            ));
        }
        let now = unix_ms();
        let inserted = write_tx!(self, |tx, _pg| {
            sqlx::query(
                "INSERT INTO epochs (epoch, interval_seconds, slots, status, opened_at_ms, \
                 updated_at_ms) VALUES ($1, $2, $3, 'open', $4, $4) ON CONFLICT (epoch) DO NOTHING",
            )
            .bind(u64_to_db(new.epoch))
            .bind(i64::from(new.interval_seconds))
            .bind(&new.slots)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        });
        if inserted {
            return Ok(OpenOutcome::Opened);
        }
        match self.epoch(new.epoch).await? {
            Some(e) if e.interval_seconds == new.interval_seconds && e.slots == new.slots => {
                Ok(OpenOutcome::AlreadyExists)
            }
            _ => Err(StoreError::Conflict {
                what: format!("epoch {}", new.epoch),
            }),
        }
    }

    /// The epoch, if it exists.
    pub async fn epoch(&self, epoch: u64) -> Result<Option<Epoch>, StoreError> {
        let row: Option<EpochRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM epochs WHERE epoch = $1"
            )))
            .bind(u64_to_db(epoch))
            .fetch_optional(pool)
            .await?
        });
        row.map(EpochRow::into_epoch).transpose()
    }

    /// One page of epochs in descending epoch order (newest first), before `before` if given.
    pub async fn list_epochs(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Epoch>, StoreError> {
        let rows: Vec<EpochRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM epochs WHERE ($1 IS NULL OR epoch < $1) \
                 ORDER BY epoch DESC LIMIT $2"
            )))
            .bind(before.map(u64_to_db))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(EpochRow::into_epoch).collect()
    }

    /// Closes an open epoch: from now on it takes no readings; its status becomes `proving` and
    /// a [`JobKind::PlanEpoch`] job (at most `plan_max_attempts` attempts) is queued in the same
    /// transaction. Closing again is idempotent ([`CloseOutcome::AlreadyClosed`]).
    pub async fn close_epoch(
        &self,
        epoch: u64,
        plan_max_attempts: u32,
    ) -> Result<CloseOutcome, StoreError> {
        let now = unix_ms();
        let outcome = write_tx!(self, |tx, pg| {
            match lock_epoch_status!(tx, pg, epoch) {
                None => {
                    return Err(StoreError::NotFound {
                        what: format!("epoch {epoch}"),
                    })
                }
                Some(EpochStatus::Open) => {}
                Some(other) => return Ok(CloseOutcome::AlreadyClosed(other)),
            }
            sqlx::query(
                "UPDATE epochs SET status = 'proving', closed_at_ms = $1, updated_at_ms = $1 \
                 WHERE epoch = $2",
            )
            .bind(now)
            .bind(u64_to_db(epoch))
            .execute(&mut *tx)
            .await?;
            let new_job = NewJob {
                kind: JobKind::PlanEpoch,
                epoch,
                batch_index: None,
                max_attempts: plan_max_attempts,
            };
            let plan_job_id = insert_job!(tx, &new_job, now);
            CloseOutcome::Closed { plan_job_id }
        });
        Ok(outcome)
    }

    /// Moves an epoch from `from` to `to` if it is in `from` (compare-and-set, for the
    /// publisher: `proved -> published -> final`). `Err(State)` names the status found.
    pub async fn set_epoch_status(
        &self,
        epoch: u64,
        from: EpochStatus,
        to: EpochStatus,
    ) -> Result<(), StoreError> {
        let now = unix_ms();
        let changed = write_tx!(self, |tx, _pg| {
            sqlx::query(
                "UPDATE epochs SET status = $1, updated_at_ms = $2 WHERE epoch = $3 AND status = $4",
            )
            .bind(to.as_str())
            .bind(now)
            .bind(u64_to_db(epoch))
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        });
        if changed {
            return Ok(());
        }
        match self.epoch(epoch).await? {
            None => Err(StoreError::NotFound {
                what: format!("epoch {epoch}"),
            }),
            Some(e) => Err(StoreError::State {
                what: format!("epoch {epoch}"),
                actual: e.status.to_string(),
                expected: from.to_string(),
            }),
        }
    }
}
