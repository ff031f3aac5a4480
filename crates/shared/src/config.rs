//! Typed configuration read once from the environment, reporting every
//! missing or invalid variable at once with a message that names it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A snapshot of environment variables. Tests build one from pairs instead of
/// mutating the process environment.
#[derive(Debug, Clone, Default)]
pub struct EnvSource(HashMap<String, String>);

impl EnvSource {
    /// Snapshot of the process environment (non-UTF-8 values are ignored).
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// An environment made of the given pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value of `name`, treating an empty or blank value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// One line per variable.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Reads variables and accumulates problems; call [`ConfigReader::finish`] last.
#[derive(Debug)]
pub struct ConfigReader<'a> {
    env: &'a EnvSource,
    problems: Vec<String>,
}

impl<'a> ConfigReader<'a> {
    /// A reader over `env`.
    pub fn new(env: &'a EnvSource) -> Self {
        Self {
            env,
            problems: Vec::new(),
        }
    }

    /// A required variable, checked by `parse`. `what` explains it in the error message.
    pub fn required<T: Default>(
        &mut self,
        name: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match self.env.get(name) {
            None => {
                self.problems.push(format!("{name} is required: {what}"));
                T::default()
            }
            Some(raw) => self.check(name, raw, parse).unwrap_or_default(),
        }
    }

    /// An optional variable, checked by `parse`.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let env = self.env;
        let raw = env.get(name)?;
        self.check(name, raw, parse)
    }

    /// An optional variable parsed with [`FromStr`], `default` when unset.
    pub fn or_default<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.env.get(name) {
            None => default,
            Some(raw) => self
                .check(name, raw, |s| s.parse::<T>().map_err(|e| e.to_string()))
                .unwrap_or(default),
        }
    }

    /// An optional whole number of seconds within `range`, `default` when unset.
    pub fn seconds(
        &mut self,
        name: &str,
        default: Duration,
        range: std::ops::RangeInclusive<u64>,
    ) -> Duration {
        match self.env.get(name) {
            None => default,
            Some(raw) => self
                .check(name, raw, |s| {
                    let n: u64 = s
                        .parse()
                        .map_err(|_| "must be a whole number of seconds".to_owned())?;
                    if range.contains(&n) {
                        Ok(Duration::from_secs(n))
                    } else {
                        Err(format!(
                            "must be from {} to {} seconds",
                            range.start(),
                            range.end()
                        ))
                    }
                })
                .unwrap_or(default),
        }
    }

    /// An optional integer within `range`, `default` when unset.
    pub fn number_in<T>(&mut self, name: &str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        match self.env.get(name) {
            None => default,
            Some(raw) => self
                .check(name, raw, |s| {
                    let n: T = s.parse().map_err(|_| {
                        format!(
                            "must be a whole number from {} to {}",
                            range.start(),
                            range.end()
                        )
                    })?;
                    if range.contains(&n) {
                        Ok(n)
                    } else {
                        Err(format!("must be from {} to {}", range.start(), range.end()))
                    }
                })
                .unwrap_or(default),
        }
    }

    /// Records a problem found by the caller (e.g. a rule spanning two variables).
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// `Ok` when no problem was found.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }

    fn check<T>(
        &mut self,
        name: &str,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        parse(raw)
            .map_err(|reason| {
                self.problems
                    .push(format!("{name}={raw:?} is invalid: {reason}"))
            })
            .ok()
    }
}

/// Parses an ARN of the given service (`arn:<partition>:<service>:<region>:<account>:<resource>`).
pub fn parse_arn(service: &'static str) -> impl Fn(&str) -> Result<String, String> {
    move |raw| {
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, svc, _, _, resource]
                if !partition.is_empty() && *svc == service && !resource.is_empty() =>
            {
                Ok(raw.to_owned())
            }
            _ => Err(format!(
                "must be an {service} ARN like arn:aws:{service}:us-east-1:123456789012:name"
            )),
        }
    }
}

/// Parses a flag: `true` or `false`, in any case.
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

/// Parses a non-empty name of at most 255 characters from `[A-Za-z0-9_.-]`
/// (DynamoDB table names, and a safe default for other resource names).
pub fn parse_resource_name(raw: &str) -> Result<String, String> {
    let ok = (3..=255).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 3 to 255 characters from A-Z a-z 0-9 _ . -".into())
    }
}

/// Parses an http(s) URL (e.g. an SQS queue URL).
pub fn parse_http_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !raw.contains(char::is_whitespace) => Ok(raw.to_owned()),
        _ => Err("must be an http:// or https:// URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_by_name() {
        let env = EnvSource::from_pairs([("PORT", "http"), ("EMPTY", "  ")]);
        let mut r = ConfigReader::new(&env);
        let _: String = r.required("SNS_TOPIC_ARN", "the orders topic", parse_arn("sns"));
        let _: String = r.required("EMPTY", "blank counts as unset", |s| Ok(s.to_owned()));
        let _: u16 = r.or_default("PORT", 8080);
        let err = r.finish().expect_err("three problems");
        assert_eq!(err.problems.len(), 3, "{err}");
        let text = err.to_string();
        assert!(text.contains("SNS_TOPIC_ARN is required"), "{text}");
        assert!(text.contains("EMPTY is required"), "{text}");
        assert!(text.contains("PORT=\"http\" is invalid"), "{text}");
    }

    #[test]
    fn defaults_and_ranges() {
        let env = EnvSource::from_pairs([("A", "30"), ("B", "99")]);
        let mut r = ConfigReader::new(&env);
        assert_eq!(
            r.seconds("A", Duration::from_secs(1), 0..=60),
            Duration::from_secs(30)
        );
        assert_eq!(
            r.seconds("UNSET", Duration::from_secs(5), 0..=60),
            Duration::from_secs(5)
        );
        assert_eq!(
            r.number_in("B", 1_usize, 1..=50),
            1,
            "falls back to the default"
        );
        let err = r.finish().expect_err("B out of range");
        assert!(err.problems[0].contains("from 1 to 50"), "{err}");
    }

    #[test]
    fn arn_and_url_parsers() {
        let sns = parse_arn("sns");
        assert!(sns("arn:aws:sns:us-east-1:000000000000:ecomexpress-pedidos").is_ok());
        assert!(sns("arn:aws:sqs:us-east-1:000000000000:q").is_err());
        assert!(sns("topic").is_err());
        assert!(parse_http_url("http://127.0.0.1:4566/000000000000/q").is_ok());
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_resource_name("ecomexpress-pedidos").is_ok());
        assert!(parse_resource_name("bad name").is_err());
    }
}
