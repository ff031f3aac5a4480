//! The worker's HTTP port: `/health/live`, `/health/ready`, `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::metrics::Metrics;

/// The deployment is wrong: an AWS call on the worker's queue, DLQ or table
/// is refused in a way no retry fixes (access denied, missing, key disabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFault {
    /// The operation refused (`GetQueueAttributes`).
    pub operation: &'static str,
    /// The queue URL or table name.
    pub resource: String,
    /// The AWS error code.
    pub code: String,
    /// When the fault was first seen (it persisted since).
    pub since: Instant,
}

impl std::fmt::Display for ConfigFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} refused with {} for {}s",
            self.operation,
            self.resource,
            self.code,
            self.since.elapsed().as_secs()
        )
    }
}

/// What the probes report, updated by the consumer loop.
#[derive(Debug)]
pub struct HealthState {
    started: Instant,
    last_progress_ms: AtomicU64,
    received_once: AtomicBool,
    stopping: AtomicBool,
    stall_limit: Duration,
    fault: Mutex<Option<ConfigFault>>,
    fault_limit: Duration,
}

impl HealthState {
    /// Liveness fails after `stall_limit` without progress of the poll loop,
    /// or once a configuration fault has lasted `fault_limit`.
    pub fn new(stall_limit: Duration, fault_limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            received_once: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stall_limit,
            fault: Mutex::new(None),
            fault_limit,
        })
    }

    /// Records a configuration fault (readiness fails at once); returns it
    /// with the time it was first seen, kept while the same fault persists.
    pub fn fault(&self, operation: &'static str, resource: &str, code: &str) -> ConfigFault {
        self.fault_since(operation, resource, code, Instant::now())
    }

    /// Like [`HealthState::fault`] for a fault known to have begun at
    /// `since` (kept when an earlier start is already recorded).
    pub fn fault_since(
        &self,
        operation: &'static str,
        resource: &str,
        code: &str,
        since: Instant,
    ) -> ConfigFault {
        let mut slot = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = slot.as_ref().map_or(since, |f| f.since.min(since));
        let fault = ConfigFault {
            operation,
            resource: resource.to_owned(),
            code: code.to_owned(),
            since,
        };
        *slot = Some(fault.clone());
        fault
    }

    /// The fault is over (a call on the same resources succeeded).
    pub fn clear_fault(&self) {
        let mut slot = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(fault) = slot.take() {
            tracing::info!(operation = fault.operation, code = %fault.code, "configuration fault cleared");
        }
    }

    /// The fault is over for `resource` (a call on it succeeded); a fault on
    /// another resource stays.
    pub fn clear_fault_on(&self, resource: &str) {
        let mut slot = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|f| f.resource == resource)
            && let Some(fault) = slot.take()
        {
            tracing::info!(operation = fault.operation, code = %fault.code, "configuration fault cleared");
        }
    }

    /// The current configuration fault, if any.
    pub fn current_fault(&self) -> Option<ConfigFault> {
        self.fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How long a configuration fault may last before the worker gives up.
    pub fn fault_limit(&self) -> Duration {
        self.fault_limit
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

    /// Whether the poll loop made progress recently and no configuration
    /// fault has outlasted its limit.
    pub fn is_live(&self) -> bool {
        let idle = self
            .now_ms()
            .saturating_sub(self.last_progress_ms.load(Ordering::Relaxed));
        let fault_expired = self
            .current_fault()
            .is_some_and(|f| f.since.elapsed() >= self.fault_limit);
        Duration::from_millis(idle) < self.stall_limit && !fault_expired
    }

    /// Whether the worker reached its queues and table (startup check or a
    /// receive), has no configuration fault and is not stopping.
    pub fn is_ready(&self) -> bool {
        self.received_once.load(Ordering::Relaxed)
            && !self.stopping.load(Ordering::Relaxed)
            && self.current_fault().is_none()
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
    if let Some(fault) = s.health.current_fault() {
        let body = serde_json::json!({
            "status": "misconfigured",
            "operation": fault.operation,
            "code": fault.code,
            "seconds": fault.since.elapsed().as_secs(),
        });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
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
    fn a_configuration_fault_fails_readiness_at_once_and_liveness_after_its_limit() {
        let h = HealthState::new(Duration::from_secs(60), Duration::from_millis(30));
        h.received_ok();
        assert!(h.is_ready());
        let first = h.fault("GetQueueAttributes", "q-dlq", "AccessDenied");
        assert!(!h.is_ready(), "not ready while misconfigured");
        assert!(h.is_live(), "live until the limit");
        std::thread::sleep(Duration::from_millis(40));
        let again = h.fault("GetQueueAttributes", "q-dlq", "AccessDenied");
        assert_eq!(
            again.since, first.since,
            "a persisting fault keeps its start"
        );
        assert!(!h.is_live(), "not live once the fault outlasted its limit");
        h.clear_fault();
        assert!(h.is_ready() && h.is_live());
    }

    #[test]
    fn a_fault_is_cleared_only_by_a_call_on_its_resource() {
        let h = HealthState::new(Duration::from_secs(60), Duration::from_secs(60));
        h.received_ok();
        let earlier = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        h.fault("UpdateItem", "table", "AccessDeniedException");
        let fault = h.fault_since("UpdateItem", "table", "AccessDeniedException", earlier);
        assert_eq!(fault.since, earlier, "an earlier known start wins");
        h.clear_fault_on("queue");
        assert!(!h.is_ready(), "a receive does not clear a table fault");
        h.clear_fault_on("table");
        assert!(h.is_ready());
    }

    #[test]
    fn readiness_follows_the_loop() {
        let h = HealthState::new(Duration::from_secs(60), Duration::from_secs(60));
        assert!(h.is_live(), "live at start");
        assert!(!h.is_ready(), "not ready before the first receive");
        h.received_ok();
        assert!(h.is_ready());
        h.stopping();
        assert!(!h.is_ready());
    }

    #[test]
    fn liveness_fails_after_a_stall() {
        let h = HealthState::new(Duration::from_millis(20), Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!h.is_live());
        h.touch();
        assert!(h.is_live());
    }
}
