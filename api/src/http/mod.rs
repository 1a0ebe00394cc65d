//! The HTTP API of `gridproof serve` (DESIGN.md, "Service"; docs/service-api.md): axum routes
//! over the [`Store`], bearer tokens with roles, RFC 9457 problems for every error, request ids,
//! Prometheus metrics and an OpenAPI document generated from the code.
//!
//! Build the routes with [`router`] from an [`AppState`], then run them with [`serve`] until a
//! shutdown future resolves (for example [`shutdown_signal`]): in-flight requests finish, new
//! connections are refused. Workers and publishers are separate tasks that share the same
//! [`Store`]; the HTTP layer never proves anything itself.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::store::{LocationCipher, Store};

pub mod audit;
pub mod auth;
pub mod disclosures;
pub mod epochs;
pub mod error;
pub mod installations;
pub mod ops;
pub mod readings;
pub mod wire;

pub use error::{ApiError, ApiJson, Problem, ReadingRefusal};

/// Settings of the HTTP layer; the defaults suit `gridproof serve`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body of ordinary routes, bytes.
    pub max_body_bytes: usize,
    /// Largest body of `POST /v1/readings/batch`, bytes.
    pub max_batch_body_bytes: usize,
    /// Attempts of the planning job queued when an epoch closes.
    pub plan_max_attempts: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1 << 20,
            max_batch_body_bytes: 16 << 20,
            plan_max_attempts: 3,
        }
    }
}

/// What every handler shares: cheap to clone (the store holds pools, the rest is behind `Arc`).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Seals installation locations (the key never leaves the process; `Debug` shows its id).
    pub cipher: Arc<LocationCipher>,
    /// Limits and job settings.
    pub config: Arc<HttpConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The proving keys' shape (S, T, P, registry depth) when the process knows it (`serve
    /// --keys`): a disclosure bundle rebuilds its epoch's registry with it; without it the
    /// bundle route answers 503.
    pub batch_shape: Option<gridproof_circuits::statement::BatchShape>,
    /// Signs the audit log's heads (`GET /v1/audit/head`); set with [`AppState::with_audit_key`].
    pub audit_key: Option<Arc<crate::audit::AuditKey>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("cipher", &self.cipher)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store` with `cipher` and `config`, recording metrics in the process-wide
    /// Prometheus recorder ([`prometheus`]).
    pub fn new(store: Store, cipher: LocationCipher, config: HttpConfig) -> Self {
        AppState {
            store,
            cipher: Arc::new(cipher),
            config: Arc::new(config),
            metrics: prometheus(),
            batch_shape: None,
            audit_key: None,
        }
    }

    /// The same state, signing audit heads with `key` (`gridproof serve` always sets one).
    pub fn with_audit_key(mut self, key: crate::audit::AuditKey) -> Self {
        self.audit_key = Some(Arc::new(key));
        self
    }

    /// The same state knowing the proving keys' shape (for disclosure bundles).
    pub fn with_batch_shape(
        mut self,
        shape: Option<gridproof_circuits::statement::BatchShape>,
    ) -> Self {
        self.batch_shape = shape;
        self
    }
}

/// The process-wide Prometheus recorder, installed on first use (the `metrics` facade has one
/// global recorder; every server of the process shares it). If another recorder was installed
/// first, metrics from the facade go there and `/metrics` shows only what this handle sees.
pub fn prometheus() -> PrometheusHandle {
    const SLOW: &[f64] = &[
        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    let slow = |name: &str| metrics_exporter_prometheus::Matcher::Full(name.into());
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets(&[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ])
                    .expect("the bucket list is not empty")
                    // Proofs and publications take seconds to minutes, not milliseconds.
                    .set_buckets_for_metric(slow(crate::worker::prove::PROVE_SECONDS), SLOW)
                    .and_then(|b| {
                        b.set_buckets_for_metric(
                            slow(crate::publisher::PUBLISH_LATENCY_SECONDS),
                            SLOW,
                        )
                    })
                    .expect("the bucket list is not empty")
            };
            match builder().install_recorder() {
                Ok(handle) => {
                    ops::describe_metrics();
                    handle
                }
                Err(error) => {
                    tracing::warn!(%error, "a metrics recorder is already installed");
                    builder().build_recorder().handle()
                }
            }
        })
        .clone()
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the API with its middleware: request ids (`x-request-id`, generated when the
/// client sends none, echoed in the response), a tracing span per request (method, path, request
/// id, token id; never headers, bodies or query strings), metrics, caught panics, problems for
/// every error and the body limits of [`HttpConfig`].
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    Router::new()
        .merge(installations::router())
        .merge(readings::router(&config))
        .merge(epochs::router())
        .merge(disclosures::router())
        .merge(ops::router())
        .merge(audit::router())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::Extension(error::BodyLimit(config.max_body_bytes)))
        .layer(middleware::from_fn(record_request))
        .layer(middleware::from_fn(error::problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(panic_problem))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                        token_id = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(
                    |response: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1e3,
                            "response"
                        );
                    },
                ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn no_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

fn panic_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic message may hold request data: it is not logged or returned.
    ApiError::Internal("a handler panicked".into()).into_response()
}

/// Counts every request by method, route template and status, and times it.
async fn record_request(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("gridproof_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("gridproof_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(start.elapsed().as_secs_f64());
    response
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (graceful shutdown) and returns.
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM: the shutdown future of `gridproof serve`.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT: shutting down"),
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Pagination limits shared by the list routes.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(ApiError::InvalidQuery(format!(
            "limit is {n}; it must be 1 to 1000"
        ))),
    }
}
