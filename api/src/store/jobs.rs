//! The durable job queue that proves epochs (docs/service-storage.md, "Jobs").
//!
//! A job is `queued` until a worker [claims](Store::claim_job) it: the claim takes the oldest
//! runnable job (queued and due, or running with an expired lease), makes it `running`, counts
//! the attempt and gives the worker a [`Lease`] until `now + lease`. The worker extends the
//! lease with [heartbeats](Store::heartbeat) while it works and ends the job with a `complete`
//! call or [`Store::fail_job`]. A worker that dies stops heartbeating; once its lease expires
//! the next claim takes the job over as a new attempt. The pair (worker, attempt) fences the
//! old worker: every later call it makes gets [`StoreError::LeaseLost`], so two workers never
//! both record a result. A job whose attempts reach `max_attempts` (failing, or losing its
//! worker each time) ends `failed` with its last error, and so does its batch and its epoch
//! while the epoch is `proving`.
//!
//! Claims are atomic: PostgreSQL selects with `FOR UPDATE SKIP LOCKED`, so concurrent workers
//! on several machines each get a different job without waiting on each other; SQLite runs the
//! claim in a `BEGIN IMMEDIATE` transaction (one writer at a time, across processes too). Lease
//! times use the database's clock, so workers on machines with skewed clocks agree.

use std::fmt;
use std::time::Duration;

use super::codec::{u64_from_db, u64_to_db};
use super::installations::placeholders;
use super::{read_pool, write_tx, Store, StoreError};

/// What a job does; the subject is its epoch (and batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Arrange an epoch's sites into batches and record them (queued by
    /// [`Store::close_epoch`], ended by [`Store::complete_plan_epoch`]).
    PlanEpoch,
    /// Prove one batch (queued by the plan, ended by [`Store::complete_prove_batch`]).
    ProveBatch,
}

impl JobKind {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::PlanEpoch => "plan_epoch",
            JobKind::ProveBatch => "prove_batch",
        }
    }

    /// Inverse of [`JobKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "plan_epoch" => JobKind::PlanEpoch,
            "prove_batch" => JobKind::ProveBatch,
            _ => return None,
        })
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker (possibly not before `run_after_ms`).
    Queued,
    /// Held by a worker under a lease (or abandoned, if the lease has expired).
    Running,
    /// Done.
    Succeeded,
    /// Failed for good; `last_error` says why.
    Failed,
}

impl JobState {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    /// Inverse of [`JobState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to queue. At most one job exists per (kind, epoch, batch): queuing it again returns
/// the existing job's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// Its epoch.
    pub epoch: u64,
    /// Its batch, for batch jobs.
    pub batch_index: Option<u32>,
    /// Attempts before it ends `failed` (at least 1).
    pub max_attempts: u32,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id (increasing: the oldest job has the smallest).
    pub id: i64,
    /// What it does.
    pub kind: JobKind,
    /// Its epoch.
    pub epoch: u64,
    /// Its batch, for batch jobs.
    pub batch_index: Option<u32>,
    /// Where it is.
    pub state: JobState,
    /// Attempts started so far (a claim starts one).
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Not claimed before this time (database clock, Unix ms).
    pub run_after_ms: i64,
    /// The worker holding it (or that last held it).
    pub lease_owner: Option<String>,
    /// When the current lease expires (database clock, Unix ms), while running.
    pub lease_expires_at_ms: Option<i64>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was queued (Unix ms).
    pub created_at_ms: i64,
    /// Last change (Unix ms).
    pub updated_at_ms: i64,
    /// When it succeeded or failed for good.
    pub finished_at_ms: Option<i64>,
}

/// A worker's hold on a running job. Pass it to every later call about the job; a call after
/// another worker took the job over fails with [`StoreError::LeaseLost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job as claimed (state `running`, `attempts` counting this attempt).
    pub job: Job,
    /// The worker that holds it.
    pub worker: String,
    /// The attempt this lease is for (the fencing token together with `worker`).
    pub attempt: i64,
    /// When the lease expires unless extended (database clock, Unix ms).
    pub expires_at_ms: i64,
}

/// What [`Store::fail_job`] should do when attempts remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Queue the job again, runnable after this delay.
    After(Duration),
    /// Fail it for good now (the error will not go away by retrying).
    Never,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    kind: String,
    epoch: i64,
    batch_index: Option<i64>,
    state: String,
    attempts: i64,
    max_attempts: i64,
    run_after_ms: i64,
    lease_owner: Option<String>,
    lease_expires_at_ms: Option<i64>,
    last_error: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
    finished_at_ms: Option<i64>,
}

