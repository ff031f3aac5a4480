//! Deletes processed messages in batches of up to 10 collected over a short
//! window, retrying the entries SQS reports as failed.
//!
//! The queue of receipts is bounded: when SQS deletes fall behind, handlers
//! wait for room (counted by the `delete_queue_waiting` gauge and logged at
//! debug level) while still holding their concurrency slot, so receiving
//! slows down instead of memory growing. On shutdown [`DeleterTask::finish`]
//! gives the deletes a deadline; what is not deleted by then is left to
//! reappear after its visibility timeout, where it is recognised as a duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// Most entries of one `DeleteMessageBatch` (an SQS limit).
pub const MAX_BATCH: usize = 10;
const MAX_ATTEMPTS: u32 = 4;

/// A message to delete: its receipt handle and how often deleting it failed.
#[derive(Debug, Clone)]
struct Pending {
    receipt: String,
    attempts: u32,
}

/// Sends receipts to the background deleter.
#[derive(Debug, Clone)]
pub struct Deleter {
    tx: mpsc::Sender<String>,
    /// Receipts handed over and not yet deleted or given up.
    outstanding: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

/// The background task; call [`DeleterTask::finish`] after dropping every [`Deleter`].
#[derive(Debug)]
pub struct DeleterTask {
    handle: JoinHandle<()>,
    outstanding: Arc<AtomicUsize>,
}

/// Undoes a count unless disarmed (a send that was cancelled or failed).
struct Counted<'a>(Option<&'a AtomicUsize>);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if let Some(count) = self.0 {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Keeps the waiting gauge up while a handler waits for room.
struct Waiting<'a>(&'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.delete_queue_waiting.dec();
    }
}

impl Deleter {
    /// Starts the background deleter with room for `capacity` receipts
    /// waiting to be deleted (at least one batch).
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        window: Duration,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> (Self, DeleterTask) {
        let (tx, rx) = mpsc::channel(capacity.max(MAX_BATCH));
        let outstanding = Arc::new(AtomicUsize::new(0));
        let handle = tokio::spawn(run(
            sqs,
            queue_url,
            window,
            metrics.clone(),
            rx,
            outstanding.clone(),
        ));
        (
            Self {
                tx,
                outstanding: outstanding.clone(),
                metrics,
            },
            DeleterTask {
                handle,
                outstanding,
            },
        )
    }

    /// Queues a receipt handle for deletion, waiting for room while the
    /// queue is full (backpressure on the handlers).
    pub async fn delete(&self, receipt: String) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        let mut counted = Counted(Some(&self.outstanding));
        let sent = match self.tx.try_send(receipt) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(()),
            Err(TrySendError::Full(receipt)) => {
                self.metrics.delete_queue_waiting.inc();
                let _waiting = Waiting(&self.metrics);
                tracing::debug!(
                    capacity = self.tx.max_capacity(),
                    "delete queue full (SQS deletes are behind); waiting for room"
                );
                self.tx.send(receipt).await.map_err(|_| ())
            }
        };
        match sent {
            Ok(()) => counted.0 = None,
            Err(()) => tracing::error!(
                "deleter stopped before a delete was queued; the message will be redelivered and deduplicated"
            ),
        }
    }
}

impl DeleterTask {
    /// Waits until every queued delete was attempted (all senders must be
    /// dropped), for at most `within`. Returns how many processed messages
    /// were left undeleted at the deadline: they reappear after their
    /// visibility timeout and are recognised as duplicates.
    pub async fn finish(mut self, within: Duration) -> usize {
        match tokio::time::timeout(within, &mut self.handle).await {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "deleter task failed");
                self.outstanding.load(Ordering::Relaxed)
            }
            Err(_) => {
                self.handle.abort();
                let left = self.outstanding.load(Ordering::Relaxed);
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
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    window: Duration,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<String>,
    outstanding: Arc<AtomicUsize>,
) {
    let mut retry: Vec<Pending> = Vec::new();
    loop {
        let mut batch: Vec<Pending> = retry.drain(..retry.len().min(MAX_BATCH)).collect();
        if batch.is_empty() {
            match rx.recv().await {
                Some(receipt) => batch.push(Pending {
                    receipt,
                    attempts: 0,
                }),
                None => return,
            }
        }
        // Collect more for a short window, so busy workers delete 10 at a time.
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(receipt)) => batch.push(Pending {
                    receipt,
                    attempts: 0,
                }),
                Ok(None) | Err(_) => break,
            }
        }
        let size = batch.len();
        let failed = delete_batch(&sqs, &queue_url, &metrics, batch).await;
        if !failed.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut retried = 0;
        for mut pending in failed {
            pending.attempts += 1;
            if pending.attempts < MAX_ATTEMPTS {
                retry.push(pending);
                retried += 1;
            } else {
                tracing::warn!(
                    "giving up deleting a message; it will be redelivered and recognised as a duplicate"
                );
            }
        }
        outstanding.fetch_sub(size - retried, Ordering::Relaxed);
    }
}

