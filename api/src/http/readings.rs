//! `/v1/readings`: operators (their gateways) submit meter-signed readings. Each reading is
//! checked on arrival against the epoch (interval, one reading per interval), the installation
//! (operator, capacity bound) and the meter key (EdDSA-Poseidon over meter message v1), then
//! stored; 201/200 mean durably stored.
//!
//! The batch route decides every item on its own (as the store does) and verifies signatures
//! in parallel on the rayon pool, off the async runtime: verification dominates the cost of
//! ingest (docs/service-api.md has the measurements).

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use gridproof_circuits::eddsa::EddsaError;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::checked_reading_bound_wh;
use rayon::prelude::*;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, BodyLimit, Problem, ReadingRefusal};
use super::wire::{
    BatchItemResult, BatchResults, ItemProblem, ReadingAccepted, ReadingBatchBody, ReadingBody,
    ReadingResult,
};
use super::{AppState, HttpConfig};
use crate::store::{Epoch, Installation, NewReading, OperatorId, ReadingOutcome};

/// Most readings in one `POST /v1/readings/batch`.
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// The routes of this resource; the batch route takes bodies up to
/// [`HttpConfig::max_batch_body_bytes`].
pub fn router(config: &HttpConfig) -> Router<AppState> {
    let batch_limit = config.max_batch_body_bytes;
    let batch = Router::new()
        .route("/v1/readings/batch", post(submit_batch))
        .layer(DefaultBodyLimit::max(batch_limit))
        .layer(Extension(BodyLimit(batch_limit)));
    Router::new()
        .route("/v1/readings", post(submit))
        .merge(batch)
}

/// Checks one reading against its epoch and installation and verifies its signature; the
/// reading to store if it passes. CPU-bound (the signature): call it off the async runtime.
pub fn check_reading(
    body: ReadingBody,
    epoch: Option<&Epoch>,
    installation: Option<&Installation>,
    operator: OperatorId,
) -> Result<NewReading, ReadingRefusal> {
    let site_id = body.site_id;
    let epoch = epoch.ok_or(ReadingRefusal::UnknownEpoch { epoch: body.epoch })?;
    let installation = installation.ok_or(ReadingRefusal::UnknownSite { site_id })?;
    if installation.operator_id != operator {
        return Err(ReadingRefusal::ForeignSite { site_id });
    }
    if body.interval_seconds != epoch.interval_seconds {
        return Err(ReadingRefusal::WrongInterval {
            epoch: epoch.epoch,
            expected: epoch.interval_seconds,
            got: body.interval_seconds,
        });
    }
    if body.readings_wh.len() != epoch.slots.len() {
        return Err(ReadingRefusal::WrongCount {
            epoch: epoch.epoch,
            expected: epoch.slots.len(),
            got: body.readings_wh.len(),
        });
    }
    let capacity_w = installation.capacity_w;
    let interval_seconds = body.interval_seconds;
    let bound_wh = checked_reading_bound_wh(capacity_w, interval_seconds).ok_or(
        ReadingRefusal::CapacityBoundTooLarge {
            site_id,
            capacity_w,
            interval_seconds,
        },
    )?;
    if let Some((index, &reading_wh)) = body
        .readings_wh
        .iter()
        .enumerate()
        .find(|(_, &r)| r > bound_wh)
    {
        return Err(ReadingRefusal::OverCapacity {
            site_id,
            index,
            reading_wh,
            bound_wh,
            capacity_w,
            interval_seconds,
        });
    }
    let signature = body.signature.to_signature();
    let message = MeterMessage {
        site_id,
        epoch: body.epoch,
        interval_seconds,
        readings_wh: body.readings_wh,
    };
    installation
        .meter_public_key
        .verify(message.hash(), &signature)
        .map_err(|e| ReadingRefusal::BadSignature {
            site_id,
            reason: match e {
                EddsaError::BadSignature => None,
                other => Some(other.to_string()),
            },
        })?;
    Ok(NewReading {
        site_id,
        epoch: message.epoch,
        interval_seconds,
        readings_wh: message.readings_wh,
        signature,
    })
}

fn count_refused(refusal: &ReadingRefusal) {
    metrics::counter!("gridproof_readings_refused_total", "reason" => refusal.slug()).increment(1);
}

fn count_accepted(outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("gridproof_readings_accepted_total", "outcome" => outcome).increment(n);
    }
}

/// What the store's outcome means for one reading.
fn decide(outcome: ReadingOutcome, reading: &NewReading) -> Result<ReadingResult, ReadingRefusal> {
    match outcome {
        ReadingOutcome::Stored => Ok(ReadingResult::Stored),
        ReadingOutcome::Duplicate => Ok(ReadingResult::Duplicate),
        ReadingOutcome::Conflict => Err(ReadingRefusal::Conflict {
            site_id: reading.site_id,
            epoch: reading.epoch,
        }),
        ReadingOutcome::UnknownSite => Err(ReadingRefusal::UnknownSite {
            site_id: reading.site_id,
        }),
        ReadingOutcome::EpochNotOpen(None) => Err(ReadingRefusal::UnknownEpoch {
            epoch: reading.epoch,
        }),
        ReadingOutcome::EpochNotOpen(Some(status)) => Err(ReadingRefusal::EpochClosed {
            epoch: reading.epoch,
            status,
        }),
    }
}

