//! The worker's view of its own resources: the start-up check of both queues
//! and the table, the store probe that gates receiving after a failed write,
//! configuration faults (readiness, the exit deadline) and the bookkeeping of
//! an episode of refused writes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shared::aws::{SdkFailure, classify_sdk_error};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::{Consumer, Misconfigured, SQS_TRANSIENT_CODES, WRITE_OPERATION};

/// An episode of refused writes: from the first refusal until a write
/// succeeds, or until a write begun after the probe passed is refused too
/// (a relapse, which starts a new episode).
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    /// The first refusal.
    since: Instant,
    /// The last AWS error code.
    code: String,
    /// When the store probe first passed after the refusal (receiving resumed).
    probe_passed: Option<Instant>,
    /// A relapse: this episode began with a write refused although it began
    /// after the probe of the previous episode had passed.
    relapse: bool,
    /// Whether the store has been probed since the episode began.
    probed: bool,
    /// The probe passed right after a relapse: it cannot see this fault, so
    /// it cannot tell when it is over.
    blind: bool,
}

impl Refusal {
    fn failure(&self) -> SdkFailure {
        SdkFailure {
            transient: false,
            configuration: true,
            code: self.code.clone(),
            message: "the table refuses this worker's writes although its probe passes".into(),
        }
    }
}

impl Consumer {
    /// Records a configuration fault (readiness fails at once) and logs it
    /// with the AWS error code; the backoff `delay` is capped so the worker
    /// gives up on time. `Err` once the fault has lasted the limit.
    pub(super) fn config_fault(
        &self,
        operation: &'static str,
        resource: &str,
        failure: &SdkFailure,
        attempt: u32,
        delay: Duration,
    ) -> Result<Duration, Misconfigured> {
        let fault = self.health.fault(operation, resource, &failure.code);
        let limit = self.health.fault_limit();
        let age = fault.since.elapsed();
        if age >= limit {
            return Err(Misconfigured(fault));
        }
        let delay = delay.min(limit - age);
        tracing::error!(
            code = %failure.code,
            operation,
            resource,
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            exits_in_secs = (limit - age).as_secs(),
            error = %failure.message,
            "AWS refuses the worker's own resource: not ready; exiting unless this clears"
        );
        Ok(delay)
    }

