//! The worker's HTTP port: `/health/live`, `/health/ready`, `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// What the probes report, updated by the consumer loop, the deleter and
/// the heartbeat.
pub struct HealthState {
    started: Instant,
    last_progress_ms: AtomicU64,
    /// The last successful SQS call (any operation).
    last_sqs_ok_ms: AtomicU64,
    /// Counts the messages held (received, not yet deleted or returned,
    /// deletes pending included), read live by the liveness probe.
    /// One count per consumer (two with an express lane), summed.
    holding: Mutex<Vec<Box<dyn Fn() -> usize + Send + Sync>>>,
    /// Receiving is paused until the table answers its probe.
    store_paused: AtomicBool,
    received_once: AtomicBool,
    stopping: AtomicBool,
    stall_limit: Duration,
    watchdog: Duration,
    /// Configuration faults by operation and resource, oldest first.
    faults: Mutex<Vec<ConfigFault>>,
    fault_limit: Duration,
}

/// Why a worker is not ready although it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// A configuration fault (the oldest, when several).
    Misconfigured(ConfigFault),
    /// No successful SQS call for this long (the progress watchdog).
    Stalled(Duration),
    /// Receiving paused this long for the table, which does not answer.
    StoreUnavailable(Duration),
    /// Not started yet, or stopping.
    NotRunning,
}

impl std::fmt::Debug for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthState")
            .field("faults", &*self.lock_faults())
            .field("since_sqs_ok", &self.since_sqs_ok())
            .finish_non_exhaustive()
    }
}

