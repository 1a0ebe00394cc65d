//! Every error of the API as an RFC 9457 problem (`application/problem+json`): one enum,
//! [`ApiError`], mapped to its status, type and title in one place, and a JSON extractor,
//! [`ApiJson`], that turns body errors (not JSON, unknown fields, too large, wrong media type)
//! into the same shape. Anything else that leaves the router as an error without a problem body
//! (axum's own 405, a panic) is rewritten by [`problem_for_bare_errors`].
//!
//! Problem types are URNs `urn:gridproof:problem:<slug>` (docs/service-api.md lists them); the
//! body may carry extension members (`site_id`, `index`, ...) that say precisely what was wrong.

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{EpochStatus, StoreError};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem type URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:gridproof:problem:";

/// An RFC 9457 problem document as the API writes it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:gridproof:problem:<slug>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type (the same for every occurrence).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Extension members (for example `site_id`, `index`, `limit_bytes`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// Why a reading is refused: the same reasons for `POST /v1/readings` and for each item of a
/// batch. The slug is also the `reason` label of the refused-readings metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingRefusal {
    /// No installation has this site id.
    #[error("site {site_id} is not registered")]
    UnknownSite {
        /// The site.
        site_id: u64,
    },
    /// The site belongs to another operator.
    #[error("site {site_id} belongs to another operator")]
    ForeignSite {
        /// The site.
        site_id: u64,
    },
    /// The epoch was never opened.
    #[error("epoch {epoch} does not exist (an admin opens it with PUT /v1/epochs/{epoch})")]
    UnknownEpoch {
        /// The epoch.
        epoch: u64,
    },
    /// The epoch no longer takes readings.
    #[error("epoch {epoch} is closed (status {status}): it takes no more readings")]
    EpochClosed {
        /// The epoch.
        epoch: u64,
        /// Its status.
        status: EpochStatus,
    },
    /// `interval_seconds` is not the epoch's.
    #[error("interval_seconds is {got}, but epoch {epoch} has intervals of {expected} s")]
    WrongInterval {
        /// The epoch.
        epoch: u64,
        /// The epoch's interval.
        expected: u32,
        /// The body's.
        got: u32,
    },
    /// Not one reading per interval of the epoch's schedule.
    #[error("{got} readings, but epoch {epoch} has {expected} intervals (one reading each)")]
    WrongCount {
        /// The epoch.
        epoch: u64,
        /// Intervals in the epoch.
        expected: usize,
        /// Readings in the body.
        got: usize,
    },
    /// The site's capacity bound is over the statement's limit (2^24 - 1 Wh per interval,
    /// `statement::MAX_READING_BOUND_WH`) with this interval: unprovable.
    #[error(
        "the capacity bound floor({capacity_w} W x {interval_seconds} s / 3600) of site \
         {site_id} is over 16777215 Wh (2^24 - 1): it cannot be proved with this interval"
    )]
    CapacityBoundTooLarge {
        /// The site.
        site_id: u64,
        /// Its capacity.
        capacity_w: u32,
        /// The interval.
        interval_seconds: u32,
    },
    /// A reading is over what the installation can produce in one interval.
    #[error(
        "readings_wh[{index}] = {reading_wh} Wh is over the capacity bound of {bound_wh} Wh \
         (floor({capacity_w} W x {interval_seconds} s / 3600)) of site {site_id}"
    )]
    OverCapacity {
        /// The site.
        site_id: u64,
        /// Index of the first reading over the bound.
        index: usize,
        /// That reading.
        reading_wh: u32,
        /// The bound.
        bound_wh: u32,
        /// The site's capacity.
        capacity_w: u32,
        /// The interval.
        interval_seconds: u32,
    },
    /// The signature does not verify over meter message v1 with the site's meter key.
    #[error(
        "the signature does not verify over meter message v1 of these readings with the meter \
         key of site {site_id}{}",
        .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    BadSignature {
        /// The site.
        site_id: u64,
        /// The verifier's reason when it is more than a mismatch.
        reason: Option<String>,
    },
    /// Other readings are already stored for this (site, epoch).
    #[error(
        "other readings are already stored for site {site_id} in epoch {epoch}; a (site, \
         epoch) takes one signed set of readings"
    )]
    Conflict {
        /// The site.
        site_id: u64,
        /// The epoch.
        epoch: u64,
    },
}

