//! Publications: the on-chain transactions of the publisher (docs/service-publisher.md), one row
//! per subject (an epoch's opening, one batch's submission, or one signed head of the audit log
//! anchored on the oracle, docs/audit-log.md). The row is the transaction's
//! life, `built -> sent -> mined -> confirmed` (or `failed`), written before and after every
//! step that touches the chain, so a restarted publisher knows exactly what it may have sent.
//!
//! Every transition is a compare-and-set on the row's state (and, once sent, its transaction
//! hash): a stale caller gets [`StoreError::State`] instead of overwriting newer facts.

use std::fmt;

use super::codec::{u64_from_db, u64_to_db, unix_ms};
use super::epochs::{parse_status, EpochStatus};
use super::{read_pool, write_tx, Store, StoreError};

/// What a publication's transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicationKind {
    /// `RevenueOracle.openEpoch` (registrar role): the epoch's registry root and batch count.
    OpenEpoch,
    /// `RevenueOracle.submitBatch`: one batch's public inputs and proof.
    SubmitBatch,
    /// `RevenueOracle.publishAuditHead` (registrar role): one signed tree head of the audit log.
    /// Its subject is the tree size, not an epoch.
    AuditHead,
}

impl PublicationKind {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationKind::OpenEpoch => "open_epoch",
            PublicationKind::SubmitBatch => "submit_batch",
            PublicationKind::AuditHead => "audit_head",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open_epoch" => PublicationKind::OpenEpoch,
            "submit_batch" => PublicationKind::SubmitBatch,
            "audit_head" => PublicationKind::AuditHead,
            _ => return None,
        })
    }
}

impl fmt::Display for PublicationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a publication's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicationState {
    /// Its calldata is decided; nothing was signed or sent (safe to send).
    Built,
    /// Signed and recorded (nonce, hash, raw bytes) before it was broadcast: it may be in a
    /// mempool or mined. Never sent again under another nonce until the sender's nonce shows it
    /// was not mined.
    Sent,
    /// In a block (`block_number`), waiting for confirmations.
    Mined,
    /// Confirmed (enough blocks on top), or done without our transaction (`accepted_elsewhere`).
    Confirmed,
    /// Refused for good (`error`): the oracle rejects it for a reason retrying cannot change.
    Failed,
}

impl PublicationState {
    /// The name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationState::Built => "built",
            PublicationState::Sent => "sent",
            PublicationState::Mined => "mined",
            PublicationState::Confirmed => "confirmed",
            PublicationState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "built" => PublicationState::Built,
            "sent" => PublicationState::Sent,
            "mined" => PublicationState::Mined,
            "confirmed" => PublicationState::Confirmed,
            "failed" => PublicationState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for PublicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A publication to create in state `built`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPublication {
    /// The epoch (every kind but [`PublicationKind::AuditHead`], which has none).
    pub epoch: Option<u64>,
    /// What the transaction does.
    pub kind: PublicationKind,
    /// The batch ([`PublicationKind::SubmitBatch`] only).
    pub batch_index: Option<u32>,
    /// The audit log's size the head publishes ([`PublicationKind::AuditHead`] only; > 0).
    pub audit_tree_size: Option<u64>,
    /// The chain the transaction is for.
    pub chain_id: u64,
    /// The publisher's address (20 bytes): only its publisher advances the row.
    pub sender: [u8; 20],
    /// The contract called (20 bytes).
    pub contract: [u8; 20],
    /// The call's data (selector and arguments).
    pub calldata: Vec<u8>,
}

/// A signed transaction of a publication, as recorded before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The sender's nonce.
    pub nonce: u64,
    /// Its hash.
    pub tx_hash: [u8; 32],
    /// The signed EIP-2718 bytes (broadcast again, unchanged, if a node forgot it).
    pub raw_tx: Vec<u8>,
    /// Gas limit.
    pub gas_limit: u64,
    /// EIP-1559 max fee, wei per gas.
    pub max_fee_per_gas: u128,
    /// EIP-1559 priority fee, wei per gas.
    pub max_priority_fee_per_gas: u128,
}

