//! `/v1/epochs`: admins open an epoch (interval and time-of-use schedule) and close it, which
//! queues its proving; any token reads an epoch's status, batches (public inputs, proof,
//! ready-to-send `submitBatch` calldata, transaction) and totals.

use alloy::sol_types::SolCall;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gridproof_circuits::encoding::{field_from_be_bytes, field_to_decimal, parse_field};
use gridproof_circuits::registry::MAX_PRICE_SLOTS;
use gridproof_prover::proofs_file::{BatchProof, ProofJson, PUBLIC_INPUT_NAMES};
use num_bigint::BigUint;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, Problem};
use super::wire::{BatchView, EpochPage, EpochTotalsView, EpochView, OpenEpochBody};
use super::{page_limit, AppState};
use crate::chain::bindings::RevenueOracle;
use crate::store::{Batch, BatchStatus, CloseOutcome, Epoch, NewEpoch, OpenOutcome, Role};

/// The routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/epochs", get(list))
        .route("/v1/epochs/{epoch}", get(show).put(open))
        .route("/v1/epochs/{epoch}/close", post(close))
}

fn path_epoch(epoch: Result<Path<u64>, PathRejection>) -> Result<u64, ApiError> {
    epoch
        .map(|Path(e)| e)
        .map_err(|e| ApiError::InvalidPath(e.body_text()))
}