impl ReadingRefusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            ReadingRefusal::UnknownSite { .. } | ReadingRefusal::UnknownEpoch { .. } => {
                StatusCode::NOT_FOUND
            }
            ReadingRefusal::ForeignSite { .. } => StatusCode::FORBIDDEN,
            ReadingRefusal::EpochClosed { .. } | ReadingRefusal::Conflict { .. } => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The problem type's slug (and the metric's `reason`).
    pub fn slug(&self) -> &'static str {
        match self {
            ReadingRefusal::UnknownSite { .. } => "unknown-site",
            ReadingRefusal::ForeignSite { .. } => "foreign-site",
            ReadingRefusal::UnknownEpoch { .. } => "unknown-epoch",
            ReadingRefusal::EpochClosed { .. } => "epoch-closed",
            ReadingRefusal::WrongInterval { .. } => "wrong-interval",
            ReadingRefusal::WrongCount { .. } => "wrong-count",
            ReadingRefusal::CapacityBoundTooLarge { .. } => "capacity-bound-too-large",
            ReadingRefusal::OverCapacity { .. } => "over-capacity",
            ReadingRefusal::BadSignature { .. } => "bad-signature",
            ReadingRefusal::Conflict { .. } => "reading-conflict",
        }
    }

    /// The problem type's title.
    pub fn title(&self) -> &'static str {
        match self {
            ReadingRefusal::UnknownSite { .. } => "Unknown site",
            ReadingRefusal::ForeignSite { .. } => "Site of another operator",
            ReadingRefusal::UnknownEpoch { .. } => "Unknown epoch",
            ReadingRefusal::EpochClosed { .. } => "Epoch closed",
            ReadingRefusal::WrongInterval { .. } => "Wrong interval",
            ReadingRefusal::WrongCount { .. } => "Wrong number of readings",
            ReadingRefusal::CapacityBoundTooLarge { .. } => "Capacity bound too large",
            ReadingRefusal::OverCapacity { .. } => "Reading over the capacity bound",
            ReadingRefusal::BadSignature { .. } => "Bad meter signature",
            ReadingRefusal::Conflict { .. } => "Conflicting readings",
        }
    }

    /// Extension members that locate the problem.
    fn extensions(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match self {
            ReadingRefusal::UnknownSite { site_id }
            | ReadingRefusal::ForeignSite { site_id }
            | ReadingRefusal::CapacityBoundTooLarge { site_id, .. }
            | ReadingRefusal::BadSignature { site_id, .. } => {
                m.insert("site_id".into(), site_id.to_string().into());
            }
            ReadingRefusal::OverCapacity {
                site_id,
                index,
                bound_wh,
                ..
            } => {
                m.insert("site_id".into(), site_id.to_string().into());
                m.insert("index".into(), (*index).into());
                m.insert("bound_wh".into(), (*bound_wh).into());
            }
            ReadingRefusal::UnknownEpoch { epoch }
            | ReadingRefusal::WrongInterval { epoch, .. }
            | ReadingRefusal::WrongCount { epoch, .. } => {
                m.insert("epoch".into(), epoch.to_string().into());
            }
            ReadingRefusal::EpochClosed { epoch, status } => {
                m.insert("epoch".into(), epoch.to_string().into());
                m.insert("epoch_status".into(), status.as_str().into());
            }
            ReadingRefusal::Conflict { site_id, epoch } => {
                m.insert("site_id".into(), site_id.to_string().into());
                m.insert("epoch".into(), epoch.to_string().into());
            }
        }
        m
    }
}

