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
use shared::orders_table::OrderRecord;
use uuid::Uuid;

use crate::error::ApiError;
use crate::problem::Problem;
use crate::request_id::RequestId;
use crate::startup::AppState;
pub use crate::validation::schema::{
    AddressRequest, CancelOrderRequest, CreateOrderRequest, ItemRequest,
};
use crate::validation::{json_body, parse_cancel_order, parse_create_order};

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

async fn publish(state: &AppState, event: &Event) -> Result<(), ApiError> {
    let started = Instant::now();
    let result = state.publisher.publish(event).await;
    state
        .metrics
        .record_publish(started.elapsed(), result.as_ref().err().map(|e| e.kind()));
    result.map_err(|e| {
        // Logged in full here (with the request id from the span); the client
        // only learns that the order was not accepted.
        tracing::error!(error = %e, kind = e.kind(), pedido_id = %event.pedido_id(), "publish failed: order NOT accepted");
        ApiError::PublishFailed
    })
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
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Order accepted and queued", body = Accepted,
         headers(("Location" = String, description = "Where to read the order's state"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values, one entry per field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Order NOT accepted; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let json = json_body(&headers, body)?;
    let order = parse_create_order(&json, Utc::now())?;
    let pedido_id = order.pedido_id();
    let event = Event::new(request_id, EventPayload::PedidoCreado(order));
    publish(&state, &event).await?;
    tracing::info!(pedido_id = %pedido_id, event_id = %event.event_id, "order accepted");
    Ok(accepted(pedido_id, "RECIBIDO", event.event_id))
}

/// Requests the cancellation of an order: publishes `PedidoCancelado`, answers 202.
#[utoipa::path(
    post, path = "/api/pedidos/{pedidoId}/cancelacion", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id")),
    request_body(content = CancelOrderRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Cancellation queued", body = Accepted),
        (status = 400, description = "Malformed JSON or pedidoId", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body above 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Cancellation NOT accepted; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    PedidoId(pedido_id): PedidoId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let json = json_body(&headers, body)?;
    let cancel = parse_cancel_order(pedido_id, &json)?;
    let event = Event::new(request_id, EventPayload::PedidoCancelado(cancel));
    publish(&state, &event).await?;
    tracing::info!(pedido_id = %pedido_id, event_id = %event.event_id, "cancellation accepted");
    Ok(accepted(
        pedido_id,
        "CANCELACION_SOLICITADA",
        event.event_id,
    ))
}

/// The order's state as the workers recorded it.
#[utoipa::path(
    get, path = "/api/pedidos/{pedidoId}", tag = "pedidos",
    params(("pedidoId" = Uuid, Path, description = "The order id")),
    responses(
        (status = 200, description = "The order's state", body = OrderRecord),
        (status = 400, description = "pedidoId is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing recorded yet", body = Problem, content_type = "application/problem+json"),
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
