//! The worker's HTTP port: `/health/live`, `/health/ready`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::metrics::Metrics;

/// What the probes report, updated by the consumer loop.
#[derive(Debug)]
pub struct HealthState {
    started: Instant,
    last_progress_ms: AtomicU64,
    received_once: AtomicBool,
    stopping: AtomicBool,
    stall_limit: Duration,
}

impl HealthState {
    /// Liveness fails after `stall_limit` without progress of the poll loop.
    pub fn new(stall_limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            received_once: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stall_limit,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The poll loop is alive (e.g. waiting for room while saturated).
    pub fn touch(&self) {
        self.last_progress_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// A receive completed.
    pub fn received_ok(&self) {
        self.touch();
        self.received_once.store(true, Ordering::Relaxed);
    }

    /// Shutdown began: not ready any more.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether the poll loop made progress recently.
    pub fn is_live(&self) -> bool {
        let idle = self
            .now_ms()
            .saturating_sub(self.last_progress_ms.load(Ordering::Relaxed));
        Duration::from_millis(idle) < self.stall_limit
    }

    /// Whether the worker reached its queues (startup check or a receive) and is not stopping.
    pub fn is_ready(&self) -> bool {
        self.received_once.load(Ordering::Relaxed) && !self.stopping.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct ProbeState {
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
}

fn status(ok: bool, yes: &'static str, no: &'static str) -> Response {
    let (code, word) = if ok {
        (StatusCode::OK, yes)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, no)
    };
    (code, Json(serde_json::json!({ "status": word }))).into_response()
}

async fn live(State(s): State<ProbeState>) -> Response {
    status(s.health.is_live(), "alive", "stalled")
}

async fn ready(State(s): State<ProbeState>) -> Response {
    status(s.health.is_ready(), "ready", "not_ready")
}

async fn metrics_text(State(s): State<ProbeState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

/// The probe router.
pub fn router(health: Arc<HealthState>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(ProbeState { health, metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_loop() {
        let h = HealthState::new(Duration::from_secs(60));
        assert!(h.is_live(), "live at start");
        assert!(!h.is_ready(), "not ready before the first receive");
        h.received_ok();
        assert!(h.is_ready());
        h.stopping();
        assert!(!h.is_ready());
    }

    #[test]
    fn liveness_fails_after_a_stall() {
        let h = HealthState::new(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!h.is_live());
        h.touch();
        assert!(h.is_live());
    }
}