/// A publication as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Row id.
    pub id: i64,
    /// The epoch (`None` for an audit head).
    pub epoch: Option<u64>,
    /// What the transaction does.
    pub kind: PublicationKind,
    /// The batch, for a submission.
    pub batch_index: Option<u32>,
    /// The audit log's size, for an audit head.
    pub audit_tree_size: Option<u64>,
    /// Where it is.
    pub state: PublicationState,
    /// The chain.
    pub chain_id: u64,
    /// The publisher's address.
    pub sender: [u8; 20],
    /// The contract called.
    pub contract: [u8; 20],
    /// The call's data.
    pub calldata: Vec<u8>,
    /// The current signed transaction, once sent.
    pub tx: Option<SignedTx>,
    /// Hashes of earlier transactions of this publication (replaced with higher fees, or dead
    /// because their nonce went to another transaction), oldest first: any of them may be the
    /// one that was mined.
    pub previous_tx_hashes: Vec<[u8; 32]>,
    /// How often the transaction was replaced with bumped fees.
    pub replacements: u32,
    /// When the current transaction was recorded as sent (Unix ms).
    pub sent_at_ms: Option<i64>,
    /// The block that holds the mined transaction.
    pub block_number: Option<u64>,
    /// Done without a transaction of ours: the oracle already had the batch or the epoch.
    pub accepted_elsewhere: bool,
    /// The last error (failed for good, or the reason of the last retry).
    pub error: Option<String>,
    /// When the row was made, i.e. its calldata decided (Unix ms).
    pub created_at_ms: i64,
    /// Last change (Unix ms).
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct PublicationRow {
    id: i64,
    epoch: Option<i64>,
    kind: String,
    batch_index: Option<i64>,
    audit_tree_size: Option<i64>,
    state: String,
    chain_id: i64,
    sender: Vec<u8>,
    contract: Vec<u8>,
    calldata: Vec<u8>,
    nonce: Option<i64>,
    tx_hash: Option<Vec<u8>>,
    raw_tx: Option<Vec<u8>>,
    gas_limit: Option<i64>,
    max_fee_per_gas: Option<i64>,
    max_priority_fee_per_gas: Option<i64>,
    previous_tx_hashes: Vec<u8>,
    replacements: i64,
    sent_at_ms: Option<i64>,
    block_number: Option<i64>,
    accepted_elsewhere: i64,
    error: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

const COLUMNS: &str = "id, epoch, kind, batch_index, audit_tree_size, state, chain_id, sender, \
    contract, calldata, nonce, tx_hash, raw_tx, gas_limit, max_fee_per_gas, \
    max_priority_fee_per_gas, previous_tx_hashes, replacements, sent_at_ms, block_number, \
    accepted_elsewhere, error, created_at_ms, updated_at_ms";

/// A value bound in [`Store::transition`]'s SQL.
enum Arg {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
}

fn fixed<const N: usize>(bytes: &[u8], column: &'static str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(column, format!("{} bytes, expected {N}", bytes.len())))
}

fn non_negative(x: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(x).map_err(|_| StoreError::corrupt(column, format!("{x} is negative")))
}

fn fee_to_db(wei: u128, what: &str) -> Result<i64, StoreError> {
    i64::try_from(wei).map_err(|_| StoreError::Invalid(format!("{what} of {wei} wei per gas")))
}

impl PublicationRow {
    fn into_publication(self) -> Result<Publication, StoreError> {
        let tx = match (self.nonce, self.tx_hash, self.raw_tx) {
            (Some(nonce), Some(hash), Some(raw)) => Some(SignedTx {
                nonce: non_negative(nonce, "publications.nonce")?,
                tx_hash: fixed(&hash, "publications.tx_hash")?,
                raw_tx: raw,
                gas_limit: non_negative(self.gas_limit.unwrap_or(0), "publications.gas_limit")?,
                max_fee_per_gas: u128::from(non_negative(
                    self.max_fee_per_gas.unwrap_or(0),
                    "publications.max_fee_per_gas",
                )?),
                max_priority_fee_per_gas: u128::from(non_negative(
                    self.max_priority_fee_per_gas.unwrap_or(0),
                    "publications.max_priority_fee_per_gas",
                )?),
            }),
            _ => None,
        };
        if !self.previous_tx_hashes.len().is_multiple_of(32) {
            return Err(StoreError::corrupt(
                "publications.previous_tx_hashes",
                "not a whole number of hashes",
            ));
        }
        Ok(Publication {
            id: self.id,
            epoch: self.epoch.map(u64_from_db),
            kind: PublicationKind::parse(&self.kind)
                .ok_or_else(|| StoreError::corrupt("publications.kind", self.kind.clone()))?,
            batch_index: self
                .batch_index
                .map(|b| {
                    u32::try_from(b)
                        .map_err(|_| StoreError::corrupt("publications.batch_index", b.to_string()))
                })
                .transpose()?,
            audit_tree_size: self
                .audit_tree_size
                .map(|n| non_negative(n, "publications.audit_tree_size"))
                .transpose()?,
            state: PublicationState::parse(&self.state)
                .ok_or_else(|| StoreError::corrupt("publications.state", self.state.clone()))?,
            chain_id: non_negative(self.chain_id, "publications.chain_id")?,
            sender: fixed(&self.sender, "publications.sender")?,
            contract: fixed(&self.contract, "publications.contract")?,
            calldata: self.calldata,
            tx,
            previous_tx_hashes: self
                .previous_tx_hashes
                .chunks_exact(32)
                .map(|c| fixed(c, "publications.previous_tx_hashes"))
                .collect::<Result<_, _>>()?,
            replacements: u32::try_from(self.replacements).map_err(|_| {
                StoreError::corrupt("publications.replacements", self.replacements.to_string())
            })?,
            sent_at_ms: self.sent_at_ms,
            block_number: self
                .block_number
                .map(|b| non_negative(b, "publications.block_number"))
                .transpose()?,
            accepted_elsewhere: self.accepted_elsewhere != 0,
            error: self.error,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl Store {
    /// The publication of (`epoch`, `kind`, `batch_index`), if any.
    pub async fn publication(
        &self,
        epoch: u64,
        kind: PublicationKind,
        batch_index: Option<u32>,
    ) -> Result<Option<Publication>, StoreError> {
        let row: Option<PublicationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM publications WHERE epoch = $1 AND kind = $2 \
                 AND COALESCE(batch_index, -1) = $3"
            )))
            .bind(u64_to_db(epoch))
            .bind(kind.as_str())
            .bind(batch_index.map_or(-1, i64::from))
            .fetch_optional(pool)
            .await?
        });
        row.map(PublicationRow::into_publication).transpose()
    }

    /// Every publication of `epoch`: the opening first, then the batches in order.
    pub async fn publications_of_epoch(&self, epoch: u64) -> Result<Vec<Publication>, StoreError> {
        let rows: Vec<PublicationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM publications WHERE epoch = $1 \
                 ORDER BY COALESCE(batch_index, -1)"
            )))
            .bind(u64_to_db(epoch))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(PublicationRow::into_publication)
            .collect()
    }

    /// The publication of the audit head of `tree_size` entries, if any.
    pub async fn audit_head_publication(
        &self,
        tree_size: u64,
    ) -> Result<Option<Publication>, StoreError> {
        let row: Option<PublicationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM publications \
                 WHERE kind = 'audit_head' AND audit_tree_size = $1"
            )))
            .bind(u64_to_db(tree_size))
            .fetch_optional(pool)
            .await?
        });
        row.map(PublicationRow::into_publication).transpose()
    }

    /// The audit-head publication of the largest tree size, whatever its state: the one in
    /// flight, or the last one made (its `created_at_ms` paces the next).
    pub async fn latest_audit_head_publication(&self) -> Result<Option<Publication>, StoreError> {
        let row: Option<PublicationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM publications WHERE kind = 'audit_head' \
                 ORDER BY audit_tree_size DESC LIMIT 1"
            )))
            .fetch_optional(pool)
            .await?
        });
        row.map(PublicationRow::into_publication).transpose()
    }

    /// The publication with row id `id`, if any.
    pub async fn publication_by_id(&self, id: i64) -> Result<Option<Publication>, StoreError> {
        let row: Option<PublicationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM publications WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(PublicationRow::into_publication).transpose()
    }

    /// Creates the publication in state `built`, or returns the existing one of the same subject
    /// unchanged (whatever its state: a subject has one row for good). The subject is (epoch,
    /// kind, batch) for an epoch's rows and the tree size for an audit head.
    pub async fn ensure_publication(
        &self,
        new: &NewPublication,
    ) -> Result<Publication, StoreError> {
        if (new.kind == PublicationKind::SubmitBatch) != new.batch_index.is_some() {
            return Err(StoreError::Invalid(
                "a batch index is required exactly for submit_batch".into(),
            ));
        }
        let audit = new.kind == PublicationKind::AuditHead;
        if audit != new.audit_tree_size.is_some() || audit == new.epoch.is_some() {
            return Err(StoreError::Invalid(
                "an audit_head publication has a tree size and no epoch; the others an epoch"
                    .into(),
            ));
        }
        if new.audit_tree_size == Some(0) {
            return Err(StoreError::Invalid(
                "the empty audit log is never published".into(),
            ));
        }
        let now = unix_ms();
        write_tx!(self, |tx, _pg| {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM publications WHERE COALESCE(epoch, -1) = $1 AND kind = $2 \
                 AND COALESCE(batch_index, -1) = $3 AND COALESCE(audit_tree_size, -1) = $4",
            )
            .bind(new.epoch.map_or(-1, u64_to_db))
            .bind(new.kind.as_str())
            .bind(new.batch_index.map_or(-1, i64::from))
            .bind(new.audit_tree_size.map_or(-1, u64_to_db))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                sqlx::query(
                    "INSERT INTO publications (epoch, kind, batch_index, audit_tree_size, state, \
                     chain_id, sender, contract, calldata, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, 'built', $5, $6, $7, $8, $9, $9)",
                )
                .bind(new.epoch.map(u64_to_db))
                .bind(new.kind.as_str())
                .bind(new.batch_index.map(i64::from))
                .bind(new.audit_tree_size.map(u64_to_db))
                .bind(u64_to_db(new.chain_id))
                .bind(&new.sender[..])
                .bind(&new.contract[..])
                .bind(&new.calldata)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        });
        let found = match (new.epoch, new.audit_tree_size) {
            (Some(epoch), _) => self.publication(epoch, new.kind, new.batch_index).await?,
            (None, Some(size)) => self.audit_head_publication(size).await?,
            (None, None) => None,
        };
        found.ok_or_else(|| StoreError::NotFound {
            what: format!("{} publication just made", new.kind),
        })
    }

    /// The highest nonce of `sender`'s transactions that may still be pending (rows `sent`), so
    /// that a new transaction never takes the nonce of one a node may have forgotten.
    pub async fn highest_sent_nonce(&self, sender: &[u8; 20]) -> Result<Option<u64>, StoreError> {
        let n: Option<i64> = read_pool!(self, |pool, _pg| {
            sqlx::query_scalar(
                "SELECT MAX(nonce) FROM publications WHERE sender = $1 AND state = 'sent'",
            )
            .bind(&sender[..])
            .fetch_one(pool)
            .await?
        });
        n.map(|n| non_negative(n, "publications.nonce")).transpose()
    }

    /// Records a signed transaction before it is broadcast: `built -> sent`, or, with
    /// `replacing = Some(hash)`, a replacement of the `sent` transaction `hash` (same nonce,
    /// higher fees; the old hash is kept in `previous_tx_hashes`).
    pub async fn publication_sent(
        &self,
        id: i64,
        replacing: Option<[u8; 32]>,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let now = unix_ms();
        let max_fee = fee_to_db(signed.max_fee_per_gas, "max fee")?;
        let tip = fee_to_db(signed.max_priority_fee_per_gas, "priority fee")?;
        let gas = i64::try_from(signed.gas_limit)
            .map_err(|_| StoreError::Invalid(format!("gas limit {}", signed.gas_limit)))?;
        let changed = write_tx!(self, |tx, pg| {
            let current: Option<(String, Option<Vec<u8>>, Vec<u8>)> = sqlx::query_as(if pg {
                "SELECT state, tx_hash, previous_tx_hashes FROM publications WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT state, tx_hash, previous_tx_hashes FROM publications WHERE id = $1"
            })
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((state, hash, mut previous)) = current else {
                return Err(StoreError::NotFound {
                    what: format!("publication {id}"),
                });
            };
            let ok = match replacing {
                None => state == "built",
                Some(old) => state == "sent" && hash.as_deref() == Some(&old[..]),
            };
            if ok {
                if let Some(old) = replacing {
                    previous.extend_from_slice(&old);
                }
                sqlx::query(
                    "UPDATE publications SET state = 'sent', nonce = $1, tx_hash = $2, raw_tx = $3, \
                     gas_limit = $4, max_fee_per_gas = $5, max_priority_fee_per_gas = $6, \
                     previous_tx_hashes = $7, replacements = replacements + $8, sent_at_ms = $9, \
                     block_number = NULL, updated_at_ms = $9 WHERE id = $10",
                )
                .bind(u64_to_db(signed.nonce))
                .bind(&signed.tx_hash[..])
                .bind(&signed.raw_tx)
                .bind(gas)
                .bind(max_fee)
                .bind(tip)
                .bind(&previous)
                .bind(i64::from(replacing.is_some()))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            (ok, state)
        });
        match changed {
            (true, _) => Ok(()),
            (false, actual) => Err(StoreError::State {
                what: format!("publication {id}"),
                actual,
                expected: if replacing.is_some() {
                    "sent with the replaced hash".into()
                } else {
                    "built".into()
                },
            }),
        }
    }

    /// `sent -> mined`: transaction `tx_hash` (the current one or an earlier one of this row)
    /// is in block `block_number`; it becomes the row's transaction.
    pub async fn publication_mined(
        &self,
        id: i64,
        tx_hash: &[u8; 32],
        block_number: u64,
    ) -> Result<(), StoreError> {
        self.transition(
            id,
            &["sent"],
            "mined",
            "tx_hash = $3, block_number = $4, error = NULL",
            vec![
                Arg::Bytes(tx_hash.to_vec()),
                Arg::Int(u64_to_db(block_number)),
            ],
        )
        .await
    }

    /// `mined -> sent`: the block that held the transaction is no longer canonical (a reorg);
    /// the transaction is watched again.
    pub async fn publication_unmined(&self, id: i64) -> Result<(), StoreError> {
        self.transition(id, &["mined"], "sent", "block_number = NULL", vec![])
            .await
    }

    /// `mined -> confirmed`, or `built | sent | mined -> confirmed` with `accepted_elsewhere`:
    /// the oracle already has what this row would send (another sender's transaction, or an
    /// earlier run's), which counts as success.
    pub async fn publication_confirmed(
        &self,
        id: i64,
        accepted_elsewhere: bool,
    ) -> Result<(), StoreError> {
        if accepted_elsewhere {
            self.transition(
                id,
                &["built", "sent", "mined"],
                "confirmed",
                "accepted_elsewhere = 1",
                vec![],
            )
            .await
        } else {
            self.transition(id, &["mined"], "confirmed", "error = NULL", vec![])
                .await
        }
    }

    /// `sent | mined -> built`: every transaction of the row is dead (its nonce was taken by
    /// another transaction, or it reverted); it may be sent again under a new nonce. The dead
    /// hash is kept in `previous_tx_hashes`.
    pub async fn publication_rebuild(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let now = unix_ms();
        let found = write_tx!(self, |tx, pg| {
            let current: Option<(String, Option<Vec<u8>>, Vec<u8>)> = sqlx::query_as(if pg {
                "SELECT state, tx_hash, previous_tx_hashes FROM publications WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT state, tx_hash, previous_tx_hashes FROM publications WHERE id = $1"
            })
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((state, hash, mut previous)) = current else {
                return Err(StoreError::NotFound {
                    what: format!("publication {id}"),
                });
            };
            if state == "sent" || state == "mined" {
                previous.extend_from_slice(hash.as_deref().unwrap_or_default());
                sqlx::query(
                    "UPDATE publications SET state = 'built', previous_tx_hashes = $1, \
                     nonce = NULL, tx_hash = NULL, raw_tx = NULL, block_number = NULL, \
                     sent_at_ms = NULL, error = $2, updated_at_ms = $3 WHERE id = $4",
                )
                .bind(&previous)
                .bind(error)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            state
        });
        if found == "sent" || found == "mined" {
            Ok(())
        } else {
            Err(StoreError::State {
                what: format!("publication {id}"),
                actual: found,
                expected: "sent or mined".into(),
            })
        }
    }

    /// Records why the last attempt failed, without changing the state (a retry follows).
    pub async fn publication_note_error(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let now = unix_ms();
        write_tx!(self, |tx, _pg| {
            sqlx::query("UPDATE publications SET error = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(error)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// `built -> failed`: the oracle refuses this transaction for a reason retrying cannot
    /// change (an invalid proof, a statement that does not match the opened epoch).
    pub async fn publication_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.transition(
            id,
            &["built"],
            "failed",
            "error = $3",
            vec![Arg::Text(error.to_string())],
        )
        .await
    }

    /// Epochs the publisher works on: `proved` or `published` (not yet final), oldest first.
    pub async fn epochs_to_publish(&self) -> Result<Vec<(u64, EpochStatus)>, StoreError> {
        let rows: Vec<(i64, String)> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT epoch, status FROM epochs WHERE status IN ('proved', 'published') \
                 ORDER BY updated_at_ms, epoch",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(e, s)| Ok((u64_from_db(e), parse_status(&s)?)))
            .collect()
    }

    /// Moves row `id` from one of `from` to `to`, setting `set` (SQL with `$3`, `$4`, ...
    /// bound to `args` in order; `$1` is the time, `$2` the id). `Err(State)` names the state
    /// found.
    async fn transition(
        &self,
        id: i64,
        from: &[&str],
        to: &str,
        set: &str,
        args: Vec<Arg>,
    ) -> Result<(), StoreError> {
        let now = unix_ms();
        let states = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE publications SET state = '{to}', {set}, updated_at_ms = $1 \
             WHERE id = $2 AND state IN ({states})"
        );
        let changed = write_tx!(self, |tx, _pg| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(id);
            for a in args {
                q = match a {
                    Arg::Int(x) => q.bind(x),
                    Arg::Bytes(x) => q.bind(x),
                    Arg::Text(x) => q.bind(x),
                };
            }
            q.execute(&mut *tx).await?.rows_affected()
        });
        if changed == 1 {
            return Ok(());
        }
        let actual: Option<String> = read_pool!(self, |pool, _pg| {
            sqlx::query_scalar("SELECT state FROM publications WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match actual {
            None => Err(StoreError::NotFound {
                what: format!("publication {id}"),
            }),
            Some(actual) => Err(StoreError::State {
                what: format!("publication {id}"),
                actual,
                expected: from.join(" or "),
            }),
        }
    }
}
