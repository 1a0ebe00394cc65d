//! Installations: the registry's source. A row holds what the registry leaf commits to (site
//! id, meter key, capacity, tariff) and the location with its salt sealed by a
//! [`LocationCipher`]; the plaintext location never reaches the database or a log.

use gridproof_circuits::eddsa::PublicKey;

use super::codec::{fr_from_bytes, fr_to_bytes, u32_from_db, u32s_from_bytes, u32s_to_bytes};
use super::codec::{u64_from_db, u64_to_db, unix_ms};
use super::location::{LocationCipher, LocationSecret, SealedLocation};
use super::tokens::OperatorId;
use super::{read_pool, write_tx, Store, StoreError};

/// An installation to register. The caller has validated it (meter key on the curve, tariff
/// length, capacity bound); the store seals the location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstallation {
    /// The operator's identifier of the site (signed in every meter message).
    pub site_id: u64,
    /// The operator that owns it.
    pub operator_id: OperatorId,
    /// The meter's EdDSA-Poseidon public key.
    pub meter_public_key: PublicKey,
    /// Nameplate capacity in watts.
    pub capacity_w: u32,
    /// Time-of-use tariff in micro-USD per kWh, one price per slot.
    pub prices_uusd_per_kwh: Vec<u32>,
    /// Location and commitment salt (CEII; sealed before it is stored; Debug redacts it).
    pub location: LocationSecret,
}

/// An installation as stored; the location stays sealed until [`Store::open_location`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The site.
    pub site_id: u64,
    /// Its operator.
    pub operator_id: OperatorId,
    /// The meter's public key.
    pub meter_public_key: PublicKey,
    /// Capacity in watts.
    pub capacity_w: u32,
    /// Tariff in micro-USD per kWh per slot.
    pub prices_uusd_per_kwh: Vec<u32>,
    /// The sealed location and salt.
    pub location: SealedLocation,
    /// When it was registered (Unix ms).
    pub registered_at_ms: i64,
}

/// What [`Store::register_installation`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new row.
    Created,
    /// The same installation was already registered (same operator, key, capacity, tariff and
    /// location; the salt of the first registration is kept): nothing changed.
    AlreadyRegistered,
}

#[derive(sqlx::FromRow)]
struct InstallationRow {
    site_id: i64,
    operator_id: i64,
    meter_key_x: Vec<u8>,
    meter_key_y: Vec<u8>,
    capacity_w: i64,
    prices_uusd_per_kwh: Vec<u8>,
    location_sealed: Vec<u8>,
    location_key_id: String,
    registered_at_ms: i64,
}

impl InstallationRow {
    fn into_installation(self) -> Result<Installation, StoreError> {
        Ok(Installation {
            site_id: u64_from_db(self.site_id),
            operator_id: OperatorId(self.operator_id),
            meter_public_key: PublicKey {
                x: fr_from_bytes(&self.meter_key_x, "installations.meter_key_x")?,
                y: fr_from_bytes(&self.meter_key_y, "installations.meter_key_y")?,
            },
            capacity_w: u32_from_db(self.capacity_w, "installations.capacity_w")?,
            prices_uusd_per_kwh: u32s_from_bytes(
                &self.prices_uusd_per_kwh,
                "installations.prices_uusd_per_kwh",
            )?,
            location: SealedLocation {
                key_id: self.location_key_id,
                bytes: self.location_sealed,
            },
            registered_at_ms: self.registered_at_ms,
        })
    }
}

const COLUMNS: &str = "site_id, operator_id, meter_key_x, meter_key_y, capacity_w, \
                       prices_uusd_per_kwh, location_sealed, location_key_id, registered_at_ms";

/// Most ids per `IN (...)` list (SQLite allows 32766 parameters).
const IN_LIST_CHUNK: usize = 500;

