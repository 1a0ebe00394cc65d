//! Signed readings: one reading set per (site, epoch), stored with the SHA-256 of its content so
//! that a resubmission is recognised.
//!
//! [`Store::insert_readings`] takes a batch of any size and decides **per item** in one
//! transaction: a new reading is stored, the same content again is a duplicate (idempotent),
//! different content for a (site, epoch) already stored is a conflict, and readings for an
//! unknown site or an epoch that is not open are refused. A refused item does not stop the
//! others: a gateway that sends 1,000 readings with one bad one gets 999 stored and one
//! precise refusal, and can retry the whole batch safely. When the call returns `Ok`, every
//! `Stored` item is committed (durable); on `Err` nothing of the batch was stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use gridproof_circuits::eddsa::Signature;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, SqliteConnection};

use super::codec::{
    bytes32, fr_from_bytes, fr_to_bytes, u32_from_db, u32s_from_bytes, u32s_to_bytes, u64_from_db,
    u64_to_db, unix_ms,
};
use super::epochs::{parse_status, EpochStatus};
use super::installations::placeholders;
use super::{read_pool, Backend, Store, StoreError};

/// A signed reading set to store; the caller has checked the signature, the count, the
/// interval and the capacity bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReading {
    /// The site.
    pub site_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// Interval length in seconds (as signed).
    pub interval_seconds: u32,
    /// Energy per interval in Wh (as signed).
    pub readings_wh: Vec<u32>,
    /// The meter's EdDSA-Poseidon signature over meter message v1.
    pub signature: Signature,
}

impl NewReading {
    /// SHA-256 of the reading's content (site, epoch, interval, readings, signature) in a fixed
    /// binary encoding: two submissions are "the same body" exactly when these are equal, however
    /// their JSON was formatted.
    pub fn body_sha256(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"gridproof/reading/v1\0");
        h.update(self.site_id.to_be_bytes());
        h.update(self.epoch.to_be_bytes());
        h.update(self.interval_seconds.to_be_bytes());
        h.update((self.readings_wh.len() as u64).to_be_bytes());
        for r in &self.readings_wh {
            h.update(r.to_be_bytes());
        }
        h.update(signature_bytes(&self.signature));
        h.finalize().into()
    }
}

/// A reading set as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReading {
    /// The site.
    pub site_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// Energy per interval in Wh.
    pub readings_wh: Vec<u32>,
    /// The meter's signature.
    pub signature: Signature,
    /// [`NewReading::body_sha256`] of it.
    pub body_sha256: [u8; 32],
    /// When it was stored (Unix ms).
    pub received_at_ms: i64,
}

/// What [`Store::insert_readings`] did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingOutcome {
    /// Stored now (HTTP 201).
    Stored,
    /// The same content was already stored (HTTP 200): nothing changed.
    Duplicate,
    /// Other content is stored for this (site, epoch) (HTTP 409): nothing changed.
    Conflict,
    /// No installation has this site id.
    UnknownSite,
    /// The epoch does not exist (`None`) or is not open (its status).
    EpochNotOpen(Option<EpochStatus>),
}

fn signature_bytes(sig: &Signature) -> [u8; 96] {
    let mut out = [0u8; 96];
    out[..32].copy_from_slice(&fr_to_bytes(&sig.r8_x));
    out[32..64].copy_from_slice(&fr_to_bytes(&sig.r8_y));
    out[64..].copy_from_slice(&fr_to_bytes(&sig.s));
    out
}

fn signature_from_bytes(b: &[u8]) -> Result<Signature, StoreError> {
    if b.len() != 96 {
        return Err(StoreError::corrupt(
            "readings.signature",
            format!("{} bytes", b.len()),
        ));
    }
    Ok(Signature {
        r8_x: fr_from_bytes(&b[..32], "readings.signature")?,
        r8_y: fr_from_bytes(&b[32..64], "readings.signature")?,
        s: fr_from_bytes(&b[64..], "readings.signature")?,
    })
}

/// One item in column form.
struct Row {
    epoch: i64,
    site: i64,
    interval: i64,
    readings: Vec<u8>,
    signature: [u8; 96],
    hash: [u8; 32],
}

type Key = (i64, i64); // (epoch, site) as stored

/// What the transaction found, per distinct key.
#[derive(Default)]
struct Resolution {
    /// Epoch statuses (None = no such epoch).
    epochs: HashMap<i64, Option<EpochStatus>>,
    /// Sites that exist (only asked for items of open epochs).
    known_sites: HashSet<i64>,
    /// Keys inserted now.
    inserted: HashSet<Key>,
    /// Stored hash of keys that were already there.
    existing: HashMap<Key, [u8; 32]>,
}

