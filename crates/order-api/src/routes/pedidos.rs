//! `/api/pedidos`: create, cancel and read orders.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::contract::{Event, EventPayload};
use shared::orders_table::{Intake, KeyState, OrderRecord, Reservation, content_hash};
use shared::telemetry::traced;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::idempotency::{IdempotencyKey, KeyedRequest};
use crate::problem::Problem;
use crate::publisher::{Outcome, PublishFailure};
use crate::request_id::RequestId;
use crate::startup::AppState;
pub use crate::validation::schema::{
    AddressRequest, CancelOrderRequest, CreateOrderRequest, ItemRequest,
};
use crate::validation::{json_body, parse_cancel_order, parse_create_order_with_id};

/// The route of new orders (part of an idempotency key's fingerprint).
const CREATE_ROUTE: &str = "POST /api/pedidos";
/// The route of cancellations.
const CANCEL_ROUTE: &str = "POST /api/pedidos/{pedidoId}/cancelacion";

/// The optional `Idempotency-Key` header of the commands.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// A client-chosen key (1 to 255 printable ASCII characters, e.g. a UUID;
    /// a Structured Field string `"..."` or bare) making the request safe to
    /// retry: a replay with the same request is answered as the first was and
    /// applied once; the same key with another request is 422; while the
    /// first is in progress, 409. Remembered for 24 hours.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[ -~]{1,255}$",
        example = "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

/// Answer to an accepted command.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The order id.
    pub pedido_id: Uuid,
    /// `RECIBIDO` for new orders, `CANCELACION_SOLICITADA` for cancellations.
    pub estado: String,
    /// Id of the published event.
    pub event_id: Uuid,
}

/// The path parameter `pedidoId`, as a UUID, or a problem response.
pub struct PedidoId(pub Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PedidoId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::InvalidPedidoId)?;
        match Uuid::try_parse(&raw) {
            Ok(id) if raw.len() == 36 => Ok(Self(id)),
            _ => Err(ApiError::InvalidPedidoId),
        }
    }
}

/// Publishes the event, recording the publish in the metrics; the failure is
/// logged in full here (with the request id from the span), the client only
/// learns the outcome.
async fn publish(state: &AppState, event: &Event) -> Result<(), PublishFailure> {
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
        tracing::error!(
            error = %failure.error,
            kind = failure.error.kind(),
            outcome = ?failure.outcome,
            pedido_id = %event.pedido_id(),
            "publish failed"
        );
    }
    result
}

/// Runs a command (`event`) under its optional idempotency key: reserves the
/// key, records the order at intake (new orders), publishes, and records the
/// key's outcome.
async fn submit(
    state: &AppState,
    keyed: Option<KeyedRequest>,
    mut event: Event,
    estado: &'static str,
) -> Result<Response, ApiError> {
    let pedido_id = event.pedido_id();
    let Some(keyed) = keyed else {
        return submit_reserved(state, None, &event, estado).await;
    };
    event.event_id = keyed.event_id();
    let key = &keyed.key;
    match state
        .orders
        .reserve_key(
            key.as_str(),
            &keyed.fingerprint,
            Utc::now(),
            state.key_lease,
        )
        .await
    {
        Ok(Reservation::Reserved) => {}
        Ok(Reservation::Completed) => {
            tracing::info!(pedido_id = %pedido_id, "idempotent replay answered as the first request");
            return Ok(accepted(pedido_id, estado, event.event_id));
        }
        Ok(Reservation::InProgress) => return Err(ApiError::IdempotencyKeyInProgress),
        Ok(Reservation::Mismatch) => return Err(ApiError::IdempotencyKeyMismatch),
        Err(e) => {
            tracing::error!(error = %e, pedido_id = %pedido_id, "reserving the idempotency key failed: NOT accepted");
            return Err(ApiError::NotAccepted { pedido_id });
        }
    }
    let result = submit_reserved(state, Some(key), &event, estado).await;
    let key_outcome = match &result {
        Ok(_) => Some(KeyState::Completed),
        Err(ApiError::OutcomeUnknown { .. }) => Some(KeyState::Unknown),
        // Nothing happened: the key may be used again.
        Err(_) => None,
    };
    let recorded = match key_outcome {
        Some(state_) => state.orders.finish_key(key.as_str(), state_).await,
        None => state.orders.release_key(key.as_str()).await,
    };
    if let Err(e) = recorded {
        // The lease runs out and the next replay takes the key over.
        tracing::warn!(error = %e, pedido_id = %pedido_id, "recording the idempotency key's outcome failed");
    }
    result
}

