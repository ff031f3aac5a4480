//! The relay's health and metrics endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::settings::LEASE_CALL_TIMEOUT;
use super::{Health, RelaySettings, now_ms};

/// The relay's metrics (no prefix: the names are the alarm's).
#[derive(Debug)]
pub struct RelayMetrics {
    registry: Registry,
    published: Counter,
    failed: Counter,
    unreadable: Counter,
    oldest_pending_age: Gauge<f64, AtomicU64>,
    leader: Gauge,
    passes: Counter,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayMetrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let published = Counter::default();
        registry.register(
            "outbox_relay_published",
            "Events the relay published (the API had not, within RELAY_STALE_SECS)",
            published.clone(),
        );
        let failed = Counter::default();
        registry.register(
            "outbox_relay_publish_failures",
            "Relay publishes that failed (retried next pass)",
            failed.clone(),
        );
        let unreadable = Counter::default();
        registry.register(
            "outbox_relay_unreadable_events",
            "Stored events the relay could not read (skipped)",
            unreadable.clone(),
        );
        let oldest_pending_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest recorded event not yet known to be published, once past RELAY_STALE_SECS (0 when none)",
            oldest_pending_age.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "outbox_relay_leader",
            "1 while this relay holds the lease",
            leader.clone(),
        );
        let passes = Counter::default();
        registry.register(
            "outbox_relay_passes",
            "Passes this relay ran while holding the lease",
            passes.clone(),
        );
        Self {
            passes,
            registry,
            published,
            failed,
            unreadable,
            oldest_pending_age,
            leader,
        }
    }

    pub(super) fn count_published(&self) {
        self.published.inc();
    }

    pub(super) fn count_failed(&self) {
        self.failed.inc();
    }

    pub(super) fn count_unreadable(&self) {
        self.unreadable.inc();
    }

    pub(super) fn set_oldest_pending_age(&self, seconds: f64) {
        self.oldest_pending_age.set(seconds);
    }

    pub(super) fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub(super) fn count_pass(&self) {
        self.passes.inc();
    }

    /// Passes run while holding the lease.
    pub fn passes(&self) -> u64 {
        self.passes.get()
    }

    /// Whether this relay holds the lease.
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// Events published by the relay so far.
    pub fn published(&self) -> u64 {
        self.published.get()
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Clone)]
struct Shared {
    metrics: Arc<RelayMetrics>,
    health: Arc<Health>,
    settings: RelaySettings,
}

pub(super) fn router(
    metrics: Arc<RelayMetrics>,
    health: Arc<Health>,
    settings: RelaySettings,
) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(Shared {
            metrics,
            health,
            settings,
        })
}

/// Alive unless the table or topic has been refused for CONFIG_FAULT_LIMIT_SECS.
async fn live(State(shared): State<Shared>) -> Response {
    let limit = i64::try_from(shared.settings.config_fault_limit.as_millis()).unwrap_or(i64::MAX);
    let expired = |since: i64| since != 0 && now_ms().saturating_sub(since) > limit;
    if expired(shared.health.table_fault_since_ms.load(Ordering::Relaxed))
        || expired(shared.health.topic_fault_since_ms.load(Ordering::Relaxed))
    {
        let body = serde_json::json!({ "status": "misconfigured" });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    axum::Json(serde_json::json!({ "status": "alive" })).into_response()
}

/// Ready while the table answered a lease call within the longest gap
/// between two of them (the longest pass, a pause and the next lease call)
/// plus two pauses, and nothing is refused.
async fn ready(State(shared): State<Shared>) -> Response {
    let last = shared.health.last_ok_ms.load(Ordering::Relaxed);
    let window = shared.settings.pass_max() + shared.settings.poll * 3 + LEASE_CALL_TIMEOUT;
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let fresh = last != 0 && now_ms().saturating_sub(last) <= window;
    let refused = shared.health.table_fault_since_ms.load(Ordering::Relaxed) != 0
        || shared.health.topic_fault_since_ms.load(Ordering::Relaxed) != 0;
    let body = serde_json::json!({
        "status": if fresh && !refused { "ready" } else { "not_ready" },
        "leader": shared.health.leader.load(Ordering::Relaxed),
        "passes": shared.metrics.passes(),
    });
    let status = if fresh && !refused {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(shared): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}
