//! Deletes processed messages in batches of up to 10 collected over a short
//! window, retrying the entries SQS reports as failed.

use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use std::sync::Arc;

const MAX_BATCH: usize = 10;
const MAX_ATTEMPTS: u32 = 4;

/// A message to delete: its receipt handle and a batch-unique id.
#[derive(Debug, Clone)]
struct Pending {
    receipt: String,
    attempts: u32,
}

/// Sends receipts to the background deleter.
#[derive(Debug, Clone)]
pub struct Deleter {
    tx: mpsc::UnboundedSender<String>,
}

/// The background task; await [`DeleterTask::finish`] after dropping every [`Deleter`].
#[derive(Debug)]
pub struct DeleterTask(JoinHandle<()>);

impl Deleter {
    /// Starts the background deleter.
    pub fn start(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        window: Duration,
        metrics: Arc<Metrics>,
    ) -> (Self, DeleterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(sqs, queue_url, window, metrics, rx));
        (Self { tx }, DeleterTask(task))
    }

    /// Queues a receipt handle for deletion.
    pub fn delete(&self, receipt: String) {
        if self.tx.send(receipt).is_err() {
            tracing::error!(
                "deleter stopped before a delete was queued; the message will be redelivered and deduplicated"
            );
        }
    }
}

impl DeleterTask {
    /// Waits until every queued delete was attempted (all senders must be dropped).
    pub async fn finish(self) {
        if let Err(e) = self.0.await {
            tracing::error!(error = %e, "deleter task failed");
        }
    }
}

async fn run(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    window: Duration,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<String>,
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
        let failed = delete_batch(&sqs, &queue_url, &metrics, batch).await;
        if !failed.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for mut pending in failed {
            pending.attempts += 1;
            if pending.attempts < MAX_ATTEMPTS {
                retry.push(pending);
            } else {
                tracing::warn!(
                    "giving up deleting a message; it will be redelivered and recognised as a duplicate"
                );
            }
        }
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