async fn submit_reserved(
    state: &AppState,
    key: Option<&IdempotencyKey>,
    event: &Event,
    estado: &'static str,
) -> Result<Response, ApiError> {
    let pedido_id = event.pedido_id();
    let mut created = None;
    if let EventPayload::PedidoCreado(order) = &event.payload {
        let span = traced(|| {
            tracing::info_span!(
                "intake",
                otel.name = "record intake",
                otel.kind = "client",
                db.system.name = "aws.dynamodb",
                db.operation.name = "PutItem",
                pedido_id = %pedido_id,
            )
        });
        match state
            .orders
            .record_intake(order, key.map(IdempotencyKey::as_str), Utc::now())
            .instrument(span)
            .await
        {
            Ok(Intake::Created) => created = Some(order),
            Ok(Intake::Existing) => {}
            Ok(Intake::Conflict) => return Err(ApiError::PedidoConflict { pedido_id }),
            Err(e) => {
                tracing::error!(error = %e, pedido_id = %pedido_id, "recording the order at intake failed: NOT accepted");
                return Err(ApiError::NotAccepted { pedido_id });
            }
        }
    }
    match publish(state, event).await {
        Ok(()) => {
            tracing::info!(pedido_id = %pedido_id, event_id = %event.event_id, estado, "accepted");
            Ok(accepted(pedido_id, estado, event.event_id))
        }
        Err(failure) if failure.outcome == Outcome::NotPublished => match (created, &event.payload)
        {
            (Some(order), _) => {
                if let Err(e) = state.orders.discard_intake(order).await {
                    tracing::warn!(error = %e, pedido_id = %pedido_id, "removing the intake record of an order NOT accepted failed");
                }
                Err(ApiError::NotAccepted { pedido_id })
            }
            // An earlier request for this order may have been published.
            (None, EventPayload::PedidoCreado(_)) => Err(ApiError::OutcomeUnknown { pedido_id }),
            (None, EventPayload::PedidoCancelado(_)) => Err(ApiError::NotAccepted { pedido_id }),
        },
        Err(_) => Err(ApiError::OutcomeUnknown { pedido_id }),
    }
}

fn accepted(pedido_id: Uuid, estado: &str, event_id: Uuid) -> Response {
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

/// Accepts an order: validates it, publishes `PedidoCreado`, answers 202.
#[utoipa::path(
    post, path = "/api/pedidos", tag = "pedidos",
    params(IdempotencyKeyHeader),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Order accepted and queued (or an idempotent replay, answered as the first request was); `GET` of the Location shows `RECIBIDO` at once", body = Accepted,
         headers(("Location" = String, description = "Where to read the order's state"))),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`pedido-conflict`: the pedidoId is recorded with other content, nothing published; or `idempotency-key-in-progress`: a request with this key is still running (retry after Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values, one entry per field; or `idempotency-key-mismatch`: the key was used with another request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not-accepted`: certainly NOT accepted; `outcome-unknown`: may or may not be accepted, retry with the same Idempotency-Key or pedidoId (the body's `pedidoId`); `overloaded`. Retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    let json = json_body(&headers, body)?;
    let default_id = key
        .as_ref()
        .map_or_else(Uuid::new_v4, IdempotencyKey::pedido_id);
    let order = parse_create_order_with_id(&json, Utc::now(), default_id)?;
    // The client's pedidoId, or the one derived from the key: a replay names
    // the same order, another pedidoId is another request.
    let keyed = key.map(|key| {
        let parts = [order.pedido_id().to_string(), content_hash(&order)];
        KeyedRequest::new(key, CREATE_ROUTE, &[&parts[0], &parts[1]])
    });
    let event = Event::new(request_id, EventPayload::PedidoCreado(order));
    submit(&state, keyed, event, "RECIBIDO").await
}

/// Requests the cancellation of an order: publishes `PedidoCancelado`, answers 202.
#[utoipa::path(
    post, path = "/api/pedidos/{pedidoId}/cancelacion", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id"), IdempotencyKeyHeader),
    request_body(content = CancelOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Cancellation queued (or an idempotent replay)", body = Accepted),
        (status = 400, description = "Malformed JSON, pedidoId or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency-key-in-progress`: a request with this key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values; or `idempotency-key-mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not-accepted` or `outcome-unknown` (retry with the same Idempotency-Key); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    PedidoId(pedido_id): PedidoId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    let json = json_body(&headers, body)?;
    let cancel = parse_cancel_order(pedido_id, &json)?;
    let keyed = key.map(|key| {
        KeyedRequest::new(
            key,
            CANCEL_ROUTE,
            &[&pedido_id.to_string(), cancel.motivo.as_str()],
        )
    });
    let event = Event::new(request_id, EventPayload::PedidoCancelado(cancel));
    submit(&state, keyed, event, "CANCELACION_SOLICITADA").await
}

/// The order's state as the workers recorded it.
#[utoipa::path(
    get, path = "/api/pedidos/{pedidoId}", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id")),
    responses(
        (status = 200, description = "The order's state", body = OrderRecord),
        (status = 400, description = "pedidoId is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    PedidoId(pedido_id): PedidoId,
) -> Result<Json<OrderRecord>, ApiError> {
    match state.orders.get(pedido_id).await {
        Ok(Some(record)) => Ok(Json(record)),
        Ok(None) => Err(ApiError::OrderNotFound),
        Err(e) => {
            tracing::error!(error = %e, pedido_id = %pedido_id, "reading the order failed");
            Err(ApiError::StoreUnavailable)
        }
    }
}
