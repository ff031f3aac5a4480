//! How the outcome of each SQS call reaches health and metrics: a success
//! feeds the progress watchdog and clears that operation's configuration
//! fault; a failure is counted by operation and code, and a refusal no retry
//! fixes (access denied, a missing queue, a KMS key refused) raises the
//! configuration fault: not ready at once, the worker exits once it outlasts
//! `CONFIG_FAULT_LIMIT_SECS`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared::aws::SdkFailure;
use tokio::sync::Notify;

use crate::health::{ConfigFault, HealthState};
use crate::metrics::Metrics;

/// A fault raised again within this long of being cleared keeps its first
/// start: calls that succeed and fail by turns (some batches refused, the
/// next allowed) must not restart the clock to the exit at every success.
const FLAP_WINDOW: Duration = Duration::from_secs(10);

/// A fault cleared lately: (operation, resource, when it began, when it was cleared).
type Cleared = (&'static str, String, Instant, Instant);

/// Reports SQS outcomes; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsReport {
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
    /// Faults cleared lately.
    cleared: Arc<Mutex<Vec<Cleared>>>,
    /// Signalled whenever a fault is cleared.
    clearing: Arc<Notify>,
}

impl SqsReport {
    /// A reporter into `health` and `metrics`.
    pub fn new(health: Arc<HealthState>, metrics: Arc<Metrics>) -> Self {
        Self {
            health,
            metrics,
            cleared: Arc::default(),
            clearing: Arc::new(Notify::new()),
        }
    }

    /// `operation` on `resource` succeeded. Progress, for the watchdog,
    /// is a receive, a delete or a dead-lettering: a worker that only keeps
    /// extending what it holds is stuck.
    pub fn ok(&self, operation: &'static str, resource: &str) {
        if operation != crate::visibility::OPERATION {
            self.health.sqs_ok();
        }
        self.clear(operation, resource);
    }

    /// The fault of `operation` on `resource`, if any, is over.
    pub fn clear(&self, operation: &'static str, resource: &str) {
        if let Some(began) = self.health.clear_fault_of(operation, resource) {
            let now = Instant::now();
            let mut cleared = self.cleared.lock().unwrap_or_else(PoisonError::into_inner);
            cleared.retain(|(op, res, _, at)| {
                now.duration_since(*at) < FLAP_WINDOW && !(*op == operation && res == resource)
            });
            cleared.push((operation, resource.to_owned(), began, now));
            drop(cleared);
            self.clearing.notify_one();
        }
    }

    /// Signalled (one permit kept) whenever a fault is cleared.
    pub fn clearing(&self) -> &Notify {
        &self.clearing
    }

    /// Raises the fault, keeping the start of the same one cleared lately.
    fn raise(&self, operation: &'static str, resource: &str, code: &str) -> ConfigFault {
        let began = self
            .cleared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(op, res, _, at)| {
                *op == operation && res == resource && at.elapsed() < FLAP_WINDOW
            })
            .map(|(_, _, began, _)| *began);
        match began {
            Some(began) => self.health.fault_since(operation, resource, code, began),
            None => self.health.fault(operation, resource, code),
        }
    }

    /// `operation` on `resource` failed as a whole.
    pub fn failed(&self, operation: &'static str, resource: &str, failure: &SdkFailure) {
        self.metrics.sqs_error(operation, &failure.code);
        if failure.configuration {
            let fault = self.raise(operation, resource, &failure.code);
            let limit = self.health.fault_limit();
            tracing::error!(
                operation,
                resource,
                code = %failure.code,
                error = %failure.message,
                exits_in_secs = limit.saturating_sub(fault.since.elapsed()).as_secs(),
                "SQS refuses the worker's own queue: not ready; exiting unless this clears"
            );
        } else {
            tracing::warn!(operation, resource, code = %failure.code, error = %failure.message, "SQS call failed");
        }
    }

    /// Entries of one batch request of `operation` failed with these codes
    /// (the request itself went through): each counted by code, one log line.
    pub fn entries_failed<'a>(
        &self,
        operation: &'static str,
        codes: impl IntoIterator<Item = &'a str>,
    ) {
        let mut counted: Vec<(&str, usize)> = Vec::new();
        for code in codes {
            self.metrics.sqs_entry_failure(operation, code);
            match counted.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => counted.push((code, 1)),
            }
        }
        if !counted.is_empty() {
            let codes = counted
                .iter()
                .map(|(code, n)| format!("{code} x{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(operation, %codes, "SQS refused entries of a batch request");
        }
    }

    /// SQS refused entries of a batch request of `operation` on `resource`
    /// in a way that says the deployment is wrong (the request went through):
    /// the configuration fault, raised once for the request.
    pub fn entries_refused(&self, operation: &'static str, resource: &str, code: &str) {
        let fault = self.raise(operation, resource, code);
        let limit = self.health.fault_limit();
        tracing::error!(
            operation,
            resource,
            code,
            exits_in_secs = limit.saturating_sub(fault.since.elapsed()).as_secs(),
            "SQS refuses entries of the worker's own queue: not ready; exiting unless this clears"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_raised_again_soon_after_it_cleared_keeps_its_start() {
        let health = HealthState::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let report = SqsReport::new(health, Metrics::new());
        let first = report.raise("DeleteMessageBatch", "q", "AccessDenied");
        std::thread::sleep(Duration::from_millis(20));
        report.ok("DeleteMessageBatch", "q");
        let again = report.raise("DeleteMessageBatch", "q", "AccessDenied");
        assert_eq!(again.since, first.since, "the clock to the exit goes on");
        let other = report.raise("DeleteMessageBatch", "other-queue", "AccessDenied");
        assert!(
            other.since > first.since,
            "another queue's fault starts now"
        );
    }
}
