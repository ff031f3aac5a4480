//! Per-request observation: the request's span (with its id, method and
//! route, so every log line of the request carries them; the server span of
//! the trace, continuing the caller's W3C `traceparent`), the
//! "request finished" log line and the request counter.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use shared::contract::{ATTR_TRACEPARENT, ATTR_TRACESTATE};
use shared::telemetry::propagation::{TraceCarrier, continue_trace};
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
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let traced = shared::telemetry::tracing_enabled();
    if traced {
        span.record("otel.name", format!("{method} {route}").as_str());
        span.record("otel.kind", "server");
        continue_trace(&span, carrier(request.headers()));
    }
    let started = Instant::now();
    let mut request = request;
    request.extensions_mut().insert(RequestStart(started));
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    if traced {
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
    }
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

/// The caller's trace context: exactly one `traceparent` header (W3C: two
/// are invalid) and the first `tracestate` header (W3C allows splitting it
/// over several; the later parts, vendor state only, are then dropped).
fn carrier(headers: &HeaderMap) -> TraceCarrier<'_> {
    let mut parents = headers.get_all(ATTR_TRACEPARENT).iter();
    let traceparent = match (parents.next(), parents.next()) {
        (Some(only), None) => only.to_str().ok(),
        _ => None,
    };
    TraceCarrier {
        traceparent,
        tracestate: headers.get(ATTR_TRACESTATE).and_then(|v| v.to_str().ok()),
    }
}

/// When the request arrived (before its body was read): the commands' answer
/// deadline counts from here, as the outer request timeout does.
#[derive(Debug, Clone, Copy)]
pub struct RequestStart(pub Instant);
