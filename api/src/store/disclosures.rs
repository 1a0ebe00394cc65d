//! Regulators and their disclosure requests (DESIGN.md, "Selective disclosure"): a regulator is
//! registered with the X25519 public key its bundles are encrypted to and gets a token bound to
//! it; it asks for one site in one epoch under a legal basis until an expiry; an admin grants or
//! refuses, once; the regulator downloads the bundle while the grant lasts.
//!
//! Every state change is one guarded statement (`UPDATE ... WHERE state = 'pending' AND
//! expires_at_s > now`), so two admins deciding at once, or a decision racing the expiry, cannot
//! both win on either backend. "Expired" is never stored: it is [`Disclosure::state_at`] the
//! caller's clock. Nothing here holds a location or a salt: the bundle is built by the caller
//! from the installation's sealed location and never stored.
//!
//! Every change is appended to the audit log in its own transaction ([`append_in_tx`]): a
//! registration, request, decision or download is recorded exactly when it happens. The entries
//! are public to every token holder, so they carry ids, the site, the epoch, the expiry, the
//! legal basis and the admin's reason, never the regulator's free-text reason.

use std::fmt;

use rand::RngCore;
use serde_json::json;

use super::audit::{append_in_tx, AuditEvent};
use super::codec::{u64_from_db, u64_to_db, unix_ms};
use super::tokens::{generate_token_secret, token_sha256, Role, TokenId};
use super::{read_pool, write_tx, Store, StoreError};
use crate::audit::AuditKind;

/// Prefix of every disclosure id.
pub const DISCLOSURE_ID_PREFIX: &str = "dsc_";

/// Database id of a regulator (not a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegulatorId(pub i64);

/// A registered regulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regulator {
    /// Its id.
    pub id: RegulatorId,
    /// Its name, unique (what a site's operator is shown as the recipient of a disclosure).
    pub name: String,
    /// The X25519 public key bundles are encrypted to.
    pub public_key: [u8; 32],
    /// When it was registered (Unix ms).
    pub created_at_ms: i64,
}

/// What [`Store::create_regulator`] made: the regulator and its first token.
#[derive(Debug)]
pub struct NewRegulatorToken {
    /// The regulator.
    pub regulator: Regulator,
    /// The token's id.
    pub token_id: TokenId,
    /// The token's secret: not stored, shown once.
    pub secret: String,
}

/// What was decided about a request. `Expired` is derived, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisclosureState {
    /// Waiting for an admin.
    Pending,
    /// Granted: the regulator may download the bundle until the expiry.
    Granted,
    /// Refused (final).
    Refused,
    /// Not decided, or granted, and past its expiry: nothing more can happen.
    Expired,
}

impl DisclosureState {
    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DisclosureState::Pending => "pending",
            DisclosureState::Granted => "granted",
            DisclosureState::Refused => "refused",
            DisclosureState::Expired => "expired",
        }
    }

    fn parse_stored(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DisclosureState::Pending,
            "granted" => DisclosureState::Granted,
            "refused" => DisclosureState::Refused,
            _ => return None,
        })
    }
}

impl fmt::Display for DisclosureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An admin's decision on a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The regulator may download the bundle.
    Grant,
    /// It may not.
    Refuse,
}

impl Decision {
    fn state(self) -> &'static str {
        match self {
            Decision::Grant => "granted",
            Decision::Refuse => "refused",
        }
    }
}

/// A request to store: the caller has checked the site, the epoch, the legal basis and that the
/// expiry is in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisclosure {
    /// The regulator asking.
    pub regulator_id: RegulatorId,
    /// The token it asked with.
    pub requested_by: TokenId,
    /// The site.
    pub site_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// The law or order it relies on (for example a CEII request number).
    pub legal_basis: String,
    /// Why.
    pub reason: String,
    /// Until when (Unix seconds) it may be decided and downloaded.
    pub expires_at_s: u64,
}

