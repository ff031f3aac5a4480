//! The consumer of one queue: the control loop that decides when to receive
//! and when to stop, and what it is built from — the long polls
//! ([`poller`]), each message's processing ([`processor`]), FIFO grouping
//! ([`fifo`]), the visibility heartbeat of every held message ([`held`]),
//! batched deletes ([`deleter`]), the store checks ([`store`]), backoff and
//! dead-lettering.
//!
//! Receiving stops while any of these holds: the store is suspect (a failed
//! write, until a probe passes), a receive failed (backoff), the delete
//! backlog passed its bound, or every concurrency slot is taken.
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
mod fifo;
pub mod held;
pub mod poller;
pub mod priority;
mod processor;
pub mod sqs_report;
mod store;
#[cfg(test)]
mod test_support;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use aws_smithy_types::timeout::TimeoutConfig;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::backoff::Backoff;
use self::deleter::{Deleter, MAX_BATCH};
use self::held::Held;
use self::poller::{MAX_RECEIVE, Polled, Pollers};
use self::priority::Lane;
pub use self::processor::Verdict;
use self::sqs_report::SqsReport;
use self::store::Refusal;
use crate::config::Settings;
use crate::handler::ApplyEvent;
use crate::health::{ConfigFault, HealthState};
use crate::metrics::Metrics;

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

/// After the drain, how long the rest of the exit may take, whatever SQS
/// does: the remaining deletes and visibility changes, stopping the probe
/// server, the runtime and the last spans (what is left reappears after its
/// visibility timeout). `SHUTDOWN_GRACE_SECS` + this stays within the 30 s
/// ECS gives a stopping task with the default grace of 25 s.
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(3);

/// The end of [`CLEANUP_BUDGET`], after the worker has returned: how long
/// the runtime's leftover tasks (an abandoned SDK call's connection) may
/// take to stop.
pub const RUNTIME_STOP: Duration = Duration::from_millis(200);

/// The end of [`CLEANUP_BUDGET`], after the runtime: how long the last
/// spans may take to go out.
pub const SPAN_FLUSH: Duration = Duration::from_millis(400);

/// What the last deletes, returns and the heartbeat's last beat get within
/// [`CLEANUP_BUDGET`]: the rest is left for logging what was left,
/// stopping the probe server, [`RUNTIME_STOP`] and [`SPAN_FLUSH`].
const SETTLE_BUDGET: Duration = Duration::from_millis(2000);

/// What is left of [`CLEANUP_BUDGET`] for stopping the probe server and the
/// process itself to end.
const EXIT_SLACK: Duration = Duration::from_millis(400);

const _: () = assert!(
    SETTLE_BUDGET.as_millis()
        + EXIT_SLACK.as_millis()
        + RUNTIME_STOP.as_millis()
        + SPAN_FLUSH.as_millis()
        == CLEANUP_BUDGET.as_millis(),
    "the exit path's parts add up to CLEANUP_BUDGET"
);

/// AWS operation named in a fault raised by a refused write.
const WRITE_OPERATION: &str = "UpdateItem";