impl JobRow {
    pub(crate) fn into_job(self) -> Result<Job, StoreError> {
        Ok(Job {
            id: self.id,
            kind: JobKind::parse(&self.kind)
                .ok_or_else(|| StoreError::corrupt("jobs.kind", self.kind.clone()))?,
            epoch: u64_from_db(self.epoch),
            batch_index: self
                .batch_index
                .map(|b| {
                    u32::try_from(b)
                        .map_err(|_| StoreError::corrupt("jobs.batch_index", b.to_string()))
                })
                .transpose()?,
            state: JobState::parse(&self.state)
                .ok_or_else(|| StoreError::corrupt("jobs.state", self.state.clone()))?,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            run_after_ms: self.run_after_ms,
            lease_owner: self.lease_owner,
            lease_expires_at_ms: self.lease_expires_at_ms,
            last_error: self.last_error,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            finished_at_ms: self.finished_at_ms,
        })
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, epoch, batch_index, state, attempts, \
    max_attempts, run_after_ms, lease_owner, lease_expires_at_ms, last_error, created_at_ms, \
    updated_at_ms, finished_at_ms";

/// The database clock in Unix ms (one clock for every worker).
macro_rules! db_now_ms {
    ($tx:expr, $pg:expr) => {{
        let now: i64 = sqlx::query_scalar(if $pg {
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        } else {
            "SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER)"
        })
        .fetch_one(&mut *$tx)
        .await?;
        now
    }};
}
pub(crate) use db_now_ms;

/// Queues `$new` (a `&NewJob`) at time `$now` inside transaction `$tx`; evaluates to the id of
/// the new job, or of the existing job with the same subject.
macro_rules! insert_job {
    ($tx:expr, $new:expr, $now:expr) => {{
        let new: &$crate::store::jobs::NewJob = $new;
        if new.max_attempts == 0 {
            return Err($crate::store::StoreError::Invalid(
                "a job needs max_attempts >= 1".into(),
            ));
        }
        let epoch = $crate::store::codec::u64_to_db(new.epoch);
        let batch = new.batch_index.map(i64::from);
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO jobs (kind, epoch, batch_index, state, attempts, max_attempts, \
             run_after_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, 'queued', 0, $4, $5, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(epoch)
        .bind(batch)
        .bind(i64::from(new.max_attempts))
        .bind($now)
        .fetch_optional(&mut *$tx)
        .await?;
        match inserted {
            Some(id) => id,
            None => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT id FROM jobs WHERE kind = $1 AND epoch = $2 \
                     AND coalesce(batch_index, -1) = coalesce($3, -1)",
                )
                .bind(new.kind.as_str())
                .bind(epoch)
                .bind(batch)
                .fetch_one(&mut *$tx)
                .await?
            }
        }
    }};
}
pub(crate) use insert_job;

/// Ends the leased job in state `$state` ("succeeded" or "failed") at `$now`, or returns
/// `Err(LeaseLost)` from the enclosing function if `$lease` no longer holds it.
macro_rules! finish_leased_job {
    ($tx:expr, $lease:expr, $state:expr, $now:expr) => {{
        let lease: &$crate::store::jobs::Lease = $lease;
        let n = sqlx::query(
            "UPDATE jobs SET state = $1, finished_at_ms = $2, updated_at_ms = $2, \
             lease_expires_at_ms = NULL \
             WHERE id = $3 AND state = 'running' AND lease_owner = $4 AND attempts = $5",
        )
        .bind($state)
        .bind($now)
        .bind(lease.job.id)
        .bind(&lease.worker)
        .bind(lease.attempt)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err($crate::store::jobs::lease_lost(lease));
        }
    }};
}
pub(crate) use finish_leased_job;

