//! Batches: an epoch's plan (which sites, in which order, in which batch) and each batch's
//! proof. Results are recorded in the same transaction that ends the job that produced them,
//! so a result exists exactly when its job succeeded.

use std::fmt;

use super::codec::{u64_from_db, u64_to_db};
use super::epochs::{lock_epoch_status, EpochStatus};
use super::installations::placeholders;
use super::jobs::{db_now_ms, finish_leased_job, insert_job, JobKind, Lease, NewJob};
use super::{read_pool, write_tx, Store, StoreError};

/// Where a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchStatus {
    /// Planned, waiting for its proof.
    Pending,
    /// Proved: public inputs and proof are stored.
    Proved,
    /// Its proof was sent to the chain (`tx_hash`).
    Published,
    /// Its prove job failed for good (`error`).
    Failed,
}

impl BatchStatus {
    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Pending => "pending",
            BatchStatus::Proved => "proved",
            BatchStatus::Published => "published",
            BatchStatus::Failed => "failed",
        }
    }

    /// Inverse of [`BatchStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => BatchStatus::Pending,
            "proved" => BatchStatus::Proved,
            "published" => BatchStatus::Published,
            "failed" => BatchStatus::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One batch of a plan: its index and its sites in registry order (site at `position` p has
/// registry index `batch_index * S + p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    /// Index of the batch in the epoch (0, 1, ...).
    pub batch_index: u32,
    /// The real sites of the batch, in order.
    pub site_ids: Vec<u64>,
}

/// A batch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its epoch.
    pub epoch: u64,
    /// Its index.
    pub batch_index: u32,
    /// Its sites in registry order.
    pub site_ids: Vec<u64>,
    /// Where it is.
    pub status: BatchStatus,
    /// Public inputs as JSON (proofs file v1 shape), once proved.
    pub public_inputs: Option<String>,
    /// The proof as JSON (proofs file v1 shape), once proved.
    pub proof: Option<String>,
    /// Hash of the transaction that submitted it, once published.
    pub tx_hash: Option<Vec<u8>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Last change (Unix ms).
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    epoch: i64,
    batch_index: i64,
    status: String,
    public_inputs: Option<String>,
    proof: Option<String>,
    tx_hash: Option<Vec<u8>>,
    error: Option<String>,
    updated_at_ms: i64,
}

/// Rows of `batch_sites` per multi-row insert (4 parameters each).
const SITES_PER_INSERT: usize = 1000;