impl Store {
    /// Registers an installation, sealing its location with `cipher`. Registering the same
    /// installation again is idempotent ([`RegisterOutcome::AlreadyRegistered`]); a different
    /// one under an existing site id is [`StoreError::Conflict`].
    pub async fn register_installation(
        &self,
        new: &NewInstallation,
        cipher: &LocationCipher,
    ) -> Result<RegisterOutcome, StoreError> {
        let sealed = cipher.seal(new.site_id, &new.location)?;
        let site = u64_to_db(new.site_id);
        let inserted = write_tx!(self, |tx, _pg| {
            sqlx::query(
                "INSERT INTO installations (site_id, operator_id, meter_key_x, meter_key_y, \
                 capacity_w, prices_uusd_per_kwh, location_sealed, location_key_id, \
                 registered_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (site_id) DO NOTHING",
            )
            .bind(site)
            .bind(new.operator_id.0)
            .bind(&fr_to_bytes(&new.meter_public_key.x)[..])
            .bind(&fr_to_bytes(&new.meter_public_key.y)[..])
            .bind(i64::from(new.capacity_w))
            .bind(u32s_to_bytes(&new.prices_uusd_per_kwh))
            .bind(&sealed.bytes)
            .bind(&sealed.key_id)
            .bind(unix_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        });
        if inserted {
            return Ok(RegisterOutcome::Created);
        }
        let existing = self
            .installation(new.site_id)
            .await?
            .ok_or_else(|| StoreError::corrupt("installations", "row vanished"))?;
        let conflict = || StoreError::Conflict {
            what: format!("installation of site {}", new.site_id),
        };
        let same_public = existing.operator_id == new.operator_id
            && existing.meter_public_key == new.meter_public_key
            && existing.capacity_w == new.capacity_w
            && existing.prices_uusd_per_kwh == new.prices_uusd_per_kwh;
        if !same_public {
            return Err(conflict());
        }
        let stored = cipher.open(new.site_id, &existing.location)?;
        if stored.location != new.location.location {
            return Err(conflict());
        }
        Ok(RegisterOutcome::AlreadyRegistered)
    }

    /// The installation of `site_id`, if registered.
    pub async fn installation(&self, site_id: u64) -> Result<Option<Installation>, StoreError> {
        let row: Option<InstallationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM installations WHERE site_id = $1"
            )))
            .bind(u64_to_db(site_id))
            .fetch_optional(pool)
            .await?
        });
        row.map(InstallationRow::into_installation).transpose()
    }

    /// The installations among `site_ids` that exist, sorted by site id (missing ids are simply
    /// absent from the result).
    pub async fn installations(&self, site_ids: &[u64]) -> Result<Vec<Installation>, StoreError> {
        let mut out = Vec::with_capacity(site_ids.len());
        for chunk in site_ids.chunks(IN_LIST_CHUNK) {
            let rows: Vec<InstallationRow> = read_pool!(self, |pool, pg| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM installations WHERE site_id IN ({})",
                    placeholders(pg, 1, chunk.len())
                );
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(u64_to_db(*id));
                }
                q.fetch_all(pool).await?
            });
            for row in rows {
                out.push(row.into_installation()?);
            }
        }
        out.sort_by_key(|i| i.site_id);
        out.dedup_by_key(|i| i.site_id);
        Ok(out)
    }

    /// One page of installations in site-id order (of the stored i64, see `codec`): those of
    /// `operator` only if given, starting after `after_site_id`, at most `limit`.
    pub async fn list_installations(
        &self,
        operator: Option<OperatorId>,
        after_site_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Installation>, StoreError> {
        let rows: Vec<InstallationRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM installations \
                 WHERE ($1 IS NULL OR operator_id = $1) AND ($2 IS NULL OR site_id > $2) \
                 ORDER BY site_id LIMIT $3"
            )))
            .bind(operator.map(|o| o.0))
            .bind(after_site_id.map(u64_to_db))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(InstallationRow::into_installation)
            .collect()
    }

    /// The location and salt of `site_id`, opened with `cipher` (for building registry leaves
    /// and disclosures only: never log or return them otherwise).
    pub async fn open_location(
        &self,
        site_id: u64,
        cipher: &LocationCipher,
    ) -> Result<LocationSecret, StoreError> {
        let inst = self
            .installation(site_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("installation of site {site_id}"),
            })?;
        Ok(cipher.open(site_id, &inst.location)?)
    }
}

/// `count` bind placeholders for a generated statement: `$first, $first+1, ...` when
/// `numbered` (PostgreSQL, or wherever `$n` are mixed in), else `?, ?, ...` (SQLite only; bound
/// in order). SQLite resolves a `$n` name by a linear scan, which makes a statement with
/// thousands of numbered parameters quadratic: bulk statements use `?` there.
pub(crate) fn placeholders(numbered: bool, first: usize, count: usize) -> String {
    let mut s = String::with_capacity(count * 7);
    for i in 0..count {
        if i > 0 {
            s.push_str(", ");
        }
        if numbered {
            s.push('$');
            s.push_str(&(first + i).to_string());
        } else {
            s.push('?');
        }
    }
    s
}
