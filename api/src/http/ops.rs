//! Operations routes, without tokens: `/healthz` (the process answers), `/readyz` (the database
//! answers), `/metrics` (Prometheus text) and `/openapi.json` (the API description, generated
//! from the handlers and types with utoipa).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ApiError, Problem};
use super::wire;
use super::AppState;
use crate::store::{JobKind, JobState};

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = wire::Health)))]
pub async fn healthz() -> Json<wire::Health> {
    Json(wire::Health {
        status: "ok".into(),
    })
}

/// The database answers (the service can acknowledge writes).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = wire::Health),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<wire::Health>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(wire::Health {
            status: "ok".into(),
        })),
        Err(error) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            Err(ApiError::Unavailable)
        }
    }
}

/// Registers the descriptions of the service's metrics (once per process).
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        "gridproof_readings_accepted_total",
        "Readings acknowledged, by outcome (stored, duplicate)"
    );
    metrics::describe_counter!(
        "gridproof_readings_refused_total",
        "Readings refused, by reason (the problem type's slug)"
    );
    metrics::describe_counter!(
        "gridproof_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    metrics::describe_histogram!(
        "gridproof_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    metrics::describe_gauge!(
        "gridproof_jobs",
        "Jobs in the database by kind and state (read at scrape time)"
    );
    metrics::describe_histogram!(
        crate::worker::prove::PROVE_SECONDS,
        metrics::Unit::Seconds,
        "Seconds per batch proof in this process's workers (witness, check, proof)"
    );
    metrics::describe_histogram!(
        crate::publisher::PUBLISH_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Seconds from a transaction's recording as sent to mined or confirmed, by kind and stage"
    );
    metrics::describe_gauge!(
        crate::publisher::AUDIT_HEAD_ONCHAIN_SIZE,
        "Tree size of the latest audit-log head the publisher saw on the oracle"
    );
}

/// Prometheus metrics; the job gauges are read from the database at each scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.job_counts().await {
        Ok(counts) => {
            for kind in [JobKind::PlanEpoch, JobKind::ProveBatch] {
                for job_state in [
                    JobState::Queued,
                    JobState::Running,
                    JobState::Succeeded,
                    JobState::Failed,
                ] {
                    let n = counts
                        .iter()
                        .find(|(k, s, _)| *k == kind && *s == job_state)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!("gridproof_jobs",
                        "kind" => kind.as_str(), "state" => job_state.as_str())
                    .set(n as f64);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read job counts"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The OpenAPI 3.1 description of the API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `gridproof token create --role ...` (gp_ + 64 hex)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's OpenAPI document (served at `/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gridproof",
        description = "Meter-signed readings in, zero-knowledge proofs of revenue per batch out. \
                       Errors are RFC 9457 problems (application/problem+json).",
    ),
    paths(
        super::installations::register,
        super::installations::list,
        super::installations::show,
        super::readings::submit,
        super::readings::submit_batch,
        super::epochs::open,
        super::epochs::close,
        super::epochs::show,
        super::epochs::list,
        super::disclosures::register_regulator,
        super::disclosures::list_regulators,
        super::disclosures::request,
        super::disclosures::show,
        super::disclosures::grant,
        super::disclosures::refuse,
        super::disclosures::bundle,
        super::disclosures::site_disclosures,
        super::audit::head,
        super::audit::entries,
        super::audit::inclusion,
        super::audit::consistency,
        healthz,
        readyz,
        metrics_text,
        openapi_json,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "installations", description = "Sites, their meter keys and tariffs (operators)"),
        (name = "readings", description = "Meter-signed readings (operators' gateways)"),
        (name = "epochs", description = "Opening, closing and following epochs"),
        (name = "disclosures", description = "Regulators, disclosure requests, decisions and sealed bundles"),
        (name = "audit", description = "The tamper-evident audit log: signed heads, entries, proofs"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;