fn check_plan(batches: &[NewBatch]) -> Result<(), StoreError> {
    if batches.is_empty() {
        return Err(StoreError::Invalid(
            "a plan needs at least one batch (fail the plan job instead)".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, b) in batches.iter().enumerate() {
        if b.batch_index as usize != i {
            return Err(StoreError::Invalid(format!(
                "batch {i} of the plan has index {}",
                b.batch_index
            )));
        }
        if b.site_ids.is_empty() {
            return Err(StoreError::Invalid(format!("batch {i} has no sites")));
        }
        for s in &b.site_ids {
            if !seen.insert(*s) {
                return Err(StoreError::Invalid(format!(
                    "site {s} appears twice in the plan"
                )));
            }
        }
    }
    Ok(())
}

impl Store {
    /// Ends a [`JobKind::PlanEpoch`] job with its result, in one transaction: the epoch's
    /// registry root (32 bytes big-endian), its batches and sites, and one
    /// [`JobKind::ProveBatch`] job per batch (`prove_max_attempts` each). Returns the prove
    /// jobs' ids in batch order. [`StoreError::LeaseLost`] if the lease was taken over; the
    /// epoch must be `proving`.
    pub async fn complete_plan_epoch(
        &self,
        lease: &Lease,
        registry_root: &[u8; 32],
        batches: &[NewBatch],
        prove_max_attempts: u32,
    ) -> Result<Vec<i64>, StoreError> {
        if lease.job.kind != JobKind::PlanEpoch {
            return Err(StoreError::Invalid(format!(
                "job {} is a {} job, not plan_epoch",
                lease.job.id, lease.job.kind
            )));
        }
        check_plan(batches)?;
        let epoch = lease.job.epoch;
        let epoch_db = u64_to_db(epoch);
        let ids = write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            finish_leased_job!(tx, lease, "succeeded", now);
            match lock_epoch_status!(tx, pg, epoch) {
                Some(EpochStatus::Proving) => {}
                other => {
                    return Err(StoreError::State {
                        what: format!("epoch {epoch}"),
                        actual: other.map_or("missing".to_string(), |s| s.to_string()),
                        expected: "proving".into(),
                    })
                }
            }
            sqlx::query(
                "UPDATE epochs SET registry_root = $1, updated_at_ms = $2 WHERE epoch = $3",
            )
            .bind(&registry_root[..])
            .bind(now)
            .bind(epoch_db)
            .execute(&mut *tx)
            .await?;
            let mut ids = Vec::with_capacity(batches.len());
            for b in batches {
                sqlx::query(
                    "INSERT INTO batches (epoch, batch_index, status, updated_at_ms) \
                     VALUES ($1, $2, 'pending', $3)",
                )
                .bind(epoch_db)
                .bind(i64::from(b.batch_index))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let positions: Vec<(usize, &u64)> = b.site_ids.iter().enumerate().collect();
                for chunk in positions.chunks(SITES_PER_INSERT) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("({})", placeholders(pg, 1 + 4 * i, 4)))
                        .collect();
                    let sql = format!(
                        "INSERT INTO batch_sites (epoch, batch_index, position, site_id) VALUES {}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (position, site) in chunk {
                        q = q
                            .bind(epoch_db)
                            .bind(i64::from(b.batch_index))
                            .bind(*position as i64)
                            .bind(u64_to_db(**site));
                    }
                    q.execute(&mut *tx).await?;
                }
                let new_job = NewJob {
                    kind: JobKind::ProveBatch,
                    epoch,
                    batch_index: Some(b.batch_index),
                    max_attempts: prove_max_attempts,
                };
                ids.push(insert_job!(tx, &new_job, now));
            }
            ids
        });
        Ok(ids)
    }

    /// Ends a [`JobKind::ProveBatch`] job with its proof, in one transaction: the batch becomes
    /// `proved` with `public_inputs` and `proof` (JSON, proofs file v1 shapes), and the epoch
    /// becomes `proved` if it was `proving` and this was its last unproved batch. Returns whether
    /// the epoch became `proved`.
    pub async fn complete_prove_batch(
        &self,
        lease: &Lease,
        public_inputs: &str,
        proof: &str,
    ) -> Result<bool, StoreError> {
        let (JobKind::ProveBatch, Some(batch_index)) = (lease.job.kind, lease.job.batch_index)
        else {
            return Err(StoreError::Invalid(format!(
                "job {} is a {} job, not prove_batch",
                lease.job.id, lease.job.kind
            )));
        };
        let epoch = lease.job.epoch;
        let epoch_db = u64_to_db(epoch);
        let epoch_proved = write_tx!(self, |tx, pg| {
            let now = db_now_ms!(tx, pg);
            finish_leased_job!(tx, lease, "succeeded", now);
            // Serializes the "last batch?" check between workers finishing batches of the same
            // epoch at once (PostgreSQL, read committed).
            let _ = lock_epoch_status!(tx, pg, epoch);
            let n = sqlx::query(
                "UPDATE batches SET status = 'proved', public_inputs = $1, proof = $2, \
                 error = NULL, updated_at_ms = $3 \
                 WHERE epoch = $4 AND batch_index = $5 AND status = 'pending'",
            )
            .bind(public_inputs)
            .bind(proof)
            .bind(now)
            .bind(epoch_db)
            .bind(i64::from(batch_index))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::State {
                    what: format!("batch {batch_index} of epoch {epoch}"),
                    actual: "missing or already proved".into(),
                    expected: "pending".into(),
                });
            }
            sqlx::query(
                "UPDATE epochs SET status = 'proved', updated_at_ms = $1 \
                 WHERE epoch = $2 AND status = 'proving' AND NOT EXISTS \
                 (SELECT 1 FROM batches WHERE epoch = $2 AND status <> 'proved')",
            )
            .bind(now)
            .bind(epoch_db)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        });
        Ok(epoch_proved)
    }

    /// Records that a proved batch was published in transaction `tx_hash`; the epoch becomes
    /// `published` when all its batches are. Returns whether the epoch became `published`.
    pub async fn set_batch_published(
        &self,
        epoch: u64,
        batch_index: u32,
        tx_hash: &[u8],
    ) -> Result<bool, StoreError> {
        let epoch_db = u64_to_db(epoch);
        let now = super::codec::unix_ms();
        let published = write_tx!(self, |tx, pg| {
            let _ = lock_epoch_status!(tx, pg, epoch);
            let n = sqlx::query(
                "UPDATE batches SET status = 'published', tx_hash = $1, updated_at_ms = $2 \
                 WHERE epoch = $3 AND batch_index = $4 AND status IN ('proved', 'published')",
            )
            .bind(tx_hash)
            .bind(now)
            .bind(epoch_db)
            .bind(i64::from(batch_index))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::State {
                    what: format!("batch {batch_index} of epoch {epoch}"),
                    actual: "missing or not proved".into(),
                    expected: "proved".into(),
                });
            }
            sqlx::query(
                "UPDATE epochs SET status = 'published', updated_at_ms = $1 \
                 WHERE epoch = $2 AND status = 'proved' AND NOT EXISTS \
                 (SELECT 1 FROM batches WHERE epoch = $2 AND status <> 'published')",
            )
            .bind(now)
            .bind(epoch_db)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        });
        Ok(published)
    }

    /// The batches of an epoch with their sites, in batch order (empty before the plan).
    pub async fn batches(&self, epoch: u64) -> Result<Vec<Batch>, StoreError> {
        let epoch_db = u64_to_db(epoch);
        let (rows, sites): (Vec<BatchRow>, Vec<(i64, i64)>) = read_pool!(self, |pool, _pg| {
            let rows = sqlx::query_as(
                "SELECT epoch, batch_index, status, public_inputs, proof, tx_hash, error, \
                 updated_at_ms FROM batches WHERE epoch = $1 ORDER BY batch_index",
            )
            .bind(epoch_db)
            .fetch_all(pool)
            .await?;
            let sites = sqlx::query_as(
                "SELECT batch_index, site_id FROM batch_sites WHERE epoch = $1 \
                 ORDER BY batch_index, position",
            )
            .bind(epoch_db)
            .fetch_all(pool)
            .await?;
            (rows, sites)
        });
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let batch_index = u32::try_from(r.batch_index).map_err(|_| {
                StoreError::corrupt("batches.batch_index", r.batch_index.to_string())
            })?;
            out.push(Batch {
                epoch: u64_from_db(r.epoch),
                batch_index,
                site_ids: Vec::new(),
                status: BatchStatus::parse(&r.status)
                    .ok_or_else(|| StoreError::corrupt("batches.status", r.status.clone()))?,
                public_inputs: r.public_inputs,
                proof: r.proof,
                tx_hash: r.tx_hash,
                error: r.error,
                updated_at_ms: r.updated_at_ms,
            });
        }
        for (batch_index, site) in sites {
            let b = usize::try_from(batch_index)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| {
                    StoreError::corrupt("batch_sites.batch_index", batch_index.to_string())
                })?;
            b.site_ids.push(u64_from_db(site));
        }
        Ok(out)
    }

    /// Where `site_id` is in the plan of `epoch`: (batch index, position in the batch), if
    /// planned there (for disclosures).
    pub async fn site_position(
        &self,
        epoch: u64,
        site_id: u64,
    ) -> Result<Option<(u32, u32)>, StoreError> {
        let row: Option<(i64, i64)> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT batch_index, position FROM batch_sites WHERE epoch = $1 AND site_id = $2",
            )
            .bind(u64_to_db(epoch))
            .bind(u64_to_db(site_id))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(b, p)| {
            Ok((
                u32::try_from(b)
                    .map_err(|_| StoreError::corrupt("batch_sites.batch_index", b.to_string()))?,
                u32::try_from(p)
                    .map_err(|_| StoreError::corrupt("batch_sites.position", p.to_string()))?,
            ))
        })
        .transpose()
    }
}
