//! Receiving: the long poll itself and how many of them run at once.
//!
//! One long poll is always in flight (an idle worker makes about three
//! requests a minute at the default 20 s wait). Each receive that comes back
//! full (ten messages) lets one more run, up to `WORKER_POLLERS`; each that
//! comes back short of what it asked for (or fails) takes one away. So
//! under load several receives overlap their round trips — one receive in
//! flight caps a worker at ten messages per SQS round trip — and when the
//! queue empties the extra polls end with their next empty answer and are not
//! replaced.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use shared::aws::{SdkFailure, classify_sdk_error, may_have_landed};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Consumer, SQS_TRANSIENT_CODES};

/// Most messages one receive may return (an SQS limit).
pub const MAX_RECEIVE: usize = 10;

/// SQS keeps a FIFO receive's `ReceiveRequestAttemptId` for five minutes;
/// one is reused only well within that.
const ATTEMPT_ID_REUSE: Duration = Duration::from_secs(240);

/// How long before the visibility timeout of what a lost receive held an
/// attempt id stops being reused (its retry resets that timeout).
const ATTEMPT_ID_MARGIN: Duration = Duration::from_secs(5);

/// A FIFO receive's `ReceiveRequestAttemptId`. When a receive's answer may
/// have been lost (a timeout after sending, a cut connection, a 5xx), the
/// next receive asking for as many messages sends the same id: SQS then
/// answers with the messages (and receipt handles) the lost answer held,
/// instead of leaving them invisible and blocking their groups until the
/// visibility timeout. An id SQS answered with a 4xx (throttling, invalid)
/// is never sent again, and the SDK does not retry a receive on its own
/// (it would resend the id after such an answer): the consumer's backoff
/// does. An id is reused only while the messages it may have received are
/// surely still invisible: within the visibility timeout less a margin,
/// counted from before the request was sent (and within SQS's five minutes).
#[derive(Debug, Clone)]
pub struct AttemptId {
    id: String,
    made: Instant,
    /// The `MaxNumberOfMessages` it was sent with: reused only with the same.
    max: usize,
}

impl AttemptId {
    fn new(max: usize) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            made: Instant::now(),
            max,
        }
    }
}

/// The timeouts of one receive: its attempt waits the long poll plus the
/// ordinary attempt timeout, and the whole call no more than that plus a
/// second, so a long poll that has not returned by then has failed (for
/// the backoff, the pollers and the watchdog alike). The SDK may still
/// retry a quick failure (a 5xx, a reset connection) within that budget.
pub fn receive_timeouts(settings: &crate::Settings) -> aws_smithy_types::timeout::TimeoutConfig {
    let long_poll = settings.aws.long_poll_timeouts();
    match long_poll.operation_attempt_timeout() {
        Some(attempt) => long_poll
            .to_builder()
            .operation_timeout(attempt + Duration::from_secs(1))
            .build(),
        None => long_poll,
    }
}

/// How many long polls should be in flight.
#[derive(Debug, Clone)]
pub struct Pollers {
    max: usize,
    target: usize,
}

impl Pollers {
    /// One poll in flight, at most `max`.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            target: 1,
        }
    }

    /// How many polls should be in flight now.
    pub fn target(&self) -> usize {
        self.target
    }

    /// A receive that asked for `asked` messages returned `got`.
    pub fn received(&mut self, asked: usize, got: usize) {
        if got >= MAX_RECEIVE {
            self.target = (self.target + 1).min(self.max);
        } else if got < asked {
            self.target = self.target.saturating_sub(1).max(1);
        }
    }

    /// A receive failed: back to one poll.
    pub fn failed(&mut self) {
        self.target = 1;
    }
}