/// Rows per multi-row `INSERT` on SQLite (7 parameters each; SQLite allows 32766).
const SQLITE_ROWS_PER_INSERT: usize = 1000;
/// Ids per `IN (...)` list.
const IN_LIST_CHUNK: usize = 500;

fn sqlite_insert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(24 * rows + 200);
    sql.push_str(
        "INSERT INTO readings (epoch, site_id, interval_seconds, readings_wh, signature, \
         body_sha256, received_at_ms) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    sql
}

fn sqlite_full_chunk_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| sqlite_insert_sql(SQLITE_ROWS_PER_INSERT))
}

const PG_INSERT: &str = "INSERT INTO readings (epoch, site_id, interval_seconds, readings_wh, \
    signature, body_sha256, received_at_ms) \
    SELECT e, s, i, r, g, h, $7 FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], \
    $4::BYTEA[], $5::BYTEA[], $6::BYTEA[]) AS t (e, s, i, r, g, h) \
    ON CONFLICT DO NOTHING RETURNING epoch, site_id";

/// The steps both backends share, on a connection `$conn` inside the transaction: epoch
/// statuses (`$lock` is the `SELECT`), known sites, and stored hashes of `$keys`.
macro_rules! fetch_epochs {
    ($conn:expr, $sql:expr, $epochs:expr, $res:expr) => {
        for e in $epochs {
            let status: Option<String> = sqlx::query_scalar($sql)
                .bind(*e)
                .fetch_optional(&mut *$conn)
                .await?;
            let status = status.map(|s| parse_status(&s)).transpose()?;
            $res.epochs.insert(*e, status);
        }
    };
}

macro_rules! fetch_known_sites {
    ($conn:expr, $pg:expr, $sites:expr, $res:expr) => {
        for chunk in $sites.chunks(IN_LIST_CHUNK) {
            let sql = format!(
                "SELECT site_id FROM installations WHERE site_id IN ({})",
                placeholders($pg, 1, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(*s);
            }
            for s in q.fetch_all(&mut *$conn).await? {
                $res.known_sites.insert(s);
            }
        }
    };
}

macro_rules! fetch_existing {
    ($conn:expr, $pg:expr, $by_epoch:expr, $res:expr) => {
        for (epoch, sites) in $by_epoch {
            for chunk in sites.chunks(IN_LIST_CHUNK) {
                let sql = format!(
                    "SELECT site_id, body_sha256 FROM readings WHERE epoch = {} AND site_id IN ({})",
                    if $pg { "$1" } else { "?" },
                    placeholders($pg, 2, chunk.len())
                );
                let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql)).bind(epoch);
                for s in chunk {
                    q = q.bind(*s);
                }
                for (site, hash) in q.fetch_all(&mut *$conn).await? {
                    $res.existing.insert((epoch, site), bytes32(&hash, "readings.body_sha256")?);
                }
            }
        }
    };
}

/// The plan of one batch: distinct keys (first occurrence), epochs.
struct Plan<'a> {
    rows: &'a [Row],
    /// Index of the first item of each key, in (epoch, site) order.
    first: BTreeMap<Key, usize>,
    epochs: Vec<i64>,
}

impl<'a> Plan<'a> {
    fn new(rows: &'a [Row]) -> Self {
        let mut first = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            first.entry((r.epoch, r.site)).or_insert(i);
        }
        let mut epochs: Vec<i64> = first.keys().map(|k| k.0).collect();
        epochs.dedup();
        Plan {
            rows,
            first,
            epochs,
        }
    }

    fn is_open(res: &Resolution, epoch: i64) -> bool {
        res.epochs.get(&epoch) == Some(&Some(EpochStatus::Open))
    }

    /// Distinct sites of items in open epochs.
    fn sites_to_check(&self, res: &Resolution) -> Vec<i64> {
        let mut sites: Vec<i64> = self
            .first
            .keys()
            .filter(|k| Self::is_open(res, k.0))
            .map(|k| k.1)
            .collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    }

    /// Rows to insert: first occurrences, open epoch, known site, not found stored; in key order
    /// (a fixed lock order between concurrent batches on PostgreSQL).
    fn to_insert(&self, res: &Resolution) -> Vec<&'a Row> {
        self.first
            .iter()
            .filter(|(k, _)| {
                Self::is_open(res, k.0)
                    && res.known_sites.contains(&k.1)
                    && !res.existing.contains_key(k)
            })
            .map(|(_, &i)| &self.rows[i])
            .collect()
    }

    /// Keys that may be stored already, grouped by epoch: not inserted (yet), in an existing
    /// epoch, and not an unknown site of an open epoch.
    fn to_look_up(&self, res: &Resolution) -> Vec<(i64, Vec<i64>)> {
        let mut by_epoch: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for k in self.first.keys() {
            let unknown_site_in_open_epoch =
                Self::is_open(res, k.0) && !res.known_sites.contains(&k.1);
            let missing_epoch = res.epochs.get(&k.0) == Some(&None);
            if !res.inserted.contains(k) && !unknown_site_in_open_epoch && !missing_epoch {
                by_epoch.entry(k.0).or_default().push(k.1);
            }
        }
        by_epoch.into_iter().collect()
    }

    fn outcomes(&self, res: &Resolution) -> Result<Vec<ReadingOutcome>, StoreError> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let key = (r.epoch, r.site);
                let first = self.first[&key];
                if res.inserted.contains(&key) {
                    return Ok(if first == i {
                        ReadingOutcome::Stored
                    } else if self.rows[first].hash == r.hash {
                        ReadingOutcome::Duplicate
                    } else {
                        ReadingOutcome::Conflict
                    });
                }
                if let Some(stored) = res.existing.get(&key) {
                    return Ok(if *stored == r.hash {
                        ReadingOutcome::Duplicate
                    } else {
                        ReadingOutcome::Conflict
                    });
                }
                let status = res.epochs.get(&r.epoch).copied().flatten();
                if status != Some(EpochStatus::Open) {
                    return Ok(ReadingOutcome::EpochNotOpen(status));
                }
                if !res.known_sites.contains(&r.site) {
                    return Ok(ReadingOutcome::UnknownSite);
                }
                Err(StoreError::corrupt(
                    "readings",
                    format!(
                        "reading of site {} epoch {} neither inserted nor found",
                        u64_from_db(r.site),
                        u64_from_db(r.epoch)
                    ),
                ))
            })
            .collect()
    }
}