/// Every way a request can fail; one [`IntoResponse`] turns each into its problem.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// The token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No route has this path.
    #[error("no route {0}")]
    NoRoute(String),
    /// The route exists but not with this method.
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// The body is larger than the route accepts.
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The route's limit.
        limit_bytes: usize,
    },
    /// The body is not `application/json`.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// The body is not JSON at all (syntax).
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but not of the expected shape (unknown field, wrong type, missing field).
    #[error("the request body does not match the schema: {0}")]
    InvalidBody(String),
    /// A query string parameter is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A path parameter is malformed.
    #[error("invalid path parameter: {0}")]
    InvalidPath(String),
    /// The body is well-formed but its content is refused (a bad meter key, a tariff of the
    /// wrong length, a location out of range, an empty schedule).
    #[error("{detail}")]
    Unprocessable {
        /// Problem slug.
        slug: &'static str,
        /// Problem title.
        title: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A reading is refused.
    #[error(transparent)]
    Reading(#[from] ReadingRefusal),
    /// The resource exists with other content.
    #[error("{0}")]
    Conflict(String),
    /// The database is unreachable (readiness).
    #[error("the database is not reachable")]
    Unavailable,
    /// A storage failure (details are logged, not returned).
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A bug or an unexpected state (details are logged, not returned).
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MalformedJson(_) | ApiError::InvalidQuery(_) | ApiError::InvalidPath(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidBody(_) | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Reading(r) => r.status(),
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::Conflict { .. }) => StatusCode::CONFLICT,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => ("unauthorized", "Missing or invalid bearer token"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed for this token's role"),
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound { .. }) => {
                ("not-found", "Not found")
            }
            ApiError::NoRoute(_) => ("no-route", "No such route"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType => {
                ("unsupported-media-type", "Request body must be JSON")
            }
            ApiError::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            ApiError::InvalidBody(_) => ("invalid-body", "Request body does not match the schema"),
            ApiError::InvalidQuery(_) => ("invalid-query", "Invalid query parameter"),
            ApiError::InvalidPath(_) => ("invalid-path", "Invalid path parameter"),
            ApiError::Unprocessable { slug, title, .. } => (slug, title),
            ApiError::Reading(r) => (r.slug(), r.title()),
            ApiError::Conflict(_) | ApiError::Store(StoreError::Conflict { .. }) => {
                ("conflict", "Conflicts with the stored resource")
            }
            ApiError::Unavailable => ("unavailable", "Service unavailable"),
            ApiError::Store(_) | ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// The problem document of this error. Internal errors say nothing about their cause (it is
    /// logged instead).
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (slug, title) = self.slug_and_title();
        let detail = if status.is_server_error() && !matches!(self, ApiError::Unavailable) {
            "the server failed to handle the request; it was logged with the request id".into()
        } else {
            self.to_string()
        };
        let extensions = match self {
            ApiError::Reading(r) => r.extensions(),
            ApiError::PayloadTooLarge { limit_bytes } => {
                let mut m = serde_json::Map::new();
                m.insert("limit_bytes".into(), (*limit_bytes).into());
                m
            }
            _ => serde_json::Map::new(),
        };
        Problem {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            extensions,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = problem_response(&self.problem());
        if let ApiError::Unauthorized(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridproof\""),
            );
        }
        response
    }
}

/// A problem as a response with its status and media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// A JSON body extractor whose every failure is a problem: 415 without a JSON content type,
/// 413 over the route's body limit, 400 for bad JSON syntax, 422 for the wrong shape (unknown
/// fields included: request types use `deny_unknown_fields`).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(0);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(e, limit))?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::MalformedJson(e.to_string())
                }
                Category::Data => ApiError::InvalidBody(e.to_string()),
            }
        })
    }
}

/// The body limit of a route, recorded in the request's extensions so that a 413 can say it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn body_error(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit_bytes: limit }
    } else {
        ApiError::MalformedJson(e.body_text())
    }
}

/// Middleware: an error response that is not already a problem (axum's 405, a 413 from a
/// layer, a caught panic) becomes one, so that every error the API returns has the same shape.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let limit = request.extensions().get::<BodyLimit>().map(|l| l.0);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed { method },
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit_bytes: limit.unwrap_or(0),
        },
        StatusCode::NOT_FOUND => ApiError::NotFound("not found".into()),
        s if s.is_server_error() => ApiError::Internal(format!("bare {s} response")),
        s => {
            let mut problem = ApiError::MalformedJson(String::new()).problem();
            problem.type_uri = "about:blank".into();
            problem.title = s.canonical_reason().unwrap_or("Error").into();
            problem.status = s.as_u16();
            problem.detail = s.canonical_reason().unwrap_or("error").into();
            let (mut parts, _) = response.into_parts();
            let fresh = problem_response(&problem);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, fresh.into_body());
        }
    };
    let (mut parts, _) = response.into_parts();
    let fresh = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    parts.status = fresh.status();
    Response::from_parts(parts, Body::new(fresh.into_body()))
}
