//! Every message the worker holds — received and not yet deleted or returned
//! to the queue: being processed, waiting its turn in a FIFO group, being
//! dead-lettered, or awaiting deletion — keyed by receipt handle, and the
//! heartbeat that keeps each one invisible for as long as it is held.
//!
//! A message's visibility runs from the moment its receive was sent. Once
//! half of it has passed, the heartbeat extends it to the full visibility
//! timeout again (`ChangeMessageVisibilityBatch`, ten per request, each
//! request on its own with a deadline of a quarter of the timeout), so a processed message never reappears while its delete
//! is still pending, and a slow one is never processed twice at once. Under
//! normal load messages are held for milliseconds and the heartbeat sends
//! nothing.
//!
//! A message is let go ([`Held::let_go`]) before it is returned to the queue,
//! and letting go waits for an extension of it already in flight: an
//! extension that landed after the return would push the message back to
//! the full timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::sqs_report::SqsReport;
use crate::metrics::Metrics;

/// One held message.
#[derive(Debug, Clone)]
struct Entry {
    /// When its visibility ends unless extended.
    expires: Instant,
    /// Processed and queued for deletion (not returned on shutdown).
    deleting: bool,
    /// An extension of its visibility is in flight.
    extending: bool,
    /// Being let go once its extension in flight ends: never extended again.
    releasing: bool,
    /// SQS said its receipt handle is no longer valid (the message was
    /// deleted, returned or its visibility ran out): never extended again.
    lost: bool,
    /// Its place in receive order.
    seq: u64,
    /// Its FIFO group, if any.
    group: Option<String>,
}

/// The messages a worker holds, by receipt handle.
#[derive(Debug)]
pub struct Held {
    entries: Mutex<HashMap<String, Entry>>,
    visibility: Duration,
    /// Receive order.
    next_seq: AtomicU64,
    /// Signalled when extensions in flight end.
    settled: Notify,
}

/// Unprocessed messages handed back on shutdown: FIFO groups, each in
/// receive order (a standard queue's messages in lots of ten).
pub type Groups = Vec<Vec<String>>;

