//! Accepting a command (a new order or a cancellation): reserve its
//! idempotency key, record it with its event in the orders table (the
//! outbox), record the key's outcome, answer, and then publish the event.
//!
//! A cancellation carries its order's priority and customer, read from the
//! order's intake record before it is recorded: both events of an order
//! travel in the same lane and the same fair-queue group.
//!
//! The command is accepted once its record is durable: DynamoDB is the only
//! service that accepting depends on. The publish runs right after the answer
//! (it adds nothing to the request's latency); whatever it does not publish,
//! the relay ([`crate::relay`]) does after its deadline.
//!
//! Once the body is read, the work runs in a task of its own: a client that
//! goes away, or the outer request timeout, does not cut it short. The
//! request waits for the answer until just before the outer timeout, and
//! answers `outcome-unknown` naming the `pedidoId` when it is not there yet.

use std::time::Instant;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::contract::{Event, EventPayload};
use shared::orders_table::{Cancellation, Intake, KeyState, OrderLane, Reservation, WriteFailure};
use shared::telemetry::traced;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::idempotency::KeyedRequest;
use crate::publisher::Outcome;
use crate::startup::AppState;

/// Answer to an accepted command.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The order id.
    pub pedido_id: Uuid,
    /// `RECIBIDO` for new orders, `CANCELACION_SOLICITADA` for cancellations.
    pub estado: String,
    /// Id of the order's event (the first request's, for a replay).
    pub event_id: Uuid,
}

/// A validated command, ready to be recorded.
pub struct Command {
    /// When its request arrived (the answer deadline counts from here).
    pub arrived: Instant,
    /// The command's key, if the client sent one.
    pub keyed: Option<KeyedRequest>,
    /// The event it records.
    pub event: Event,
    /// The `estado` of the answer.
    pub estado: &'static str,
}

/// What recording the command decided, before the answer.
struct Decision {
    answer: Result<Response, ApiError>,
    /// Whether this request recorded the event, so it publishes it.
    publish: bool,
    /// The event id an accepted answer names.
    event_id: Option<Uuid>,
}

/// Runs `command` in a task of its own and answers as soon as it is decided;
/// the publish follows in the same task, after the answer.
pub async fn submit(state: &AppState, command: Command) -> Result<Response, ApiError> {
    let pedido_id = command.event.pedido_id();
    let answer_by = command.arrived + state.answer_deadline;
    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    let work = async move {
        let Command {
            keyed,
            mut event,
            estado,
            ..
        } = command;
        let decision = decide(&task_state, keyed, &mut event, estado).await;
        // The client may be gone: the work is done either way.
        let _ = answer_tx.send(decision.answer);
        if decision.publish {
            // Let the request's task write the answer first: woken by the
            // send, it waits on this worker thread until this task yields,
            // and the publish's CPU (building and signing the request,
            // connecting) would otherwise come before the answer.
            tokio::task::yield_now().await;
            // Bounded: past the limit (an SNS brownout under load), the event
            // waits for the relay instead of piling up sockets and retries.
            match task_state.publishes.clone().try_acquire_owned() {
                Ok(_permit) => publish(&task_state, &event).await,
                Err(_) => {
                    tracing::warn!(pedido_id = %event.pedido_id(), "too many publishes in flight; the relay publishes this event");
                    task_state.metrics.record_publish_skipped();
                }
            }
        }
    };
    state.tasks.spawn(work.instrument(tracing::Span::current()));
    match tokio::time::timeout_at(answer_by.into(), answer_rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(ApiError::Internal(
            "the intake task ended without an answer".into(),
        )),
        Err(_) => {
            tracing::warn!(pedido_id = %pedido_id, "no decision before the answer deadline; the work goes on");
            Err(ApiError::OutcomeUnknown { pedido_id })
        }
    }
}