/// A request as stored, with its regulator's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// Its id (`dsc_` and 32 hex characters: unguessable).
    pub id: String,
    /// The regulator that asked.
    pub regulator_id: RegulatorId,
    /// That regulator's name.
    pub regulator_name: String,
    /// The token it asked with.
    pub requested_by: TokenId,
    /// The site.
    pub site_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// The legal basis given.
    pub legal_basis: String,
    /// The reason given.
    pub reason: String,
    /// Expiry, Unix seconds.
    pub expires_at_s: u64,
    /// The stored state: [`DisclosureState::Pending`], `Granted` or `Refused` (see
    /// [`Disclosure::state_at`] for the state including expiry).
    pub stored_state: DisclosureState,
    /// The admin token that decided.
    pub decided_by: Option<TokenId>,
    /// The admin's reason.
    pub decision_reason: Option<String>,
    /// When it was decided (Unix ms).
    pub decided_at_ms: Option<i64>,
    /// Bundles downloaded.
    pub downloads: u64,
    /// Last download (Unix ms).
    pub last_download_at_ms: Option<i64>,
    /// When it was asked (Unix ms).
    pub created_at_ms: i64,
}

impl Disclosure {
    /// The state at `now_s` (Unix seconds): a pending or granted request is expired from its
    /// expiry on; a refusal stays a refusal.
    pub fn state_at(&self, now_s: u64) -> DisclosureState {
        match self.stored_state {
            DisclosureState::Pending | DisclosureState::Granted if now_s >= self.expires_at_s => {
                DisclosureState::Expired
            }
            s => s,
        }
    }
}

/// The current time in Unix seconds (the clock expiries are compared with).
pub fn unix_now_s() -> u64 {
    u64::try_from(unix_ms() / 1000).unwrap_or(0)
}

/// A new random disclosure id: [`DISCLOSURE_ID_PREFIX`] and 32 hex characters (128 bits).
pub fn generate_disclosure_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{DISCLOSURE_ID_PREFIX}{}", hex::encode(bytes))
}