impl Held {
    /// An empty registry for messages received with `visibility`.
    pub fn new(visibility: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::default(),
            visibility,
            next_seq: AtomicU64::new(0),
            settled: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds a message received by a request sent at `sent`.
    pub fn hold(&self, receipt: &str, sent: Instant) {
        self.hold_in(receipt, sent, None);
    }

    /// Holds a message of FIFO group `group` received by a request sent at `sent`.
    pub fn hold_in(&self, receipt: &str, sent: Instant, group: Option<String>) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            receipt.to_owned(),
            Entry {
                expires: sent + self.visibility,
                deleting: false,
                extending: false,
                releasing: false,
                lost: false,
                seq,
                group,
            },
        );
    }

    /// The message was processed and its delete queued.
    pub fn deleting(&self, receipt: &str) {
        if let Some(entry) = self.lock().get_mut(receipt) {
            entry.deleting = true;
        }
    }

    /// The message is no longer ours (deleted, or given up): nothing will
    /// change its visibility any more.
    pub fn forget(&self, receipt: &str) {
        self.lock().remove(receipt);
    }

    /// Stops holding `receipts` once no extension of theirs is in flight,
    /// so a visibility change that follows is the last one to land. Those
    /// not being extended are let go at once; the others are never extended
    /// again and are let go as their extensions end.
    pub async fn let_go(&self, receipts: &[String]) {
        let mut waiting: Vec<&String> = Vec::new();
        {
            let mut entries = self.lock();
            for receipt in receipts {
                match entries.get_mut(receipt) {
                    Some(entry) if entry.extending => {
                        entry.releasing = true;
                        waiting.push(receipt);
                    }
                    Some(_) => {
                        entries.remove(receipt);
                    }
                    None => {}
                }
            }
        }
        while !waiting.is_empty() {
            let settled = self.settled.notified();
            {
                let mut entries = self.lock();
                waiting.retain(|receipt| match entries.get(*receipt) {
                    Some(entry) if entry.extending => true,
                    Some(_) => {
                        entries.remove(*receipt);
                        false
                    }
                    None => false,
                });
            }
            if !waiting.is_empty() {
                settled.await;
            }
        }
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

    /// Stops holding every message not yet processed, once no extension of
    /// theirs is in flight, and returns them grouped: by FIFO group in order
    /// of each group's first message, each group in receive order.
    pub async fn take_unprocessed(&self) -> Groups {
        let mut unprocessed: Vec<(u64, Option<String>, String)> = self
            .lock()
            .iter()
            .filter(|(_, e)| !e.deleting)
            .map(|(r, e)| (e.seq, e.group.clone(), r.clone()))
            .collect();
        unprocessed.sort_by_key(|(seq, _, _)| *seq);
        let receipts: Vec<String> = unprocessed.iter().map(|(_, _, r)| r.clone()).collect();
        self.let_go(&receipts).await;
        let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
        let mut standard: Vec<String> = Vec::new();
        for (_, group, receipt) in unprocessed {
            if group.is_none() {
                standard.push(receipt);
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, list)) => list.push(receipt),
                None => groups.push((group, vec![receipt])),
            }
        }
        // A standard queue has no order to keep: one request per ten
        // messages, all returned at once.
        let standard = standard.chunks(10).map(<[String]>::to_vec);
        groups
            .into_iter()
            .map(|(_, list)| list)
            .chain(standard)
            .collect()
    }

    /// The receipts whose visibility ends within half a timeout of `now`
    /// and that no extension is in flight for; marks them as being extended.
    fn due(&self, now: Instant) -> Vec<String> {
        let horizon = now + self.visibility / 2;
        self.lock()
            .iter_mut()
            .filter(|(_, e)| e.expires <= horizon && !e.extending && !e.releasing && !e.lost)
            .map(|(r, e)| {
                e.extending = true;
                r.clone()
            })
            .collect()
    }

    /// The extension of `receipt` is over: extended by a request sent at
    /// `sent`, or not (`None`).
    fn extended(&self, receipt: &str, sent: Option<Instant>) {
        if let Some(entry) = self.lock().get_mut(receipt) {
            entry.extending = false;
            if let Some(sent) = sent {
                entry.expires = sent + self.visibility;
            }
        }
    }

    /// The extension of `receipt` failed because SQS no longer knows its
    /// receipt handle: it is over, and there is nothing left to extend.
    fn lost(&self, receipt: &str) {
        if let Some(entry) = self.lock().get_mut(receipt) {
            entry.extending = false;
            entry.lost = true;
        }
    }

    /// How often the heartbeat looks: a tenth of the timeout, 0.5 to 5 s.
    fn tick(&self) -> Duration {
        (self.visibility / 10).clamp(Duration::from_millis(500), Duration::from_secs(5))
    }

    /// Each extension request's deadline: a quarter of the timeout (at
    /// least a second), so a beat ends well before what it extends expires.
    fn call_deadline(&self) -> Duration {
        (self.visibility / 4).max(Duration::from_secs(1))
    }
}