/// Reserves the key (if any), records the command, records the key's outcome.
async fn decide(
    state: &AppState,
    keyed: Option<KeyedRequest>,
    event: &mut Event,
    estado: &'static str,
) -> Decision {
    let pedido_id = event.pedido_id();
    // This request's ownership token on everything it writes.
    // (64 random bits: unique among the requests that could meet.)
    let token = Uuid::new_v4().simple().to_string()[..16].to_owned();
    let Some(keyed) = keyed else {
        return record(state, None, event, estado, &token).await;
    };
    event.event_id = keyed.event_id();
    let key = keyed.key.as_str();
    match state
        .orders
        .reserve_key(key, &keyed.fingerprint, &token, Utc::now(), state.key_lease)
        .await
    {
        Ok(Reservation::Reserved) => {}
        Ok(Reservation::Completed { event_id }) => {
            tracing::info!(pedido_id = %pedido_id, "idempotent replay answered as the first request");
            let event_id = event_id.unwrap_or(event.event_id);
            return Decision {
                answer: Ok(accepted(pedido_id, estado, event_id)),
                publish: false,
                event_id: Some(event_id),
            };
        }
        Ok(Reservation::InProgress) => return refused(ApiError::IdempotencyKeyInProgress),
        Ok(Reservation::Mismatch) => return refused(ApiError::IdempotencyKeyMismatch),
        Err(e) => {
            tracing::error!(error = %e, pedido_id = %pedido_id, "reserving the idempotency key failed: NOT accepted");
            // Nothing was recorded; a reservation that landed unseen would hold
            // the key for its lease: released (only if it is this request's).
            if let Err(e) = state.orders.release_key(key, &token).await {
                tracing::warn!(error = %e, pedido_id = %pedido_id, "releasing a key whose reservation failed also failed; its lease runs out");
            }
            return refused(ApiError::NotAccepted { pedido_id });
        }
    }
    let decision = record(state, Some(key), event, estado, &token).await;
    let recorded = match &decision.answer {
        Ok(_) => {
            state
                .orders
                .finish_key(key, &token, KeyState::Completed, decision.event_id)
                .await
        }
        Err(ApiError::OutcomeUnknown { .. }) => {
            state
                .orders
                .finish_key(key, &token, KeyState::Unknown, None)
                .await
        }
        // Nothing was recorded: the key may be used again.
        Err(_) => state.orders.release_key(key, &token).await,
    };
    if let Err(e) = recorded {
        // The lease runs out and the next replay takes the key over.
        tracing::warn!(error = %e, pedido_id = %pedido_id, "recording the idempotency key's outcome failed");
    }
    decision
}

fn refused(error: ApiError) -> Decision {
    Decision {
        answer: Err(error),
        publish: false,
        event_id: None,
    }
}

/// Records the command with its event: the intake record of a new order, or
/// the cancellation on its order's record (with the order's lane).
async fn record(
    state: &AppState,
    key: Option<&str>,
    event: &mut Event,
    estado: &'static str,
    token: &str,
) -> Decision {
    let pedido_id = event.pedido_id();
    if let EventPayload::PedidoCancelado(cancel) = &mut event.payload {
        match order_lane(state, pedido_id).await {
            Ok(lane) => {
                cancel.prioridad = lane.prioridad;
                cancel.cliente_id = lane.cliente_id;
            }
            Err(error) => return refused(error),
        }
    }
    let event = &*event;
    let span = traced(|| {
        tracing::info_span!(
            "intake",
            otel.name = "record intake",
            otel.kind = "client",
            db.system.name = "aws.dynamodb",
            db.operation.name = match event.payload {
                EventPayload::PedidoCreado(_) => "PutItem",
                EventPayload::PedidoCancelado(_) => "UpdateItem",
            },
            pedido_id = %pedido_id,
        )
    });
    let now = Utc::now();
    let found = match &event.payload {
        EventPayload::PedidoCreado(_) => state
            .orders
            .record_intake(event, token, key, now, state.write_budget)
            .instrument(span)
            .await
            .map(|intake| match intake {
                Intake::Created => Found::Created,
                Intake::Existing { event_id } => Found::Existing(event_id),
                Intake::Conflict => Found::Refused(ApiError::PedidoConflict { pedido_id }),
            }),
        EventPayload::PedidoCancelado(_) => state
            .orders
            .record_cancellation(event, token, now, state.write_budget)
            .instrument(span)
            .await
            .map(|cancellation| match cancellation {
                Cancellation::Created => Found::Created,
                Cancellation::Existing { event_id } => Found::Existing(event_id),
                Cancellation::Conflict => {
                    Found::Refused(ApiError::CancellationConflict { pedido_id })
                }
                Cancellation::NotFound => Found::Refused(ApiError::UnknownOrder { pedido_id }),
            }),
    };
    match found {
        Ok(Found::Created) => {
            tracing::info!(pedido_id = %pedido_id, event_id = %event.event_id, estado, "accepted");
            Decision {
                answer: Ok(accepted(pedido_id, estado, event.event_id)),
                publish: true,
                event_id: Some(event.event_id),
            }
        }
        Ok(Found::Existing(event_id)) => {
            let event_id = event_id.unwrap_or(event.event_id);
            tracing::info!(pedido_id = %pedido_id, event_id = %event_id, "already recorded: answered as the first request, nothing written");
            Decision {
                answer: Ok(accepted(pedido_id, estado, event_id)),
                publish: false,
                event_id: Some(event_id),
            }
        }
        Ok(Found::Refused(error)) => refused(error),
        Err(WriteFailure {
            error,
            maybe_written,
        }) => {
            if maybe_written {
                tracing::error!(error = %error, pedido_id = %pedido_id, "recording the command may or may not have succeeded: outcome unknown");
                refused(ApiError::OutcomeUnknown { pedido_id })
            } else {
                tracing::error!(error = %error, pedido_id = %pedido_id, "recording the command failed: NOT accepted");
                refused(ApiError::NotAccepted { pedido_id })
            }
        }
    }
}

