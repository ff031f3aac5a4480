//! How the outcome of each SQS call reaches health and metrics: a success
//! feeds the progress watchdog and clears that operation's configuration
//! fault; a failure is counted by operation and code, and a refusal no retry
//! fixes (access denied, a missing queue, a KMS key refused) raises the
//! configuration fault: not ready at once, the worker exits once it outlasts
//! `CONFIG_FAULT_LIMIT_SECS`.

use std::sync::Arc;

use shared::aws::SdkFailure;

use crate::health::HealthState;
use crate::metrics::Metrics;

/// Reports SQS outcomes; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsReport {
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
}

impl SqsReport {
    /// A reporter into `health` and `metrics`.
    pub fn new(health: Arc<HealthState>, metrics: Arc<Metrics>) -> Self {
        Self { health, metrics }
    }

    /// `operation` on `resource` succeeded. Progress, for the watchdog,
    /// is a receive, a delete or a dead-lettering: a worker that only keeps
    /// extending what it holds is stuck.
    pub fn ok(&self, operation: &'static str, resource: &str) {
        if operation != crate::visibility::OPERATION {
            self.health.sqs_ok();
        }
        self.health.clear_fault_of(operation, resource);
    }

    /// `operation` on `resource` failed as a whole.
    pub fn failed(&self, operation: &'static str, resource: &str, failure: &SdkFailure) {
        self.metrics.sqs_error(operation, &failure.code);
        if failure.configuration {
            let fault = self.health.fault(operation, resource, &failure.code);
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
        let fault = self.health.fault(operation, resource, code);
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