/// Extends the visibility of every held message before it runs out, until `stop`.
///
/// Each request runs on its own: one that hangs to its deadline holds back
/// neither the next look nor a message being let go (letting go waits only
/// for an extension of that message). At `stop`, requests in flight get
/// [`STOP_WAIT`] to end; the rest are abandoned (an abandoned one may still
/// land, hiding a returned message until its visibility timeout, as if it
/// had not been returned).
pub async fn heartbeat(
    held: Arc<Held>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    metrics: Arc<Metrics>,
    report: SqsReport,
    stop: CancellationToken,
) {
    let beat = Arc::new(Beat {
        held: held.clone(),
        sqs,
        queue_url,
        metrics,
        report,
    });
    let mut beats = JoinSet::new();
    let mut look = tokio::time::interval(held.tick());
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    look.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(joined) = beats.join_next(), if !beats.is_empty() => {
                beat_ended(joined);
                continue;
            }
            _ = look.tick() => {}
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
            let (beat, chunk) = (beat.clone(), chunk.to_vec());
            beats.spawn(async move { beat.extend(&chunk).await });
        }
    }
    let ended = tokio::time::timeout(STOP_WAIT, async {
        while let Some(joined) = beats.join_next().await {
            beat_ended(joined);
        }
    })
    .await;
    if ended.is_err() {
        // Each aborted beat's guard ends its extensions.
        beats.abort_all();
        while beats.join_next().await.is_some() {}
    }
}

/// Logs a beat that did not end normally (its guard already ended its extensions).
fn beat_ended(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && !e.is_cancelled()
    {
        tracing::error!(error = %e, "a visibility extension failed");
    }
}

/// Ends the extensions of a beat's chunk however the beat ends (answered,
/// panicked or aborted at stop), so nothing waits for them for ever.
struct Settle<'a> {
    held: &'a Held,
    chunk: &'a [String],
    /// The beat settled each receipt itself (a receipt may already be in
    /// the next beat's hands: not touched then).
    done: bool,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut entries = self.held.lock();
            for receipt in self.chunk {
                if let Some(entry) = entries.get_mut(receipt) {
                    entry.extending = false;
                }
            }
        }
        self.held.settled.notify_waiters();
    }
}

/// Entry codes with which SQS says a receipt handle is no longer valid.
const RECEIPT_GONE: &[&str] = &[
    "ReceiptHandleIsInvalid",
    // "The receipt handle has expired" (or an extension past SQS's 12 h cap).
    "InvalidParameterValue",
    "AWS.SimpleQueueService.MessageNotInflight",
    "MessageNotInflight",
];

/// At the heartbeat's stop, how long extensions in flight may still take
/// (on a healthy SQS they end in milliseconds).
pub const STOP_WAIT: Duration = Duration::from_millis(500);

/// What each `ChangeMessageVisibilityBatch` of the heartbeat needs (shared by all).
struct Beat {
    held: Arc<Held>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    metrics: Arc<Metrics>,
    report: SqsReport,
}

