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
use crate::validation::{parse_cancel_order, parse_create_order};

/// One line of a new order (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ItemRequest {
    /// Product id: 1 to 64 printable ASCII characters without spaces.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[!-~]{1,64}$",
        example = "SKU-001"
    )]
    pub sku: String,
    /// Units: 1 to 1000.
    #[schema(minimum = 1, maximum = 1000, example = 2)]
    pub cantidad: u32,
    /// Unit price: a decimal string > 0 with at most 2 decimals.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$", example = "10000.50")]
    pub precio_unitario: String,
}

/// Shipping address (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressRequest {
    /// Street and number.
    #[schema(min_length = 1, max_length = 200, example = "Av. Providencia 1234")]
    pub calle: String,
    /// City.
    #[schema(min_length = 1, max_length = 100, example = "Santiago")]
    pub ciudad: String,
    /// Region.
    #[schema(min_length = 1, max_length = 100, example = "RM")]
    pub region: String,
    /// Postal code.
    #[schema(min_length = 1, max_length = 20, example = "7500000")]
    pub codigo_postal: Option<String>,
    /// Country.
    #[schema(min_length = 1, max_length = 100, example = "CL")]
    pub pais: String,
}

/// A new order (request schema). `total` must equal the sum of `cantidad × precioUnitario`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrderRequest {
    /// Optional client-chosen order id: retrying a POST with the same id is applied once.
    pub pedido_id: Option<Uuid>,
    /// Customer id.
    pub cliente_id: Uuid,
    /// ISO 4217 currency, default CLP.
    #[schema(pattern = "^[A-Z]{3}$", example = "CLP")]
    pub moneda: Option<String>,
    /// 1 to 100 items.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<ItemRequest>,
    /// Order total as a decimal string.
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$", example = "25001.00")]
    pub total: String,
    /// Where to ship.
    pub direccion_envio: AddressRequest,
}

/// A cancellation (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrderRequest {
    /// Why the order is cancelled.
    #[schema(min_length = 1, max_length = 500)]
    pub motivo: String,
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

/// Checks the content type and body, and parses the JSON.
fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Value, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::UnreadableBody(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
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
    let order = parse_create_order(&json, Utc::now()).map_err(ApiError::Validation)?;
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
    let cancel = parse_cancel_order(pedido_id, &json).map_err(ApiError::Validation)?;
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
