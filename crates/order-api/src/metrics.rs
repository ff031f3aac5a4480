//! Prometheus metrics of the API.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template (bounded cardinality), or `unmatched`.
    pub route: String,
    /// Status code.
    pub status: String,
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
        Arc::new(Self {
            registry,
            requests,
            publish_duration,
            publish_failures,
        })
    }

    /// Counts one request.
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
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

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
