//! Request ids: every response carries `x-request-id`; a sane id sent by the
//! caller is kept (so the shop's backend can correlate), otherwise a new one
//! is made. The id becomes the event's `correlationId` and is on every log
//! line of the request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::startup::AppState;

/// The header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| text.to_owned())
}

/// Middleware: assigns the request id, opens the request's span, logs the
/// outcome and counts it in the metrics.
pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    state
        .metrics
        .record_request(method.as_str(), &route, status);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_only() {
        assert_eq!(
            acceptable(&HeaderValue::from_static("abc-123_x.y:z")),
            Some("abc-123_x.y:z".into())
        );
        assert_eq!(acceptable(&HeaderValue::from_static("has space")), None);
        assert_eq!(acceptable(&HeaderValue::from_static("")), None);
        let long = "a".repeat(129);
        assert_eq!(
            acceptable(&HeaderValue::from_str(&long).expect("header")),
            None
        );
    }
}