impl Beat {
    /// Extends `chunk` (up to ten receipts) within the call deadline.
    async fn extend(&self, chunk: &[String]) {
        let Self {
            held,
            sqs,
            queue_url,
            metrics,
            report,
        } = self;
        let mut settle = Settle {
            held,
            chunk,
            done: false,
        };
        metrics.sqs_call("change_visibility_batch");
        let sent = Instant::now();
        let call = crate::visibility::set_chunk(sqs, queue_url, chunk, held.visibility);
        let outcome = match tokio::time::timeout(held.call_deadline(), call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(shared::aws::SdkFailure {
                transient: true,
                configuration: false,
                code: "timeout".into(),
                message: format!("no answer within {:?}", held.call_deadline()),
            }),
        };
        match outcome {
            Ok(failed) => {
                report.ok(crate::visibility::OPERATION, queue_url);
                report.entries_failed(
                    crate::visibility::OPERATION,
                    failed.iter().map(|(_, code)| code.as_str()),
                );
                for (i, receipt) in chunk.iter().enumerate() {
                    if let Some((_, code)) = failed.iter().find(|(at, _)| *at == i) {
                        if RECEIPT_GONE.contains(&code.as_str()) {
                            // Deleted or returned meanwhile, or the receipt
                            // expired: nothing to keep invisible any more.
                            held.lost(receipt);
                        } else {
                            held.extended(receipt, None);
                        }
                        continue;
                    }
                    held.extended(receipt, Some(sent));
                    metrics.visibility_extended.inc();
                }
            }
            Err(failure) => {
                report.failed(crate::visibility::OPERATION, queue_url, &failure);
                for receipt in chunk {
                    held.extended(receipt, None);
                }
            }
        }
        settle.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn due_after_half_the_timeout_and_extended_from_the_request() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        held.hold("a", t0);
        held.hold("b", t0 + Duration::from_secs(4));
        assert!(held.due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(held.due(t0 + Duration::from_secs(5)), vec!["a".to_owned()]);
        held.extended("a", Some(t0 + Duration::from_secs(5)));
        assert!(held.due(t0 + Duration::from_secs(8)).is_empty());
        let mut due = held.due(t0 + Duration::from_secs(10));
        due.sort();
        assert_eq!(due, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[tokio::test]
    async fn shutdown_returns_only_unprocessed_messages() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for r in ["a", "b", "c"] {
            held.hold(r, t0);
        }
        held.deleting("b");
        held.forget("c");
        held.extended("c", Some(t0)); // a late beat does not bring it back
        let groups = held.take_unprocessed().await;
        assert_eq!(groups, vec![vec!["a".to_owned()]]);
        assert_eq!(held.len(), 1, "the one awaiting deletion stays held");
    }

    #[tokio::test]
    async fn fifo_messages_come_back_grouped_in_receive_order() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for (r, g) in [
            ("a1", "a"),
            ("b1", "b"),
            ("a2", "a"),
            ("c1", "c"),
            ("b2", "b"),
            ("a3", "a"),
        ] {
            held.hold_in(r, t0, Some(g.to_owned()));
        }
        held.deleting("c1");
        let groups = held.take_unprocessed().await;
        assert_eq!(
            groups,
            vec![
                vec!["a1".to_owned(), "a2".to_owned(), "a3".to_owned()],
                vec!["b1".to_owned(), "b2".to_owned()],
            ]
        );
    }

    #[tokio::test]
    async fn letting_go_waits_for_an_extension_in_flight() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        held.hold("a", t0);
        held.hold("b", t0);
        let due = held.due(t0 + Duration::from_secs(6));
        assert_eq!(due.len(), 2);
        assert!(
            held.due(t0 + Duration::from_secs(6)).is_empty(),
            "not twice in flight"
        );
        let receipts = vec!["a".to_owned()];
        let mut let_go = Box::pin(held.let_go(&receipts));
        assert!(
            (&mut let_go).now_or_never().is_none(),
            "an extension of it is in flight"
        );
        held.extended("b", None);
        held.settled.notify_waiters();
        assert!(
            (&mut let_go).now_or_never().is_none(),
            "not its own extension"
        );
        held.extended("a", Some(t0));
        held.settled.notify_waiters();
        tokio::time::timeout(Duration::from_secs(1), let_go)
            .await
            .expect("let go once its extension ended");
        assert_eq!(held.len(), 1);
    }