impl HealthState {
    /// Liveness fails after `stall_limit` without progress of the poll loop,
    /// once a configuration fault has lasted `fault_limit`, or when no SQS
    /// call succeeded for `watchdog` + `fault_limit` while messages are held;
    /// readiness fails at once on a configuration fault and after `watchdog`
    /// without a successful SQS call.
    pub fn new(stall_limit: Duration, watchdog: Duration, fault_limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            last_sqs_ok_ms: AtomicU64::new(0),
            holding: Mutex::new(Vec::new()),
            store_paused: AtomicBool::new(false),
            received_once: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stall_limit,
            watchdog,
            faults: Mutex::new(Vec::new()),
            fault_limit,
        })
    }

    fn lock_faults(&self) -> std::sync::MutexGuard<'_, Vec<ConfigFault>> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An SQS call succeeded (the progress watchdog).
    pub fn sqs_ok(&self) {
        self.last_sqs_ok_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long since the last successful SQS call.
    pub fn since_sqs_ok(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_sqs_ok_ms.load(Ordering::Relaxed)),
        )
    }

    /// Where the liveness probe reads how many messages the worker holds
    /// (received and not yet deleted or returned): each consumer adds its
    /// count once, and the probe reads their sum.
    pub fn watch_holding(&self, count: impl Fn() -> usize + Send + Sync + 'static) {
        self.holding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(count));
    }

    fn holding(&self) -> usize {
        self.holding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|count| count())
            .sum()
    }

    /// Receiving is paused (`true`) or resumed (`false`) for the table's probe.
    pub fn store_paused(&self, paused: bool) {
        self.store_paused.store(paused, Ordering::Relaxed);
    }

    /// Whether `operation` on `resource` is refused now.
    pub fn has_fault(&self, operation: &str, resource: &str) -> bool {
        self.lock_faults()
            .iter()
            .any(|f| f.operation == operation && f.resource == resource)
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
        let mut faults = self.lock_faults();
        let same = |f: &ConfigFault| f.operation == operation && f.resource == resource;
        let since = faults
            .iter()
            .find(|f| same(f))
            .map_or(since, |f| f.since.min(since));
        faults.retain(|f| !same(f));
        let fault = ConfigFault {
            operation,
            resource: resource.to_owned(),
            code: code.to_owned(),
            since,
        };
        faults.push(fault.clone());
        faults.sort_by_key(|f| f.since);
        fault
    }

    /// Every fault is over (the startup check passed).
    pub fn clear_fault(&self) {
        self.clear_where(|_| true);
    }

    /// The faults on `resource` are over (a call on it succeeded); a fault
    /// on another resource stays.
    pub fn clear_fault_on(&self, resource: &str) {
        self.clear_where(|f| f.resource == resource);
    }

    /// The fault of `operation` on `resource` is over (that call succeeded);
    /// the other operations' faults on it stay (a receive that works says
    /// nothing of a refused delete).
    /// Returns when the cleared fault began, if there was one.
    pub fn clear_fault_of(&self, operation: &str, resource: &str) -> Option<Instant> {
        self.clear_where(|f| f.operation == operation && f.resource == resource)
    }

    /// Clears the faults `matches` accepts; returns when the oldest began.
    fn clear_where(&self, matches: impl Fn(&ConfigFault) -> bool) -> Option<Instant> {
        let mut faults = self.lock_faults();
        let mut began: Option<Instant> = None;
        faults.retain(|fault| {
            if matches(fault) {
                tracing::info!(operation = fault.operation, resource = %fault.resource, code = %fault.code, "configuration fault cleared");
                began = Some(began.map_or(fault.since, |b| b.min(fault.since)));
                false
            } else {
                true
            }
        });
        began
    }

    /// The current configuration fault (the oldest, when several), if any.
    pub fn current_fault(&self) -> Option<ConfigFault> {
        self.lock_faults().first().cloned()
    }

    /// The oldest configuration fault once it has lasted the limit: the
    /// worker gives up.
    pub fn expired_fault(&self) -> Option<ConfigFault> {
        self.current_fault()
            .filter(|f| f.since.elapsed() >= self.fault_limit)
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
        self.sqs_ok();
        self.received_once.store(true, Ordering::Relaxed);
    }

    /// Shutdown began: not ready any more.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether the poll loop made progress recently, no configuration
    /// fault has outlasted its limit, and the worker is not stuck holding
    /// messages: no SQS call succeeded for the watchdog plus the fault limit
    /// while messages are held or deletes pending (the heartbeat would keep
    /// them invisible for hours; a new task gets them sooner).
    pub fn is_live(&self) -> bool {
        let idle = self
            .now_ms()
            .saturating_sub(self.last_progress_ms.load(Ordering::Relaxed));
        let stuck = self.since_sqs_ok() >= self.watchdog + self.fault_limit && self.holding() > 0;
        Duration::from_millis(idle) < self.stall_limit && self.expired_fault().is_none() && !stuck
    }

    /// Why the worker is not ready, if it is not: it must have reached its
    /// queues and table (startup check or a receive), have no configuration
    /// fault, have had a successful SQS call within the watchdog, and not be
    /// stopping.
    pub fn not_ready(&self) -> Option<NotReady> {
        if let Some(fault) = self.current_fault() {
            return Some(NotReady::Misconfigured(fault));
        }
        if !self.received_once.load(Ordering::Relaxed) || self.stopping.load(Ordering::Relaxed) {
            return Some(NotReady::NotRunning);
        }
        let quiet = self.since_sqs_ok();
        if quiet < self.watchdog {
            return None;
        }
        Some(if self.store_paused.load(Ordering::Relaxed) {
            NotReady::StoreUnavailable(quiet)
        } else {
            NotReady::Stalled(quiet)
        })
    }

    /// Whether the worker is ready (see [`HealthState::not_ready`]).
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_none()
    }
}

#[derive(Clone)]
struct ProbeState {
    /// One per lane (the standard queue's, and the express queue's when
    /// there is one): the worker is live and ready only when every lane is,
    /// so one stuck lane is never hidden by the other's progress.
    lanes: Arc<[Arc<HealthState>]>,
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
    status(
        s.lanes.iter().all(|lane| lane.is_live()),
        "alive",
        "stalled",
    )
}