/// The priority and customer of the order a cancellation is about, within
/// the write budget: an unknown order is 404, a failed read not accepted.
async fn order_lane(state: &AppState, pedido_id: Uuid) -> Result<OrderLane, ApiError> {
    let read = tokio::time::timeout(
        state.write_budget.total,
        state.orders.order_lane(pedido_id, Utc::now()),
    )
    .await;
    match read {
        Ok(Ok(Some(lane))) => Ok(lane),
        Ok(Ok(None)) => Err(ApiError::UnknownOrder { pedido_id }),
        Ok(Err(error)) => {
            tracing::error!(error = %error, pedido_id = %pedido_id, "reading the order's lane failed: cancellation NOT accepted");
            Err(ApiError::NotAccepted { pedido_id })
        }
        Err(_) => {
            tracing::error!(pedido_id = %pedido_id, "reading the order's lane took longer than the write budget: cancellation NOT accepted");
            Err(ApiError::NotAccepted { pedido_id })
        }
    }
}

enum Found {
    Created,
    Existing(Option<Uuid>),
    Refused(ApiError),
}

/// Publishes the recorded event, recording the publish in the metrics; a
/// failure is logged and left to the relay.
pub async fn publish(state: &AppState, event: &Event) {
    let started = Instant::now();
    let span = traced(|| {
        tracing::info_span!(
            "publish",
            otel.name = "publish pedidos",
            otel.kind = "producer",
            otel.status_code = tracing::field::Empty,
            messaging.system = "aws_sns",
            messaging.operation.type = "send",
            pedido_id = %event.pedido_id(),
            event_type = event.event_type().as_str(),
            outcome = tracing::field::Empty,
        )
    });
    let result = state
        .publisher
        .publish(event)
        .instrument(span.clone())
        .await;
    span.record(
        "outcome",
        match &result {
            Ok(()) => "published",
            Err(f) if f.outcome == Outcome::NotPublished => "not_published",
            Err(_) => "unknown",
        },
    );
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    state.metrics.record_publish(
        started.elapsed(),
        result.as_ref().err().map(|f| f.error.kind()),
    );
    if let Err(failure) = &result {
        tracing::warn!(
            error = %failure.error,
            kind = failure.error.kind(),
            outcome = ?failure.outcome,
            pedido_id = %event.pedido_id(),
            "publish failed; the event is recorded and the relay publishes it"
        );
    }
}

/// The 202 answer, with the order's Location.
pub fn accepted(pedido_id: Uuid, estado: &str, event_id: Uuid) -> Response {
    let location = format!("/api/pedidos/{pedido_id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            pedido_id,
            estado: estado.to_owned(),
            event_id,
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
