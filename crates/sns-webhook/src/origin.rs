//! Which URLs a message may make this endpoint fetch, checked before any
//! fetch: `https://sns.<region>.amazonaws.com` exactly, on the default port
//! and without user info, plus the configured emulator hosts (http or https,
//! their own paths), for LocalStack. AWS: "Ensure the SigningCertURL is from
//! a trusted AWS domain (for example, https://sns.<region>.amazonaws.com)" —
//! https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
//!
//! On the AWS host the URLs must also have the shape AWS sends (the examples
//! of https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
//! and http-notification-json.html): SigningCertURL
//! `/SimpleNotificationService-<hex>.pem` with no query, so an unsigned POST
//! cannot make this endpoint GET another path of the SNS host (an
//! UnsubscribeURL, say) before its signature is checked. On any host a
//! SubscribeURL must be `Action=ConfirmSubscription` for the message's own
//! `TopicArn`.

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

    /// A `SigningCertURL`, parsed, when its origin and (on the AWS host) its
    /// path are allowed.
    pub fn signing_cert_url(&self, raw: &str) -> Result<Url, OriginError> {
        let field = "SigningCertURL";
        let (url, host) = self.origin(field, raw)?;
        if host == Host::Aws {
            let hex = url
                .path()
                .strip_prefix("/SimpleNotificationService-")
                .and_then(|rest| rest.strip_suffix(".pem"));
            if !hex.is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(refusal(
                    field,
                    raw,
                    "the path must be /SimpleNotificationService-<hex>.pem",
                ));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(refusal(field, raw, "a query or fragment"));
            }
        }
        Ok(url)
    }

    /// A `SubscribeURL`, parsed, when its origin is allowed and it confirms a
    /// subscription to `topic_arn` (the message's own, signed, TopicArn).
    pub fn subscribe_url(&self, raw: &str, topic_arn: &str) -> Result<Url, OriginError> {
        let field = "SubscribeURL";
        let (url, _) = self.origin(field, raw)?;
        let values = |key: &str| -> Vec<String> {
            url.query_pairs()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
                .collect()
        };
        if values("Action") != ["ConfirmSubscription"] {
            return Err(refusal(field, raw, "Action must be ConfirmSubscription"));
        }
        if values("TopicArn") != [topic_arn] {
            return Err(refusal(
                field,
                raw,
                &format!("its TopicArn must be the message's, {topic_arn}"),
            ));
        }
        Ok(url)
    }

    /// The URL `raw` of `field`, parsed, when its origin is allowed, and
    /// which kind of host it is on.
    fn origin(&self, field: &'static str, raw: &str) -> Result<(Url, Host), OriginError> {
        let refuse = |reason: &str| refusal(field, raw, reason);
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
            return Ok((url, Host::Emulator));
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
        Ok((url, Host::Aws))
    }
}

/// Which allowed origin a URL is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// `sns.<region>.amazonaws.com`.
    Aws,
    /// An allow-listed emulator host.
    Emulator,
}

fn refusal(field: &'static str, raw: &str, reason: &str) -> OriginError {
    OriginError {
        field,
        url: raw.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:t";

    fn cert(origins: &Origins, url: &str) -> Result<(), String> {
        origins
            .signing_cert_url(url)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn subscribe(origins: &Origins, url: &str) -> Result<(), String> {
        origins
            .subscribe_url(url, TOPIC)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_the_regions_sns_host_over_https() {
        let o = Origins::new("us-east-1", Vec::new());
        assert_eq!(cert(&o, CERT), Ok(()));
        assert_eq!(
            cert(
                &o,
                "https://SNS.us-east-1.amazonaws.com:443/SimpleNotificationService-0a.pem"
            ),
            Ok(())
        );
        for (bad, why) in [
            (
                "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-0a.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
                "https is required",
            ),
            (
                "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0a.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "https://foo.amazonaws.com/SimpleNotificationService-0a.pem",
                "must be sns.us-east-1.amazonaws.com",
            ),
            (
                "https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
                "must be sns.us-east-1",
            ),
            (
                "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-0a.pem",
                "user info",
            ),
            (
                "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0a.pem",
                "non-default port",
            ),
            ("sns.us-east-1.amazonaws.com/c.pem", "not a URL"),
            (
                "https://127.0.0.1:4566/SimpleNotificationService-0a.pem",
                "must be sns.us-east-1",
            ),
        ] {
            let err = cert(&o, bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn on_the_aws_host_the_certificate_path_has_aws_shape_and_no_query() {
        let o = Origins::new("us-east-1", Vec::new());
        for bad in [
            "https://sns.us-east-1.amazonaws.com/c.pem",
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:t:1",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-fixture.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem/x",
            "https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-0a.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.txt",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-%30a.pem",
        ] {
            let err = cert(&o, bad).expect_err(bad);
            assert!(
                err.contains("/SimpleNotificationService-<hex>.pem"),
                "{bad}: {err}"
            );
        }
        for bad in [
            format!("{CERT}?Action=Unsubscribe"),
            format!("{CERT}?"),
            format!("{CERT}#x"),
        ] {
            let err = cert(&o, &bad).expect_err(&bad);
            assert!(err.contains("a query or fragment"), "{bad}: {err}");
        }
    }

    #[test]
    fn emulator_hosts_by_host_or_host_and_port_keep_their_own_paths() {
        let o = Origins::new(
            "us-east-1",
            vec!["127.0.0.1:4566".into(), "localhost.localstack.cloud".into()],
        );
        assert_eq!(
            cert(
                &o,
                "http://127.0.0.1:4566/_aws/sns/SimpleNotificationService-x.pem"
            ),
            Ok(())
        );
        assert_eq!(
            cert(&o, "http://localhost.localstack.cloud:4566/c.pem"),
            Ok(())
        );
        assert_eq!(cert(&o, "https://localhost.localstack.cloud/c.pem"), Ok(()));
        assert!(
            cert(&o, "http://127.0.0.1:4567/c.pem").is_err(),
            "other port"
        );
        assert!(
            cert(&o, "ftp://127.0.0.1:4566/c.pem").is_err(),
            "other scheme"
        );
        assert_eq!(cert(&o, CERT), Ok(()));
        assert!(
            cert(&o, "https://sns.us-east-1.amazonaws.com/c.pem").is_err(),
            "the AWS host keeps its path rule"
        );
    }

    #[test]
    fn a_subscribe_url_confirms_the_messages_own_topic() {
        let o = Origins::new("us-east-1", vec!["127.0.0.1:4566".into()]);
        for good in [
            format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"),
            // Percent-encoded, as some senders write it.
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At&Token=t".into(),
            format!("http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"),
        ] {
            assert_eq!(subscribe(&o, &good), Ok(()), "{good}");
        }
        for (bad, why) in [
            (
                format!("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&TopicArn={TOPIC}"),
                "Action must be ConfirmSubscription",
            ),
            (
                format!("https://sns.us-east-1.amazonaws.com/?TopicArn={TOPIC}&Token=t"),
                "Action must be ConfirmSubscription",
            ),
            (
                format!("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Action=Unsubscribe&TopicArn={TOPIC}"),
                "Action must be ConfirmSubscription",
            ),
            (
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:otro&Token=t".into(),
                "its TopicArn must be the message's",
            ),
            (
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t".into(),
                "its TopicArn must be the message's",
            ),
            (
                format!("https://evil.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"),
                "must be sns.us-east-1",
            ),
        ] {
            let err = subscribe(&o, &bad).expect_err(&bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