/// Takes concurrency slots for one receive: up to `max` (at most
/// [`MAX_RECEIVE`], starting with `spare`), one permit per message it may
/// return, or none when fewer than `min` are free (what was taken is kept in
/// `spare`). The consumer asks for a full batch: asking SQS for a few
/// messages at a time would cost more requests per message (an idle express
/// lane asks for one, see `priority`).
pub fn take_slots(
    slots: &Arc<Semaphore>,
    spare: &mut Option<OwnedSemaphorePermit>,
    min: usize,
    max: usize,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let max = max.clamp(1, MAX_RECEIVE);
    let mut taken = spare.take();
    // Slots kept aside beyond `max` go back to the pool.
    if let Some(t) = taken.as_mut()
        && t.num_permits() > max
    {
        taken = t.split(max);
    }
    let have = taken.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
    let more = max.saturating_sub(have).min(slots.available_permits());
    if more > 0
        && let Ok(p) = slots
            .clone()
            .try_acquire_many_owned(u32::try_from(more).unwrap_or(1))
    {
        match taken.as_mut() {
            Some(t) => t.merge(p),
            None => taken = Some(p),
        }
    }
    let total = taken.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
    if total == 0 || total < min {
        *spare = taken;
        return None;
    }
    let mut rest = taken?;
    let mut singles = Vec::with_capacity(total);
    while rest.num_permits() > 1 {
        match rest.split(1) {
            Some(one) => singles.push(one),
            None => break,
        }
    }
    singles.push(rest);
    Some(singles)
}

/// A finished long poll: the slots it was given, when it was sent, what it got.
pub(super) struct Polled {
    pub permits: Vec<OwnedSemaphorePermit>,
    pub sent: Instant,
    pub result: Result<Vec<Message>, SdkFailure>,
}

impl Consumer {
    /// One long poll of `wait` for up to one message per permit.
    pub(super) async fn poll(&self, permits: Vec<OwnedSemaphorePermit>, wait: Duration) -> Polled {
        let sent = Instant::now();
        self.metrics.polls_in_flight.inc();
        let result = self.receive(permits.len(), wait).await;
        self.metrics.polls_in_flight.dec();
        Polled {
            permits,
            sent,
            result,
        }
    }