    /// Before the first receive: both queues and the table exist and are
    /// reachable with these credentials (then the worker is ready). Retries
    /// with backoff, logging each failure; `Ok(false)` on shutdown,
    /// [`Misconfigured`] when they stay refused past the limit.
    pub(super) async fn check_resources(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<bool, Misconfigured> {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut attempt = 0_u32;
        loop {
            let mut failure = None;
            for url in [&self.settings.queue_url, &self.settings.dlq_url] {
                self.metrics.sqs_call("get_queue_attributes");
                let call = self
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send();
                let checked = tokio::select! {
                    checked = call => checked,
                    () = shutdown.cancelled() => return Ok(false),
                };
                if let Err(e) = checked {
                    let f = classify_sdk_error(&e, SQS_TRANSIENT_CODES);
                    failure = Some(("GetQueueAttributes", url.clone(), f));
                    break;
                }
            }
            let probed = if failure.is_none() {
                tokio::select! {
                    probed = self.handler.probe() => probed,
                    () = shutdown.cancelled() => return Ok(false),
                }
            } else {
                Ok(())
            };
            if let Err(e) = probed {
                failure = Some((
                    e.operation,
                    self.settings.orders_table.clone(),
                    e.error.to_failure(),
                ));
            }
            let Some((operation, resource, failure)) = failure else {
                // This lane's resources (the table is shared: its check
                // passed for both).
                for resource in [
                    &self.settings.queue_url,
                    &self.settings.dlq_url,
                    &self.settings.orders_table,
                ] {
                    self.health.clear_fault_on(resource);
                }
                self.health.received_ok();
                self.store_confirmed();
                return Ok(true);
            };
            attempt += 1;
            self.metrics.poll_errors.inc();
            self.health.touch();
            let mut delay = backoff.delay(attempt);
            if failure.configuration {
                delay = self.config_fault(operation, &resource, &failure, attempt, delay)?;
            } else {
                tracing::warn!(error = %failure.message, code = %failure.code, operation, resource = %resource, attempt, retry_in_ms = delay.as_millis() as u64, "startup check failed; backing off");
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
    }

    /// After a failed apply (or for an idle re-check): probes the store with
    /// backoff and returns once it answers (`Ok(true)`) or on shutdown
    /// (`Ok(false)`). Messages are not received meanwhile, so an outage does
    /// not push valid orders towards the DLQ. [`Misconfigured`] when the table
    /// stays refused past the limit.
    pub(super) async fn wait_for_store(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> Result<bool, Misconfigured> {
        self.health.store_paused(true);
        let waited = self.wait_for_store_inner(shutdown).await;
        self.health.store_paused(false);
        waited
    }

    async fn wait_for_store_inner(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> Result<bool, Misconfigured> {
        let backoff = Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(5),
        };
        let table = self.settings.orders_table.clone();
        let mut attempt = 0_u32;
        loop {
            let probed = match self.blind_refusal() {
                // The probe passes while writes are refused: it cannot say
                // when this is over. Stay paused, not ready, until the limit.
                Some(failure) => Err((WRITE_OPERATION, failure)),
                None => {
                    let probed = tokio::select! {
                        probed = self.handler.probe() => probed,
                        () = shutdown.cancelled() => return Ok(false),
                    }
                    .map_err(|e| (e.operation, e.error.to_failure()));
                    self.probed(probed.is_ok())
                        .map_or(probed, |blind| Err((WRITE_OPERATION, blind)))
                }
            };
            match probed {
                Ok(()) => {
                    if attempt > 0 {
                        tracing::info!(probes = attempt + 1, "order store answers again; resuming");
                    }
                    self.health.clear_fault_on(&table);
                    self.store_suspect.store(false, Ordering::Relaxed);
                    self.store_confirmed();
                    if let Some(refusal) = self.lock_refusal().as_mut() {
                        refusal.probe_passed.get_or_insert_with(Instant::now);
                    }
                    return Ok(true);
                }
                Err((operation, failure)) => {
                    attempt += 1;
                    self.health.touch();
                    // SQS refusals raised before the pause (deletes,
                    // visibility changes, the DLQ) still end the worker at
                    // their limit, and are still probed for clearing.
                    if let Some(fault) = self.health.expired_fault() {
                        return Err(Misconfigured(fault));
                    }
                    self.probe_refused_settling();
                    let mut delay = backoff.delay(attempt);
                    if failure.configuration {
                        delay = self.config_fault(operation, &table, &failure, attempt, delay)?;
                    } else {
                        tracing::warn!(error = %failure.message, code = %failure.code, operation, attempt, retry_in_ms = delay.as_millis() as u64, "order store unavailable; receiving paused");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return Ok(false),
                    }
                }
            }
        }
    }

    pub(super) fn lock_refusal(&self) -> std::sync::MutexGuard<'_, Option<Refusal>> {
        self.refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether writes were refused since the last successful one.
    pub(super) fn refused_recently(&self) -> bool {
        self.lock_refusal().is_some()
    }

    /// The refusal the probe cannot see, as a failure to report.
    pub(super) fn blind_refusal(&self) -> Option<SdkFailure> {
        self.lock_refusal()
            .as_ref()
            .filter(|r| r.blind)
            .map(Refusal::failure)
    }

    /// Records a probe's outcome in the refusal episode. A probe that passes
    /// at once after a relapse cannot see the fault: the episode becomes
    /// blind, and the failure to report is returned.
    pub(super) fn probed(&self, passed: bool) -> Option<SdkFailure> {
        let mut slot = self.lock_refusal();
        let refusal = slot.as_mut()?;
        let first = !refusal.probed;
        refusal.probed = true;
        if passed && first && refusal.relapse {
            refusal.blind = true;
            tracing::error!(
                code = %refusal.code,
                "the table refuses this worker's writes although its probe passes: not receiving again; exiting at the configuration fault limit"
            );
            return Some(refusal.failure());
        }
        None
    }

    /// A write was refused for a configuration reason: not ready at once,
    /// receiving paused. Logged as an error once per episode here, then at
    /// each probe step, never per message.
    pub(super) fn write_refused(&self, failure: &SdkFailure, started: Instant) {
        self.store_suspect.store(true, Ordering::Relaxed);
        let since = {
            let mut slot = self.lock_refusal();
            // A write begun after the probe passed is refused: a relapse,
            // the start of a new episode.
            let relapse = slot
                .as_ref()
                .and_then(|r| r.probe_passed)
                .is_some_and(|passed| started > passed);
            match slot.as_mut() {
                Some(refusal) if !relapse => {
                    refusal.code.clone_from(&failure.code);
                    refusal.since
                }
                _ => {
                    tracing::error!(
                        code = %failure.code,
                        operation = WRITE_OPERATION,
                        resource = %self.settings.orders_table,
                        relapse,
                        error = %failure.message,
                        "the table refuses this worker's writes: receiving paused, messages handed back untouched"
                    );
                    let now = Instant::now();
                    *slot = Some(Refusal {
                        since: now,
                        code: failure.code.clone(),
                        probe_passed: None,
                        relapse,
                        probed: false,
                        blind: false,
                    });
                    now
                }
            }
        };
        self.health.fault_since(
            WRITE_OPERATION,
            &self.settings.orders_table,
            &failure.code,
            since,
        );
    }

    /// The store took a write or passed a probe just now.
    pub(super) fn store_confirmed(&self) {
        *self
            .store_confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Whether an idle worker should re-check its store.
    pub(super) fn store_check_due(&self) -> bool {
        self.store_confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            >= self.settings.store_check
    }
}
