//! Request ids: every response carries `x-request-id`; a sane id sent by the
//! caller is kept (so the shop's backend can correlate), otherwise a new UUID
//! is made. The id becomes the event's `correlationId` and is on every log
//! line of the request.
//!
//! tower-http's `SetRequestIdLayer` keeps any id the caller sent, whatever it
//! holds, and only asks its `MakeRequestId` when there is none; so
//! [`drop_unacceptable`] runs first and removes an id that breaks the rule,
//! and `MakeRequestUuid` then makes one. `PropagateRequestIdLayer` copies the
//! id to the response.

use axum::http::{HeaderName, HeaderValue, Request};

/// The header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Whether a caller's id may be kept: 1 to 128 characters of `[A-Za-z0-9-_.:]`.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Removes the caller's `x-request-id` unless it is exactly one acceptable
/// value, so that a new id is made for the request.
pub fn drop_unacceptable<B>(mut request: Request<B>) -> Request<B> {
    let mut values = request.headers().get_all(&X_REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => return request,
        (Some(only), None) => acceptable(only),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(values: &[&str]) -> Vec<String> {
        let mut builder = Request::get("/");
        for value in values {
            builder = builder.header(&X_REQUEST_ID, *value);
        }
        let request = drop_unacceptable(builder.body(()).expect("request"));
        request
            .headers()
            .get_all(&X_REQUEST_ID)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect()
    }

    #[test]
    fn keeps_sane_ids_only() {
        assert_eq!(after(&["abc-123_x.y:z"]), ["abc-123_x.y:z"]);
        assert_eq!(after(&[&"a".repeat(128)]), ["a".repeat(128)]);
        assert!(after(&["has space"]).is_empty());
        assert!(after(&[""]).is_empty());
        assert!(after(&["a/b"]).is_empty());
        assert!(after(&[&"a".repeat(129)]).is_empty());
        assert!(after(&[]).is_empty());
    }

    #[test]
    fn two_ids_are_one_too_many() {
        assert!(after(&["first", "second"]).is_empty());
    }
}
