//! Who may read `GET /recibidos`: the optional bearer token
//! (`RECIBIDOS_TOKEN`) and the check of a request's `Authorization` header:
//! the SHA-256 digests of the presented and the configured token are
//! compared in constant time (fixed length, so neither the token's content
//! nor its length leaks through timing). Hand-written: tower-http's bearer
//! validator is deprecated and compares with `==`; this is a header split,
//! a digest and aws-lc-rs's constant-time comparison.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Shortest token accepted: guessing it must not be practical.
pub const MIN_TOKEN_LEN: usize = 16;

/// Longest token accepted (it travels in a header).
pub const MAX_TOKEN_LEN: usize = 512;

/// A bearer token; never shown by `Debug`.
/// (`PartialEq` compares settings in tests; requests go through [`BearerToken::allows`].)
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// `raw` as a token: [`MIN_TOKEN_LEN`] to [`MAX_TOKEN_LEN`] characters of
    /// RFC 6750's token68 (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding). The
    /// error never repeats the value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let body = raw.trim_end_matches('=');
        let valid = (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&raw.len())
            && !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters of A-Z a-z 0-9 - . _ ~ + / (then = padding); value not shown"
            ))
        }
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>` (the
    /// scheme in any case, RFC 9110 §11.1).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(presented) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
            .map(|(_, token)| token.trim())
        else {
            return false;
        };
        let digest =
            |token: &str| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        aws_lc_rs::constant_time::verify_slices_are_equal(
            digest(presented).as_ref(),
            digest(&self.0).as_ref(),
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "s3cr3t-token_0123456789";

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_allowed() {
        let token = BearerToken::parse(TOKEN).expect("valid");
        assert!(token.allows(&headers(Some(&format!("Bearer {TOKEN}")))));
        assert!(token.allows(&headers(Some(&format!("bearer {TOKEN}")))));
        for bad in [
            None,
            Some(TOKEN.to_owned()),
            Some(format!("Basic {TOKEN}")),
            Some(format!("Bearer {TOKEN}x")),
            Some(format!("Bearer {}", &TOKEN[1..])),
            Some("Bearer ".to_owned()),
        ] {
            assert!(!token.allows(&headers(bad.as_deref())), "{bad:?}");
        }
    }

    #[test]
    fn short_or_odd_tokens_are_refused_without_showing_them() {
        for bad in [
            "short",
            "has space in the token",
            "tok\u{e9}n-0123456789abc",
            "================",
        ] {
            let err = BearerToken::parse(bad).expect_err(bad);
            assert!(!err.contains(bad), "{err}");
        }
        assert!(BearerToken::parse("abcdefghijklmnop==").is_ok());
        assert_eq!(
            format!("{:?}", BearerToken::parse(TOKEN).expect("valid")),
            "BearerToken(<redacted>)"
        );
    }
}
