//! Regulators and selective disclosure (DESIGN.md, "Selective disclosure"; docs/service-api.md,
//! "Disclosures"): an admin registers a regulator with its X25519 public key and hands it the
//! token shown once; the regulator asks for one site in one epoch under a legal basis until an
//! expiry; an admin grants or refuses; the regulator downloads the BUNDLE, sealed to its key
//! and bound to (disclosure id, site, epoch, expiry); the site's operator sees who asked.
//!
//! Who sees what: a request is visible to the regulator that made it, to admins and to the
//! operator of its site; to anyone else it does not exist (404, the same answer as an unknown
//! id). No response outside the sealed bundle carries a location or a salt, and no log line
//! does either: the bundle is built in memory from the sealed location and never stored.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gridproof_circuits::encoding::parse_field;
use gridproof_circuits::Fr;
use gridproof_prover::disclosure::{
    seal, BundleBinding, DisclosureBundle, RegulatorPublicKey, TxHash,
};
use gridproof_prover::proofs_file::{BatchProof, ProofJson, PUBLIC_INPUT_NAMES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{problem_response, ApiError, ApiJson, Problem, PROBLEM_TYPE_PREFIX};
use super::wire::int;
use super::AppState;
use crate::store::disclosures::unix_now_s;
use crate::store::{
    Batch, BatchStatus, Decision, Disclosure, DisclosureState, NewDisclosure, Regulator, Role,
    StoreError,
};
use crate::worker::plan::{load_epoch_input, prepare, validate_input};
use crate::worker::JobError;

/// Longest regulator name, legal basis or reason accepted (characters).
pub const MAX_TEXT_CHARS: usize = 1000;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/regulators",
            post(register_regulator).get(list_regulators),
        )
        .route("/v1/disclosures", post(request))
        .route("/v1/disclosures/{id}", get(show))
        .route("/v1/disclosures/{id}/grant", post(grant))
        .route("/v1/disclosures/{id}/refuse", post(refuse))
        .route("/v1/disclosures/{id}/bundle", get(bundle))
        .route(
            "/v1/installations/{site_id}/disclosures",
            get(site_disclosures),
        )
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// `POST /v1/regulators`: a regulator and the key its bundles are sealed to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegulatorBody {
    /// Its name, unique (shown to operators as the recipient of their sites' disclosures).
    pub name: String,
    /// X25519 public key, 64 hex characters (`gridproof regulator keygen` prints it).
    #[schema(example = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")]
    pub public_key: String,
}

/// A registered regulator and its token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegulatorCreated {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its public key, 64 hex characters.
    pub public_key: String,
    /// A token of role `regulator` bound to it: shown once, only its SHA-256 is stored.
    pub token: String,
    /// When it was registered (Unix ms).
    pub created_at_ms: i64,
}

/// A registered regulator as `GET /v1/regulators` lists it (never a token).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegulatorView {
    /// Its id (what `gridproof token create --role regulator --regulator ID` takes).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The X25519 public key its bundles are sealed to, 64 hex characters.
    pub public_key: String,
    /// When it was registered (Unix ms).
    pub created_at_ms: i64,
}

/// `GET /v1/regulators`: every registered regulator, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegulatorList {
    /// The regulators.
    pub items: Vec<RegulatorView>,
}

/// `POST /v1/disclosures`: what a regulator asks for.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureRequestBody {
    /// The site (number or decimal string).
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The epoch (number or decimal string); it must exist.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub epoch: u64,
    /// The law or order relied on (for example a CEII request number); not empty.
    pub legal_basis: String,
    /// Why (free text, may be empty).
    pub reason: String,
    /// Expiry in Unix seconds (number or decimal string), in the future: the request can be
    /// decided and its bundle downloaded until then; the bundle binds it.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub expires_at: u64,
}

/// `POST /v1/disclosures/{id}/grant` and `.../refuse`: the admin's reason.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why it is granted or refused; not empty.
    pub reason: String,
}

