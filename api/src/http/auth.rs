//! Bearer tokens: `Authorization: Bearer gp_...` is looked up by its SHA-256
//! ([`crate::store::Store::authenticate`]); a missing, malformed, unknown or revoked token is
//! 401, a token whose role may not do what is asked is 403. The secret is never logged.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::store::{OperatorId, Role, TokenRecord};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token as stored (never the secret).
    pub token: TokenRecord,
}

impl Caller {
    /// Refuses (403) unless the caller's role is one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.contains(&self.token.role) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "a {} token may not {action} (allowed: {})",
                self.token.role,
                allowed.join(", ")
            )))
        }
    }

    /// The operator of an operator token (403 for any other role).
    pub fn operator(&self, action: &str) -> Result<OperatorId, ApiError> {
        self.require(&[Role::Operator], action)?;
        self.token.operator_id.ok_or_else(|| {
            ApiError::Internal(format!(
                "operator token {} has no operator",
                self.token.id.0
            ))
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("no Authorization: Bearer token".into()))?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        let token = state
            .store
            .authenticate(secret)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))?;
        tracing::Span::current().record("token_id", token.id.0);
        Ok(Caller { token })
    }
}
