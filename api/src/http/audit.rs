//! `/v1/audit`: the tamper-evident audit log (docs/audit-log.md). Any valid token reads the
//! signed head, pages of entries, and inclusion and consistency proofs; nobody writes here (the
//! service appends as actions happen).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::AppState;
use crate::audit::wire::{
    ConsistencyProofView, EntriesPage, EntryView, InclusionProofView, TreeHeadView,
};
use crate::store::AuditEntry;

/// Most entries per page of `GET /v1/audit/entries`.
pub const MAX_ENTRIES_PER_PAGE: u64 = 1000;

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/head", get(head))
        .route("/v1/audit/entries", get(entries))
        .route("/v1/audit/proof/inclusion", get(inclusion))
        .route("/v1/audit/proof/consistency", get(consistency))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::InvalidQuery(e.body_text()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The current tree head, signed now with the service's Ed25519 key.
#[utoipa::path(
    get, path = "/v1/audit/head", tag = "audit",
    responses(
        (status = 200, description = "The signed head; keep it for `gridproof audit verify --since`", body = TreeHeadView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This server was built without an audit key (library use; `serve` always has one)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn head(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<TreeHeadView>, ApiError> {
    let key = state.audit_key.as_ref().ok_or_else(|| {
        ApiError::NotFound("this server signs no audit heads: it has no audit key".into())
    })?;
    let root = state.store.audit_head().await?;
    let signed = key.sign_head(root.tree_size, root.root_hash, now_ms());
    Ok(Json(TreeHeadView::from(&signed)))
}

/// Paging of `GET /v1/audit/entries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// First index (default 0).
    pub from: Option<u64>,
    /// One past the last index (default `from` + 100; at most `from` + 1000; clamped to the
    /// log's size).
    pub to: Option<u64>,
}

fn entry_view(e: &AuditEntry) -> Result<EntryView, ApiError> {
    Ok(EntryView {
        index: e.index,
        time_ms: e.time_ms,
        kind: e.kind.as_str().to_string(),
        actor_token_id: e.actor.map(|t| t.0),
        details: e.details()?,
        leaf: e.leaf(),
        leaf_hash: hex::encode(e.leaf_hash()),
    })
}

/// Entries `from..to` in order, each with the exact leaf text its Merkle leaf hashes.
#[utoipa::path(
    get, path = "/v1/audit/entries", tag = "audit",
    params(EntriesQuery),
    responses(
        (status = 200, body = EntriesPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn entries(
    State(state): State<AppState>,
    _caller: Caller,
    q: Result<Query<EntriesQuery>, QueryRejection>,
) -> Result<Json<EntriesPage>, ApiError> {
    let q = query(q)?;
    let from = q.from.unwrap_or(0);
    let to = q.to.unwrap_or(from.saturating_add(100));
    if to < from {
        return Err(ApiError::InvalidQuery(format!(
            "to ({to}) is before from ({from})"
        )));
    }
    if to - from > MAX_ENTRIES_PER_PAGE {
        return Err(ApiError::InvalidQuery(format!(
            "{} entries asked for; a page has at most {MAX_ENTRIES_PER_PAGE}",
            to - from
        )));
    }
    let tree_size = state.store.audit_size().await?;
    let to = to.min(tree_size);
    let from = from.min(to);
    let entries = state
        .store
        .audit_entries(from, to)
        .await?
        .iter()
        .map(entry_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(EntriesPage {
        tree_size,
        from,
        to,
        entries,
    }))
}

/// Parameters of `GET /v1/audit/proof/inclusion`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry.
    pub index: u64,
    /// The tree to prove it in (default: the current size).
    pub tree_size: Option<u64>,
}

/// The RFC 6962 audit path of one entry in the tree of `tree_size` entries.
#[utoipa::path(
    get, path = "/v1/audit/proof/inclusion", tag = "audit",
    params(InclusionQuery),
    responses(
        (status = 200, body = InclusionProofView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn inclusion(
    State(state): State<AppState>,
    _caller: Caller,
    q: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Json<InclusionProofView>, ApiError> {
    let q = query(q)?;
    let size = state.store.audit_size().await?;
    let tree_size = q.tree_size.unwrap_or(size);
    if tree_size > size {
        return Err(ApiError::InvalidQuery(format!(
            "tree_size {tree_size} is larger than the log ({size} entries)"
        )));
    }
    if q.index >= tree_size {
        return Err(ApiError::InvalidQuery(format!(
            "index {} is not in a tree of {tree_size} entries",
            q.index
        )));
    }
    let proof = state.store.audit_inclusion(q.index, tree_size).await?;
    Ok(Json(InclusionProofView {
        index: proof.index,
        tree_size: proof.tree_size,
        leaf_hash: hex::encode(proof.leaf_hash),
        root_hash: hex::encode(proof.root_hash),
        inclusion_path: proof.path.iter().map(hex::encode).collect(),
    }))
}

/// Parameters of `GET /v1/audit/proof/consistency`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree's size (at least 1).
    pub from_size: u64,
    /// The newer tree's size (default: the current size).
    pub to_size: Option<u64>,
}

/// The RFC 6962 consistency proof that the tree of `from_size` is a prefix of the tree of
/// `to_size`.
#[utoipa::path(
    get, path = "/v1/audit/proof/consistency", tag = "audit",
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyProofView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn consistency(
    State(state): State<AppState>,
    _caller: Caller,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<ConsistencyProofView>, ApiError> {
    let q = query(q)?;
    let size = state.store.audit_size().await?;
    let to_size = q.to_size.unwrap_or(size);
    if to_size > size {
        return Err(ApiError::InvalidQuery(format!(
            "to_size {to_size} is larger than the log ({size} entries)"
        )));
    }
    if q.from_size == 0 || q.from_size > to_size {
        return Err(ApiError::InvalidQuery(format!(
            "from_size is {}; it must be 1 to to_size ({to_size})",
            q.from_size
        )));
    }
    let path = state.store.audit_consistency(q.from_size, to_size).await?;
    Ok(Json(ConsistencyProofView {
        from_size: q.from_size,
        to_size,
        consistency_path: path.iter().map(hex::encode).collect(),
    }))
}
