//! Deletes processed messages in batches of up to 10 collected over a short
//! window, several batches in flight at once, each retrying the entries SQS
//! reports as failed, at most [`MAX_DELETE_ATTEMPTS`] times per entry; then
//! the message is let go (it reappears after its visibility timeout and is
//! recognised as a duplicate) rather than held for ever. Failures are
//! classified: a refusal no retry fixes (access denied, the queue missing, a
//! KMS key refused) raises the worker's configuration fault.
//!
//! Queuing a delete never waits. The receipts awaiting deletion are counted
//! (the `delete_backlog` gauge): when the count passes the consumer's bound,
//! it stops receiving until deletes catch up, so memory stays bounded and
//! nothing is received that could not be deleted in time. Every message
//! awaiting deletion stays held, so the heartbeat keeps it invisible however
//! long SQS takes. On shutdown [`DeleterTask::finish`] gives the deletes a
//! deadline; what is not deleted by then reappears after its visibility
//! timeout and is recognised as a duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use shared::aws::{classify_sdk_error, is_configuration_code};

use super::SQS_TRANSIENT_CODES;
use super::backoff::Backoff;
use super::held::Held;
use super::sqs_report::SqsReport;
use crate::metrics::Metrics;

/// The SQS operation of a delete.
pub const OPERATION: &str = "DeleteMessageBatch";

/// Attempts to delete one message (failed requests and failed entries
/// alike) before it is let go.
pub const MAX_DELETE_ATTEMPTS: u32 = 10;

/// Most entries of one `DeleteMessageBatch` (an SQS limit).
pub const MAX_BATCH: usize = 10;

/// Receipts queued and not yet deleted or given up, with a wake-up for
/// whoever waits for the count to drop.
#[derive(Debug, Default)]
struct Backlog {
    count: AtomicUsize,
    dropped: Notify,
}

impl Backlog {
    fn add(&self, metrics: &Metrics) {
        self.count.fetch_add(1, Ordering::Relaxed);
        metrics.delete_backlog.inc();
    }

    fn done(&self, n: usize, metrics: &Metrics) {
        if n == 0 {
            return;
        }
        self.count.fetch_sub(n, Ordering::Relaxed);
        metrics
            .delete_backlog
            .dec_by(i64::try_from(n).unwrap_or(i64::MAX));
        self.dropped.notify_waiters();
    }
}

/// A receipt awaiting deletion, with the message's `delete` span (a
/// disabled span while tracing is off), which ends when the delete does.
#[derive(Debug)]
struct Pending {
    receipt: String,
    span: tracing::Span,
    /// Delete attempts so far.
    attempts: u32,
}

/// Sends receipts to the background deleter.
#[derive(Debug, Clone)]
pub struct Deleter {
    tx: mpsc::UnboundedSender<Pending>,
    backlog: Arc<Backlog>,
    held: Arc<Held>,
    metrics: Arc<Metrics>,
}

/// The background task; call [`DeleterTask::finish`] after dropping every [`Deleter`].
#[derive(Debug)]
pub struct DeleterTask {
    handle: JoinHandle<()>,
    backlog: Arc<Backlog>,
}

/// What one batch needs.
#[derive(Debug, Clone)]
struct Target {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    metrics: Arc<Metrics>,
    held: Arc<Held>,
    backlog: Arc<Backlog>,
    report: SqsReport,
}

impl Deleter {
    /// Starts the background deleter: batches collected for up to `window`,
    /// at most `in_flight` `DeleteMessageBatch` requests at once.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        window: Duration,
        in_flight: usize,
        held: Arc<Held>,
        metrics: Arc<Metrics>,
        report: SqsReport,
    ) -> (Self, DeleterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let target = Target {
            sqs,
            queue_url,
            metrics: metrics.clone(),
            held: held.clone(),
            backlog: backlog.clone(),
            report,
        };
        let handle = tokio::spawn(run(target, window, in_flight.max(1), rx));
        (
            Self {
                tx,
                backlog: backlog.clone(),
                held,
                metrics,
            },
            DeleterTask { handle, backlog },
        )
    }

    /// Queues a processed message's receipt handle for deletion (never
    /// waits). A `delete` span, child of the current (message) span, runs
    /// until SQS confirms the deletion.
    pub fn delete(&self, receipt: String) {
        self.held.deleting(&receipt);
        self.backlog.add(&self.metrics);
        let span = shared::telemetry::traced(|| {
            tracing::info_span!(
                "delete",
                otel.name = "delete message",
                otel.kind = "client",
                messaging.operation.type = "settle",
                outcome = tracing::field::Empty,
            )
        });
        if self
            .tx
            .send(Pending {
                receipt,
                span,
                attempts: 0,
            })
            .is_err()
        {
            self.backlog.done(1, &self.metrics);
            tracing::error!(
                "deleter stopped before a delete was queued; the message will be redelivered and deduplicated"
            );
        }
    }

    /// Receipts queued and not yet deleted.
    pub fn backlog(&self) -> usize {
        self.backlog.count.load(Ordering::Relaxed)
    }

    /// Returns once fewer than `bound` receipts await deletion.
    pub async fn wait_below(&self, bound: usize) {
        loop {
            // Registered before the check, so a drop in between is not missed.
            let dropped = self.backlog.dropped.notified();
            if self.backlog() < bound {
                return;
            }
            dropped.await;
        }
    }
}

