//! The `Idempotency-Key` request header (IETF draft "The Idempotency-Key HTTP
//! Header Field"): parsing, the request fingerprint it is bound to, and the
//! ids derived from it so a replay names the same order and event.
//!
//! The first request with a key reserves it; a replay with the same request
//! answers as the first did (and publishes again if the first's outcome was
//! unknown); the same key with another request is 422; a request arriving
//! while the first is in progress is 409. Keys are remembered for
//! [`shared::orders_table::KEY_TTL`] (24 h).

use axum::http::HeaderMap;
use uuid::Uuid;

use crate::error::ApiError;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// Longest key accepted.
pub const MAX_LEN: usize = 255;

const PEDIDO_NAMESPACE: Uuid = Uuid::from_u128(0x4f0e_63a2_97d1_4c5b_8e2f_1a6b_3d9c_7e40);
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x9b3d_2c71_0e84_4a6f_b5c2_7d18_e6a9_0f53);
const FINGERPRINT_NAMESPACE: Uuid = Uuid::from_u128(0x15a7_e0c4_6b92_4d3e_a8f1_c2d7_5b06_9e84);

/// A valid key: 1 to 255 printable ASCII characters (a Structured Field
/// string, `"..."`, as the draft specifies, or the bare text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| ApiError::InvalidIdempotencyKey("must be printable ASCII"))?
            .trim();
        let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) if !inner.contains(['"', '\\']) => inner,
            Some(_) => {
                return Err(ApiError::InvalidIdempotencyKey(
                    "must not contain quotes or backslashes",
                ));
            }
            None => text,
        };
        if text.is_empty() {
            return Err(ApiError::InvalidIdempotencyKey("must not be empty"));
        }
        if text.len() > MAX_LEN {
            return Err(ApiError::InvalidIdempotencyKey(
                "must be at most 255 characters",
            ));
        }
        if !text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ApiError::InvalidIdempotencyKey("must be printable ASCII"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The key from the request headers, if any; more than one is an error.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => Self::parse(value.as_bytes()).map(Some),
            (Some(_), Some(_)) => Err(ApiError::InvalidIdempotencyKey("must be sent once")),
        }
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The order id a new order gets under this key when the client sent
    /// none: the same for every replay.
    pub fn pedido_id(&self) -> Uuid {
        Uuid::new_v5(&PEDIDO_NAMESPACE, self.0.as_bytes())
    }

    /// The event id of the request made under this key on `route`: the same
    /// for every replay.
    pub fn event_id(&self, route: &str) -> Uuid {
        Uuid::new_v5(&EVENT_NAMESPACE, format!("{route}\n{}", self.0).as_bytes())
    }
}

/// The fingerprint binding a key to its request: the route and the parts of
/// the request that define it.
pub fn fingerprint(route: &str, parts: &[&str]) -> String {
    let mut text = route.to_owned();
    for part in parts {
        text.push('\n');
        text.push_str(part);
    }
    Uuid::new_v5(&FINGERPRINT_NAMESPACE, text.as_bytes())
        .simple()
        .to_string()
}

/// A command sent with a key: the key, the route and the fingerprint of the
/// request it is bound to (computed only when a key was sent).
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// The key.
    pub key: IdempotencyKey,
    /// See [`fingerprint`].
    pub fingerprint: String,
    route: &'static str,
}

impl KeyedRequest {
    /// `key` bound to the request on `route` defined by `parts`.
    pub fn new(key: IdempotencyKey, route: &'static str, parts: &[&str]) -> Self {
        Self {
            fingerprint: fingerprint(route, parts),
            key,
            route,
        }
    }

    /// The event id of this request, the same for every replay.
    pub fn event_id(&self) -> Uuid {
        self.key.event_id(self.route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bare_and_structured_field_keys() {
        let bare = IdempotencyKey::parse(b"8e03978e-40d5-43e8-bc93-6894a57f9324").expect("bare");
        let quoted =
            IdempotencyKey::parse(b"\"8e03978e-40d5-43e8-bc93-6894a57f9324\"").expect("quoted");
        assert_eq!(bare, quoted);
        assert_eq!(bare.pedido_id(), quoted.pedido_id());
        assert_ne!(bare.event_id("a"), bare.event_id("b"));
    }

    #[test]
    fn rejects_empty_long_and_unprintable_keys() {
        for bad in [
            &b""[..],
            b"\"\"",
            b"tab\there",
            "ñandú".as_bytes(),
            b"\"a\"b\"",
            &[b'k'; 256][..],
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        // The refusal states the limit this module enforces.
        match IdempotencyKey::parse(&[b'k'; MAX_LEN + 1]) {
            Err(ApiError::InvalidIdempotencyKey(reason)) => {
                assert!(reason.contains(&MAX_LEN.to_string()), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint("r", &["a", "b"]), fingerprint("r", &["a", "b"]));
        assert_ne!(fingerprint("r", &["a", "b"]), fingerprint("r", &["ab"]));
        assert_ne!(fingerprint("r", &["a"]), fingerprint("s", &["a"]));
    }
}