async fn ready(State(s): State<ProbeState>) -> Response {
    let body = match s.lanes.iter().find_map(|lane| lane.not_ready()) {
        None => return status(true, "ready", "not_ready"),
        Some(NotReady::NotRunning) => return status(false, "ready", "not_ready"),
        Some(NotReady::Misconfigured(fault)) => serde_json::json!({
            "status": "misconfigured",
            "operation": fault.operation,
            "code": fault.code,
            "seconds": fault.since.elapsed().as_secs(),
        }),
        Some(NotReady::Stalled(quiet)) => serde_json::json!({
            "status": "stalled",
            "reason": "no successful SQS receive, delete or dead-lettering",
            "seconds": quiet.as_secs(),
        }),
        Some(NotReady::StoreUnavailable(quiet)) => serde_json::json!({
            "status": "store_unavailable",
            "reason": "receiving paused until the orders table answers",
            "seconds": quiet.as_secs(),
        }),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
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

/// The probe router over the health of each lane.
pub fn router(lanes: Vec<Arc<HealthState>>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(ProbeState {
            lanes: lanes.into(),
            metrics,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probes_pass_only_when_every_lane_does() {
        let lane = || {
            HealthState::new(
                Duration::from_secs(60),
                Duration::from_secs(3600),
                Duration::from_secs(60),
            )
        };
        let (standard, express) = (lane(), lane());
        standard.received_ok();
        express.received_ok();
        let probes = ProbeState {
            lanes: vec![standard.clone(), express.clone()].into(),
            metrics: Metrics::new(),
        };
        assert_eq!(ready(State(probes.clone())).await.status(), StatusCode::OK);
        express.fault(
            "ReceiveMessage",
            "q-express",
            "AWS.SimpleQueueService.NonExistentQueue",
        );
        assert_eq!(
            ready(State(probes.clone())).await.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "the express lane's fault is the worker's"
        );
        standard.clear_fault();
        assert_eq!(
            ready(State(probes)).await.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "the standard lane's checks do not clear the express lane's fault"
        );
    }

    #[test]
    fn a_configuration_fault_fails_readiness_at_once_and_liveness_after_its_limit() {
        let h = HealthState::new(
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_millis(30),
        );
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
        let h = HealthState::new(
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_secs(60),
        );
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
        let h = HealthState::new(
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_secs(60),
        );
        assert!(h.is_live(), "live at start");
        assert!(!h.is_ready(), "not ready before the first receive");
        h.received_ok();
        assert!(h.is_ready());
        h.stopping();
        assert!(!h.is_ready());
    }

    #[test]
    fn a_delete_fault_is_not_cleared_by_a_receive_on_the_same_queue() {
        let h = HealthState::new(
            Duration::from_secs(60),
            Duration::from_secs(3600),
            Duration::from_secs(60),
        );
        h.received_ok();
        h.fault("DeleteMessageBatch", "q", "AccessDenied");
        h.fault("ReceiveMessage", "q", "AccessDenied");
        h.clear_fault_of("ReceiveMessage", "q");
        assert_eq!(
            h.current_fault().map(|f| f.operation),
            Some("DeleteMessageBatch")
        );
        h.clear_fault_of("DeleteMessageBatch", "q");
        assert!(h.is_ready());
    }

    #[test]
    fn the_watchdog_fails_readiness_then_liveness_while_messages_are_held() {
        let h = HealthState::new(
            Duration::from_secs(60),
            Duration::from_millis(30),
            Duration::from_millis(30),
        );
        let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = held.clone();
        h.watch_holding(move || count.load(Ordering::Relaxed));
        h.received_ok();
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(h.not_ready(), Some(NotReady::Stalled(_))),
            "no SQS success within the watchdog"
        );
        h.store_paused(true);
        assert!(
            matches!(h.not_ready(), Some(NotReady::StoreUnavailable(_))),
            "paused for the table: said so"
        );
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            h.is_live(),
            "nothing held: live (a store outage hands messages back)"
        );
        held.store(3, Ordering::Relaxed);
        assert!(!h.is_live(), "holding messages past watchdog + fault limit");
        h.sqs_ok();
        assert!(h.is_live());
    }

    #[test]
    fn liveness_fails_after_a_stall() {
        let h = HealthState::new(
            Duration::from_millis(20),
            Duration::from_secs(3600),
            Duration::from_secs(60),
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(!h.is_live());
        h.touch();
        assert!(h.is_live());
    }
}