impl DeleterTask {
    /// Waits until every queued delete was done (all senders must be
    /// dropped), for at most `within`. Returns how many processed messages
    /// were left undeleted at the deadline: they reappear after their
    /// visibility timeout and are recognised as duplicates.
    pub async fn finish(mut self, within: Duration) -> usize {
        match tokio::time::timeout(within, &mut self.handle).await {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "deleter task failed");
                self.backlog.count.load(Ordering::Relaxed)
            }
            Err(_) => {
                // Aborting the task drops its batches in flight.
                self.handle.abort();
                let left = self.backlog.count.load(Ordering::Relaxed);
                tracing::warn!(
                    count = left,
                    deadline_ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX),
                    "delete deadline passed; these processed messages were not deleted and will reappear, then be recognised as duplicates"
                );
                left
            }
        }
    }
}

async fn run(
    target: Target,
    window: Duration,
    in_flight: usize,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    let mut sending = JoinSet::new();
    loop {
        let first = tokio::select! {
            Some(_) = sending.join_next(), if !sending.is_empty() => continue,
            receipt = rx.recv() => receipt,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        // Collect more for a short window, so busy workers delete 10 at a time.
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(receipt) => batch.push(receipt),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(receipt)) => batch.push(receipt),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        while sending.len() >= in_flight {
            sending.join_next().await;
        }
        sending.spawn(delete_until_done(target.clone(), batch));
    }
    while sending.join_next().await.is_some() {}
}

/// Deletes one batch, retrying what SQS could not delete (with backoff)
/// until every entry is deleted, rejected or given up.
async fn delete_until_done(target: Target, mut batch: Vec<Pending>) {
    let backoff = Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(5),
    };
    let mut attempt = 0_u32;
    loop {
        batch = delete_batch(&target, batch, attempt).await;
        batch = give_up_exhausted(&target, batch);
        if batch.is_empty() {
            return;
        }
        attempt += 1;
        tokio::time::sleep(backoff.delay(attempt)).await;
    }
}

/// Lets go of the entries that used their attempts: they reappear after
/// their visibility timeout instead of being held (and kept invisible) for
/// as long as SQS refuses; the redelivery is recognised as a duplicate.
fn give_up_exhausted(target: &Target, batch: Vec<Pending>) -> Vec<Pending> {
    let (exhausted, retry): (Vec<Pending>, Vec<Pending>) = batch
        .into_iter()
        .partition(|p| p.attempts >= MAX_DELETE_ATTEMPTS);
    if !exhausted.is_empty() {
        tracing::warn!(
            count = exhausted.len(),
            attempts = MAX_DELETE_ATTEMPTS,
            "could not delete processed messages; letting them go: they reappear after their visibility timeout and are recognised as duplicates"
        );
        for pending in &exhausted {
            target.held.forget(&pending.receipt);
            pending.span.record("outcome", "given_up");
            target.metrics.deletes_given_up.inc();
        }
        target.backlog.done(exhausted.len(), &target.metrics);
    }
    retry
}

