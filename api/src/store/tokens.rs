//! Operators and API tokens. A token is a random secret shown once at creation; the database
//! keeps only its SHA-256, so a copy of the database yields no usable token. Lookup is by hash
//! (an index probe): timing reveals nothing useful about a secret whose hash is unknown.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::audit::{append_in_tx, AuditEvent};
use super::codec::unix_ms;
use super::{read_pool, write_tx, Store, StoreError};

/// Prefix of every token secret, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "gp_";

/// Database id of an operator (the company that runs installations and submits readings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatorId(pub i64);

/// Database id of a token (for listing and revoking; not a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub i64);

/// What a token may do (DESIGN.md, "Service").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens and closes epochs, manages tokens.
    Admin,
    /// Registers its own installations and submits their readings.
    Operator,
    /// Requests disclosures.
    Regulator,
    /// Reads epochs, proofs and calldata.
    Protocol,
}

impl Role {
    /// The name used in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Regulator => "regulator",
            Role::Protocol => "protocol",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "regulator" => Role::Regulator,
            "protocol" => Role::Protocol,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its id.
    pub id: TokenId,
    /// What it may do.
    pub role: Role,
    /// The operator it acts for: `Some` exactly when the role is [`Role::Operator`].
    pub operator_id: Option<OperatorId>,
    /// Free text given at creation (who holds it).
    pub label: String,
    /// When it was made (Unix ms).
    pub created_at_ms: i64,
    /// When it was revoked, if it was: a revoked token authenticates nothing.
    pub revoked_at_ms: Option<i64>,
}

/// SHA-256 of a token secret: what the database stores and looks up.
pub fn token_sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new random token secret: [`TOKEN_PREFIX`] and 64 hex characters (256 bits).
pub fn generate_token_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    role: String,
    operator_id: Option<i64>,
    label: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl TokenRow {
    fn into_record(self) -> Result<TokenRecord, StoreError> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| StoreError::corrupt("api_tokens.role", self.role.clone()))?;
        Ok(TokenRecord {
            id: TokenId(self.id),
            role,
            operator_id: self.operator_id.map(OperatorId),
            label: self.label,
            created_at_ms: self.created_at_ms,
            revoked_at_ms: self.revoked_at_ms,
        })
    }
}

const TOKEN_COLUMNS: &str = "id, role, operator_id, label, created_at_ms, revoked_at_ms";

impl Store {
    /// The operator named `name`, created if it does not exist yet (idempotent).
    pub async fn ensure_operator(&self, name: &str) -> Result<OperatorId, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("an operator needs a name".into()));
        }
        let id: i64 = write_tx!(self, |tx, _pg| {
            sqlx::query(
                "INSERT INTO operators (name, created_at_ms) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(unix_ms())
            .execute(&mut *tx)
            .await?;
            sqlx::query_scalar("SELECT id FROM operators WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?
        });
        Ok(OperatorId(id))
    }

    /// The operator named `name`, if any.
    pub async fn operator_by_name(&self, name: &str) -> Result<Option<OperatorId>, StoreError> {
        let id: Option<i64> = read_pool!(self, |pool, _pg| {
            sqlx::query_scalar("SELECT id FROM operators WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(id.map(OperatorId))
    }

    /// Makes a token and returns its id and its secret. The secret is not stored: print it once.
    /// An operator token must name its operator, other roles must not. The creation is appended
    /// to the audit log in the same transaction, with no actor (the command line); routes that
    /// make tokens use [`Store::create_token_by`].
    pub async fn create_token(
        &self,
        role: Role,
        operator_id: Option<OperatorId>,
        label: &str,
    ) -> Result<(TokenId, String), StoreError> {
        self.create_token_by(None, role, operator_id, label).await
    }

    /// [`Store::create_token`] on behalf of token `actor` (recorded as the audit entry's actor).
    pub async fn create_token_by(
        &self,
        actor: Option<TokenId>,
        role: Role,
        operator_id: Option<OperatorId>,
        label: &str,
    ) -> Result<(TokenId, String), StoreError> {
        if (role == Role::Operator) != operator_id.is_some() {
            return Err(StoreError::Invalid(format!(
                "a {role} token {} an operator",
                if role == Role::Operator {
                    "needs"
                } else {
                    "cannot have"
                }
            )));
        }
        let secret = generate_token_secret();
        let hash = token_sha256(&secret);
        let id: i64 = write_tx!(self, |tx, _pg| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_tokens (token_sha256, role, operator_id, label, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&hash[..])
            .bind(role.as_str())
            .bind(operator_id.map(|o| o.0))
            .bind(label)
            .bind(unix_ms())
            .fetch_one(&mut *tx)
            .await?;
            let event = AuditEvent::token_created(actor, TokenId(id), role, operator_id, label);
            append_in_tx(&mut *tx, &[event.prepare()?]).await?;
            id
        });
        Ok((TokenId(id), secret))
    }

    /// The live (not revoked) token whose secret hashes to `sha256`, if any.
    pub async fn token_by_sha256(
        &self,
        sha256: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens \
                 WHERE token_sha256 = $1 AND revoked_at_ms IS NULL"
            )))
            .bind(&sha256[..])
            .fetch_optional(pool)
            .await?
        });
        row.map(TokenRow::into_record).transpose()
    }

    /// The live token of a bearer secret, if any (hashes it and calls
    /// [`Store::token_by_sha256`]).
    pub async fn authenticate(&self, secret: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.token_by_sha256(&token_sha256(secret)).await
    }

    /// Revokes a token; `false` if no live token has this id. A revocation is appended to the
    /// audit log in the same transaction.
    pub async fn revoke_token(&self, id: TokenId) -> Result<bool, StoreError> {
        let n = write_tx!(self, |tx, _pg| {
            let n = sqlx::query(
                "UPDATE api_tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(unix_ms())
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                let event = AuditEvent::token_revoked(None, id);
                append_in_tx(&mut *tx, &[event.prepare()?]).await?;
            }
            n
        });
        Ok(n == 1)
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows: Vec<TokenRow> = read_pool!(self, |pool, _pg| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
            )))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(TokenRow::into_record).collect()
    }
}