/// A job that failed for good fails its batch (if pending) and its epoch (if proving), with
/// `$error`, inside `$tx`. The job row must already be locked (lock order: job, epoch, batch).
macro_rules! propagate_failure {
    ($tx:expr, $epoch:expr, $batch:expr, $error:expr, $now:expr) => {{
        let epoch_db: i64 = $epoch;
        let batch: Option<i64> = $batch;
        let error: &str = $error;
        sqlx::query(
            "UPDATE epochs SET status = 'failed', error = $1, updated_at_ms = $2 \
             WHERE epoch = $3 AND status = 'proving'",
        )
        .bind(error)
        .bind($now)
        .bind(epoch_db)
        .execute(&mut *$tx)
        .await?;
        if let Some(b) = batch {
            sqlx::query(
                "UPDATE batches SET status = 'failed', error = $1, updated_at_ms = $2 \
                 WHERE epoch = $3 AND batch_index = $4 AND status = 'pending'",
            )
            .bind(error)
            .bind($now)
            .bind(epoch_db)
            .bind(b)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

pub(crate) fn lease_lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        job_id: lease.job.id,
        worker: lease.worker.clone(),
        attempt: lease.attempt,
    }
}

/// A running job whose lease expired on its last allowed attempt.
#[derive(sqlx::FromRow)]
struct ExhaustedRow {
    id: i64,
    epoch: i64,
    batch_index: Option<i64>,
    attempts: i64,
    max_attempts: i64,
    lease_owner: Option<String>,
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The error recorded when a job's last attempt lost its worker.
fn lease_expired_error(attempts: i64, max: i64, owner: Option<&str>) -> String {
    format!(
        "lease of worker {} expired on attempt {attempts} of {max} (worker lost or too slow to \
         heartbeat)",
        owner.unwrap_or("?")
    )
}

impl Store {
    /// Queues a job (idempotent per subject: returns the existing job's id if there is one).
    pub async fn enqueue_job(&self, new: &NewJob) -> Result<i64, StoreError> {
        let now = super::codec::unix_ms();
        let id = write_tx!(self, |tx, _pg| { insert_job!(tx, new, now) });
        Ok(id)
    }

    /// Claims the oldest runnable job of one of `kinds` for `worker` with a lease of `lease`,
    /// or `None` if there is none. First ends `failed` every job whose lease expired on its
    /// last allowed attempt.
    pub async fn claim_job(
        &self,
        worker: &str,
        kinds: &[JobKind],
        lease: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let lease_ms = duration_ms(lease);
        let candidate_sql = format!(
            "SELECT id FROM jobs WHERE kind IN ({}) AND ( \
               (state = 'queued' AND run_after_ms <= $1) \
               OR (state = 'running' AND lease_expires_at_ms <= $1 AND attempts < max_attempts)) \
             ORDER BY id LIMIT 1",
            placeholders(true, 2, kinds.len())
        );
        let candidate_sql_pg = format!("{candidate_sql} FOR UPDATE SKIP LOCKED");
        let claimed = write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            // Jobs abandoned on their last attempt: failed, with the reason.
            let exhausted: Vec<ExhaustedRow> = sqlx::query_as(if pg {
                "SELECT id, epoch, batch_index, attempts, max_attempts, lease_owner FROM jobs \
                     WHERE state = 'running' AND lease_expires_at_ms <= $1 \
                     AND attempts >= max_attempts ORDER BY id FOR UPDATE SKIP LOCKED"
            } else {
                "SELECT id, epoch, batch_index, attempts, max_attempts, lease_owner FROM jobs \
                     WHERE state = 'running' AND lease_expires_at_ms <= $1 \
                     AND attempts >= max_attempts ORDER BY id"
            })
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for ExhaustedRow {
                id,
                epoch,
                batch_index,
                attempts,
                max_attempts,
                lease_owner,
            } in exhausted
            {
                let error = lease_expired_error(attempts, max_attempts, lease_owner.as_deref());
                sqlx::query(
                    "UPDATE jobs SET state = 'failed', last_error = $1, finished_at_ms = $2, \
                     updated_at_ms = $2, lease_expires_at_ms = NULL WHERE id = $3",
                )
                .bind(&error)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                propagate_failure!(tx, epoch, batch_index, &error, now);
            }

            let sql = if pg {
                &candidate_sql_pg
            } else {
                &candidate_sql
            };
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())).bind(now);
            for k in kinds {
                q = q.bind(k.as_str());
            }
            match q.fetch_optional(&mut *tx).await? {
                None => None,
                Some(id) => {
                    let row: JobRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
                         lease_owner = $1, lease_expires_at_ms = $2, updated_at_ms = $3 \
                         WHERE id = $4 RETURNING {JOB_COLUMNS}"
                    )))
                    .bind(worker)
                    .bind(now.saturating_add(lease_ms))
                    .bind(now)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    Some(row)
                }
            }
        });
        match claimed {
            None => Ok(None),
            Some(row) => {
                let job = row.into_job()?;
                Ok(Some(Lease {
                    worker: worker.to_string(),
                    attempt: job.attempts,
                    expires_at_ms: job.lease_expires_at_ms.unwrap_or(0),
                    job,
                }))
            }
        }
    }

    /// Extends `lease` to `now + extend` (database clock) if its worker still holds the job;
    /// [`StoreError::LeaseLost`] otherwise (the worker must stop). A lease that expired but
    /// that no other worker has taken over yet is still held.
    pub async fn heartbeat(&self, lease: &mut Lease, extend: Duration) -> Result<(), StoreError> {
        let extend_ms = duration_ms(extend);
        let expires: Option<i64> = write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            sqlx::query_scalar(
                "UPDATE jobs SET lease_expires_at_ms = $1, updated_at_ms = $2 \
                 WHERE id = $3 AND state = 'running' AND lease_owner = $4 AND attempts = $5 \
                 RETURNING lease_expires_at_ms",
            )
            .bind(now.saturating_add(extend_ms))
            .bind(now)
            .bind(lease.job.id)
            .bind(&lease.worker)
            .bind(lease.attempt)
            .fetch_optional(&mut *tx)
            .await?
        });
        match expires {
            Some(t) => {
                lease.expires_at_ms = t;
                lease.job.lease_expires_at_ms = Some(t);
                Ok(())
            }
            None => Err(lease_lost(lease)),
        }
    }

    /// Marks the leased job `succeeded` (for kinds whose result is stored elsewhere; plan and
    /// prove jobs end with [`Store::complete_plan_epoch`] / [`Store::complete_prove_batch`],
    /// which record their result in the same transaction).
    pub async fn complete_job(&self, lease: &Lease) -> Result<(), StoreError> {
        write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            finish_leased_job!(tx, lease, "succeeded", now);
        });
        Ok(())
    }

    /// Records that the leased attempt failed with `error`. If attempts remain and `retry` is
    /// [`Retry::After`], the job is queued again (runnable after the delay) and
    /// [`JobState::Queued`] is returned; otherwise it ends [`JobState::Failed`] with `error`, and
    /// its batch and epoch fail with it.
    pub async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry: Retry,
    ) -> Result<JobState, StoreError> {
        let state = write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
                "UPDATE jobs SET last_error = $1, updated_at_ms = $2 \
                 WHERE id = $3 AND state = 'running' AND lease_owner = $4 AND attempts = $5 \
                 RETURNING attempts, max_attempts, epoch, batch_index",
            )
            .bind(error)
            .bind(now)
            .bind(lease.job.id)
            .bind(&lease.worker)
            .bind(lease.attempt)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((attempts, max, epoch, batch)) = row else {
                return Err(lease_lost(lease));
            };
            match retry {
                Retry::After(delay) if attempts < max => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'queued', run_after_ms = $1, \
                         lease_expires_at_ms = NULL WHERE id = $2",
                    )
                    .bind(now.saturating_add(duration_ms(delay)))
                    .bind(lease.job.id)
                    .execute(&mut *tx)
                    .await?;
                    JobState::Queued
                }
                _ => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'failed', finished_at_ms = $1, \
                         lease_expires_at_ms = NULL WHERE id = $2",
                    )
                    .bind(now)
                    .bind(lease.job.id)
                    .execute(&mut *tx)
                    .await?;
                    let message = format!(
                        "{} job {} failed on attempt {attempts} of {max}: {error}",
                        lease.job.kind, lease.job.id
                    );
                    propagate_failure!(tx, epoch, batch, &message, now);
                    JobState::Failed
                }
            }
        });
        Ok(state)
    }

    /// The job with this id, if any.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(JobRow::into_job).transpose()
    }

    /// Every job of an epoch, oldest first.
    pub async fn jobs_of_epoch(&self, epoch: u64) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE epoch = $1 ORDER BY id"
            )))
            .bind(u64_to_db(epoch))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// How many jobs are in each (kind, state), for metrics.
    pub async fn job_counts(&self) -> Result<Vec<(JobKind, JobState, i64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(k, s, n)| {
                Ok((
                    JobKind::parse(&k).ok_or_else(|| StoreError::corrupt("jobs.kind", k))?,
                    JobState::parse(&s).ok_or_else(|| StoreError::corrupt("jobs.state", s))?,
                    n,
                ))
            })
            .collect()
    }
}