/// SQLite: the transaction holds the database's write lock, so nothing changes between reading
/// and writing: look up first, then insert exactly the new rows with a plain `INSERT` (any
/// surprise is an error that rolls the batch back). Lookups first count and only fetch rows
/// when there are any: the driver hands each result row over from its worker thread one by
/// one, which would cost more than the insert itself for a batch of new readings.
async fn resolve_sqlite(
    conn: &mut SqliteConnection,
    plan: &Plan<'_>,
) -> Result<Resolution, StoreError> {
    let mut res = Resolution::default();
    fetch_epochs!(
        conn,
        "SELECT status FROM epochs WHERE epoch = $1",
        &plan.epochs,
        res
    );
    let sites = plan.sites_to_check(&res);
    for chunk in sites.chunks(IN_LIST_CHUNK) {
        let sql = format!(
            "SELECT COUNT(*) FROM installations WHERE site_id IN ({})",
            placeholders(false, 1, chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
        for s in chunk {
            q = q.bind(*s);
        }
        if usize::try_from(q.fetch_one(&mut *conn).await?) == Ok(chunk.len()) {
            res.known_sites.extend(chunk.iter().copied());
        } else {
            fetch_known_sites!(conn, false, chunk, res);
        }
    }
    for (epoch, sites) in plan.to_look_up(&res) {
        for chunk in sites.chunks(IN_LIST_CHUNK) {
            let sql = format!(
                "SELECT COUNT(*) FROM readings WHERE epoch = ? AND site_id IN ({})",
                placeholders(false, 2, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(epoch);
            for s in chunk {
                q = q.bind(*s);
            }
            if q.fetch_one(&mut *conn).await? > 0 {
                fetch_existing!(conn, false, [(epoch, chunk)], res);
            }
        }
    }
    let received = unix_ms();
    for chunk in plan.to_insert(&res).chunks(SQLITE_ROWS_PER_INSERT) {
        let sql = if chunk.len() == SQLITE_ROWS_PER_INSERT {
            sqlx::AssertSqlSafe(std::borrow::Cow::Borrowed(sqlite_full_chunk_sql()))
        } else {
            sqlx::AssertSqlSafe(std::borrow::Cow::Owned(sqlite_insert_sql(chunk.len())))
        };
        let mut q = sqlx::query(sql);
        for r in chunk {
            q = q
                .bind(r.epoch)
                .bind(r.site)
                .bind(r.interval)
                .bind(&r.readings[..])
                .bind(&r.signature[..])
                .bind(&r.hash[..])
                .bind(received);
        }
        let n = q.execute(&mut *conn).await?.rows_affected();
        if usize::try_from(n) != Ok(chunk.len()) {
            return Err(StoreError::corrupt(
                "readings",
                format!("inserted {n} of {} rows under the write lock", chunk.len()),
            ));
        }
        res.inserted.extend(chunk.iter().map(|r| (r.epoch, r.site)));
    }
    Ok(res)
}

async fn resolve_postgres(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
) -> Result<Resolution, StoreError> {
    let mut res = Resolution::default();
    // FOR SHARE: close_epoch's row lock waits for this batch, so no reading is stored into an
    // epoch after it closed.
    fetch_epochs!(
        conn,
        "SELECT status FROM epochs WHERE epoch = $1 FOR SHARE",
        &plan.epochs,
        res
    );
    fetch_known_sites!(conn, true, plan.sites_to_check(&res), res);
    let rows = plan.to_insert(&res);
    if !rows.is_empty() {
        let inserted: Vec<(i64, i64)> = sqlx::query_as(PG_INSERT)
            .bind(rows.iter().map(|r| r.epoch).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.site).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.interval).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| &r.readings[..]).collect::<Vec<&[u8]>>())
            .bind(
                rows.iter()
                    .map(|r| &r.signature[..])
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(rows.iter().map(|r| &r.hash[..]).collect::<Vec<&[u8]>>())
            .bind(unix_ms())
            .fetch_all(&mut *conn)
            .await?;
        res.inserted.extend(inserted);
    }
    fetch_existing!(conn, true, plan.to_look_up(&res), res);
    Ok(res)
}

#[derive(sqlx::FromRow)]
struct ReadingRow {
    epoch: i64,
    site_id: i64,
    interval_seconds: i64,
    readings_wh: Vec<u8>,
    signature: Vec<u8>,
    body_sha256: Vec<u8>,
    received_at_ms: i64,
}

impl ReadingRow {
    fn into_reading(self) -> Result<StoredReading, StoreError> {
        Ok(StoredReading {
            site_id: u64_from_db(self.site_id),
            epoch: u64_from_db(self.epoch),
            interval_seconds: u32_from_db(self.interval_seconds, "readings.interval_seconds")?,
            readings_wh: u32s_from_bytes(&self.readings_wh, "readings.readings_wh")?,
            signature: signature_from_bytes(&self.signature)?,
            body_sha256: bytes32(&self.body_sha256, "readings.body_sha256")?,
            received_at_ms: self.received_at_ms,
        })
    }
}

const COLUMNS: &str =
    "epoch, site_id, interval_seconds, readings_wh, signature, body_sha256, received_at_ms";

impl Store {
    /// Stores a batch of readings in one transaction and says what happened to each item, in
    /// input order (see the module documentation). `Ok` means committed.
    pub async fn insert_readings(
        &self,
        items: &[NewReading],
    ) -> Result<Vec<ReadingOutcome>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // Encode outside the transaction: the write lock is held only for the SQL.
        let rows: Vec<Row> = items
            .iter()
            .map(|r| Row {
                epoch: u64_to_db(r.epoch),
                site: u64_to_db(r.site_id),
                interval: i64::from(r.interval_seconds),
                readings: u32s_to_bytes(&r.readings_wh),
                signature: signature_bytes(&r.signature),
                hash: r.body_sha256(),
            })
            .collect();
        let plan = Plan::new(&rows);
        let res = match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                let res = resolve_sqlite(&mut tx, &plan).await?;
                tx.commit().await?;
                res
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let res = resolve_postgres(&mut tx, &plan).await?;
                tx.commit().await?;
                res
            }
        };
        plan.outcomes(&res)
    }

    /// Stores one reading (a batch of one).
    pub async fn insert_reading(&self, item: &NewReading) -> Result<ReadingOutcome, StoreError> {
        let mut out = self.insert_readings(std::slice::from_ref(item)).await?;
        out.pop()
            .ok_or_else(|| StoreError::corrupt("readings", "no outcome for one item"))
    }

    /// The reading of `site_id` in `epoch`, if stored.
    pub async fn reading(
        &self,
        site_id: u64,
        epoch: u64,
    ) -> Result<Option<StoredReading>, StoreError> {
        let row: Option<ReadingRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM readings WHERE epoch = $1 AND site_id = $2"
            )))
            .bind(u64_to_db(epoch))
            .bind(u64_to_db(site_id))
            .fetch_optional(pool)
            .await?
        });
        row.map(ReadingRow::into_reading).transpose()
    }

    /// Every reading of `epoch`, sorted by site id (as u64).
    pub async fn epoch_readings(&self, epoch: u64) -> Result<Vec<StoredReading>, StoreError> {
        let rows: Vec<ReadingRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM readings WHERE epoch = $1"
            )))
            .bind(u64_to_db(epoch))
            .fetch_all(pool)
            .await?
        });
        let mut out: Vec<StoredReading> = rows
            .into_iter()
            .map(ReadingRow::into_reading)
            .collect::<Result<_, _>>()?;
        out.sort_by_key(|r| r.site_id);
        Ok(out)
    }

    /// How many readings `epoch` has.
    pub async fn count_readings(&self, epoch: u64) -> Result<u64, StoreError> {
        let n: i64 = read_pool!(self, |pool, _pg| {
            sqlx::query_scalar("SELECT COUNT(*) FROM readings WHERE epoch = $1")
                .bind(u64_to_db(epoch))
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