/// Submits one site's signed readings for one epoch.
///
/// A closed epoch is refused with 409 `epoch-closed` (its state conflicts with the request;
/// retrying will not help), except that a reading already stored before the close is still
/// recognised as a duplicate (200), so a gateway's retry across the close is safe.
#[utoipa::path(
    post, path = "/v1/readings", tag = "readings",
    request_body = ReadingBody,
    responses(
        (status = 201, description = "Stored (durably)", body = ReadingAccepted),
        (status = 200, description = "The same reading was already stored", body = ReadingAccepted),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another operator's site, or not an operator token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown site or epoch", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other readings already stored for (site, epoch), or the epoch is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad signature, over the capacity bound, wrong count or interval", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ReadingBody>,
) -> Result<(StatusCode, Json<ReadingAccepted>), ApiError> {
    let operator = caller.operator("submit readings")?;
    let (epoch, installation) = tokio::try_join!(
        state.store.epoch(body.epoch),
        state.store.installation(body.site_id)
    )?;
    let checked = tokio::task::spawn_blocking(move || {
        check_reading(body, epoch.as_ref(), installation.as_ref(), operator)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading check task: {e}")))?;
    let reading = checked.inspect_err(count_refused)?;
    let outcome = state.store.insert_reading(&reading).await?;
    let result = decide(outcome, &reading).inspect_err(count_refused)?;
    let status = match result {
        ReadingResult::Stored => {
            count_accepted("stored", 1);
            StatusCode::CREATED
        }
        _ => {
            count_accepted("duplicate", 1);
            StatusCode::OK
        }
    };
    Ok((
        status,
        Json(ReadingAccepted {
            site_id: reading.site_id,
            epoch: reading.epoch,
            result,
        }),
    ))
}

fn item_problem(refusal: &ReadingRefusal) -> ItemProblem {
    let problem = ApiError::Reading(refusal.clone()).problem();
    ItemProblem {
        type_uri: problem.type_uri,
        title: problem.title,
        detail: problem.detail,
    }
}

/// Submits many readings at once (gateways). Every item is decided on its own, exactly as
/// `POST /v1/readings` would decide it, and the answer lists one result per item in request
/// order: the request itself succeeds (200) when its body is well-formed, whatever the items'
/// fate. Stored items are durable when the response is sent; retrying the whole batch is safe
/// (stored items come back as duplicates).
#[utoipa::path(
    post, path = "/v1/readings/batch", tag = "readings",
    request_body = ReadingBatchBody,
    responses(
        (status = 200, description = "Per-item results", body = BatchResults),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the batch limit (16 MiB by default)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed items or too many items", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ReadingBatchBody>,
) -> Result<Json<BatchResults>, ApiError> {
    let operator = caller.operator("submit readings")?;
    let items = body.readings;
    if items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::Unprocessable {
            slug: "too-many-items",
            title: "Too many items",
            detail: format!(
                "{} readings in one batch; send at most {MAX_BATCH_ITEMS} per request",
                items.len()
            ),
        });
    }
    let mut epoch_ids: Vec<u64> = items.iter().map(|r| r.epoch).collect();
    epoch_ids.sort_unstable();
    epoch_ids.dedup();
    let mut epochs: HashMap<u64, Epoch> = HashMap::with_capacity(epoch_ids.len());
    for id in epoch_ids {
        if let Some(e) = state.store.epoch(id).await? {
            epochs.insert(id, e);
        }
    }
    let mut site_ids: Vec<u64> = items.iter().map(|r| r.site_id).collect();
    site_ids.sort_unstable();
    site_ids.dedup();
    let installations: HashMap<u64, Installation> = state
        .store
        .installations(&site_ids)
        .await?
        .into_iter()
        .map(|i| (i.site_id, i))
        .collect();

    let checked: Vec<Result<NewReading, ReadingRefusal>> = tokio::task::spawn_blocking(move || {
        items
            .into_par_iter()
            .with_min_len(16)
            .map(|item| {
                let epoch = epochs.get(&item.epoch);
                let installation = installations.get(&item.site_id);
                check_reading(item, epoch, installation, operator)
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading check task: {e}")))?;

    let valid: Vec<NewReading> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().cloned())
        .collect();
    let mut outcomes = state.store.insert_readings(&valid).await?.into_iter();

    let mut results = Vec::with_capacity(checked.len());
    let (mut stored, mut duplicates, mut refused) = (0usize, 0usize, 0usize);
    for (index, c) in checked.iter().enumerate() {
        let decided = match c {
            Err(refusal) => Err(refusal.clone()),
            Ok(reading) => {
                let outcome = outcomes.next().ok_or_else(|| {
                    ApiError::Internal("the store returned fewer outcomes than items".into())
                })?;
                decide(outcome, reading)
            }
        };
        results.push(match decided {
            Ok(result) => {
                let status = if result == ReadingResult::Stored {
                    stored += 1;
                    201
                } else {
                    duplicates += 1;
                    200
                };
                BatchItemResult {
                    index,
                    status,
                    result,
                    problem: None,
                }
            }
            Err(refusal) => {
                refused += 1;
                count_refused(&refusal);
                BatchItemResult {
                    index,
                    status: refusal.status().as_u16(),
                    result: ReadingResult::Refused,
                    problem: Some(item_problem(&refusal)),
                }
            }
        });
    }
    count_accepted("stored", stored as u64);
    count_accepted("duplicate", duplicates as u64);
    tracing::info!(
        items = results.len(),
        stored,
        duplicates,
        refused,
        "reading batch"
    );
    Ok(Json(BatchResults {
        stored,
        duplicates,
        refused,
        results,
    }))
}
