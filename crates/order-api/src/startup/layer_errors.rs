//! Error answers that tower layers make themselves: tower-http's body limit
//! (413 with a plain-text body) and request timeout (503 with an empty one).
//! They are rewritten into the problem document the API sends for the same
//! failure, so every error answer stays `application/problem+json`.
//!
//! Every 413 also says `Connection: close`: the rest of the body is never
//! read, so the connection cannot carry another request, and a client that
//! reused it would see it closed under its next request.

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;

use crate::error::ApiError;

/// Whether `response` already carries a problem document.
fn is_problem<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// `axum::middleware::map_response` function: replaces a layer's bare 413 or
/// 503 with the API's problem for it, and closes the connection after any
/// 413; every other response passes unchanged.
pub async fn as_problem<B>(response: Response<B>) -> axum::response::Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut response = match response.status() {
        _ if is_problem(&response) => response.map(Body::new),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!("request timed out");
            ApiError::Overloaded.into_response()
        }
        _ => response.map(Body::new),
    };
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn problem_type(response: Response<Body>) -> (StatusCode, String, Option<String>) {
        let out = as_problem(response).await;
        let status = out.status();
        assert_eq!(
            out.headers().get(header::CONNECTION).is_some(),
            status == StatusCode::PAYLOAD_TOO_LARGE,
            "only a 413 closes the connection"
        );
        let content_type = out
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(out.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (
            status,
            body["type"].as_str().unwrap_or("").to_owned(),
            content_type,
        )
    }

    fn bare(status: StatusCode, body: &'static str) -> Response<Body> {
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response
    }

    #[tokio::test]
    async fn bare_413_and_503_become_problems() {
        let (status, kind, ct) =
            problem_type(bare(StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(kind, "/problems/payload-too-large");
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        let (status, kind, _) = problem_type(bare(StatusCode::SERVICE_UNAVAILABLE, "")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(kind, "/problems/overloaded");
    }

    #[tokio::test]
    async fn problems_and_other_answers_pass_unchanged() {
        let (status, kind, _) = problem_type(ApiError::PayloadTooLarge.into_response()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(kind, "/problems/payload-too-large");
        let published = ApiError::NotAccepted {
            pedido_id: uuid::Uuid::nil(),
        }
        .into_response();
        let (status, kind, _) = problem_type(published).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(kind, "/problems/not-accepted");
        let (status, kind, ct) = problem_type(bare(StatusCode::ACCEPTED, "{}")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(kind, "");
        assert_eq!(ct, None);
    }
}
