//! Operational endpoints: health, metrics, the OpenAPI and AsyncAPI documents.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::OpenApi;

use crate::readiness::ReadinessReport;
use crate::startup::AppState;

/// Liveness: the process serves HTTP and SNS/DynamoDB have not refused the
/// topic or table (access denied, missing, key disabled) for
/// `CONFIG_FAULT_LIMIT_SECS`. Never waits on AWS; transient failures never fail it.
#[utoipa::path(
    get, path = "/health/live", tag = "ops",
    responses(
        (status = 200, description = "Alive"),
        (status = 503, description = "The deployment is wrong: the topic or table has been refused for too long"),
    )
)]
pub async fn live(State(state): State<AppState>) -> Response {
    if state.readiness.fault_expired() {
        let body = serde_json::json!({ "status": "misconfigured" });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    Json(serde_json::json!({ "status": "alive" })).into_response()
}

/// Readiness: SNS and DynamoDB answer (cached for a few seconds).
#[utoipa::path(
    get, path = "/health/ready", tag = "ops",
    responses(
        (status = 200, description = "Ready", body = ReadinessReport),
        (status = 503, description = "A dependency is unavailable", body = ReadinessReport),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let report = state.readiness.check().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// Prometheus / OpenMetrics exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Metrics", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// The OpenAPI document of this API, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}

/// The AsyncAPI document, serialized once when the router is built.
#[derive(Debug, Clone)]
pub struct AsyncApiJson(Bytes);

impl AsyncApiJson {
    /// The document for the events published to `topic_arn`.
    pub fn new(topic_arn: &str) -> Self {
        let document = shared::contract::asyncapi::document(Some(topic_arn));
        // Serializing a `serde_json::Value` cannot fail.
        Self(serde_json::to_vec(&document).unwrap_or_default().into())
    }
}

/// The AsyncAPI 3.0 document of the events this API publishes: the topic,
/// `PedidoCreado` and `PedidoCancelado` with their payloads and message
/// attributes, this API's `send` and the workers' `receive` operations;
/// generated from the event contract's types.
#[utoipa::path(
    get, path = "/asyncapi.json", tag = "ops",
    responses((status = 200, description = "AsyncAPI 3.0 document", content_type = "application/json"))
)]
pub async fn asyncapi(Extension(document): Extension<AsyncApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0).into_response()
}