    /// A FIFO receive's attempt id: one a receive for `max` messages left
    /// (its answer lost), while SQS still keeps it and the messages it held
    /// are still invisible, or a new one.
    fn attempt_id(&self, max: usize) -> Option<AttemptId> {
        if !self.settings.fifo() {
            return None;
        }
        let reuse = ATTEMPT_ID_REUSE.min(
            self.settings
                .visibility_timeout
                .saturating_sub(ATTEMPT_ID_MARGIN),
        );
        let mut kept = self
            .receive_attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.retain(|a| a.made.elapsed() < reuse);
        let same = kept.iter().position(|a| a.max == max);
        Some(same.map_or_else(|| AttemptId::new(max), |at| kept.swap_remove(at)))
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, SdkFailure> {
        self.metrics.sqs_call("receive");
        let wait = i32::try_from(wait.as_secs()).unwrap_or(20);
        let visibility = i32::try_from(self.settings.visibility_timeout.as_secs()).unwrap_or(60);
        let attempt = self.attempt_id(max);
        let mut overrides =
            aws_sdk_sqs::config::Builder::default().timeout_config(self.receive_timeouts.clone());
        if attempt.is_some() {
            // A FIFO receive's retry must not resend an id SQS refused: the
            // consumer's backoff retries it.
            overrides = overrides.retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled());
        }
        let received = self
            .sqs
            .receive_message()
            .set_receive_request_attempt_id(attempt.as_ref().map(|a| a.id.clone()))
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(wait)
            .visibility_timeout(visibility)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .customize()
            // Only this call waits; every other SQS call keeps the ordinary timeouts.
            .config_override(overrides)
            .send()
            .await;
        match received {
            Ok(out) => Ok(out.messages.unwrap_or_default()),
            Err(e) => {
                // A 4xx was read and refused: `may_have_landed` is false.
                if let Some(attempt) = attempt
                    && may_have_landed(&e)
                {
                    // The answer may have been lost: the next receive asks again.
                    self.receive_attempts
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(attempt);
                }
                Err(classify_sdk_error(&e, SQS_TRANSIENT_CODES))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_polls_only_while_receives_come_back_full() {
        let mut p = Pollers::new(4);
        assert_eq!(p.target(), 1);
        for expected in [2, 3, 4, 4] {
            p.received(10, 10);
            assert_eq!(p.target(), expected);
        }
        // Asked for fewer (slots were short) and got them all: no change.
        p.received(3, 3);
        assert_eq!(p.target(), 4);
        // Short answers take polls away, down to one.
        for expected in [3, 2, 1, 1] {
            p.received(10, 0);
            assert_eq!(p.target(), expected);
        }
        p.received(10, 10);
        p.failed();
        assert_eq!(p.target(), 1);
    }

    #[test]
    fn a_receive_for_one_message_takes_one_slot_and_gives_back_the_spare() {
        let slots = Arc::new(Semaphore::new(25));
        let mut spare = None;
        let idle = take_slots(&slots, &mut spare, 1, 1).expect("a free slot");
        assert_eq!(idle.len(), 1, "an idle express long poll holds one slot");
        assert_eq!(slots.available_permits(), 24);
        drop(idle);
        spare = Some(slots.clone().try_acquire_many_owned(10).expect("ten"));
        let one = take_slots(&slots, &mut spare, 1, 1).expect("from the spare");
        assert_eq!(one.len(), 1);
        assert_eq!(
            slots.available_permits(),
            24,
            "the spare beyond one went back to the pool"
        );
    }

    #[test]
    fn slots_come_one_per_message_and_a_batch_at_a_time() {
        let slots = Arc::new(Semaphore::new(25));
        let mut spare = None;
        let first = take_slots(&slots, &mut spare, 1, MAX_RECEIVE).expect("free slots");
        assert_eq!(first.len(), MAX_RECEIVE);
        assert!(first.iter().all(|p| p.num_permits() == 1));
        let second =
            take_slots(&slots, &mut spare, MAX_RECEIVE, MAX_RECEIVE).expect("a full batch");
        assert_eq!(slots.available_permits(), 5);
        // Five free: not enough for a further receive; they are kept aside.
        assert!(take_slots(&slots, &mut spare, MAX_RECEIVE, MAX_RECEIVE).is_none());
        assert_eq!(
            spare.as_ref().map(OwnedSemaphorePermit::num_permits),
            Some(5)
        );
        drop(first);
        let third =
            take_slots(&slots, &mut spare, MAX_RECEIVE, MAX_RECEIVE).expect("spare plus freed");
        assert_eq!(third.len(), MAX_RECEIVE);
        assert!(spare.is_none());
        drop((second, third));
        assert_eq!(slots.available_permits(), 25, "every slot returns");
    }

    #[test]
    fn a_long_poll_that_has_not_returned_by_its_wait_plus_the_attempt_timeout_has_failed() {
        let env = shared::config::EnvSource::from_pairs([
            ("SQS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/q"),
            ("SQS_DLQ_URL", "http://127.0.0.1:4566/000000000000/q-dlq"),
            ("ORDERS_TABLE", "pedidos"),
            ("SQS_WAIT_TIME_SECS", "20"),
        ]);
        let settings = crate::Settings::from_env(&env, Some("procesamiento")).expect("settings");
        let timeouts = receive_timeouts(&settings);
        let attempt = timeouts.operation_attempt_timeout().expect("attempt");
        assert_eq!(
            attempt,
            settings.aws.attempt_timeout + Duration::from_secs(20)
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(attempt + Duration::from_secs(1)),
            "no second attempt after a hung one"
        );
    }

    #[test]
    fn one_poller_configured_means_one() {
        let mut p = Pollers::new(1);
        p.received(10, 10);
        assert_eq!(p.target(), 1);
        assert_eq!(Pollers::new(0).target(), 1);
    }
}
