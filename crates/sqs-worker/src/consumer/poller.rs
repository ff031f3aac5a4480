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

use std::time::Instant;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use shared::aws::{SdkFailure, classify_sdk_error};
use tokio::sync::OwnedSemaphorePermit;

use super::{Consumer, SQS_TRANSIENT_CODES};

/// Most messages one receive may return (an SQS limit).
pub const MAX_RECEIVE: usize = 10;

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

/// A finished long poll: the slots it was given, when it was sent, what it got.
pub(super) struct Polled {
    pub permits: Vec<OwnedSemaphorePermit>,
    pub sent: Instant,
    pub result: Result<Vec<Message>, SdkFailure>,
}

impl Consumer {
    /// One long poll for up to one message per permit.
    pub(super) async fn poll(&self, permits: Vec<OwnedSemaphorePermit>) -> Polled {
        let sent = Instant::now();
        self.metrics.polls_in_flight.inc();
        let result = self.receive(permits.len()).await;
        self.metrics.polls_in_flight.dec();
        Polled {
            permits,
            sent,
            result,
        }
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
    fn one_poller_configured_means_one() {
        let mut p = Pollers::new(1);
        p.received(10, 10);
        assert_eq!(p.target(), 1);
        assert_eq!(Pollers::new(0).target(), 1);
    }
}
