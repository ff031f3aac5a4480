//! Operational endpoints: health, metrics, OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
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
