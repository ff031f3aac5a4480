//! The consumer loop: long polling, bounded concurrency beyond one batch,
//! batched deletes, backoff on failure, dead-lettering of poison messages,
//! visibility heartbeats, FIFO group ordering and graceful shutdown.
//!
//! A failed write is judged by its class:
//! - transient (throttling, timeouts, 5xx): the message is retried with backoff
//!   and receiving pauses until the store answers a probe;
//! - configuration (access denied, table missing, KMS key refused): the
//!   message is not at fault, so it is neither deleted nor dead-lettered but
//!   handed back (visible again after [`REFUSED_HANDBACK`]); the worker stops
//!   receiving, is not ready, and resumes only once its probe (a read and a
//!   write that never writes) passes, one message at a time until a write
//!   succeeds; it exits at `CONFIG_FAULT_LIMIT_SECS`. When the probe passes
//!   but writes stay refused, the probe cannot see the fault: the worker
//!   stays paused until that limit;
//! - message-class (the write is rejected for this item, the stored item is
//!   not in our layout): dead-lettered at once with the reason.
//!
//! Shutdown is bounded: in-flight messages get `SHUTDOWN_GRACE_SECS`, then the
//! remaining deletes and visibility changes get [`CLEANUP_BUDGET`]; only the
//! long poll has a long attempt timeout.

pub mod backoff;
pub mod dead_letter;
pub mod deleter;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::timeout::TimeoutConfig;
use shared::aws::{SdkFailure, classify_sdk_error};
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, TableError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::backoff::Backoff;
use self::deleter::Deleter;
use crate::config::Settings;
use crate::handler::ApplyEvent;
use crate::health::{ConfigFault, HealthState};
use crate::metrics::Metrics;

/// Most messages one receive may return (an SQS limit).
const MAX_RECEIVE: usize = 10;

/// How long a message the store refused stays invisible when handed back.
///
/// Not zero: a refused write is nearly always the whole fleet's (one task
/// role, one table, one key), and every replica stops receiving on its own
/// first refusal within a moment; a few seconds let them all pause before the
/// message reappears, so it is not bounced from replica to replica, each
/// receive counting towards `maxReceiveCount`. Not the full visibility
/// timeout either: when only this task is wrong, a healthy replica takes the
/// message a few seconds later. The refusing worker itself receives nothing
/// until its probe passes, and then one message at a time until a write
/// succeeds, so it never spins on the same messages.
pub const REFUSED_HANDBACK: Duration = Duration::from_secs(5);

/// After the drain, how long the remaining deletes and visibility changes
/// may take before the worker exits anyway (what is left reappears after
/// its visibility timeout). `SHUTDOWN_GRACE_SECS` + this stays within the
/// 30 s ECS gives a stopping task with the default grace of 25 s.
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(3);

/// AWS operation named in a fault raised by a refused write.
const WRITE_OPERATION: &str = "UpdateItem";

/// SQS error codes that mean "try again later".
const SQS_TRANSIENT_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KmsThrottled",
];

/// The worker gave up: its queue, DLQ or table refused it for longer than
/// `CONFIG_FAULT_LIMIT_SECS`. The process exits non-zero so the orchestrator
/// replaces it (and ECS's deployment circuit breaker rolls a release back);
/// the messages stay in the queue, they are not at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "giving up: {0}. The deployment is wrong: check the task role's policy, the queue, DLQ and table names, and the KMS key"
)]
pub struct Misconfigured(pub ConfigFault);

/// What to do with a message after processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied or already applied: delete it.
    Done(ApplyOutcome),
    /// Can never succeed: send to the DLQ with this reason, then delete it.
    Poison {
        /// Stable reason code.
        reason: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
    /// May succeed later: return it with a backoff.
    Retry(String),
    /// The store refuses this worker (a configuration fault, not the
    /// message's): hand it back untouched and stop receiving.
    Refused {
        /// The failure, with its AWS error code.
        failure: SdkFailure,
        /// When the refused attempt began (a refusal of a write begun before
        /// the probe passed says nothing about the probe).
        started: Instant,
    },
}

