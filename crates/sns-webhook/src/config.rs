//! The webhook's settings, read once from the environment; every problem is
//! reported at once (shared::config::ConfigReader).

use std::net::IpAddr;
use std::time::Duration;

use shared::config::{ConfigError, ConfigReader, EnvSource, parse_arn};

use crate::access::BearerToken;

/// Everything the webhook reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `HOST`: address to listen on (default 0.0.0.0).
    pub host: IpAddr,
    /// `PORT`: port to listen on (default 8080; 0 picks a free one).
    pub port: u16,
    /// `AWS_REGION`: the only AWS origin allowed is `https://sns.<region>.amazonaws.com`.
    pub region: String,
    /// `SNS_CERT_HOST_ALLOWLIST`: extra hosts (`host` or `host:port`, comma
    /// separated) whose SigningCertURL/SubscribeURL are accepted over http or
    /// https — the local emulator only. Empty by default.
    pub cert_host_allowlist: Vec<String>,
    /// `SNS_TOPIC_ARN_ALLOWLIST` (required, at least one, each in
    /// `AWS_REGION`): the only topics whose messages — confirmations
    /// included — are accepted. A valid signature proves a message came from
    /// SNS, not from the shop's topic: any AWS account can subscribe this URL
    /// to its own topic.
    pub topic_allowlist: Vec<String>,
    /// `RECIBIDOS_TOKEN`: when set, `GET /recibidos` needs
    /// `Authorization: Bearer <token>`.
    pub recibidos_token: Option<BearerToken>,
    /// `RECIBIDOS_MAX`: notifications kept for `GET /recibidos` (default 100).
    pub recibidos_max: usize,
    /// `DEDUP_WINDOW`: MessageIds remembered to ignore repeats (default 10000).
    pub dedup_window: usize,
    /// `FETCH_TIMEOUT_SECS`: deadline of each certificate fetch and
    /// subscription confirmation (default 5 s).
    pub fetch_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECS`: deadline of each request to this server (default 15 s).
    pub request_timeout: Duration,
}

impl Settings {
    /// Reads and checks every variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let host = r.or_default("HOST", IpAddr::from([0, 0, 0, 0]));
        let port = r.or_default("PORT", 8080_u16);
        let region: String = r.required(
            "AWS_REGION",
            "the region of the topic; its SigningCertURL host is sns.<region>.amazonaws.com",
            parse_region,
        );
        let cert_host_allowlist = r
            .optional("SNS_CERT_HOST_ALLOWLIST", parse_hosts)
            .unwrap_or_default();
        let topic_allowlist: Vec<String> = r.required(
            "SNS_TOPIC_ARN_ALLOWLIST",
            "the ARNs (comma separated) of the topics this endpoint takes messages from; a valid signature only proves a message came from SNS, and any AWS account can subscribe this URL to its own topic",
            parse_topics,
        );
        if !region.is_empty() {
            for arn in &topic_allowlist {
                if arn_region(arn) != Some(region.as_str()) {
                    r.problem(format!(
                        "SNS_TOPIC_ARN_ALLOWLIST: {arn} is not in AWS_REGION {region} (its certificates and SubscribeURL come from sns.{region}.amazonaws.com only)"
                    ));
                }
            }
        }
        // Read here, not through ConfigReader::optional, whose error repeats the value.
        let recibidos_token = env.get("RECIBIDOS_TOKEN").and_then(|raw| {
            BearerToken::parse(raw)
                .map_err(|reason| r.problem(format!("RECIBIDOS_TOKEN is invalid: {reason}")))
                .ok()
        });
        let recibidos_max = r.number_in("RECIBIDOS_MAX", 100_usize, 1..=10_000);
        let dedup_window = r.number_in("DEDUP_WINDOW", 10_000_usize, 1..=1_000_000);
        let fetch_timeout = r.seconds("FETCH_TIMEOUT_SECS", Duration::from_secs(5), 1..=60);
        let request_timeout = r.seconds("REQUEST_TIMEOUT_SECS", Duration::from_secs(15), 1..=120);
        if fetch_timeout >= request_timeout {
            r.problem(
                "FETCH_TIMEOUT_SECS must be below REQUEST_TIMEOUT_SECS (a confirmation fetches a certificate and then the SubscribeURL)",
            );
        }
        r.finish()?;
        Ok(Self {
            host,
            port,
            region,
            cert_host_allowlist,
            topic_allowlist,
            recibidos_token,
            recibidos_max,
            dedup_window,
            fetch_timeout,
            request_timeout,
        })
    }
}

fn list(raw: &str) -> impl Iterator<Item = String> + '_ {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// At least one SNS topic ARN.
fn parse_topics(raw: &str) -> Result<Vec<String>, String> {
    let topics = list(raw)
        .map(|arn| parse_arn("sns")(&arn))
        .collect::<Result<Vec<_>, _>>()?;
    if topics.is_empty() {
        return Err("must list at least one topic ARN".into());
    }
    Ok(topics)
}

/// The region field of an ARN (`arn:partition:service:region:account:resource`).
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3)
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, ...
fn parse_region(raw: &str) -> Result<String, String> {
    let parts: Vec<&str> = raw.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok_and(|n| n > 0);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be an AWS region like us-east-1".into())
    }
}

fn parse_hosts(raw: &str) -> Result<Vec<String>, String> {
    list(raw)
        .map(|h| {
            let valid = h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
            if valid && !h.starts_with(':') {
                Ok(h.to_ascii_lowercase())
            } else {
                Err(format!(
                    "{h:?} is not a host or host:port (no scheme, no path)"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos";

    #[test]
    fn defaults() {
        let s = Settings::from_env(&EnvSource::from_pairs([
            ("AWS_REGION", "us-east-1"),
            ("SNS_TOPIC_ARN_ALLOWLIST", TOPIC),
        ]))
        .expect("valid");
        assert_eq!(s.host, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(s.port, 8080);
        assert!(s.cert_host_allowlist.is_empty());
        assert_eq!(s.topic_allowlist, [TOPIC]);
        assert_eq!(s.recibidos_token, None);
        assert_eq!(s.recibidos_max, 100);
        assert_eq!(s.fetch_timeout, Duration::from_secs(5));
    }

    #[test]
    fn lists_are_comma_separated() {
        let s = Settings::from_env(&EnvSource::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            (
                "SNS_CERT_HOST_ALLOWLIST",
                "127.0.0.1:4566, LocalHost.localstack.cloud,",
            ),
            (
                "SNS_TOPIC_ARN_ALLOWLIST",
                "arn:aws:sns:eu-west-1:123456789012:a, arn:aws:sns:eu-west-1:123456789012:b",
            ),
            ("RECIBIDOS_TOKEN", "0123456789abcdef"),
        ]))
        .expect("valid");
        assert_eq!(
            s.cert_host_allowlist,
            ["127.0.0.1:4566", "localhost.localstack.cloud"]
        );
        assert_eq!(
            s.topic_allowlist,
            [
                "arn:aws:sns:eu-west-1:123456789012:a",
                "arn:aws:sns:eu-west-1:123456789012:b"
            ]
        );
        assert!(s.recibidos_token.is_some());
    }

    #[test]
    fn the_topic_allowlist_is_required_and_in_the_region() {
        for (value, why) in [
            (None, "SNS_TOPIC_ARN_ALLOWLIST is required"),
            (Some(" "), "SNS_TOPIC_ARN_ALLOWLIST is required"),
            (Some(","), "must list at least one topic ARN"),
            (
                Some("arn:aws:sns:eu-west-1:123456789012:a"),
                "is not in AWS_REGION us-east-1",
            ),
        ] {
            let mut pairs = vec![("AWS_REGION", "us-east-1")];
            pairs.extend(value.map(|v| ("SNS_TOPIC_ARN_ALLOWLIST", v)));
            let err = Settings::from_env(&EnvSource::from_pairs(pairs))
                .expect_err("refused")
                .to_string();
            assert!(err.contains(why), "{value:?}: {why} in {err}");
        }
    }

    #[test]
    fn every_problem_at_once() {
        let err = Settings::from_env(&EnvSource::from_pairs([
            ("PORT", "http"),
            ("SNS_CERT_HOST_ALLOWLIST", "http://127.0.0.1:4566"),
            ("SNS_TOPIC_ARN_ALLOWLIST", "topic"),
            ("RECIBIDOS_TOKEN", "short secret"),
            ("RECIBIDOS_MAX", "0"),
            ("FETCH_TIMEOUT_SECS", "20"),
            ("REQUEST_TIMEOUT_SECS", "10"),
        ]))
        .expect_err("invalid");
        let text = err.to_string();
        for name in [
            "AWS_REGION is required",
            "PORT=",
            "SNS_CERT_HOST_ALLOWLIST=",
            "SNS_TOPIC_ARN_ALLOWLIST=",
            "RECIBIDOS_TOKEN is invalid",
            "RECIBIDOS_MAX=",
            "FETCH_TIMEOUT_SECS must be below",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
        assert!(
            !text.contains("short secret"),
            "the token is not shown: {text}"
        );
        for bad in ["us-east", "US-EAST-1", "sns.us-east-1", "us-east-0"] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
        assert!(parse_region("us-gov-west-1").is_ok());
    }
}