/// A disclosure request as its reader may see it. An operator is not shown the regulator's
/// `reason` nor the admin's `decision_reason`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisclosureView {
    /// Its id.
    pub id: String,
    /// `pending`, `granted`, `refused` or `expired` (pending or granted past `expires_at`).
    pub state: String,
    /// The site.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// The epoch.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub epoch: u64,
    /// The regulator that asked (its name).
    pub regulator: String,
    /// The legal basis it gave.
    pub legal_basis: String,
    /// Its reason (not shown to operators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expiry, Unix seconds.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub expires_at: u64,
    /// When it was asked (Unix ms).
    pub created_at_ms: i64,
    /// When it was decided (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    /// The admin's reason (not shown to operators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// Bundles downloaded so far.
    pub downloads: u64,
    /// Last download (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_download_at_ms: Option<i64>,
}

/// The disclosures of one site, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteDisclosures {
    /// The site.
    #[serde(with = "int::u64")]
    #[schema(value_type = u64)]
    pub site_id: u64,
    /// Its disclosure requests (without the regulators' and admins' reasons).
    pub items: Vec<DisclosureView>,
}

fn view(d: &Disclosure, now_s: u64, with_reasons: bool) -> DisclosureView {
    DisclosureView {
        id: d.id.clone(),
        state: d.state_at(now_s).as_str().to_string(),
        site_id: d.site_id,
        epoch: d.epoch,
        regulator: d.regulator_name.clone(),
        legal_basis: d.legal_basis.clone(),
        reason: with_reasons.then(|| d.reason.clone()),
        expires_at: d.expires_at_s,
        created_at_ms: d.created_at_ms,
        decided_at_ms: d.decided_at_ms,
        decision_reason: d.decision_reason.clone().filter(|_| with_reasons),
        downloads: d.downloads,
        last_download_at_ms: d.last_download_at_ms,
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals

/// A refusal of these routes: an [`ApiError`] or a disclosure-specific problem.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureProblem {
    /// A refusal shared with the rest of the API (401, 403, 404, 422 of the body, 500...).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A refusal of this resource with its own status and problem type.
    #[error("{detail}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// Problem slug (`urn:gridproof:problem:<slug>`).
        slug: &'static str,
        /// Problem title.
        title: &'static str,
        /// What is wrong.
        detail: String,
        /// The request's state, when the refusal is about it.
        state: Option<DisclosureState>,
    },
}

impl From<StoreError> for DisclosureProblem {
    fn from(e: StoreError) -> Self {
        DisclosureProblem::Api(ApiError::Store(e))
    }
}

impl DisclosureProblem {
    fn refused(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: String,
    ) -> Self {
        DisclosureProblem::Refused {
            status,
            slug,
            title,
            detail,
            state: None,
        }
    }

    fn invalid(slug: &'static str, title: &'static str, detail: String) -> Self {
        Self::refused(StatusCode::UNPROCESSABLE_ENTITY, slug, title, detail)
    }

    /// The same answer for an unknown id and for a request the caller may not see.
    fn not_found(id: &str) -> Self {
        DisclosureProblem::Api(ApiError::NotFound(format!("no disclosure {id}")))
    }

    /// The refusal of an action that needs `expected` when the request is `state`.
    fn wrong_state(id: &str, state: DisclosureState, action: &str) -> Self {
        let (status, slug, title) = match state {
            DisclosureState::Expired => (StatusCode::GONE, "disclosure-expired", "Expired"),
            DisclosureState::Refused => (
                StatusCode::FORBIDDEN,
                "disclosure-refused",
                "Disclosure refused",
            ),
            DisclosureState::Pending => (
                StatusCode::CONFLICT,
                "disclosure-pending",
                "Disclosure not decided yet",
            ),
            DisclosureState::Granted => (
                StatusCode::CONFLICT,
                "disclosure-decided",
                "Disclosure already decided",
            ),
        };
        DisclosureProblem::Refused {
            status,
            slug,
            title,
            detail: format!("disclosure {id} is {state}: cannot {action}"),
            state: Some(state),
        }
    }
}

impl IntoResponse for DisclosureProblem {
    fn into_response(self) -> Response {
        match self {
            DisclosureProblem::Api(e) => e.into_response(),
            DisclosureProblem::Refused {
                status,
                slug,
                title,
                detail,
                state,
            } => {
                let mut extensions = serde_json::Map::new();
                if let Some(s) = state {
                    extensions.insert("state".into(), s.as_str().into());
                }
                problem_response(&Problem {
                    type_uri: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
                    title: title.to_string(),
                    status: status.as_u16(),
                    detail,
                    extensions,
                })
            }
        }
    }
}

fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, DisclosureProblem> {
    id.map(|Path(id)| id)
        .map_err(|e| ApiError::InvalidPath(e.body_text()).into())
}

/// Checks a text field: not longer than [`MAX_TEXT_CHARS`], no control characters, and not
/// blank when `required`.
fn check_text(field: &str, value: &str, required: bool) -> Result<(), DisclosureProblem> {
    let invalid = |why: &str| {
        DisclosureProblem::invalid(
            "invalid-text",
            "Invalid text field",
            format!("{field} {why}"),
        )
    };
    if required && value.trim().is_empty() {
        return Err(invalid("must not be empty"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(&format!(
            "is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("holds control characters"));
    }
    Ok(())
}

/// The regulator a regulator token acts for (403 for other roles and for unbound tokens).
async fn caller_regulator(
    state: &AppState,
    caller: &Caller,
    action: &str,
) -> Result<Regulator, DisclosureProblem> {
    caller.require(&[Role::Regulator], action)?;
    state
        .store
        .regulator_of_token(caller.token.id)
        .await?
        .ok_or_else(|| {
            DisclosureProblem::refused(
                StatusCode::FORBIDDEN,
                "unbound-regulator-token",
                "Regulator token bound to no regulator",
                "this regulator token is bound to no registered regulator: use the token that \
                 POST /v1/regulators returned"
                    .into(),
            )
        })
}

/// The request `id` if `caller` may see it (its regulator, an admin, its site's operator);
/// 404 otherwise, the same as for an unknown id.
async fn visible_disclosure(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Disclosure, bool), DisclosureProblem> {
    caller.require(
        &[Role::Admin, Role::Regulator, Role::Operator],
        "read disclosures",
    )?;
    let d = state
        .store
        .disclosure(id)
        .await?
        .ok_or_else(|| DisclosureProblem::not_found(id))?;
    let visible = match caller.token.role {
        Role::Admin => true,
        Role::Regulator => state
            .store
            .regulator_of_token(caller.token.id)
            .await?
            .is_some_and(|r| r.id == d.regulator_id),
        Role::Operator => {
            let operator = caller.operator("read disclosures")?;
            state
                .store
                .installation(d.site_id)
                .await?
                .is_some_and(|i| i.operator_id == operator)
        }
        Role::Protocol => false,
    };
    if !visible {
        return Err(DisclosureProblem::not_found(id));
    }
    Ok((d, caller.token.role != Role::Operator))
}

// ---------------------------------------------------------------------------------------------
// Routes

/// Registers a regulator and returns a token of role `regulator` bound to it (shown once).
#[utoipa::path(
    post, path = "/v1/regulators", tag = "disclosures",
    request_body = RegulatorBody,
    responses(
        (status = 201, description = "Registered; the token is shown once", body = RegulatorCreated),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A regulator of this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty name or a public key that is not 64 hex characters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn register_regulator(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<RegulatorBody>, ApiError>,
) -> Result<(StatusCode, Json<RegulatorCreated>), DisclosureProblem> {
    caller.require(&[Role::Admin], "register regulators")?;
    let ApiJson(body) = body?;
    check_text("name", &body.name, true)?;
    let key = parse_public_key(&body.public_key)?;
    let made = state
        .store
        .create_regulator(Some(caller.token.id), body.name.trim(), &key)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => DisclosureProblem::Api(ApiError::Conflict(format!(
                "a regulator named {:?} is already registered",
                body.name.trim()
            ))),
            e => e.into(),
        })?;
    tracing::info!(
        regulator_id = made.regulator.id.0,
        token_id = made.token_id.0,
        "regulator registered"
    );
    Ok((
        StatusCode::CREATED,
        Json(RegulatorCreated {
            id: made.regulator.id.0,
            name: made.regulator.name,
            public_key: hex::encode(made.regulator.public_key),
            token: made.secret,
            created_at_ms: made.regulator.created_at_ms,
        }),
    ))
}

/// Lists the registered regulators (admins only): ids, names, public keys, registration
/// times; never a token.
#[utoipa::path(
    get, path = "/v1/regulators", tag = "disclosures",
    responses(
        (status = 200, description = "Every registered regulator, oldest first", body = RegulatorList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_regulators(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RegulatorList>, DisclosureProblem> {
    caller.require(&[Role::Admin], "list regulators")?;
    let items = state
        .store
        .list_regulators()
        .await?
        .into_iter()
        .map(|r| RegulatorView {
            id: r.id.0,
            name: r.name,
            public_key: hex::encode(r.public_key),
            created_at_ms: r.created_at_ms,
        })
        .collect();
    Ok(Json(RegulatorList { items }))
}

/// An X25519 public key as 64 hex characters (upper or lower case).
fn parse_public_key(text: &str) -> Result<[u8; 32], DisclosureProblem> {
    let invalid = |detail: String| {
        DisclosureProblem::invalid("invalid-public-key", "Invalid regulator public key", detail)
    };
    if text.len() != 64 {
        return Err(invalid(format!(
            "public_key must be 64 hex characters (an X25519 key, 32 bytes); got {} characters",
            text.chars().count()
        )));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key)
        .map_err(|_| invalid("public_key must be 64 hex characters (0-9, a-f)".into()))?;
    if key == [0u8; 32] {
        return Err(invalid(
            "public_key is all zeros: not a usable X25519 key".into(),
        ));
    }
    Ok(key)
}

/// A regulator asks for one site in one epoch.
#[utoipa::path(
    post, path = "/v1/disclosures", tag = "disclosures",
    request_body = DisclosureRequestBody,
    responses(
        (status = 201, description = "Stored, pending an admin's decision", body = DisclosureView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a regulator token bound to a registered regulator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty legal basis, expiry not in the future, unknown site or epoch", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<DisclosureRequestBody>, ApiError>,
) -> Result<(StatusCode, Json<DisclosureView>), DisclosureProblem> {
    // The role is checked before the body is even read: an operator learns nothing here.
    let regulator = caller_regulator(&state, &caller, "request disclosures").await?;
    let ApiJson(body) = body?;
    check_text("legal_basis", &body.legal_basis, true)?;
    check_text("reason", &body.reason, false)?;
    let now = unix_now_s();
    if body.expires_at <= now {
        return Err(DisclosureProblem::invalid(
            "invalid-expiry",
            "Expiry not in the future",
            format!(
                "expires_at is {} (Unix seconds), not after now ({now})",
                body.expires_at
            ),
        ));
    }
    if i64::try_from(body.expires_at).is_err() {
        return Err(DisclosureProblem::invalid(
            "invalid-expiry",
            "Expiry out of range",
            "expires_at must be below 2^63 (Unix seconds)".into(),
        ));
    }
    let new = NewDisclosure {
        regulator_id: regulator.id,
        requested_by: caller.token.id,
        site_id: body.site_id,
        epoch: body.epoch,
        legal_basis: body.legal_basis.trim().to_string(),
        reason: body.reason,
        expires_at_s: body.expires_at,
    };
    let d = state
        .store
        .create_disclosure(&new)
        .await
        .map_err(|e| match e {
            // The site or epoch named in the body: only whether it is registered, nothing else.
            StoreError::NotFound { what } => DisclosureProblem::invalid(
                if what.starts_with("site") {
                    "unknown-site"
                } else {
                    "unknown-epoch"
                },
                "Unknown site or epoch",
                format!("{what} is not registered"),
            ),
            e => e.into(),
        })?;
    tracing::info!(
        disclosure_id = %d.id,
        regulator_id = regulator.id.0,
        site_id = d.site_id,
        epoch = d.epoch,
        "disclosure requested"
    );
    Ok((StatusCode::CREATED, Json(view(&d, now, true))))
}

/// A request's state: for the regulator that made it, admins and the site's operator.
#[utoipa::path(
    get, path = "/v1/disclosures/{id}", tag = "disclosures",
    params(("id" = String, Path, description = "The disclosure id (dsc_...)")),
    responses(
        (status = 200, body = DisclosureView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A protocol token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's to see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<DisclosureView>, DisclosureProblem> {
    let id = path_id(id)?;
    let (d, with_reasons) = visible_disclosure(&state, &caller, &id).await?;
    Ok(Json(view(&d, unix_now_s(), with_reasons)))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<ApiJson<DecisionBody>, ApiError>,
    decision: Decision,
) -> Result<Json<DisclosureView>, DisclosureProblem> {
    let action = match decision {
        Decision::Grant => "grant",
        Decision::Refuse => "refuse",
    };
    caller.require(&[Role::Admin], &format!("{action} disclosures"))?;
    let id = path_id(id)?;
    let ApiJson(body) = body?;
    check_text("reason", &body.reason, true)?;
    let now = unix_now_s();
    let d = state
        .store
        .decide_disclosure(&id, decision, caller.token.id, body.reason.trim(), now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => DisclosureProblem::not_found(&id),
            StoreError::State { actual, .. } if actual == "expired" => {
                DisclosureProblem::wrong_state(&id, DisclosureState::Expired, action)
            }
            StoreError::State { actual, .. } => DisclosureProblem::Refused {
                status: StatusCode::CONFLICT,
                slug: "disclosure-decided",
                title: "Disclosure already decided",
                detail: format!("disclosure {id} is already {actual}: a decision is final"),
                state: Some(if actual == "refused" {
                    DisclosureState::Refused
                } else {
                    DisclosureState::Granted
                }),
            },
            e => e.into(),
        })?;
    tracing::info!(
        disclosure_id = %d.id,
        decision = action,
        admin_token_id = caller.token.id.0,
        "disclosure decided"
    );
    Ok(Json(view(&d, now, true)))
}

/// An admin grants a pending request: its regulator may download the bundle until the expiry.
#[utoipa::path(
    post, path = "/v1/disclosures/{id}/grant", tag = "disclosures",
    params(("id" = String, Path, description = "The disclosure id (dsc_...)")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Granted", body = DisclosureView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already granted or refused", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired before a decision", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<ApiJson<DecisionBody>, ApiError>,
) -> Result<Json<DisclosureView>, DisclosureProblem> {
    decide(&state, &caller, id, body, Decision::Grant).await
}

/// An admin refuses a pending request (final).
#[utoipa::path(
    post, path = "/v1/disclosures/{id}/refuse", tag = "disclosures",
    params(("id" = String, Path, description = "The disclosure id (dsc_...)")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Refused", body = DisclosureView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already granted or refused", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired before a decision", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty reason", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<ApiJson<DecisionBody>, ApiError>,
) -> Result<Json<DisclosureView>, DisclosureProblem> {
    decide(&state, &caller, id, body, Decision::Refuse).await
}

/// The BUNDLE file of a granted request, sealed to its regulator's key: only for that
/// regulator, before the expiry, once the site's batch is proved. Every download is counted.
#[utoipa::path(
    get, path = "/v1/disclosures/{id}/bundle", tag = "disclosures",
    params(("id" = String, Path, description = "The disclosure id (dsc_...)")),
    responses(
        (status = 200, description = "The BUNDLE file (HPKE-sealed to the regulator's key)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the regulator's token, or the request was refused", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another regulator's request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Pending, or the epoch is not proved yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The service runs without the proving keys' shape", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn bundle(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, DisclosureProblem> {
    let regulator = caller_regulator(&state, &caller, "download disclosure bundles").await?;
    let id = path_id(id)?;
    let d = state
        .store
        .disclosure(&id)
        .await?
        .filter(|d| d.regulator_id == regulator.id)
        .ok_or_else(|| DisclosureProblem::not_found(&id))?;
    let now = unix_now_s();
    let current = d.state_at(now);
    if current != DisclosureState::Granted {
        return Err(DisclosureProblem::wrong_state(
            &id,
            current,
            "download its bundle",
        ));
    }
    let bytes = build_bundle(&state, &d, &regulator).await?;
    // Counted only once the bundle exists; a request that expired meanwhile is refused.
    let counted = state
        .store
        .record_disclosure_download(&id, caller.token.id, unix_now_s())
        .await
        .map_err(|e| match e {
            StoreError::State { .. } => {
                DisclosureProblem::wrong_state(&id, DisclosureState::Expired, "download its bundle")
            }
            e => e.into(),
        })?;
    tracing::info!(
        disclosure_id = %id,
        regulator_id = regulator.id.0,
        downloads = counted.downloads,
        bytes = bytes.len(),
        "disclosure bundle downloaded"
    );
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.bundle\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The disclosures of a site, for its operator and admins: who asked, under which legal
/// basis, and what was decided.
#[utoipa::path(
    get, path = "/v1/installations/{site_id}/disclosures", tag = "disclosures",
    params(("site_id" = u64, Path, description = "The site")),
    responses(
        (status = 200, body = SiteDisclosures),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another operator's site, a regulator or a protocol token", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn site_disclosures(
    State(state): State<AppState>,
    caller: Caller,
    site_id: Result<Path<u64>, PathRejection>,
) -> Result<Json<SiteDisclosures>, DisclosureProblem> {
    caller.require(&[Role::Admin, Role::Operator], "list a site's disclosures")?;
    let Path(site_id) = site_id.map_err(|e| ApiError::InvalidPath(e.body_text()))?;
    let installation = state
        .store
        .installation(site_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("site {site_id} is not registered")))?;
    if caller.token.role == Role::Operator
        && caller.operator("list a site's disclosures")? != installation.operator_id
    {
        return Err(
            ApiError::Forbidden(format!("site {site_id} belongs to another operator")).into(),
        );
    }
    let now = unix_now_s();
    let items = state
        .store
        .site_disclosures(site_id)
        .await?
        .iter()
        .map(|d| view(d, now, false))
        .collect();
    Ok(Json(SiteDisclosures { site_id, items }))
}

// ---------------------------------------------------------------------------------------------
// The bundle

/// An internal failure while building a bundle; the message names no location or salt.
fn internal(detail: String) -> DisclosureProblem {
    DisclosureProblem::Api(ApiError::Internal(detail))
}

/// Job errors of the rebuild, without the validator's text (it may quote a location).
fn rebuild_error(epoch: u64, e: JobError) -> DisclosureProblem {
    match e {
        JobError::Data(_) => internal(format!(
            "the stored data of epoch {epoch} no longer pass validation"
        )),
        other => internal(format!("rebuilding epoch {epoch}: {other}")),
    }
}

/// The stored proof of a batch as a proofs-file entry (public inputs in statement order).
fn batch_proof(batch: &Batch) -> Option<BatchProof> {
    let inputs: serde_json::Value = serde_json::from_str(batch.public_inputs.as_deref()?).ok()?;
    let map = inputs.as_object()?;
    let public_inputs: Vec<Fr> = PUBLIC_INPUT_NAMES
        .iter()
        .map(|name| match map.get(*name)? {
            serde_json::Value::String(s) => parse_field(s).ok(),
            serde_json::Value::Number(n) => n.as_u64().map(Fr::from),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let proof: ProofJson = serde_json::from_str(batch.proof.as_deref()?).ok()?;
    Some(BatchProof {
        batch_index: u64::from(batch.batch_index),
        public_inputs,
        proof: proof.to_proof().ok()?,
    })
}

/// Rebuilds the epoch's private output from the store exactly as the prove job does (stored
/// plan order, registered salts, the keys' shape), checks it against the recorded plan and the
/// batch's public inputs, and seals the site's bundle to the regulator's key.
async fn build_bundle(
    state: &AppState,
    d: &Disclosure,
    regulator: &Regulator,
) -> Result<Vec<u8>, DisclosureProblem> {
    let epoch_number = d.epoch;
    let not_proved = || {
        DisclosureProblem::refused(
            StatusCode::CONFLICT,
            "epoch-not-proved",
            "Epoch not proved",
            format!(
                "epoch {epoch_number} has no proof for this disclosure yet: the bundle can be \
                 downloaded once it is proved"
            ),
        )
    };
    let epoch = state
        .store
        .epoch(epoch_number)
        .await?
        .ok_or_else(not_proved)?;
    let registry_root = epoch.registry_root.ok_or_else(not_proved)?;
    let batches = state.store.batches(epoch_number).await?;
    let Some(batch) = batches.iter().find(|b| b.site_ids.contains(&d.site_id)) else {
        return Err(if batches.is_empty() {
            not_proved()
        } else {
            DisclosureProblem::refused(
                StatusCode::CONFLICT,
                "site-not-in-epoch",
                "Site not in the epoch",
                format!(
                    "the requested site has no readings in epoch {epoch_number}: there is \
                     nothing to disclose"
                ),
            )
        });
    };
    if !matches!(batch.status, BatchStatus::Proved | BatchStatus::Published) {
        return Err(not_proved());
    }
    let proof = batch_proof(batch).ok_or_else(|| {
        internal(format!(
            "batch {} of epoch {epoch_number} has an unreadable stored proof",
            batch.batch_index
        ))
    })?;
    let shape = state.batch_shape.ok_or_else(|| {
        DisclosureProblem::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "bundles-unavailable",
            "Bundles unavailable",
            "this server was started without the proving keys (gridproof serve --keys): it \
             cannot rebuild an epoch's registry"
                .into(),
        )
    })?;
    let planned: Vec<Vec<u64>> = batches.iter().map(|b| b.site_ids.clone()).collect();
    let order: Vec<u64> = planned.iter().flatten().copied().collect();
    let input = load_epoch_input(&state.store, &epoch, Some(&order), &state.cipher)
        .await
        .map_err(|e| rebuild_error(epoch_number, e))?;
    let tx_hash = batch.tx_hash.clone();
    let binding = BundleBinding {
        disclosure_id: d.id.clone(),
        site_id: d.site_id,
        epoch: d.epoch,
        expires_at: d.expires_at_s,
    };
    let public_key = regulator.public_key;
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, DisclosureProblem> {
        let validated =
            validate_input(&input, &shape, 1).map_err(|e| rebuild_error(epoch_number, e))?;
        let prepared =
            prepare(&validated, &input.salts).map_err(|e| rebuild_error(epoch_number, e))?;
        if crate::worker::fr_to_be_bytes(&prepared.registry_root) != registry_root {
            return Err(internal(format!(
                "the registry root of epoch {epoch_number} rebuilt from the store differs from \
                 the recorded one"
            )));
        }
        let rebuilt: Vec<&Vec<u64>> = prepared.batches.iter().map(|b| &b.site_ids).collect();
        if rebuilt.len() != planned.len() || rebuilt.iter().zip(&planned).any(|(a, b)| *a != b) {
            return Err(internal(format!(
                "the batches of epoch {epoch_number} rebuilt from the store differ from the \
                 recorded plan"
            )));
        }
        // from_private_output compares the rebuilt batch with the proved public inputs.
        seal_bundle(&prepared.private, &proof, tx_hash, binding, &public_key)
    })
    .await
    .map_err(|_| internal("building a disclosure bundle panicked".into()))?
}

/// Seals the bundle of `d`'s site, from the rebuilt private output and the stored proof, to
/// the regulator's key, bound to (disclosure id, site, epoch, expiry).
fn seal_bundle(
    private: &gridproof_prover::private_output::PrivateOutput,
    proof: &BatchProof,
    tx_hash: Option<Vec<u8>>,
    binding: BundleBinding,
    public_key: &[u8; 32],
) -> Result<Vec<u8>, DisclosureProblem> {
    let epoch = binding.epoch;
    let tx_hash = match tx_hash {
        None => None,
        Some(bytes) => Some(TxHash(<[u8; 32]>::try_from(bytes.as_slice()).map_err(
            |_| {
                internal(format!(
                    "a stored transaction hash of epoch {epoch} is not 32 bytes"
                ))
            },
        )?)),
    };
    let key = RegulatorPublicKey::from_bytes(public_key)
        .map_err(|e| internal(format!("the stored regulator key is unusable: {e}")))?;
    // The library's errors name sites, batches and epochs, never a location or a salt.
    let bundle = DisclosureBundle::from_private_output(private, proof, tx_hash, binding.site_id)
        .map_err(|e| internal(format!("building the bundle of epoch {epoch}: {e}")))?;
    seal(&bundle, &binding, &key)
        .map_err(|e| internal(format!("sealing the bundle of epoch {epoch}: {e}")))
}
