//! Tracing settings from the standard OpenTelemetry environment variables,
//! read once with the rest of a binary's configuration so that every problem
//! is reported at once.
//!
//! Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, unless `OTEL_SDK_DISABLED=true`
//! or `OTEL_TRACES_EXPORTER=none`. Spans go out over OTLP/HTTP in protobuf,
//! the only protocol compiled in. `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_BSP_*`
//! are read by the OpenTelemetry SDK itself.

use crate::config::{ConfigReader, parse_http_url};

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// `always_on`: every trace.
    AlwaysOn,
    /// `always_off`: none.
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, whatever the caller decided.
    Ratio(f64),
    /// `parentbased_always_on` (the default): follow the caller's decision; record new traces.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the caller's decision; record no new trace.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the caller's decision; record this fraction of new traces.
    ParentBasedRatio(f64),
}

/// Where and how spans are exported. Built only when tracing is on.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingSettings {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    pub traces_endpoint: String,
    /// `service.name` of every span (`OTEL_SERVICE_NAME`, else the binary's default).
    pub service_name: String,
    /// The sampler.
    pub sampling: Sampling,
}

impl TracingSettings {
    /// Reads the `OTEL_*` variables; `None` when tracing is off. Problems go
    /// to `r`, reported with the binary's other configuration problems.
    pub fn read(r: &mut ConfigReader<'_>, default_service_name: &str) -> Option<Self> {
        let disabled = r.optional("OTEL_SDK_DISABLED", |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("must be true or false".to_owned()),
            }
        });
        let exporter = r.optional("OTEL_TRACES_EXPORTER", |raw| match raw {
            "otlp" => Ok(true),
            "none" => Ok(false),
            _ => Err("must be otlp or none (the only trace exporter in this build is OTLP)".into()),
        });
        r.optional("OTEL_EXPORTER_OTLP_PROTOCOL", parse_protocol);
        r.optional("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", parse_protocol);
        let signal = r.optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", parse_http_url);
        let base = r.optional("OTEL_EXPORTER_OTLP_ENDPOINT", parse_http_url);
        let sampling = read_sampling(r);
        let service_name = r
            .optional("OTEL_SERVICE_NAME", |raw| Ok(raw.to_owned()))
            .unwrap_or_else(|| default_service_name.to_owned());
        if disabled == Some(true) || exporter == Some(false) {
            return None;
        }
        // The signal's own URL is used as it is; the base gets the signal's path.
        let traces_endpoint =
            signal.or_else(|| base.map(|b| format!("{}/v1/traces", b.trim_end_matches('/'))))?;
        Some(Self {
            traces_endpoint,
            service_name,
            sampling,
        })
    }
}

fn parse_protocol(raw: &str) -> Result<(), String> {
    if raw == "http/protobuf" {
        Ok(())
    } else {
        Err("must be http/protobuf: the only OTLP protocol in this build (grpc and http/json are not compiled in)".into())
    }
}

fn read_sampling(r: &mut ConfigReader<'_>) -> Sampling {
    let ratio = r.optional("OTEL_TRACES_SAMPLER_ARG", |raw| {
        let value: f64 = raw
            .parse()
            .map_err(|_| "must be a number from 0 to 1".to_owned())?;
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err("must be a number from 0 to 1".to_owned())
        }
    });
    let sampler = r.optional("OTEL_TRACES_SAMPLER", |raw| {
        let ratio = ratio.unwrap_or(1.0);
        match raw {
            "always_on" => Ok(Sampling::AlwaysOn),
            "always_off" => Ok(Sampling::AlwaysOff),
            "traceidratio" => Ok(Sampling::Ratio(ratio)),
            "parentbased_always_on" => Ok(Sampling::ParentBasedAlwaysOn),
            "parentbased_always_off" => Ok(Sampling::ParentBasedAlwaysOff),
            "parentbased_traceidratio" => Ok(Sampling::ParentBasedRatio(ratio)),
            _ => Err("must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio".into()),
        }
    });
    sampler.unwrap_or(Sampling::ParentBasedAlwaysOn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvSource;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<TracingSettings>, String> {
        let env = EnvSource::from_pairs(pairs.iter().copied());
        let mut r = ConfigReader::new(&env);
        let settings = TracingSettings::read(&mut r, "order-api");
        r.finish().map(|()| settings).map_err(|e| e.to_string())
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(read(&[("OTEL_SERVICE_NAME", "x")]), Ok(None));
        let on = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318/")])
            .expect("valid")
            .expect("on");
        assert_eq!(on.traces_endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(on.service_name, "order-api");
        assert_eq!(on.sampling, Sampling::ParentBasedAlwaysOn);
    }

    #[test]
    fn the_signal_endpoint_is_used_as_it_is_and_switches_win() {
        let on = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom"),
            ("OTEL_SERVICE_NAME", "api-canary"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.05"),
        ])
        .expect("valid")
        .expect("on");
        assert_eq!(on.traces_endpoint, "http://b:4318/custom");
        assert_eq!(on.service_name, "api-canary");
        assert_eq!(on.sampling, Sampling::ParentBasedRatio(0.05));
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        assert_eq!(read(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
        assert_eq!(
            read(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
    }

    #[test]
    fn reports_every_bad_value_at_once() {
        let err = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_SDK_DISABLED", "yes"),
        ])
        .expect_err("six problems");
        for name in [
            "OTEL_EXPORTER_OTLP_ENDPOINT=",
            "OTEL_EXPORTER_OTLP_PROTOCOL=",
            "OTEL_TRACES_EXPORTER=",
            "OTEL_TRACES_SAMPLER=",
            "OTEL_TRACES_SAMPLER_ARG=",
            "OTEL_SDK_DISABLED=",
        ] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
        assert!(err.contains("6 problem(s)"), "{err}");
    }
}