/// Opens an epoch with its interval and schedule (idempotent for the same schedule).
#[utoipa::path(
    put, path = "/v1/epochs/{epoch}", tag = "epochs",
    params(("epoch" = u64, Path, description = "The epoch number")),
    request_body = OpenEpochBody,
    responses(
        (status = 201, description = "Opened", body = EpochView),
        (status = 200, description = "Already open with this schedule", body = EpochView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The epoch exists with another schedule", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid schedule", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    epoch: Result<Path<u64>, PathRejection>,
    ApiJson(body): ApiJson<OpenEpochBody>,
) -> Result<(StatusCode, Json<EpochView>), ApiError> {
    caller.require(&[Role::Admin], "open epochs")?;
    let epoch = path_epoch(epoch)?;
    let invalid = |detail: String| ApiError::Unprocessable {
        slug: "invalid-schedule",
        title: "Invalid epoch schedule",
        detail,
    };
    if body.interval_seconds == 0 {
        return Err(invalid("interval_seconds must be at least 1".into()));
    }
    if body.slots.is_empty() {
        return Err(invalid(
            "slots is empty: an epoch has at least one interval".into(),
        ));
    }
    if let Some((i, s)) = body
        .slots
        .iter()
        .enumerate()
        .find(|(_, &s)| s as usize >= MAX_PRICE_SLOTS)
    {
        return Err(invalid(format!(
            "slots[{i}] is {s}; a tariff has at most {MAX_PRICE_SLOTS} slots (0..={})",
            MAX_PRICE_SLOTS - 1
        )));
    }
    let new = NewEpoch {
        epoch,
        interval_seconds: body.interval_seconds,
        // Every slot is below MAX_PRICE_SLOTS (11) here.
        slots: body.slots.iter().map(|&s| s as u8).collect(),
    };
    let outcome = state.store.open_epoch(&new).await.map_err(|e| match e {
        crate::store::StoreError::Conflict { .. } => ApiError::Conflict(format!(
            "epoch {epoch} already exists with another interval or schedule"
        )),
        e => e.into(),
    })?;
    let status = match outcome {
        OpenOutcome::Opened => {
            tracing::info!(epoch, intervals = new.slots.len(), "epoch opened");
            StatusCode::CREATED
        }
        OpenOutcome::AlreadyExists => StatusCode::OK,
    };
    Ok((status, Json(epoch_view(&state, epoch, true).await?)))
}

/// Closes an epoch: it takes no more readings and its proving starts (a planning job is
/// queued). Closing again is accepted and changes nothing.
#[utoipa::path(
    post, path = "/v1/epochs/{epoch}/close", tag = "epochs",
    params(("epoch" = u64, Path, description = "The epoch number")),
    responses(
        (status = 202, description = "Closed; proving is queued (or was already)", body = EpochView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    epoch: Result<Path<u64>, PathRejection>,
) -> Result<(StatusCode, Json<EpochView>), ApiError> {
    caller.require(&[Role::Admin], "close epochs")?;
    let epoch = path_epoch(epoch)?;
    match state
        .store
        .close_epoch(epoch, state.config.plan_max_attempts)
        .await
    {
        Ok(CloseOutcome::Closed { plan_job_id }) => {
            tracing::info!(epoch, plan_job_id, "epoch closed");
        }
        Ok(CloseOutcome::AlreadyClosed(_)) => {}
        Err(crate::store::StoreError::NotFound { .. }) => {
            return Err(ApiError::NotFound(format!("epoch {epoch} does not exist")));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(epoch_view(&state, epoch, true).await?),
    ))
}

/// One epoch with its batches, proofs, calldata and totals.
#[utoipa::path(
    get, path = "/v1/epochs/{epoch}", tag = "epochs",
    params(("epoch" = u64, Path, description = "The epoch number")),
    responses(
        (status = 200, body = EpochView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    epoch: Result<Path<u64>, PathRejection>,
) -> Result<Json<EpochView>, ApiError> {
    let epoch = path_epoch(epoch)?;
    Ok(Json(epoch_view(&state, epoch, true).await?))
}

/// Paging of `GET /v1/epochs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EpochQuery {
    /// Only epochs before this one (the previous page's `next_before`).
    pub before: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// Epochs, newest first (without batches; read one epoch for those).
#[utoipa::path(
    get, path = "/v1/epochs", tag = "epochs",
    params(EpochQuery),
    responses(
        (status = 200, body = EpochPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    query: Result<Query<EpochQuery>, QueryRejection>,
) -> Result<Json<EpochPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidQuery(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let epochs = state.store.list_epochs(query.before, limit).await?;
    let next_before = (epochs.len() == limit as usize)
        .then(|| epochs.last().map(|e| e.epoch.to_string()))
        .flatten();
    let mut items = Vec::with_capacity(epochs.len());
    for e in &epochs {
        let readings = state.store.count_readings(e.epoch).await?;
        items.push(base_view(e, readings));
    }
    Ok(Json(EpochPage { items, next_before }))
}

fn base_view(e: &Epoch, readings: u64) -> EpochView {
    EpochView {
        epoch: e.epoch,
        status: e.status.as_str().to_string(),
        interval_seconds: e.interval_seconds,
        slots: e.slots.clone(),
        readings,
        opened_at_ms: e.opened_at_ms,
        closed_at_ms: e.closed_at_ms,
        registry_root: e
            .registry_root
            .map(|r| field_to_decimal(&field_from_be_bytes(&r))),
        error: e.error.clone(),
        batches: None,
        totals: None,
    }
}

async fn epoch_view(state: &AppState, epoch: u64, detailed: bool) -> Result<EpochView, ApiError> {
    let e = state
        .store
        .epoch(epoch)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("epoch {epoch} does not exist")))?;
    let readings = state.store.count_readings(epoch).await?;
    let mut view = base_view(&e, readings);
    if detailed {
        let batches = state.store.batches(epoch).await?;
        view.totals = totals(&batches);
        view.batches = Some(batches.iter().map(batch_view).collect());
    }
    Ok(view)
}

fn parse_json(text: &Option<String>) -> Option<serde_json::Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// The named public inputs of a stored batch, in statement order.
fn public_inputs(batch: &Batch) -> Option<Vec<gridproof_circuits::Fr>> {
    let value = parse_json(&batch.public_inputs)?;
    let map = value.as_object()?;
    PUBLIC_INPUT_NAMES
        .iter()
        .map(|name| {
            let v = map.get(*name)?;
            match v {
                serde_json::Value::String(s) => parse_field(s).ok(),
                serde_json::Value::Number(n) => n.as_u64().map(gridproof_circuits::Fr::from),
                _ => None,
            }
        })
        .collect()
}

/// `RevenueOracle.submitBatch(publicInputs, proof)` calldata of a proved batch, if its stored
/// public inputs and proof parse.
fn calldata(batch: &Batch) -> Option<String> {
    let inputs = public_inputs(batch)?;
    let proof: ProofJson = serde_json::from_str(batch.proof.as_deref()?).ok()?;
    let proof = proof.to_proof().ok()?;
    let batch_proof = BatchProof {
        batch_index: u64::from(batch.batch_index),
        public_inputs: inputs,
        proof,
    };
    let (public_inputs, proof) = crate::chain::batch_words(&batch_proof).ok()?;
    let call = RevenueOracle::submitBatchCall {
        publicInputs: public_inputs,
        proof,
    };
    Some(format!("0x{}", hex::encode(call.abi_encode())))
}

fn batch_view(b: &Batch) -> BatchView {
    BatchView {
        batch_index: b.batch_index,
        status: b.status.as_str().to_string(),
        site_count: b.site_ids.len(),
        public_inputs: parse_json(&b.public_inputs),
        proof: parse_json(&b.proof),
        calldata: calldata(b),
        tx_hash: b.tx_hash.as_ref().map(|h| format!("0x{}", hex::encode(h))),
        error: b.error.clone(),
    }
}

/// Sums of `total_energy_wh` and `total_revenue_nusd` over the proved (or published) batches.
fn totals(batches: &[Batch]) -> Option<EpochTotalsView> {
    let mut energy = BigUint::default();
    let mut revenue = BigUint::default();
    let mut proved = 0;
    for b in batches {
        if !matches!(b.status, BatchStatus::Proved | BatchStatus::Published) {
            continue;
        }
        let Some(value) = parse_json(&b.public_inputs) else {
            continue;
        };
        let get = |name: &str| -> Option<BigUint> {
            match value.get(name)? {
                serde_json::Value::String(s) => BigUint::parse_bytes(s.as_bytes(), 10),
                serde_json::Value::Number(n) => n.as_u64().map(BigUint::from),
                _ => None,
            }
        };
        if let (Some(e), Some(r)) = (get("total_energy_wh"), get("total_revenue_nusd")) {
            energy += e;
            revenue += r;
            proved += 1;
        }
    }
    (proved > 0).then(|| EpochTotalsView {
        total_energy_wh: energy.to_string(),
        total_revenue_nusd: revenue.to_string(),
        batches_proved: proved,
        batches: batches.len(),
    })
}