/// An episode of refused writes: from the first refusal until a write
/// succeeds, or until a write begun after the probe passed is refused too
/// (a relapse, which starts a new episode).
#[derive(Debug, Clone)]
struct Refusal {
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

/// A received message with the concurrency slot it occupies.
type Slotted = (Message, OwnedSemaphorePermit);

/// Messages received but not yet deleted or returned, by message id.
type InFlight = Arc<Mutex<HashMap<String, String>>>;

/// One queue's consumer.
pub struct Consumer {
    sqs: aws_sdk_sqs::Client,
    settings: Settings,
    handler: Arc<dyn ApplyEvent>,
    metrics: Arc<Metrics>,
    health: Arc<HealthState>,
    retry_backoff: Backoff,
    /// Set by a failed apply (or an idle re-check): receiving pauses until
    /// the store answers a probe.
    store_suspect: AtomicBool,
    /// Refused writes since the last successful one.
    refusal: Mutex<Option<Refusal>>,
    /// The last successful write or store probe.
    store_confirmed: Mutex<Instant>,
    /// Timeouts of the long poll (the client's are for ordinary calls).
    receive_timeouts: TimeoutConfig,
}

fn receive_count(message: &Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

fn group_id(message: &Message) -> Option<String> {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned()
}

impl Consumer {
    /// A consumer of `settings.queue_url` applying events with `handler`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
        handler: Arc<dyn ApplyEvent>,
        metrics: Arc<Metrics>,
        health: Arc<HealthState>,
    ) -> Self {
        let retry_backoff = Backoff {
            base: settings.retry_base,
            max: settings.retry_max,
        };
        let receive_timeouts = settings.aws.long_poll_timeouts();
        Self {
            sqs,
            settings,
            handler,
            metrics,
            health,
            retry_backoff,
            store_suspect: AtomicBool::new(false),
            refusal: Mutex::new(None),
            store_confirmed: Mutex::new(Instant::now()),
            receive_timeouts,
        }
    }

    /// Runs until `shutdown` is cancelled, then drains: in-flight messages get
    /// the grace period to finish, the rest are made visible again at once.
    /// Returns [`Misconfigured`] (after draining) when the deployment is wrong.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Misconfigured> {
        // Room for one receipt per concurrency slot: when deletes fall
        // behind, handlers wait, their slots stay taken and receiving slows.
        let (deleter, deleter_task) = Deleter::start(
            self.sqs.clone(),
            self.settings.queue_url.clone(),
            self.settings.delete_window,
            self.settings.concurrency,
            self.metrics.clone(),
        );
        let in_flight: InFlight = Arc::default();
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut tasks = JoinSet::new();
        let poll_backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut poll_failures = 0_u32;
        tracing::info!(role = %self.settings.role, queue = %self.settings.queue_url, concurrency = self.settings.concurrency, "worker started");

        let mut queues_checked = false;
        let mut fatal: Option<Misconfigured> = None;
        loop {
            while tasks.try_join_next().is_some() {}
            if !queues_checked {
                match self.check_resources(&shutdown).await {
                    Ok(true) => queues_checked = true,
                    Ok(false) => break,
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            if self.store_suspect.load(Ordering::Relaxed) {
                match self.wait_for_store(&shutdown).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            // After refused writes, one message at a time until a write
            // succeeds: the next receive waits for the outcome of the last.
            let probation = self.refused_recently();
            if probation && !tasks.is_empty() {
                tokio::select! {
                    () = async { while tasks.join_next().await.is_some() {} } => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            // Wait for room; the loop is alive (for liveness) while saturated.
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(5)) => { self.health.touch(); continue; }
            };
            let mut permits = vec![first];
            let most = if probation { 1 } else { MAX_RECEIVE };
            while permits.len() < most {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            // A pending long poll is abandoned at once on shutdown. One that is
            // returning messages right now is given a moment: dropping it would
            // leave those messages invisible until their timeout expires.
            let receive = self.receive(permits.len());
            tokio::pin!(receive);
            let received = tokio::select! {
                r = &mut receive => r,
                () = shutdown.cancelled() => {
                    if let Ok(Ok(messages)) = tokio::time::timeout(Duration::from_millis(300), &mut receive).await {
                        let receipts: Vec<String> = messages.iter().filter_map(|m| m.receipt_handle().map(str::to_owned)).collect();
                        if !receipts.is_empty() {
                            tracing::info!(count = receipts.len(), "returning messages received while stopping");
                            // Within the grace period, like every other in-flight call.
                            let this = self.clone();
                            tasks.spawn(async move { this.release(receipts, Duration::ZERO).await });
                        }
                    }
                    break;
                }
            };
            match received {
                Ok(messages) => {
                    if poll_failures > 0 {
                        tracing::info!(after_failures = poll_failures, "receiving again");
                    }
                    poll_failures = 0;
                    self.health.clear_fault_on(&self.settings.queue_url);
                    self.health.received_ok();
                    if messages.is_empty() && self.store_check_due() {
                        // Idle: make sure the table still takes our writes.
                        self.store_suspect.store(true, Ordering::Relaxed);
                    }
                    self.dispatch(messages, permits, &mut tasks, &deleter, &in_flight);
                }
                Err(failure) => {
                    drop(permits);
                    poll_failures += 1;
                    self.metrics.poll_errors.inc();
                    let mut delay = poll_backoff.delay(poll_failures);
                    if failure.configuration {
                        let queue = self.settings.queue_url.clone();
                        match self.config_fault(
                            "ReceiveMessage",
                            &queue,
                            &failure,
                            poll_failures,
                            delay,
                        ) {
                            Ok(capped) => delay = capped,
                            Err(e) => {
                                fatal = Some(e);
                                break;
                            }
                        }
                    } else {
                        tracing::warn!(error = %failure.message, code = %failure.code, attempt = poll_failures, retry_in_ms = delay.as_millis() as u64, "receive failed; backing off");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }

        self.health.stopping();
        let pending = tasks.len();
        tracing::info!(
            in_flight = pending,
            grace_secs = self.settings.shutdown_grace.as_secs(),
            "stopped receiving; draining"
        );
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let unfinished: Vec<String> = in_flight
            .lock()
            .map(|mut m| m.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        // Whatever SQS does, the rest gets CLEANUP_BUDGET: returning the
        // unfinished messages and the last deletes run side by side.
        let returned = async {
            if unfinished.is_empty() {
                return;
            }
            let count = unfinished.len();
            tracing::warn!(
                count,
                "grace period over; returning unfinished messages to the queue"
            );
            if tokio::time::timeout(CLEANUP_BUDGET, self.release(unfinished, Duration::ZERO))
                .await
                .is_err()
            {
                tracing::warn!(
                    count,
                    "could not return unfinished messages in time; they reappear after their visibility timeout"
                );
            }
        };
        drop(deleter);
        let ((), _undeleted) = tokio::join!(returned, deleter_task.finish(CLEANUP_BUDGET));
        match fatal {
            Some(e) => {
                tracing::error!(error = %e, "worker stopped: misconfigured");
                Err(e)
            }
            None => {
                tracing::info!("worker stopped");
                Ok(())
            }
        }
    }

    /// Records a configuration fault (readiness fails at once) and logs it
    /// with the AWS error code; the backoff `delay` is capped so the worker
    /// gives up on time. `Err` once the fault has lasted the limit.
    fn config_fault(
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
    async fn check_resources(&self, shutdown: &CancellationToken) -> Result<bool, Misconfigured> {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut attempt = 0_u32;
        loop {
            let mut failure = None;
            for url in [&self.settings.queue_url, &self.settings.dlq_url] {
                self.metrics.sqs_call("get_queue_attributes");
                let checked = self
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await;
                if let Err(e) = checked {
                    let f = classify_sdk_error(&e, SQS_TRANSIENT_CODES);
                    failure = Some(("GetQueueAttributes", url.clone(), f));
                    break;
                }
            }
            if failure.is_none()
                && let Err(e) = self.handler.probe().await
            {
                failure = Some((
                    e.operation,
                    self.settings.orders_table.clone(),
                    e.error.to_failure(),
                ));
            }
            let Some((operation, resource, failure)) = failure else {
                self.health.clear_fault();
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
    async fn wait_for_store(&self, shutdown: &CancellationToken) -> Result<bool, Misconfigured> {
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
                    let probed = self
                        .handler
                        .probe()
                        .await
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

    fn lock_refusal(&self) -> std::sync::MutexGuard<'_, Option<Refusal>> {
        self.refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether writes were refused since the last successful one.
    fn refused_recently(&self) -> bool {
        self.lock_refusal().is_some()
    }

    /// The refusal the probe cannot see, as a failure to report.
    fn blind_refusal(&self) -> Option<SdkFailure> {
        self.lock_refusal()
            .as_ref()
            .filter(|r| r.blind)
            .map(Refusal::failure)
    }

    /// Records a probe's outcome in the refusal episode. A probe that passes
    /// at once after a relapse cannot see the fault: the episode becomes
    /// blind, and the failure to report is returned.
    fn probed(&self, passed: bool) -> Option<SdkFailure> {
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
    fn write_refused(&self, failure: &SdkFailure, started: Instant) {
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
    fn store_confirmed(&self) {
        *self
            .store_confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Whether an idle worker should re-check its store.
    fn store_check_due(&self) -> bool {
        self.store_confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            >= self.settings.store_check
    }

    async fn receive(&self, max: usize) -> Result<Vec<Message>, SdkFailure> {
        self.metrics.sqs_call("receive");
        let wait = i32::try_from(self.settings.wait_time.as_secs()).unwrap_or(20);
        let visibility = i32::try_from(self.settings.visibility_timeout.as_secs()).unwrap_or(60);
        self.sqs
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(wait)
            .visibility_timeout(visibility)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .customize()
            // Only this call waits; every other SQS call keeps the ordinary timeouts.
            .config_override(
                aws_sdk_sqs::config::Builder::default()
                    .timeout_config(self.receive_timeouts.clone()),
            )
            .send()
            .await
            .map(|out| out.messages.unwrap_or_default())
            .map_err(|e| classify_sdk_error(&e, SQS_TRANSIENT_CODES))
    }

    fn dispatch(
        self: &Arc<Self>,
        messages: Vec<Message>,
        mut permits: Vec<OwnedSemaphorePermit>,
        tasks: &mut JoinSet<()>,
        deleter: &Deleter,
        in_flight: &InFlight,
    ) {
        self.metrics.received.inc_by(messages.len() as u64);
        if let Ok(mut map) = in_flight.lock() {
            for m in &messages {
                if let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) {
                    map.insert(id.to_owned(), receipt.to_owned());
                }
            }
        }
        let mut work: Vec<Slotted> = Vec::with_capacity(messages.len());
        for m in messages {
            // One permit was taken per message asked for; never more messages than that.
            if let Some(p) = permits.pop() {
                work.push((m, p));
            }
        }
        drop(permits); // unused room goes back at once
        if self.settings.fifo() {
            // Preserve order within each group; groups run concurrently.
            for group in group_in_order(work, |(m, _)| group_id(m)) {
                let this = self.clone();
                let (deleter, in_flight) = (deleter.clone(), in_flight.clone());
                tasks.spawn(async move { this.process_group(group, &deleter, &in_flight).await });
            }
        } else {
            for (m, p) in work {
                let this = self.clone();
                let (deleter, in_flight) = (deleter.clone(), in_flight.clone());
                tasks.spawn(async move {
                    this.process(m, &deleter, &in_flight).await;
                    drop(p);
                });
            }
        }
    }

    async fn process_group(&self, group: Vec<Slotted>, deleter: &Deleter, in_flight: &InFlight) {
        let mut rest = group.into_iter();
        while let Some((m, permit)) = rest.next() {
            let retry_after = self.process(m, deleter, in_flight).await;
            drop(permit);
            if let Some(delay) = retry_after {
                // Later messages of the group must not overtake the failed one.
                let receipts: Vec<String> = rest
                    .map(|(m, _)| {
                        forget(in_flight, &m);
                        m.receipt_handle().unwrap_or_default().to_owned()
                    })
                    .collect();
                if !receipts.is_empty() {
                    tracing::info!(
                        count = receipts.len(),
                        "returning later messages of a failed FIFO group"
                    );
                    // They come back with the failed message, never before it.
                    self.release(receipts, delay).await;
                }
                return;
            }
        }
    }

    /// Processes one message to its end; returns the retry delay when it was
    /// returned for a retry.
    async fn process(
        &self,
        message: Message,
        deleter: &Deleter,
        in_flight: &InFlight,
    ) -> Option<Duration> {
        let message_id = message.message_id().unwrap_or_default().to_owned();
        let span = tracing::info_span!(
            "message",
            role = %self.settings.role,
            message_id = %message_id,
            pedido_id = tracing::field::Empty,
            event_id = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
        );
        async {
            self.metrics.in_flight.inc();
            let started = Instant::now();
            let verdict = self.judge(&message).await;
            let retry_after = self.act(&message, verdict, deleter).await;
            forget(in_flight, &message);
            self.metrics
                .processing_seconds
                .observe(started.elapsed().as_secs_f64());
            self.metrics.in_flight.dec();
            retry_after
        }
        .instrument(span)
        .await
    }

    /// Parses and applies the message, extending its visibility while that takes long.
    async fn judge(&self, message: &Message) -> Verdict {
        let event = match Event::parse_message_body(message.body().unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => {
                return Verdict::Poison {
                    reason: e.code(),
                    detail: e.to_string(),
                };
            }
        };
        let span = tracing::Span::current();
        span.record("pedido_id", tracing::field::display(event.pedido_id()));
        span.record("event_id", tracing::field::display(event.event_id));
        span.record("correlation_id", event.correlation_id.as_str());
        span.record("event_type", event.event_type().as_str());

        let started = Instant::now();
        let apply = self.handler.apply(&event);
        tokio::pin!(apply);
        let beat = (self.settings.visibility_timeout / 2).max(Duration::from_secs(1));
        let result = loop {
            tokio::select! {
                result = &mut apply => break result,
                () = tokio::time::sleep(beat) => self.extend_visibility(message).await,
            }
        };
        match result {
            Ok(ApplyOutcome::Conflict(detail)) => Verdict::Poison {
                reason: "conflicting_duplicate",
                detail,
            },
            Ok(outcome) => Verdict::Done(outcome),
            Err(e) if e.is_configuration() => Verdict::Refused {
                failure: e.to_failure(),
                started,
            },
            Err(e @ TableError::Malformed(_)) => Verdict::Poison {
                reason: "malformed_item",
                detail: e.to_string(),
            },
            Err(e @ TableError::Rejected { .. }) => self.blame(e, started).await,
            Err(e) => Verdict::Retry(e.to_string()),
        }
    }

    /// A write rejected for this item is the message's fault only if the
    /// store takes a write that is not this one: a table every write fails on
    /// (e.g. not our key schema) must not empty the queue into the DLQ.
    async fn blame(&self, rejected: TableError, started: Instant) -> Verdict {
        match self.handler.probe().await {
            Ok(()) => Verdict::Poison {
                reason: "write_rejected",
                detail: rejected.to_string(),
            },
            Err(probe) if probe.error.is_configuration() => Verdict::Refused {
                failure: probe.error.to_failure(),
                started,
            },
            Err(probe) => Verdict::Retry(format!("{rejected}; and then {probe}")),
        }
    }

    /// Carries out a verdict; returns the retry delay when the message was returned for a retry.
    async fn act(
        &self,
        message: &Message,
        verdict: Verdict,
        deleter: &Deleter,
    ) -> Option<Duration> {
        let receipt = message.receipt_handle().unwrap_or_default().to_owned();
        match verdict {
            Verdict::Done(outcome) => {
                if self.refused_recently() {
                    *self.lock_refusal() = None;
                    tracing::info!("the table takes this worker's writes again");
                }
                self.store_confirmed();
                if outcome == ApplyOutcome::Duplicate {
                    self.metrics.duplicates.inc();
                    tracing::info!(outcome = "duplicate", "event already applied; deleting");
                } else {
                    self.metrics.processed.inc();
                    tracing::info!(outcome = "applied", "event applied");
                }
                deleter.delete(receipt).await;
                None
            }
            Verdict::Poison { reason, detail } => {
                match dead_letter::send(
                    &self.sqs,
                    &self.settings,
                    message,
                    reason,
                    &detail,
                    &self.metrics,
                )
                .await
                {
                    Ok(()) => {
                        self.metrics.dead_letter(reason);
                        tracing::warn!(outcome = "dead_lettered", reason, detail = %detail, "poison message sent to the DLQ");
                        deleter.delete(receipt).await;
                        None
                    }
                    Err(e) => {
                        // Never drop it: leave it to the queue's redrive policy.
                        tracing::error!(outcome = "dlq_send_failed", reason, error = %e, "could not dead-letter; returning the message so redrive moves it");
                        self.metrics.retried.inc();
                        self.change_visibility(&receipt, Duration::ZERO).await;
                        None
                    }
                }
            }
            Verdict::Retry(reason) => {
                let attempt = receive_count(message);
                let delay = self.retry_backoff.delay(attempt);
                self.store_suspect.store(true, Ordering::Relaxed);
                self.metrics.retried.inc();
                tracing::warn!(outcome = "retry", attempt, retry_in_secs = delay.as_secs(), error = %reason, "processing failed; will retry");
                self.change_visibility(&receipt, delay).await;
                Some(delay)
            }
            Verdict::Refused { failure, started } => {
                // Not the message's fault: neither deleted nor dead-lettered.
                self.write_refused(&failure, started);
                self.metrics.handed_back.inc();
                tracing::debug!(outcome = "handed_back", code = %failure.code, "the table refuses this worker; message handed back untouched");
                self.change_visibility(&receipt, REFUSED_HANDBACK).await;
                Some(REFUSED_HANDBACK)
            }
        }
    }

    async fn extend_visibility(&self, message: &Message) {
        tracing::debug!("still processing; extending visibility");
        self.change_visibility(
            message.receipt_handle().unwrap_or_default(),
            self.settings.visibility_timeout,
        )
        .await;
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) {
        self.metrics.sqs_call("change_visibility");
        let seconds = crate::visibility::seconds(timeout);
        if let Err(e) = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.settings.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            tracing::warn!(error = %DisplayErrorContext(&e), "ChangeMessageVisibility failed; the message reappears after its current timeout");
        }
    }

    /// Makes messages visible again after `delay` (batched by 10).
    async fn release(&self, receipts: Vec<String>, delay: Duration) {
        let metrics = &self.metrics;
        let result = crate::visibility::set_batch(
            &self.sqs,
            &self.settings.queue_url,
            &receipts,
            delay,
            || metrics.sqs_call("change_visibility_batch"),
        )
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not return messages; they reappear after their visibility timeout");
        }
    }
}

/// Splits `items` into groups by `key`, keeping the receive order inside each group
/// and the order of first appearance between groups.
fn group_in_order<T, K: PartialEq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<Vec<T>> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for item in items {
        let k = key(&item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, list)) => list.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups.into_iter().map(|(_, list)| list).collect()
}

fn forget(in_flight: &InFlight, message: &Message) {
    if let (Ok(mut map), Some(id)) = (in_flight.lock(), message.message_id()) {
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_receive_order() {
        let items = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5), ("a", 6)];
        let groups = group_in_order(items, |(g, _)| *g);
        let numbers: Vec<Vec<i32>> = groups
            .iter()
            .map(|g| g.iter().map(|(_, n)| *n).collect())
            .collect();
        assert_eq!(numbers, vec![vec![1, 3, 6], vec![2, 5], vec![4]]);
    }

    #[test]
    fn receive_count_defaults_to_one() {
        let plain = Message::builder().body("x").build();
        assert_eq!(receive_count(&plain), 1);
        let counted = Message::builder()
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "4")
            .attributes(MessageSystemAttributeName::MessageGroupId, "g1")
            .build();
        assert_eq!(receive_count(&counted), 4);
        assert_eq!(group_id(&counted).as_deref(), Some("g1"));
    }
}