/// Deletes one batch; returns the entries to try again.
async fn delete_batch(target: &Target, mut batch: Vec<Pending>, attempt: u32) -> Vec<Pending> {
    for pending in &mut batch {
        pending.attempts += 1;
    }
    let entries: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, pending)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&pending.receipt)
                .build()
                .ok()
        })
        .collect();
    target.metrics.sqs_call("delete_batch");
    let out = match target
        .sqs
        .delete_message_batch()
        .queue_url(&target.queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let failure = classify_sdk_error(&e, SQS_TRANSIENT_CODES);
            tracing::warn!(code = %failure.code, count = batch.len(), attempt, "DeleteMessageBatch failed; retrying (the messages stay invisible meanwhile)");
            target.report.failed(OPERATION, &target.queue_url, &failure);
            return batch;
        }
    };
    let mut retry = Vec::new();
    let mut failed = vec![None; batch.len()];
    for f in &out.failed {
        if let Some(slot) = f.id.parse::<usize>().ok().and_then(|i| failed.get_mut(i)) {
            *slot = Some(f);
        }
    }
    let mut done = 0;
    let mut entry_codes: Vec<String> = Vec::new();
    let mut refused: Option<String> = None;
    for (pending, failure) in batch.into_iter().zip(failed) {
        match failure {
            None => {
                target.metrics.deleted.inc();
                target.held.forget(&pending.receipt);
                pending.span.record("outcome", "deleted");
                done += 1;
            }
            Some(f) => {
                entry_codes.push(f.code.clone());
                // Refused for the caller (access, key): retried, and the
                // fault raised, whoever SQS says is at fault.
                let refusal = is_configuration_code(&f.code);
                if f.sender_fault && !refusal {
                    // Typically an expired receipt handle: the message is visible again
                    // and its redelivery will be a duplicate. Nothing is lost.
                    pending.span.in_scope(|| tracing::warn!(code = %f.code, "delete rejected for one message; its redelivery will be recognised as a duplicate"));
                    pending.span.record("outcome", "rejected");
                    target.held.forget(&pending.receipt);
                    done += 1;
                    continue;
                }
                if refusal {
                    refused.get_or_insert_with(|| f.code.clone());
                }
                tracing::debug!(code = %f.code, attempt, "delete failed for one message; retrying");
                retry.push(pending);
            }
        }
    }
    target
        .report
        .entries_failed(OPERATION, entry_codes.iter().map(String::as_str));
    // The request went through: the call is allowed, unless an entry said
    // otherwise (then the fault is raised, once, and must not be cleared).
    match refused {
        Some(code) => target
            .report
            .entries_refused(OPERATION, &target.queue_url, &code),
        None => target.report.ok(OPERATION, &target.queue_url),
    }
    target.backlog.done(done, &target.metrics);
    retry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::test_support::{hung_sqs, report};
    use futures::FutureExt;
    use std::time::Instant;

    #[tokio::test]
    async fn batches_go_out_in_parallel_the_backlog_is_counted_and_finish_keeps_its_deadline() {
        let (sqs, server) = hung_sqs().await;
        let metrics = Metrics::new();
        let held = Held::new(Duration::from_secs(30));
        let (deleter, task) = Deleter::start(
            sqs,
            "http://queue".into(),
            Duration::from_millis(1),
            2,
            held.clone(),
            metrics.clone(),
            report(&metrics),
        );
        let now = Instant::now();
        for i in 0..(3 * MAX_BATCH) {
            let receipt = format!("r-{i}");
            held.hold(&receipt, now);
            deleter.delete(receipt);
        }
        // Queuing never waits; the backlog counts every receipt.
        assert_eq!(deleter.backlog(), 3 * MAX_BATCH);
        assert_eq!(metrics.delete_backlog.get(), 3 * MAX_BATCH as i64);
        // Two batches go out at once (and hang); the third waits for room.
        testkit_free_wait(|| {
            metrics
                .encode()
                .contains("sqs_worker_sqs_calls_total{name=\"delete_batch\"} 2")
        })
        .await;
        // Receiving would wait: the backlog stays above a bound until deletes finish.
        let below =
            tokio::time::timeout(Duration::from_millis(200), deleter.wait_below(MAX_BATCH)).await;
        assert!(below.is_err(), "the backlog does not drop while SQS hangs");
        assert!(
            deleter
                .wait_below(3 * MAX_BATCH + 1)
                .now_or_never()
                .is_some()
        );
        // Awaiting deletion: still held (kept invisible), but not returned on shutdown.
        assert_eq!(held.len(), 3 * MAX_BATCH);
        assert!(held.take_unprocessed().await.is_empty());

        drop(deleter);
        let started = Instant::now();
        let left = tokio::time::timeout(
            Duration::from_secs(5),
            task.finish(Duration::from_millis(300)),
        )
        .await
        .expect("finish must keep its deadline with SQS hung");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "finish kept its deadline: {took:?}"
        );
        assert_eq!(left, 3 * MAX_BATCH, "every receipt is reported undeleted");
        server.abort();
    }

    /// Polls `check` for up to 5 s.
    async fn testkit_free_wait(check: impl Fn() -> bool) {
        for _ in 0..500 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not met within 5 s");
    }

    #[tokio::test]
    async fn finish_returns_at_once_when_nothing_is_pending() {
        let (sqs, server) = hung_sqs().await;
        let (deleter, task) = Deleter::start(
            sqs,
            "http://queue".into(),
            Duration::ZERO,
            1,
            Held::new(Duration::from_secs(30)),
            Metrics::new(),
            report(&Metrics::new()),
        );
        drop(deleter);
        let started = Instant::now();
        let left =
            tokio::time::timeout(Duration::from_secs(5), task.finish(Duration::from_secs(5)))
                .await
                .expect("nothing to wait for");
        assert_eq!(left, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
        server.abort();
    }
}