/// SQS error codes that mean "try again later".
pub(crate) const SQS_TRANSIENT_CODES: &[&str] = &[
    "RequestThrottled",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KmsThrottled",
    "KMS.ThrottlingException",
    // A receive on a standard queue with its in-flight limit reached
    // (120,000 messages; an answer of 403): other tasks hold the messages,
    // and it clears as they delete them.
    "OverLimit",
    // Not here: ExpiredToken and RequestExpired, configuration faults (see
    // `shared::aws`).
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

/// On shutdown, how long long polls in flight get at least to return what
/// they are returning (longer while messages are still being processed).
const LATE_POLL_WAIT: Duration = Duration::from_millis(300);

/// Fewest `DeleteMessageBatch` requests in flight at once (more with more pollers).
const MIN_DELETES_IN_FLIGHT: usize = 4;

/// A received message with the concurrency slot it occupies.
type Slotted = (Message, OwnedSemaphorePermit);

/// One queue's consumer.
pub struct Consumer {
    sqs: aws_sdk_sqs::Client,
    settings: Settings,
    handler: Arc<dyn ApplyEvent>,
    metrics: Arc<Metrics>,
    health: Arc<HealthState>,
    retry_backoff: Backoff,
    /// Every message received and not yet deleted or returned.
    held: Arc<Held>,
    /// Set by a failed apply (or an idle re-check): receiving pauses until
    /// the store answers a probe.
    store_suspect: AtomicBool,
    /// Refused writes since the last successful one.
    refusal: Mutex<Option<Refusal>>,
    /// The last successful write or store probe.
    store_confirmed: Mutex<Instant>,
    /// Timeouts of the long poll (the client's are for ordinary calls).
    receive_timeouts: TimeoutConfig,
    /// Cancelled when the worker stops receiving: work that waits in hand
    /// (a FIFO message the DLQ refuses) gives its messages back then.
    stopping: CancellationToken,
    /// Where SQS outcomes go (health, metrics).
    report: SqsReport,
    /// FIFO: the attempt ids of receives that failed, reused by the next
    /// receives so SQS answers them with the same messages.
    receive_attempts: Mutex<Vec<poller::AttemptId>>,
    /// A probe of refused deletes or visibility changes is running.
    settle_probe: Arc<AtomicBool>,
    /// The concurrency slots (`WORKER_CONCURRENCY`), shared with the
    /// other lane's consumer when the worker has an express queue.
    slots: Arc<Semaphore>,
    /// Which lane this consumer serves.
    lane: Lane,
    /// This lane's received-messages counter (looked up once).
    received_in_lane: prometheus_client::metrics::counter::Counter,
}

/// The receiving side's state between turns of the loop.
struct Receiving {
    pollers: Pollers,
    /// Consecutive failed receives.
    failures: u32,
    /// No new receive before this (backoff after a failed one).
    resume_at: Option<tokio::time::Instant>,
    /// A slot taken while waiting for one, for the next receive.
    spare: Option<OwnedSemaphorePermit>,
    /// Whether the last turn found the delete backlog over its bound.
    backlogged: bool,
}

impl Consumer {
    /// A consumer of `settings.queue_url` (the worker's only queue)
    /// applying events with `handler`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
        handler: Arc<dyn ApplyEvent>,
        metrics: Arc<Metrics>,
        health: Arc<HealthState>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        Self::in_lane(sqs, settings, handler, metrics, health, slots, Lane::Only)
    }

    /// A consumer of `settings.queue_url` serving `lane`, taking its
    /// concurrency from `slots` (shared with the other lane's consumer).
    pub fn in_lane(
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
        handler: Arc<dyn ApplyEvent>,
        metrics: Arc<Metrics>,
        health: Arc<HealthState>,
        slots: Arc<Semaphore>,
        lane: Lane,
    ) -> Self {
        let retry_backoff = Backoff {
            base: settings.retry_base,
            max: settings.retry_max,
        };
        let received_in_lane = metrics.received_in_lane(lane.name());
        let receive_timeouts = poller::receive_timeouts(&settings);
        let held = Held::new(settings.visibility_timeout);
        let counted = held.clone();
        health.watch_holding(move || counted.len());
        let report = SqsReport::new(health.clone(), metrics.clone());
        Self {
            sqs,
            settings,
            handler,
            metrics,
            health,
            retry_backoff,
            held,
            store_suspect: AtomicBool::new(false),
            refusal: Mutex::new(None),
            store_confirmed: Mutex::new(Instant::now()),
            receive_timeouts,
            stopping: CancellationToken::new(),
            report,
            receive_attempts: Mutex::new(Vec::new()),
            settle_probe: Arc::new(AtomicBool::new(false)),
            slots,
            received_in_lane,
            lane,
        }
    }

    /// How long the exit may take once the signal came: the grace period,
    /// then the last deletes and visibility changes.
    pub fn exit_budget(&self) -> Duration {
        self.settings.shutdown_grace + CLEANUP_BUDGET - RUNTIME_STOP - SPAN_FLUSH
    }

    /// Runs until `shutdown` is cancelled, then drains: in-flight messages get
    /// the grace period to finish, the rest are made visible again at once.
    /// Returns [`Misconfigured`] (after draining) when the deployment is wrong.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), Misconfigured> {
        let concurrency = self.settings.concurrency;
        let (deleter, deleter_task) = Deleter::start(
            self.sqs.clone(),
            self.settings.queue_url.clone(),
            self.settings.delete_window,
            self.settings.pollers.max(MIN_DELETES_IN_FLIGHT),
            self.held.clone(),
            self.metrics.clone(),
            self.report.clone(),
        );
        // Processed messages awaiting deletion beyond this stop receiving.
        let backlog_bound = (2 * concurrency).max(4 * MAX_BATCH);
        let beat_stop = CancellationToken::new();
        // Also when this future is dropped at the process's exit deadline.
        let _beat_stopped_on_drop = beat_stop.clone().drop_guard();
        let beat = tokio::spawn(held::heartbeat(
            self.held.clone(),
            self.sqs.clone(),
            self.settings.queue_url.clone(),
            self.metrics.clone(),
            self.report.clone(),
            beat_stop.clone(),
        ));
        let slots = self.slots.clone();
        // Every receive waits for a full batch of free slots: receiving a few
        // messages at a time while processing is slow would cost more
        // requests per message.
        let batch = MAX_RECEIVE.min(concurrency);
        let mut tasks = JoinSet::new();
        let mut polls: FuturesUnordered<BoxFuture<'_, Polled>> = FuturesUnordered::new();
        let mut rx = Receiving {
            pollers: Pollers::new(self.settings.pollers),
            failures: 0,
            resume_at: None,
            spare: None,
            backlogged: false,
        };
        tracing::info!(role = %self.settings.role, lane = self.lane.name(), queue = %self.settings.queue_url, concurrency, pollers = self.settings.pollers, "worker started");
        // A standard lane beside an express one waits on the priority gate;
        // the other lanes never do (`_ungated` keeps their idle watch open).
        let (_ungated, idle_gate) = tokio::sync::watch::channel(priority::GateState::default());
        let mut gate = match &self.lane {
            Lane::Standard(g) => g.subscribe(),
            Lane::Only | Lane::Express(_) => idle_gate,
        };

        // The loop is alive (for liveness) while it waits.
        let mut alive = tokio::time::interval(Duration::from_secs(5));
        alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut queues_checked = false;
        let mut fatal: Option<Misconfigured> = None;
        loop {
            while let Some(joined) = tasks.try_join_next() {
                task_ended(joined);
            }
            // A refusal raised anywhere (deletes, the heartbeat, the DLQ)
            // that outlasted its limit: the deployment is wrong.
            if let Some(fault) = self.health.expired_fault() {
                fatal = Some(Misconfigured(fault));
                break;
            }
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
            // Probe only with no receive outstanding: what those return is
            // processed first (and fails or succeeds on its own).
            if self.store_suspect.load(Ordering::Relaxed) && polls.is_empty() {
                self.not_waiting_for_slots();
                match self.wait_for_store(&shutdown).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            let suspect = self.store_suspect.load(Ordering::Relaxed);
            let paused = rx
                .resume_at
                .is_some_and(|at| at > tokio::time::Instant::now());
            let backlogged = deleter.backlog() >= backlog_bound;
            if backlogged && !rx.backlogged {
                self.metrics.receive_paused.inc();
                tracing::debug!(
                    backlog = deleter.backlog(),
                    bound = backlog_bound,
                    "deletes are behind; receiving paused until they catch up"
                );
            }
            rx.backlogged = backlogged;
            // After refused writes, one message at a time until a write
            // succeeds: the next receive waits for the outcome of the last.
            let probation = self.refused_recently();
            // Deletes or visibility changes refused: what is received now
            // could be neither deleted nor returned (and each redelivery
            // counts towards the redrive policy).
            let settling_refused = self.settling_refused();
            // The standard lane's turn (express first): while held, it
            // keeps no slot aside.
            let held_until = self.lane.held_until();
            let gated = held_until.is_some();
            let may_receive = !suspect && !paused && !backlogged && !settling_refused && !gated;
            // A lane beside another that may not receive keeps no slot
            // aside: the other may need it.
            if !may_receive && !matches!(self.lane, Lane::Only) {
                rx.spare = None;
            }
            // An idle express lane's long poll holds one slot, not ten, for
            // its whole wait.
            let batch = self.lane.batch(batch);
            if may_receive && probation {
                if tasks.is_empty() && polls.is_empty() {
                    let permit = rx
                        .spare
                        .take()
                        .or_else(|| slots.clone().try_acquire_owned().ok());
                    if let Some(mut permit) = permit {
                        // One message: give back any other slot kept aside.
                        let one = permit.split(1);
                        polls.push(self.start_poll(vec![one.unwrap_or(permit)]));
                    }
                }
            } else if may_receive {
                while polls.len() < rx.pollers.target() && self.lane.held_until().is_none() {
                    let Some(permits) = poller::take_slots(&slots, &mut rx.spare, batch, batch)
                    else {
                        break;
                    };
                    polls.push(self.start_poll(permits));
                }
            }
            let have = rx
                .spare
                .as_ref()
                .map_or(0, OwnedSemaphorePermit::num_permits);
            // (Held again now if this turn's receive used the standard lane's turn.)
            let want_slots = may_receive
                && self.lane.held_until().is_none()
                && !probation
                && polls.len() < rx.pollers.target()
                && have < batch;
            if let Lane::Express(gate) = &self.lane {
                gate.express_waiting_for_slots(want_slots);
            }
            tokio::select! {
                Some(polled) = polls.next(), if !polls.is_empty() => {
                    if let Err(e) = self.received(polled, &mut rx, &mut tasks, &deleter) {
                        fatal = Some(e);
                        break;
                    }
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => task_ended(joined),
                permit = slots.clone().acquire_many_owned(u32::try_from(batch - have).unwrap_or(1)), if want_slots => {
                    if let Ok(p) = permit {
                        match rx.spare.as_mut() {
                            Some(spare) => spare.merge(p),
                            None => rx.spare = Some(p),
                        }
                    }
                }
                () = deleter.wait_below(backlog_bound), if backlogged => {}
                () = async { if let Some(at) = rx.resume_at { tokio::time::sleep_until(at).await } }, if paused => rx.resume_at = None,
                // A refusal cleared (by the probe or a retry): receiving
                // resumes at once rather than at the next tick.
                () = self.report.clearing().notified(), if settling_refused => {}
                // The express lane received or emptied: maybe the standard lane's turn.
                _ = gate.changed(), if matches!(self.lane, Lane::Standard(_)) => {}
                () = async { if let Some(at) = held_until { tokio::time::sleep_until(at).await } }, if gated => {}
                () = shutdown.cancelled() => break,
                _ = alive.tick() => {
                    self.health.touch();
                    self.probe_refused_settling();
                }
            }
        }
        self.not_waiting_for_slots();
        // Every await of the exit path ends by this deadline, whatever SQS does.
        let exit_by = tokio::time::Instant::now() + self.exit_budget();
        let stopped = tokio::time::timeout_at(
            exit_by,
            self.stop(polls, tasks, deleter, deleter_task, beat_stop.clone(), beat),
        )
        .await;
        if stopped.is_err() {
            beat_stop.cancel();
            tracing::error!(
                budget_ms = self.exit_budget().as_millis() as u64,
                "the exit deadline passed; exiting with what is left (unfinished messages reappear after their visibility timeout)"
            );
        }
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

    /// After receiving stopped: drains, returns what was not processed
    /// (FIFO groups in receive order, one request per group), finishes the
    /// deletes, stops the heartbeat.
    async fn stop(
        self: &Arc<Self>,
        polls: FuturesUnordered<BoxFuture<'_, Polled>>,
        mut tasks: JoinSet<()>,
        deleter: Deleter,
        deleter_task: deleter::DeleterTask,
        beat_stop: CancellationToken,
        beat: tokio::task::JoinHandle<()>,
    ) {
        self.health.stopping();
        self.stopping.cancel();
        tracing::info!(
            in_flight = tasks.len(),
            grace_secs = self.settings.shutdown_grace.as_secs(),
            "stopped receiving; draining"
        );
        self.drain(polls, &mut tasks).await;
        // Whatever SQS does, the rest gets CLEANUP_BUDGET: returning the
        // unfinished messages and the last deletes run side by side. The
        // heartbeat stops (a beat in flight ends within its deadline, and
        // the messages returned wait for it).
        beat_stop.cancel();
        let settle_by = tokio::time::Instant::now() + SETTLE_BUDGET;
        let returned = async {
            let groups = match tokio::time::timeout_at(settle_by, self.held.take_unprocessed())
                .await
            {
                Ok(groups) => groups,
                Err(_) => {
                    tracing::warn!(
                        "a visibility extension outlasted the cleanup budget; unfinished messages reappear after their visibility timeout"
                    );
                    return;
                }
            };
            if groups.is_empty() {
                return;
            }
            let count: usize = groups.iter().map(Vec::len).sum();
            tracing::warn!(
                count,
                groups = groups.len(),
                "grace period over; returning unfinished messages to the queue"
            );
            let each_group = groups
                .into_iter()
                .map(|group| self.release(group, Duration::ZERO));
            if tokio::time::timeout_at(settle_by, futures::future::join_all(each_group))
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
        let ((), _undeleted) = tokio::join!(returned, deleter_task.finish(SETTLE_BUDGET));
        match tokio::time::timeout_at(settle_by, beat).await {
            Ok(Err(e)) => tracing::error!(error = %e, "the visibility heartbeat failed"),
            Ok(Ok(())) => {}
            Err(_) => tracing::warn!("a visibility extension was still in flight at exit"),
        }
    }

    /// The drain after receiving stopped: in-flight messages get the grace
    /// period to finish. Long polls still in flight get at least
    /// [`LATE_POLL_WAIT`] and as long as messages are still being processed:
    /// whatever they return is made visible again at once (dropping a poll
    /// that is returning messages would leave them invisible for their whole
    /// timeout); an empty long poll is abandoned.
    async fn drain(
        self: &Arc<Self>,
        mut polls: FuturesUnordered<BoxFuture<'_, Polled>>,
        tasks: &mut JoinSet<()>,
    ) {
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_grace;
        let polls_until = tokio::time::Instant::now() + LATE_POLL_WAIT;
        loop {
            let polls_over = tokio::time::Instant::now() >= polls_until && tasks.is_empty();
            if polls_over && !polls.is_empty() {
                tracing::debug!(count = polls.len(), "abandoning empty long polls");
                polls.clear();
            }
            if polls.is_empty() && tasks.is_empty() {
                return;
            }
            tokio::select! {
                Some(polled) = polls.next(), if !polls.is_empty() => {
                    drop(polled.permits);
                    if let Ok(messages) = polled.result
                        && !messages.is_empty()
                    {
                        tracing::info!(count = messages.len(), "returning messages received while stopping");
                        let receipts = receipts_of(messages.iter());
                        let this = self.clone();
                        tasks.spawn(async move { this.release(receipts, Duration::ZERO).await });
                    }
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => task_ended(joined),
                () = tokio::time::sleep_until(polls_until), if tasks.is_empty() => {}
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(in_flight = tasks.len(), "grace period over; stopping the messages still in flight");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return;
                }
            }
        }
    }

    /// Handles a finished long poll: dispatches what it got, or backs off.
    /// `Err` when the queue has refused the worker for too long.
    fn received(
        self: &Arc<Self>,
        polled: Polled,
        rx: &mut Receiving,
        tasks: &mut JoinSet<()>,
        deleter: &Deleter,
    ) -> Result<(), Misconfigured> {
        let Polled {
            permits,
            sent,
            result,
        } = polled;
        match result {
            Ok(messages) => {
                if rx.failures > 0 {
                    tracing::info!(after_failures = rx.failures, "receiving again");
                }
                rx.failures = 0;
                let queue = &self.settings.queue_url;
                self.report.ok("GetQueueAttributes", queue);
                self.report.ok("ReceiveMessage", queue);
                self.health.received_ok();
                rx.pollers.received(permits.len(), messages.len());
                if let Lane::Express(gate) = &self.lane {
                    gate.express_received(permits.len(), messages.len());
                }
                if messages.is_empty() && self.store_check_due() {
                    // Idle: make sure the table still takes our writes.
                    self.store_suspect.store(true, Ordering::Relaxed);
                }
                self.dispatch(messages, permits, sent, tasks, deleter);
                Ok(())
            }
            Err(failure) => {
                drop(permits);
                if let Lane::Express(gate) = &self.lane {
                    gate.express_failed();
                }
                rx.failures += 1;
                rx.pollers.failed();
                self.metrics.poll_errors.inc();
                self.metrics.sqs_error("ReceiveMessage", &failure.code);
                let backoff = Backoff {
                    base: Duration::from_secs(1),
                    max: Duration::from_secs(60),
                };
                let mut delay = backoff.delay(rx.failures);
                if failure.configuration {
                    let queue = self.settings.queue_url.clone();
                    delay =
                        self.config_fault("ReceiveMessage", &queue, &failure, rx.failures, delay)?;
                } else {
                    tracing::warn!(error = %failure.message, code = %failure.code, attempt = rx.failures, retry_in_ms = delay.as_millis() as u64, "receive failed; backing off");
                }
                let at = tokio::time::Instant::now() + delay;
                rx.resume_at = Some(rx.resume_at.map_or(at, |t| t.max(at)));
                Ok(())
            }
        }
    }

    /// Starts a long poll, counting it as the standard lane's turn at
    /// once (before it is first polled), so the gate sees it when the next
    /// poll is considered.
    fn start_poll(&self, permits: Vec<OwnedSemaphorePermit>) -> BoxFuture<'_, Polled> {
        if let Lane::Standard(gate) = &self.lane {
            gate.standard_receiving();
        }
        let wait = self.lane.receive_wait(self.settings.wait_time);
        self.poll(permits, wait).boxed()
    }

    /// The express lane stopped waiting for slots (it waits for the table,
    /// or stops): the standard lane must not stay held for it.
    fn not_waiting_for_slots(&self) {
        if let Lane::Express(gate) = &self.lane {
            gate.express_waiting_for_slots(false);
        }
    }

    /// Holds the messages (the heartbeat keeps them invisible from now on)
    /// and starts processing them, each in its slot.
    fn dispatch(
        self: &Arc<Self>,
        messages: Vec<Message>,
        mut permits: Vec<OwnedSemaphorePermit>,
        sent: Instant,
        tasks: &mut JoinSet<()>,
        deleter: &Deleter,
    ) {
        self.metrics.received.inc_by(messages.len() as u64);
        self.received_in_lane.inc_by(messages.len() as u64);
        let mut work: Vec<Slotted> = Vec::with_capacity(messages.len());
        for m in messages {
            // One permit was taken per message asked for; SQS never returns
            // more. Should it, the extra message is not held: it reappears
            // after its visibility timeout.
            let Some(p) = permits.pop() else {
                tracing::warn!(
                    message_id = m.message_id().unwrap_or_default(),
                    "more messages received than asked for; left to its visibility timeout"
                );
                continue;
            };
            if let Some(receipt) = m.receipt_handle() {
                self.held.hold_in(receipt, sent, fifo::group_id(&m));
            }
            work.push((m, p));
        }
        drop(permits); // unused room goes back at once
        if self.settings.fifo() {
            // Preserve order within each group; groups run concurrently.
            for group in fifo::group_in_order(work, |(m, _)| fifo::group_id(m)) {
                let receipts = receipts_of(group.iter().map(|(m, _)| m));
                let (this, deleter) = (self.clone(), deleter.clone());
                self.spawn_guarded(tasks, receipts, async move {
                    this.process_group(group, &deleter).await;
                });
            }
        } else {
            for (m, p) in work {
                let receipts = receipts_of(std::iter::once(&m));
                let (this, deleter) = (self.clone(), deleter.clone());
                self.spawn_guarded(tasks, receipts, async move {
                    this.process(m, &deleter).await;
                    drop(p);
                });
            }
        }
    }

    /// Spawns the processing of `receipts`; if it panics (in a build that
    /// unwinds: release builds abort, after the panic hook logged it), the
    /// messages are let go (they reappear after their visibility timeout;
    /// the redrive policy dead-letters one that always panics).
    fn spawn_guarded(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        receipts: Vec<String>,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let this = self.clone();
        tasks.spawn(async move {
            if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                this.held.forget_unprocessed(&receipts);
                tracing::error!(panic = %what, count = receipts.len(), "processing panicked; the message reappears after its visibility timeout");
            }
        });
    }
}

fn receipts_of<'a>(messages: impl Iterator<Item = &'a Message>) -> Vec<String> {
    messages
        .filter_map(|m| m.receipt_handle().map(str::to_owned))
        .collect()
}

