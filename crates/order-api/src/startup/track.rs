//! Per-request observation: the request's span (with its id, method and
//! route, so every log line of the request carries them), the
//! "request finished" log line and the request counter.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::request_id::RequestId;
use crate::startup::AppState;

/// Middleware, inside the request-id layers: hands the id to the handlers as
/// [`RequestId`], runs the request in its span, logs the outcome and counts it.
pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // SetRequestIdLayer has run: the id is there and is visible ASCII.
    let id = request
        .extensions()
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    state.metrics.record_request(&method, &route, status);
    response
}
