//! `/v1/installations`: operators register their sites (meter key, capacity, tariff, location);
//! the location is sealed by the store and never returned by these routes. Operators see only
//! their own sites; admins and regulators see all; protocol tokens none.

use ark_ff::PrimeField;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gridproof_circuits::eddsa::PublicKey;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::registry::MAX_PRICE_SLOTS;
use gridproof_circuits::Fr;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, Problem};
use super::wire::{InstallationBody, InstallationPage, InstallationView};
use super::{page_limit, AppState};
use crate::store::{
    Installation, LocationSecret, NewInstallation, OperatorId, RegisterOutcome, Role,
};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/installations", post(register).get(list))
        .route("/v1/installations/{site_id}", get(show))
}

/// The public view of an installation (no location, sealed or not).
pub(crate) fn view(i: &Installation) -> InstallationView {
    InstallationView {
        site_id: i.site_id,
        meter_public_key: [
            field_to_decimal(&i.meter_public_key.x),
            field_to_decimal(&i.meter_public_key.y),
        ],
        capacity_w: i.capacity_w,
        prices_uusd_per_kwh: i.prices_uusd_per_kwh.clone(),
        registered_at_ms: i.registered_at_ms,
    }
}

fn unprocessable(slug: &'static str, title: &'static str, detail: String) -> ApiError {
    ApiError::Unprocessable {
        slug,
        title,
        detail,
    }
}

/// Registers an installation of the caller's operator.
#[utoipa::path(
    post, path = "/v1/installations", tag = "installations",
    request_body = InstallationBody,
    responses(
        (status = 201, description = "Registered (the location is never echoed)", body = InstallationView),
        (status = 200, description = "The same installation was already registered", body = InstallationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The site id is registered with other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad meter key, tariff, capacity or location", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<InstallationBody>,
) -> Result<(StatusCode, Json<InstallationView>), ApiError> {
    let operator = caller.operator("register installations")?;
    let meter_public_key = PublicKey::new(body.meter_public_key[0], body.meter_public_key[1])
        .map_err(|e| {
            unprocessable(
                "invalid-meter-key",
                "Invalid meter key",
                format!("meter_public_key: {e}"),
            )
        })?;
    if body.capacity_w == 0 {
        return Err(unprocessable(
            "invalid-capacity",
            "Invalid capacity",
            "capacity_w must be at least 1 W".into(),
        ));
    }
    let prices = body.prices_uusd_per_kwh.len();
    if !(4..=MAX_PRICE_SLOTS).contains(&prices) {
        return Err(unprocessable(
            "invalid-tariff",
            "Invalid tariff",
            format!("prices_uusd_per_kwh has {prices} prices; a tariff has 4 to {MAX_PRICE_SLOTS}"),
        ));
    }
    let location = body.location.to_location();
    location.validate().map_err(|e| {
        use gridproof_circuits::registry::RegistryError;
        // Name the field and the rule, never the value: a location is CEII even in an error.
        let detail = match e {
            RegistryError::Latitude(_) => {
                "location.latitude_microdeg must be in [-90000000, 90000000]"
            }
            RegistryError::Longitude(_) => {
                "location.longitude_microdeg must be in [-180000000, 180000000]"
            }
            _ => "location.region must be 1 to 31 printable ASCII characters",
        };
        unprocessable("invalid-location", "Invalid location", detail.into())
    })?;
    let new = NewInstallation {
        site_id: body.site_id,
        operator_id: operator,
        meter_public_key,
        capacity_w: body.capacity_w,
        prices_uusd_per_kwh: body.prices_uusd_per_kwh,
        location: LocationSecret {
            location,
            salt: random_salt(),
        },
    };
    let outcome = state
        .store
        .register_installation(&new, &state.cipher)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict { .. } => ApiError::Conflict(format!(
                "site {} is already registered with other content",
                new.site_id
            )),
            e => e.into(),
        })?;
    let stored = state
        .store
        .installation(new.site_id)
        .await?
        .ok_or_else(|| ApiError::Internal("registered installation not found".into()))?;
    let status = match outcome {
        RegisterOutcome::Created => {
            tracing::info!(site_id = new.site_id, "installation registered");
            StatusCode::CREATED
        }
        RegisterOutcome::AlreadyRegistered => StatusCode::OK,
    };
    Ok((status, Json(view(&stored))))
}

/// A uniformly random commitment salt (512 random bits reduced mod r: negligible bias).
fn random_salt() -> Fr {
    use rand::RngCore;
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Fr::from_le_bytes_mod_order(&bytes)
}

/// Paging of `GET /v1/installations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InstallationQuery {
    /// Only sites after this site id (the previous page's `next_after`).
    pub after: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// Whose installations the caller may see: `Some(operator)` for an operator, `None` for all.
fn visible_operator(caller: &Caller) -> Result<Option<OperatorId>, ApiError> {
    caller.require(
        &[Role::Admin, Role::Operator, Role::Regulator],
        "read installations",
    )?;
    Ok(match caller.token.role {
        Role::Operator => Some(caller.operator("read installations")?),
        _ => None,
    })
}

/// Lists installations in site order (an operator's own only).
#[utoipa::path(
    get, path = "/v1/installations", tag = "installations",
    params(InstallationQuery),
    responses(
        (status = 200, body = InstallationPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<InstallationQuery>, QueryRejection>,
) -> Result<Json<InstallationPage>, ApiError> {
    let operator = visible_operator(&caller)?;
    let Query(query) = query.map_err(|e| ApiError::InvalidQuery(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let rows = state
        .store
        .list_installations(operator, query.after, limit)
        .await?;
    let next_after = (rows.len() == limit as usize)
        .then(|| rows.last().map(|i| i.site_id.to_string()))
        .flatten();
    Ok(Json(InstallationPage {
        items: rows.iter().map(view).collect(),
        next_after,
    }))
}

/// One installation (an operator's own only).
#[utoipa::path(
    get, path = "/v1/installations/{site_id}", tag = "installations",
    params(("site_id" = u64, Path, description = "The site")),
    responses(
        (status = 200, body = InstallationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another operator's site, or a protocol token", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    site_id: Result<Path<u64>, PathRejection>,
) -> Result<Json<InstallationView>, ApiError> {
    let operator = visible_operator(&caller)?;
    let Path(site_id) = site_id.map_err(|e| ApiError::InvalidPath(e.body_text()))?;
    let installation = state
        .store
        .installation(site_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("site {site_id} is not registered")))?;
    if operator.is_some_and(|o| o != installation.operator_id) {
        return Err(ApiError::Forbidden(format!(
            "site {site_id} belongs to another operator"
        )));
    }
    Ok(Json(view(&installation)))
}
