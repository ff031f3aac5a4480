//! Prometheus metrics of the API.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method: one of the standard ones, or `OTHER` (see [`method_label`]).
    pub method: &'static str,
    /// Matched route template (bounded cardinality), or `unmatched`.
    pub route: String,
    /// Status code.
    pub status: String,
}

/// The `method` label of a request: a standard method as itself, anything
/// else `OTHER`, so a client inventing methods cannot create new series.
pub fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("OTHER", |standard| standard.as_str())
}

/// Labels of the publish failure counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `unavailable` or `rejected`.
    pub kind: String,
}

/// The API's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Latency of SNS publishes (successful or not), seconds.
    pub publish_duration: Histogram,
    /// Failed publishes by kind.
    pub publish_failures: Family<FailureLabels, Counter>,
    /// Publishes left to the relay because too many were in flight.
    pub publishes_skipped: Counter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("order_api");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let publish_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "sns_publish_duration_seconds",
            "Latency of SNS publishes",
            publish_duration.clone(),
        );
        let publish_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "sns_publish_failures",
            "SNS publishes that failed",
            publish_failures.clone(),
        );
        let publishes_skipped = Counter::default();
        registry.register(
            "sns_publishes_left_to_relay",
            "Publishes not tried after the answer because too many were in flight (the relay publishes those events)",
            publishes_skipped.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            publish_duration,
            publish_failures,
            publishes_skipped,
        })
    }

    /// Counts one request.
    pub fn record_request(&self, method: &Method, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method_label(method),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Records one publish attempt.
    pub fn record_publish(&self, elapsed: Duration, failure: Option<&'static str>) {
        self.publish_duration.observe(elapsed.as_secs_f64());
        if let Some(kind) = failure {
            self.publish_failures
                .get_or_create(&FailureLabels {
                    kind: kind.to_owned(),
                })
                .inc();
        }
    }

    /// Counts a publish left to the relay.
    pub fn record_publish_skipped(&self) {
        self.publishes_skipped.inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_are_labelled_as_themselves() {
        for method in [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
        ] {
            let parsed = Method::from_bytes(method.as_bytes()).expect("method");
            assert_eq!(method_label(&parsed), method);
        }
    }

    #[test]
    fn ten_thousand_invented_methods_make_one_series() {
        let metrics = Metrics::new();
        for i in 0..10_000 {
            let method = Method::from_bytes(format!("M{i}X").as_bytes()).expect("method");
            metrics.record_request(&method, "unmatched", 405);
        }
        metrics.record_request(&Method::GET, "unmatched", 405);
        let text = metrics.encode();
        let series: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("order_api_http_requests_total{"))
            .collect();
        assert_eq!(series.len(), 2, "{text}");
        assert!(
            text.contains(r#"order_api_http_requests_total{method="OTHER",route="unmatched",status="405"} 10000"#),
            "{text}"
        );
    }
}
