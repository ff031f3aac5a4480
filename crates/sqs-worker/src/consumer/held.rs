//! Every message the worker holds — received and not yet deleted or returned
//! to the queue: being processed, waiting its turn in a FIFO group, being
//! dead-lettered, or awaiting deletion — keyed by receipt handle, and the
//! heartbeat that keeps each one invisible for as long as it is held.
//!
//! A message's visibility runs from the moment its receive was sent. Once
//! half of it has passed, the heartbeat extends it to the full visibility
//! timeout again (`ChangeMessageVisibilityBatch`, ten per request), so a
//! processed message never reappears while its delete is still pending, and a
//! slow one is never processed twice at once. Under normal load messages are
//! held for milliseconds and the heartbeat sends nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// One held message.
#[derive(Debug, Clone)]
struct Entry {
    /// When its visibility ends unless extended.
    expires: Instant,
    /// Processed and queued for deletion (not returned on shutdown).
    deleting: bool,
}

/// The messages a worker holds, by receipt handle.
#[derive(Debug)]
pub struct Held {
    entries: Mutex<HashMap<String, Entry>>,
    visibility: Duration,
}

impl Held {
    /// An empty registry for messages received with `visibility`.
    pub fn new(visibility: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::default(),
            visibility,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds a message received by a request sent at `sent`.
    pub fn hold(&self, receipt: &str, sent: Instant) {
        self.lock().insert(
            receipt.to_owned(),
            Entry {
                expires: sent + self.visibility,
                deleting: false,
            },
        );
    }

    /// The message was processed and its delete queued.
    pub fn deleting(&self, receipt: &str) {
        if let Some(entry) = self.lock().get_mut(receipt) {
            entry.deleting = true;
        }
    }

    /// The message is no longer ours (deleted, returned, or given up).
    pub fn forget(&self, receipt: &str) {
        self.lock().remove(receipt);
    }

    /// Stops holding those of `receipts` not yet processed (their task died).
    pub fn forget_unprocessed(&self, receipts: &[String]) {
        let mut entries = self.lock();
        for receipt in receipts {
            if entries.get(receipt).is_some_and(|e| !e.deleting) {
                entries.remove(receipt);
            }
        }
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Stops holding every message not yet processed and returns their receipts.
    pub fn take_unprocessed(&self) -> Vec<String> {
        let mut entries = self.lock();
        let unprocessed: Vec<String> = entries
            .iter()
            .filter(|(_, e)| !e.deleting)
            .map(|(r, _)| r.clone())
            .collect();
        for receipt in &unprocessed {
            entries.remove(receipt);
        }
        unprocessed
    }

    /// The receipts whose visibility ends within half a timeout of `now`.
    fn due(&self, now: Instant) -> Vec<String> {
        let horizon = now + self.visibility / 2;
        self.lock()
            .iter()
            .filter(|(_, e)| e.expires <= horizon)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The visibility of `receipt` was extended by a request sent at `sent`.
    fn extended(&self, receipt: &str, sent: Instant) {
        if let Some(entry) = self.lock().get_mut(receipt) {
            entry.expires = sent + self.visibility;
        }
    }

    /// How often the heartbeat looks: a tenth of the timeout, 0.5 to 5 s.
    fn tick(&self) -> Duration {
        (self.visibility / 10).clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}

/// Extends the visibility of every held message before it runs out, until `stop`.
pub async fn heartbeat(
    held: Arc<Held>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(held.tick()) => {}
            () = stop.cancelled() => return,
        }
        let due = held.due(Instant::now());
        if due.is_empty() {
            continue;
        }
        tracing::debug!(
            count = due.len(),
            "extending the visibility of held messages"
        );
        for chunk in due.chunks(10) {
            metrics.sqs_call("change_visibility_batch");
            let sent = Instant::now();
            match crate::visibility::set_chunk(&sqs, &queue_url, chunk, held.visibility).await {
                Ok(failed) => {
                    for (i, receipt) in chunk.iter().enumerate() {
                        if failed.contains(&i) {
                            // Deleted or returned meanwhile, or the receipt
                            // expired: nothing to keep invisible.
                            continue;
                        }
                        held.extended(receipt, sent);
                        metrics.visibility_extended.inc();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, count = chunk.len(), "could not extend the visibility of held messages; trying again at the next beat");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_half_the_timeout_and_extended_from_the_request() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        held.hold("a", t0);
        held.hold("b", t0 + Duration::from_secs(4));
        assert!(held.due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(held.due(t0 + Duration::from_secs(5)), vec!["a".to_owned()]);
        held.extended("a", t0 + Duration::from_secs(5));
        assert!(held.due(t0 + Duration::from_secs(8)).is_empty());
        let mut due = held.due(t0 + Duration::from_secs(10));
        due.sort();
        assert_eq!(due, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn shutdown_returns_only_unprocessed_messages() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for r in ["a", "b", "c"] {
            held.hold(r, t0);
        }
        held.deleting("b");
        held.forget("c");
        held.extended("c", t0); // a late beat does not bring it back
        assert_eq!(held.take_unprocessed(), vec!["a".to_owned()]);
        assert_eq!(held.len(), 1, "the one awaiting deletion stays held");
    }

    #[test]
    fn beats_often_enough_for_short_and_long_timeouts() {
        assert_eq!(
            Held::new(Duration::from_secs(5)).tick(),
            Duration::from_millis(500)
        );
        assert_eq!(
            Held::new(Duration::from_secs(60)).tick(),
            Duration::from_secs(5)
        );
    }
}