/// Whether `id` has the shape of a disclosure id (checked before any lookup).
pub fn is_disclosure_id(id: &str) -> bool {
    id.len() == DISCLOSURE_ID_PREFIX.len() + 32
        && id.starts_with(DISCLOSURE_ID_PREFIX)
        && id[DISCLOSURE_ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(sqlx::FromRow)]
struct RegulatorRow {
    id: i64,
    name: String,
    public_key: Vec<u8>,
    created_at_ms: i64,
}

impl RegulatorRow {
    fn into_regulator(self) -> Result<Regulator, StoreError> {
        let public_key = <[u8; 32]>::try_from(self.public_key.as_slice()).map_err(|_| {
            StoreError::corrupt(
                "regulators.public_key",
                format!("{} bytes", self.public_key.len()),
            )
        })?;
        Ok(Regulator {
            id: RegulatorId(self.id),
            name: self.name,
            public_key,
            created_at_ms: self.created_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DisclosureRow {
    id: String,
    regulator_id: i64,
    regulator_name: String,
    requested_by: i64,
    site_id: i64,
    epoch: i64,
    legal_basis: String,
    reason: String,
    expires_at_s: i64,
    state: String,
    decided_by: Option<i64>,
    decision_reason: Option<String>,
    decided_at_ms: Option<i64>,
    downloads: i64,
    last_download_at_ms: Option<i64>,
    created_at_ms: i64,
}

impl DisclosureRow {
    fn into_disclosure(self) -> Result<Disclosure, StoreError> {
        Ok(Disclosure {
            stored_state: DisclosureState::parse_stored(&self.state)
                .ok_or_else(|| StoreError::corrupt("disclosures.state", self.state.clone()))?,
            expires_at_s: u64::try_from(self.expires_at_s).map_err(|_| {
                StoreError::corrupt("disclosures.expires_at_s", self.expires_at_s.to_string())
            })?,
            downloads: u64::try_from(self.downloads).map_err(|_| {
                StoreError::corrupt("disclosures.downloads", self.downloads.to_string())
            })?,
            id: self.id,
            regulator_id: RegulatorId(self.regulator_id),
            regulator_name: self.regulator_name,
            requested_by: TokenId(self.requested_by),
            site_id: u64_from_db(self.site_id),
            epoch: u64_from_db(self.epoch),
            legal_basis: self.legal_basis,
            reason: self.reason,
            decided_by: self.decided_by.map(TokenId),
            decision_reason: self.decision_reason,
            decided_at_ms: self.decided_at_ms,
            last_download_at_ms: self.last_download_at_ms,
            created_at_ms: self.created_at_ms,
        })
    }
}

const DISCLOSURE_SELECT: &str = "SELECT d.id, d.regulator_id, r.name AS regulator_name, \
     d.requested_by, d.site_id, d.epoch, d.legal_basis, d.reason, d.expires_at_s, d.state, \
     d.decided_by, d.decision_reason, d.decided_at_ms, d.downloads, d.last_download_at_ms, \
     d.created_at_ms FROM disclosures d JOIN regulators r ON r.id = d.regulator_id";

fn expires_to_db(expires_at_s: u64) -> Result<i64, StoreError> {
    i64::try_from(expires_at_s)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| StoreError::Invalid(format!("expiry {expires_at_s} is out of range")))
}

/// The `token_created` entry of a regulator token: [`AuditEvent::token_created`]'s details and
/// the regulator it is bound to (who may ask for disclosures on whose behalf is public).
fn regulator_token_created(
    actor: Option<TokenId>,
    token: TokenId,
    regulator_id: i64,
    label: &str,
) -> AuditEvent {
    let mut event = AuditEvent::token_created(actor, token, Role::Regulator, None, label);
    event.details["regulator_id"] = json!(regulator_id);
    event
}

/// Inserts a token of role regulator and its binding to a regulator in the open transaction
/// `tx` (the `write_tx!` body is written once for both backends, so this is a macro too) and
/// gives the token's id: what registering a regulator and `token create --regulator` share.
macro_rules! insert_regulator_token {
    ($tx:ident, $hash:expr, $label:expr, $now:expr, $regulator_id:expr) => {{
        let token_id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (token_sha256, role, operator_id, label, created_at_ms) \
             VALUES ($1, $2, NULL, $3, $4) RETURNING id",
        )
        .bind(&$hash[..])
        .bind(Role::Regulator.as_str())
        .bind($label)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        sqlx::query("INSERT INTO regulator_tokens (token_id, regulator_id) VALUES ($1, $2)")
            .bind(token_id)
            .bind($regulator_id)
            .execute(&mut *$tx)
            .await?;
        token_id
    }};
}

impl Store {
    /// Registers a regulator with its X25519 public key and makes a token of role regulator
    /// bound to it, by the admin token `actor`, in one transaction with its audit entries (the
    /// token's creation and the registration). A name already registered is
    /// [`StoreError::Conflict`].
    pub async fn create_regulator(
        &self,
        actor: Option<TokenId>,
        name: &str,
        public_key: &[u8; 32],
    ) -> Result<NewRegulatorToken, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a regulator needs a name".into()));
        }
        let secret = generate_token_secret();
        let hash = token_sha256(&secret);
        let now = unix_ms();
        let label = format!("regulator {name}");
        let made: Option<(i64, i64)> = write_tx!(self, |tx, _pg| {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO regulators (name, public_key, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(name)
            .bind(&public_key[..])
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match id {
                None => None,
                Some(id) => {
                    let token_id = insert_regulator_token!(tx, hash, &label, now, id);
                    let events = [
                        regulator_token_created(actor, TokenId(token_id), id, &label).prepare()?,
                        AuditEvent::new(
                            AuditKind::RegulatorRegistered,
                            actor,
                            json!({
                                "regulator_id": id,
                                "name": name,
                                "public_key": hex::encode(public_key),
                                "token_id": token_id,
                            }),
                        )
                        .prepare()?,
                    ];
                    append_in_tx(&mut *tx, &events).await?;
                    Some((id, token_id))
                }
            }
        });
        let (id, token_id) = made.ok_or_else(|| StoreError::Conflict {
            what: format!("regulator {name:?}"),
        })?;
        Ok(NewRegulatorToken {
            regulator: Regulator {
                id: RegulatorId(id),
                name: name.to_string(),
                public_key: *public_key,
                created_at_ms: now,
            },
            token_id: TokenId(token_id),
            secret,
        })
    }

    /// Makes another token of role regulator bound to the registered regulator `regulator`
    /// (`gridproof token create --role regulator --regulator ID`: a second holder, or a
    /// replacement for a lost token), by `actor`, in one transaction with its binding in
    /// `regulator_tokens` and its `token_created` audit entry, as [`Store::create_regulator`]
    /// does for the first token. An empty `label` becomes `regulator NAME`, the route's label.
    /// Returns the regulator, the token's id and its secret (not stored: show it once). An
    /// unregistered regulator is [`StoreError::NotFound`], and nothing is written.
    pub async fn create_regulator_token(
        &self,
        actor: Option<TokenId>,
        regulator: RegulatorId,
        label: &str,
    ) -> Result<(Regulator, TokenId, String), StoreError> {
        let secret = generate_token_secret();
        let hash = token_sha256(&secret);
        let now = unix_ms();
        let made: Option<(RegulatorRow, i64)> = write_tx!(self, |tx, _pg| {
            let row: Option<RegulatorRow> = sqlx::query_as(
                "SELECT id, name, public_key, created_at_ms FROM regulators WHERE id = $1",
            )
            .bind(regulator.0)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let label = if label.is_empty() {
                        format!("regulator {}", row.name)
                    } else {
                        label.to_string()
                    };
                    let token_id = insert_regulator_token!(tx, hash, &label, now, row.id);
                    let event = regulator_token_created(actor, TokenId(token_id), row.id, &label);
                    append_in_tx(&mut *tx, &[event.prepare()?]).await?;
                    Some((row, token_id))
                }
            }
        });
        let (row, token_id) = made.ok_or_else(|| StoreError::NotFound {
            what: format!("regulator {}", regulator.0),
        })?;
        Ok((row.into_regulator()?, TokenId(token_id), secret))
    }

    /// Every registered regulator, oldest first (their tokens are not part of it).
    pub async fn list_regulators(&self) -> Result<Vec<Regulator>, StoreError> {
        let rows: Vec<RegulatorRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as("SELECT id, name, public_key, created_at_ms FROM regulators ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(RegulatorRow::into_regulator).collect()
    }

    /// The regulator `id`, if registered.
    pub async fn regulator(&self, id: RegulatorId) -> Result<Option<Regulator>, StoreError> {
        let row: Option<RegulatorRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT id, name, public_key, created_at_ms FROM regulators WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await?
        });
        row.map(RegulatorRow::into_regulator).transpose()
    }

    /// The regulator a token is bound to, if any (a regulator token made without a binding, as
    /// [`Store::create_token`] makes them, can ask for nothing).
    pub async fn regulator_of_token(
        &self,
        token: TokenId,
    ) -> Result<Option<Regulator>, StoreError> {
        let row: Option<RegulatorRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(
                "SELECT r.id, r.name, r.public_key, r.created_at_ms FROM regulator_tokens t \
                 JOIN regulators r ON r.id = t.regulator_id WHERE t.token_id = $1",
            )
            .bind(token.0)
            .fetch_optional(pool)
            .await?
        });
        row.map(RegulatorRow::into_regulator).transpose()
    }

    /// Stores a pending request under a fresh unguessable id, with its audit entry, and returns
    /// it. The site and the epoch must exist ([`StoreError::NotFound`] otherwise).
    pub async fn create_disclosure(&self, new: &NewDisclosure) -> Result<Disclosure, StoreError> {
        if new.legal_basis.trim().is_empty() {
            return Err(StoreError::Invalid(
                "a disclosure needs a legal basis".into(),
            ));
        }
        let expires = expires_to_db(new.expires_at_s)?;
        let id = generate_disclosure_id();
        let now = unix_ms();
        let site = u64_to_db(new.site_id);
        let epoch = u64_to_db(new.epoch);
        let missing: Option<String> = write_tx!(self, |tx, _pg| {
            let site_known: Option<i64> =
                sqlx::query_scalar("SELECT site_id FROM installations WHERE site_id = $1")
                    .bind(site)
                    .fetch_optional(&mut *tx)
                    .await?;
            let epoch_known: Option<i64> =
                sqlx::query_scalar("SELECT epoch FROM epochs WHERE epoch = $1")
                    .bind(epoch)
                    .fetch_optional(&mut *tx)
                    .await?;
            if site_known.is_none() {
                Some(format!("site {}", new.site_id))
            } else if epoch_known.is_none() {
                Some(format!("epoch {}", new.epoch))
            } else {
                sqlx::query(
                    "INSERT INTO disclosures (id, regulator_id, requested_by, site_id, epoch, \
                     legal_basis, reason, expires_at_s, state, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
                )
                .bind(&id)
                .bind(new.regulator_id.0)
                .bind(new.requested_by.0)
                .bind(site)
                .bind(epoch)
                .bind(&new.legal_basis)
                .bind(&new.reason)
                .bind(expires)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let event = AuditEvent::new(
                    AuditKind::DisclosureRequested,
                    Some(new.requested_by),
                    json!({
                        "disclosure_id": id,
                        "regulator_id": new.regulator_id.0,
                        "site_id": new.site_id.to_string(),
                        "epoch": new.epoch.to_string(),
                        "legal_basis": new.legal_basis,
                        "expires_at": new.expires_at_s,
                    }),
                );
                append_in_tx(&mut *tx, &[event.prepare()?]).await?;
                None
            }
        });
        if let Some(what) = missing {
            return Err(StoreError::NotFound { what });
        }
        self.disclosure(&id)
            .await?
            .ok_or_else(|| StoreError::corrupt("disclosures", "inserted row vanished"))
    }

    /// The request `id`, if any.
    pub async fn disclosure(&self, id: &str) -> Result<Option<Disclosure>, StoreError> {
        if !is_disclosure_id(id) {
            return Ok(None);
        }
        let row: Option<DisclosureRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{DISCLOSURE_SELECT} WHERE d.id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(DisclosureRow::into_disclosure).transpose()
    }

    /// Every request about `site_id`, oldest first.
    pub async fn site_disclosures(&self, site_id: u64) -> Result<Vec<Disclosure>, StoreError> {
        let rows: Vec<DisclosureRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{DISCLOSURE_SELECT} WHERE d.site_id = $1 ORDER BY d.created_at_ms, d.id"
            )))
            .bind(u64_to_db(site_id))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(DisclosureRow::into_disclosure)
            .collect()
    }

    /// Decides a pending, unexpired request (at `now_s`, Unix seconds) by the admin token
    /// `decided_by` with `reason`, with its audit entry, and returns it. [`StoreError::NotFound`] for an unknown id;
    /// [`StoreError::State`] with `actual` "granted", "refused" or "expired" when it is not
    /// pending any more: a decision is made once.
    pub async fn decide_disclosure(
        &self,
        id: &str,
        decision: Decision,
        decided_by: TokenId,
        reason: &str,
        now_s: u64,
    ) -> Result<Disclosure, StoreError> {
        let now_ms = unix_ms();
        let changed = if is_disclosure_id(id) {
            write_tx!(self, |tx, _pg| {
                let changed = sqlx::query(
                    "UPDATE disclosures SET state = $1, decided_by = $2, decision_reason = $3, \
                     decided_at_ms = $4, updated_at_ms = $4 \
                     WHERE id = $5 AND state = 'pending' AND expires_at_s > $6",
                )
                .bind(decision.state())
                .bind(decided_by.0)
                .bind(reason)
                .bind(now_ms)
                .bind(id)
                .bind(u64_to_db(now_s).max(0))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if changed {
                    let kind = match decision {
                        Decision::Grant => AuditKind::DisclosureGranted,
                        Decision::Refuse => AuditKind::DisclosureRefused,
                    };
                    let event = AuditEvent::new(
                        kind,
                        Some(decided_by),
                        json!({ "disclosure_id": id, "decision_reason": reason }),
                    );
                    append_in_tx(&mut *tx, &[event.prepare()?]).await?;
                }
                changed
            })
        } else {
            false
        };
        self.after_guarded_update(id, changed, now_s, "pending")
            .await
    }

    /// Counts a bundle download by the regulator token `by` of a granted, unexpired request (at
    /// `now_s`), with its audit entry, and returns it; errors as [`Store::decide_disclosure`]
    /// (`expected` "granted").
    pub async fn record_disclosure_download(
        &self,
        id: &str,
        by: TokenId,
        now_s: u64,
    ) -> Result<Disclosure, StoreError> {
        let now_ms = unix_ms();
        let changed = if is_disclosure_id(id) {
            write_tx!(self, |tx, _pg| {
                let changed = sqlx::query(
                    "UPDATE disclosures SET downloads = downloads + 1, last_download_at_ms = $1, \
                     updated_at_ms = $1 WHERE id = $2 AND state = 'granted' AND expires_at_s > $3",
                )
                .bind(now_ms)
                .bind(id)
                .bind(u64_to_db(now_s).max(0))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if changed {
                    let event = AuditEvent::new(
                        AuditKind::BundleDownloaded,
                        Some(by),
                        json!({ "disclosure_id": id }),
                    );
                    append_in_tx(&mut *tx, &[event.prepare()?]).await?;
                }
                changed
            })
        } else {
            false
        };
        self.after_guarded_update(id, changed, now_s, "granted")
            .await
    }

    /// The disclosure after a state-guarded update: itself if the update `changed` it, else
    /// [`StoreError::NotFound`] or [`StoreError::State`] naming its state at `now_s` against
    /// the `expected` one (what deciding and downloading share).
    async fn after_guarded_update(
        &self,
        id: &str,
        changed: bool,
        now_s: u64,
        expected: &str,
    ) -> Result<Disclosure, StoreError> {
        let found = self
            .disclosure(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("disclosure {id}"),
            })?;
        if changed {
            return Ok(found);
        }
        Err(StoreError::State {
            what: format!("disclosure {id}"),
            actual: found.state_at(now_s).to_string(),
            expected: expected.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unguessable_and_checked() {
        let a = generate_disclosure_id();
        let b = generate_disclosure_id();
        assert_ne!(a, b);
        assert!(is_disclosure_id(&a), "{a}");
        assert!(!is_disclosure_id("dsc_"));
        assert!(!is_disclosure_id(&a.to_uppercase()));
        assert!(!is_disclosure_id(&format!("{a}0")));
        assert!(!is_disclosure_id(&a.replace("dsc_", "dsx_")));
    }

    #[test]
    fn expiry_is_derived_from_the_clock() {
        let d = Disclosure {
            id: generate_disclosure_id(),
            regulator_id: RegulatorId(1),
            regulator_name: "r".into(),
            requested_by: TokenId(1),
            site_id: 1,
            epoch: 1,
            legal_basis: "b".into(),
            reason: String::new(),
            expires_at_s: 100,
            stored_state: DisclosureState::Granted,
            decided_by: Some(TokenId(2)),
            decision_reason: Some("ok".into()),
            decided_at_ms: Some(1),
            downloads: 0,
            last_download_at_ms: None,
            created_at_ms: 0,
        };
        assert_eq!(d.state_at(99), DisclosureState::Granted);
        assert_eq!(d.state_at(100), DisclosureState::Expired);
        let refused = Disclosure {
            stored_state: DisclosureState::Refused,
            ..d
        };
        assert_eq!(refused.state_at(1000), DisclosureState::Refused);
    }
}