/// Deletes one batch; returns the entries to retry.
async fn delete_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    metrics: &Metrics,
    batch: Vec<Pending>,
) -> Vec<Pending> {
    let entries: Vec<DeleteMessageBatchRequestEntry> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&p.receipt)
                .build()
                .ok()
        })
        .collect();
    metrics.sqs_call("delete_batch");
    match sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => {
            metrics
                .deleted
                .inc_by((batch.len() - out.failed.len()) as u64);
            let failed: Vec<Pending> = out
                .failed
                .iter()
                .filter(|f| !f.sender_fault)
                .filter_map(|f| {
                    f.id.parse::<usize>()
                        .ok()
                        .and_then(|i| batch.get(i).cloned())
                })
                .collect();
            for f in out.failed.iter().filter(|f| f.sender_fault) {
                // Typically an expired receipt handle: the message is visible again
                // and its redelivery will be a duplicate. Nothing is lost.
                tracing::warn!(code = %f.code, "delete rejected for one message");
            }
            failed
        }
        Err(e) => {
            tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "DeleteMessageBatch failed; retrying");
            batch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An SQS client whose endpoint accepts connections and never answers
    /// (a hung SQS), with timeouts far beyond the test.
    async fn hung_sqs() -> (aws_sdk_sqs::Client, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(format!("http://{addr}"))
            .timeout_config(
                aws_smithy_types::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(600))
                    .build(),
            )
            .build();
        (aws_sdk_sqs::Client::from_conf(config), server)
    }

    #[tokio::test]
    async fn a_full_queue_makes_handlers_wait_and_finish_keeps_its_deadline() {
        let (sqs, server) = hung_sqs().await;
        let metrics = Metrics::new();
        let (deleter, task) = Deleter::start(
            sqs,
            "http://queue".into(),
            Duration::from_millis(1),
            MAX_BATCH,
            metrics.clone(),
        );
        // The first batch goes out and hangs; the next MAX_BATCH fill the queue.
        deleter.delete("r-first".into()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..MAX_BATCH {
            deleter.delete(format!("r-{i}")).await;
        }
        assert_eq!(metrics.delete_queue_waiting.get(), 0);

        // No room: the next handler waits, visibly.
        let blocked = deleter.clone();
        let waiting = tokio::spawn(async move { blocked.delete("r-waiting".into()).await });
        let mut seen_waiting = false;
        for _ in 0..50 {
            if metrics.delete_queue_waiting.get() == 1 {
                seen_waiting = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            seen_waiting,
            "a handler waits for room and the gauge shows it"
        );
        assert!(
            !waiting.is_finished(),
            "backpressure: the send does not complete"
        );
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(
            metrics.delete_queue_waiting.get(),
            0,
            "a cancelled wait leaves the gauge"
        );

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
        assert_eq!(
            left,
            1 + MAX_BATCH,
            "the hung batch and the queued receipts are reported undeleted"
        );
        server.abort();
    }

    #[tokio::test]
    async fn finish_returns_at_once_when_nothing_is_pending() {
        let (sqs, server) = hung_sqs().await;
        let (deleter, task) = Deleter::start(
            sqs,
            "http://queue".into(),
            Duration::ZERO,
            1,
            Metrics::new(),
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