impl Consumer {
    /// Whether deletes or visibility changes on the queue are refused now.
    fn settling_refused(&self) -> bool {
        let queue = &self.settings.queue_url;
        self.health.has_fault(deleter::OPERATION, queue)
            || self.health.has_fault(crate::visibility::OPERATION, queue)
    }

    /// While deletes or visibility changes are refused, checks in the
    /// background whether they are allowed again, with a request that
    /// changes nothing: one entry with a receipt handle SQS cannot know.
    /// Authorization comes first, so an answer about the receipt handle
    /// (the entry failing, or `ReceiptHandleIsInvalid`) means the call is
    /// allowed and the queue exists; a refusal keeps the fault. Without
    /// this a refusal that cleared would still end the worker at the
    /// limit, receiving being paused meanwhile.
    fn probe_refused_settling(self: &Arc<Self>) {
        if !self.settling_refused() || self.settle_probe.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let queue = this.settings.queue_url.clone();
            let bogus = "ecomexpress-settle-probe".to_owned();
            let budget = this.settings.aws.attempt_timeout * 2;
            if this.health.has_fault(deleter::OPERATION, &queue) {
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id("probe")
                    .receipt_handle(&bogus)
                    .build();
                if let Ok(entry) = entry {
                    this.metrics.sqs_call("delete_batch");
                    let call = this
                        .sqs
                        .delete_message_batch()
                        .queue_url(&queue)
                        .entries(entry)
                        .send();
                    if let Ok(answer) = tokio::time::timeout(budget, call).await {
                        let entry = answer.map(|out| out.failed.first().map(|f| f.code.clone()));
                        this.settle_probed(deleter::OPERATION, entry);
                    }
                }
            }
            if this.health.has_fault(crate::visibility::OPERATION, &queue) {
                this.metrics.sqs_call("change_visibility_batch");
                let receipts = [bogus];
                let call =
                    crate::visibility::set_chunk(&this.sqs, &queue, &receipts, Duration::ZERO);
                if let Ok(answer) = tokio::time::timeout(budget, call).await {
                    let entry = answer.map(|failed| failed.first().map(|(_, code)| code.clone()));
                    this.report_settle_probe(crate::visibility::OPERATION, entry);
                }
            }
            this.settle_probe.store(false, Ordering::Release);
        });
    }

    fn settle_probed<E>(
        &self,
        operation: &'static str,
        answer: Result<
            Option<String>,
            aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
        >,
    ) where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.report_settle_probe(
            operation,
            answer.map_err(|e| shared::aws::classify_sdk_error(&e, SQS_TRANSIENT_CODES)),
        );
    }

    /// What a settle probe found: `Ok(code)` when SQS answered the request
    /// (with the code its one entry failed with, if it did), or the failure.
    fn report_settle_probe(
        &self,
        operation: &'static str,
        answer: Result<Option<String>, shared::aws::SdkFailure>,
    ) {
        let queue = &self.settings.queue_url;
        match answer {
            // The entry is still refused for the caller: the fault stands.
            Ok(Some(code)) if shared::aws::is_configuration_code(&code) => {
                tracing::debug!(operation, %code, "SQS still refuses this call");
            }
            // Answered, the entry failing for its made-up receipt handle
            // (what the probe expects): the call is allowed.
            Ok(_) => {
                tracing::info!(operation, "SQS allows this call again");
                self.report.clear(operation, queue);
            }
            Err(f) if f.configuration => self.report.failed(operation, queue, &f),
            // Transient, or an error of the whole request that says nothing
            // about the caller (batch calls report receipt handles per entry).
            Err(_) => {}
        }
    }
}

/// Logs a task that did not end normally (its panic was already caught and
/// logged by `spawn_guarded`; this is anything else).
fn task_ended(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && !e.is_cancelled()
    {
        tracing::error!(error = %e, "a message task failed");
    }
}
