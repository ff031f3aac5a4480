//! `/api/pedidos`: create, cancel and read orders.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::Utc;
use shared::contract::{Event, EventPayload};
use shared::orders_table::{OrderRecord, content_hash};
use uuid::Uuid;

use crate::error::ApiError;
use crate::idempotency::{IdempotencyKey, KeyedRequest};
pub use crate::intake::Accepted;
use crate::intake::{Command, submit};
use crate::problem::Problem;
use crate::request_id::RequestId;
use crate::startup::AppState;
use crate::startup::track::RequestStart;
pub use crate::validation::schema::{
    AddressRequest, CancelOrderRequest, CreateOrderRequest, ItemRequest,
};
use crate::validation::{json_body, parse_cancel_order, parse_create_order_with_id};
use std::time::Instant;

/// The route of new orders (part of an idempotency key's fingerprint).
const CREATE_ROUTE: &str = "POST /api/pedidos";
/// The route of cancellations.
const CANCEL_ROUTE: &str = "POST /api/pedidos/{pedidoId}/cancelacion";

/// The optional `Idempotency-Key` header of the commands.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// A client-chosen key (printable ASCII, within this schema's length
    /// limits, e.g. a UUID; a Structured Field string `"..."` or bare) making the request safe to
    /// retry: a replay with the same request is answered as the first was and
    /// applied once; the same key with another request is 422; while the
    /// first is in progress, 409. Remembered for 24 hours.
    #[param(
        rename = "Idempotency-Key",
        example = "8e03978e-40d5-43e8-bc93-6894a57f9324"
    )]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
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

/// Accepts an order: validates it, records it with its `PedidoCreado` (the
/// outbox), answers 202; the event is published right after.
#[utoipa::path(
    post, path = "/api/pedidos", tag = "pedidos",
    params(IdempotencyKeyHeader),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Order accepted: recorded durably with its event, which is published right after (by the relay if the publish fails); or an idempotent replay or a retry of a recorded order (same `pedidoId` and content), answered as the first request was with nothing written. `GET` of the Location shows `RECIBIDO` at once", body = Accepted,
         headers(("Location" = String, description = "Where to read the order's state"))),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`pedido-conflict`: the pedidoId is recorded with other content, nothing written or published; or `idempotency-key-in-progress`: another request with this key is still running (retry after Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values, one entry per field; or `idempotency-key-mismatch`: the key was used with another request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not-accepted`: certainly NOT accepted (the order could not be recorded); `outcome-unknown`: the record's write may or may not have landed (an ambiguous DynamoDB answer, or no decision before the request timeout): retry with the same Idempotency-Key or pedidoId (the body's `pedidoId`); `overloaded`. Retry after Retry-After. An unavailable SNS never causes a 503: the order is recorded and published later", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    arrived: Option<Extension<RequestStart>>,
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
    let command = Command {
        arrived: arrived.map_or_else(Instant::now, |Extension(RequestStart(at))| at),
        keyed,
        event,
        estado: "RECIBIDO",
    };
    submit(&state, command).await
}

/// Requests the cancellation of a recorded order: records its
/// `PedidoCancelado` on the order (the outbox), answers 202; the event is
/// published right after.
#[utoipa::path(
    post, path = "/api/pedidos/{pedidoId}/cancelacion", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id"), IdempotencyKeyHeader),
    request_body(content = CancelOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Cancellation recorded with its event, published right after (or an idempotent replay, or the same cancellation again: answered as the first, nothing written)", body = Accepted),
        (status = 400, description = "Malformed JSON, pedidoId or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`order-not-found`: the table has never seen this order (or its lifetime ended); nothing written or published", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cancellation-conflict`: a cancellation with another `motivo` is already recorded; or `idempotency-key-in-progress`: another request with this key is still running", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values; or `idempotency-key-mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not-accepted` or `outcome-unknown` (retry with the same Idempotency-Key, or the same body: a recorded cancellation is answered as the first); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    arrived: Option<Extension<RequestStart>>,
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
    let command = Command {
        arrived: arrived.map_or_else(Instant::now, |Extension(RequestStart(at))| at),
        keyed,
        event,
        estado: "CANCELACION_SOLICITADA",
    };
    submit(&state, command).await
}

/// Where the order stands: `RECIBIDO` (recorded; `publicacion` tells whether
/// its event reached the workers), `PROCESADO` or `CANCELADO`.
#[utoipa::path(
    get, path = "/api/pedidos/{pedidoId}", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id")),
    responses(
        (status = 200, description = "The order's state", body = OrderRecord),
        (status = 400, description = "pedidoId is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order (never recorded, or its lifetime ended)", body = Problem, content_type = "application/problem+json"),
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