    /// Waits (on the condition, within `limit`) until `receipt` is being extended.
    async fn until_extending(held: &Held, receipt: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        while !held.lock().get(receipt).is_some_and(|e| e.extending) {
            assert!(
                started.elapsed() < limit,
                "{receipt} not extended within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    /// A heartbeat against a hung SQS at visibility 8 s (a look every
    /// 0.8 s, each call waiting 2 s), with "a" held and its extension in flight.
    struct Hung {
        held: Arc<Held>,
        /// When "a" was received: due at once.
        long_ago: Instant,
        stop: CancellationToken,
        beat: tokio::task::JoinHandle<()>,
        server: tokio::task::JoinHandle<()>,
    }

    async fn hung_heartbeat() -> Hung {
        use crate::consumer::test_support::{hung_sqs, report};
        let (sqs, server) = hung_sqs().await;
        let metrics = Metrics::new();
        let held = Held::new(Duration::from_secs(8));
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(6))
            .expect("a monotonic clock past 6 s");
        held.hold("a", long_ago);
        let stop = CancellationToken::new();
        let beat = tokio::spawn(heartbeat(
            held.clone(),
            sqs,
            "http://queue".into(),
            metrics.clone(),
            report(&metrics),
            stop.clone(),
        ));
        until_extending(&held, "a", Duration::from_secs(5)).await;
        Hung {
            held,
            long_ago,
            stop,
            beat,
            server,
        }
    }

    #[tokio::test]
    async fn an_extension_hanging_holds_back_neither_the_next_one_nor_letting_go_of_others() {
        let hung = hung_heartbeat().await;
        let held = &hung.held;
        // "a" hangs; "b" becomes due: it is extended at the next look, not
        // after "a"'s call has given up.
        held.hold("b", hung.long_ago);
        held.hold("c", Instant::now());
        let waited = until_extending(held, "b", Duration::from_secs(5)).await;
        assert!(
            waited < Duration::from_millis(1500),
            "extended {waited:?} later, behind the hanging call"
        );
        // "c" is not being extended: letting it go waits for nobody.
        assert!(held.let_go(&["c".to_owned()]).now_or_never().is_some());
        hung.stop.cancel();
        hung.beat.await.expect("heartbeat");
        hung.server.abort();
    }

    #[tokio::test]
    async fn at_stop_an_extension_hanging_is_abandoned_after_a_short_wait() {
        let hung = hung_heartbeat().await;
        let stopping = Instant::now();
        hung.stop.cancel();
        hung.beat.await.expect("heartbeat");
        let took = stopping.elapsed();
        assert!(
            took >= STOP_WAIT && took < STOP_WAIT + Duration::from_secs(1),
            "the heartbeat stopped {took:?} after its stop (the call's deadline is 2 s)"
        );
        // Nothing waits for the abandoned extension.
        assert!(
            hung.held.let_go(&["a".to_owned()]).now_or_never().is_some(),
            "letting go waits for an abandoned extension"
        );
        hung.server.abort();
    }

    #[tokio::test]
    async fn letting_go_of_several_lets_the_idle_go_at_once_and_extends_the_rest_no_more() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        held.hold("busy", t0);
        assert_eq!(held.due(t0 + Duration::from_secs(6)), ["busy"]);
        held.hold("idle", t0);
        let receipts = vec!["busy".to_owned(), "idle".to_owned()];
        let mut let_go = Box::pin(held.let_go(&receipts));
        assert!((&mut let_go).now_or_never().is_none(), "busy is in flight");
        assert_eq!(held.len(), 1, "idle let go at once");
        // Its extension fails: it would be due again, but it is being let go.
        held.extended("busy", None);
        assert!(
            held.due(t0 + Duration::from_secs(7)).is_empty(),
            "never extended again while being let go"
        );
        held.settled.notify_waiters();
        tokio::time::timeout(Duration::from_secs(1), let_go)
            .await
            .expect("let go once its extension ended");
        assert!(held.is_empty());
    }

    #[tokio::test]
    async fn a_standard_queues_messages_come_back_ten_per_request_in_receive_order() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let receipts: Vec<String> = (0..25).map(|i| format!("r{i}")).collect();
        for r in &receipts {
            held.hold(r, t0);
        }
        let lots = held.take_unprocessed().await;
        assert_eq!(lots.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(lots.concat(), receipts, "in receive order");
    }

    #[test]
    fn a_receipt_sqs_no_longer_knows_is_never_extended_again() {
        let held = Held::new(Duration::from_secs(10));
        let t0 = Instant::now();
        held.hold("gone", t0);
        held.hold("kept", t0);
        let mut due = held.due(t0 + Duration::from_secs(6));
        due.sort();
        assert_eq!(due, ["gone", "kept"]);
        held.lost("gone");
        held.extended("kept", None);
        assert_eq!(held.due(t0 + Duration::from_secs(7)), ["kept"]);
        assert_eq!(held.len(), 2, "still held (counted) until let go");
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
