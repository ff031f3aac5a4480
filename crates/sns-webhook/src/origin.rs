//! Which URLs a message may make this endpoint fetch (SigningCertURL,
//! SubscribeURL): `https://sns.<region>.amazonaws.com` exactly, on the
//! default port and without user info; plus the configured emulator hosts
//! (http or https), for LocalStack. AWS: "Ensure the SigningCertURL is from a
//! trusted AWS domain (for example, https://sns.<region>.amazonaws.com)" —
//! https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html

use url::Url;

/// The allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    aws_host: String,
    emulator_hosts: Vec<String>,
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {url:?} is not allowed: {reason}")]
pub struct OriginError {
    /// The message field that carried the URL.
    pub field: &'static str,
    /// The URL as sent.
    pub url: String,
    /// What rule it broke.
    pub reason: String,
}

impl Origins {
    /// The origins of `region` plus `emulator_hosts` (each `host` or `host:port`).
    pub fn new(region: &str, emulator_hosts: Vec<String>) -> Self {
        Self {
            aws_host: format!("sns.{region}.amazonaws.com"),
            emulator_hosts: emulator_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The URL `raw` of `field`, parsed, when its origin is allowed.
    pub fn check(&self, field: &'static str, raw: &str) -> Result<Url, OriginError> {
        let refuse = |reason: &str| OriginError {
            field,
            url: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(raw).map_err(|e| refuse(&format!("not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("user info in the URL"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| refuse("no host"))?
            .to_ascii_lowercase();
        let http_like = matches!(url.scheme(), "http" | "https");
        if self.emulator_hosts.iter().any(|allowed| {
            *allowed == host
                || url
                    .port_or_known_default()
                    .is_some_and(|port| *allowed == format!("{host}:{port}"))
        }) && http_like
        {
            return Ok(url);
        }
        if host != self.aws_host {
            return Err(refuse(&format!(
                "the host must be {} (or an allow-listed emulator host)",
                self.aws_host
            )));
        }
        if url.scheme() != "https" {
            return Err(refuse("https is required"));
        }
        if url.port().is_some() {
            return Err(refuse("a non-default port"));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origins: &Origins, url: &str) -> Result<(), String> {
        origins
            .check("SigningCertURL", url)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_the_regions_sns_host_over_https() {
        let o = Origins::new("us-east-1", Vec::new());
        assert_eq!(
            check(
                &o,
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"
            ),
            Ok(())
        );
        assert_eq!(
            check(&o, "https://SNS.us-east-1.amazonaws.com:443/c.pem"),
            Ok(())
        );
        for (bad, why) in [
            (
                "https://sns.us-east-1.amazonaws.com.evil.com/c.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "http://sns.us-east-1.amazonaws.com/c.pem",
                "https is required",
            ),
            (
                "https://sns.eu-west-1.amazonaws.com/c.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "https://foo.amazonaws.com/c.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "https://evil.com/sns.us-east-1.amazonaws.com/c.pem",
                "must be sns.us-east-1",
            ),
            (
                "https://sns.us-east-1.amazonaws.com@evil.com/c.pem",
                "user info",
            ),
            (
                "https://sns.us-east-1.amazonaws.com:8443/c.pem",
                "non-default port",
            ),
            ("sns.us-east-1.amazonaws.com/c.pem", "not a URL"),
            ("https://127.0.0.1:4566/c.pem", "must be sns.us-east-1"),
        ] {
            let err = check(&o, bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn emulator_hosts_by_host_or_host_and_port() {
        let o = Origins::new(
            "us-east-1",
            vec!["127.0.0.1:4566".into(), "localhost.localstack.cloud".into()],
        );
        assert_eq!(check(&o, "http://127.0.0.1:4566/_aws/sns/c.pem"), Ok(()));
        assert_eq!(
            check(&o, "http://localhost.localstack.cloud:4566/c.pem"),
            Ok(())
        );
        assert_eq!(
            check(&o, "https://localhost.localstack.cloud/c.pem"),
            Ok(())
        );
        assert!(
            check(&o, "http://127.0.0.1:4567/c.pem").is_err(),
            "other port"
        );
        assert!(
            check(&o, "ftp://127.0.0.1:4566/c.pem").is_err(),
            "other scheme"
        );
        assert_eq!(
            check(&o, "https://sns.us-east-1.amazonaws.com/c.pem"),
            Ok(())
        );
    }
}
