//! One message from receipt to its end: parse, apply, judge the outcome
//! ([`Verdict`]) and carry it out — queue the delete, dead-letter with a
//! reason, return it for a retry with backoff, or hand it back untouched when
//! the store refuses this worker.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use shared::aws::{SdkFailure, classify_sdk_error};
use shared::contract::{ATTR_TRACEPARENT, ATTR_TRACESTATE, Event};
use shared::orders_table::{ApplyOutcome, TableError};
use shared::telemetry::propagation::{TraceCarrier, continue_trace};
use tracing::Instrument;

use super::deleter::Deleter;
use super::{Consumer, REFUSED_HANDBACK, SQS_TRANSIENT_CODES, dead_letter};

/// Backoff of dead-lettering a FIFO message while the DLQ refuses it.
const DLQ_RETRY: super::backoff::Backoff = super::backoff::Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(30),
};

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

/// The trace context the API put in the message's attributes.
fn trace_carrier(message: &Message) -> TraceCarrier<'_> {
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
    };
    TraceCarrier {
        traceparent: attribute(ATTR_TRACEPARENT),
        tracestate: attribute(ATTR_TRACESTATE),
    }
}

/// How often the message was received (`ApproximateReceiveCount`, 1 when absent).
pub(super) fn receive_count(message: &Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Keeps the in-flight gauge right however processing ends (a panic included).
struct InFlightGauge<'a>(&'a Consumer);

impl Drop for InFlightGauge<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

impl Verdict {
    /// The outcome recorded on the message's span, in the words of the
    /// `outcome` field of the log line [`Consumer::act`] writes.
    fn outcome(&self) -> &'static str {
        match self {
            Verdict::Done(ApplyOutcome::Duplicate) => "duplicate",
            Verdict::Done(_) => "applied",
            Verdict::Poison { .. } => "dead_lettered",
            Verdict::Retry(_) => "retry",
            Verdict::Refused { .. } => "handed_back",
        }
    }
}

impl Consumer {
    /// Processes one message to its end; returns the delay after which it
    /// reappears when it was returned to the queue (a retry, a hand-back, a
    /// failed dead-lettering), so a FIFO group can return its later messages
    /// with it.
    pub(super) async fn process(&self, message: Message, deleter: &Deleter) -> Option<Duration> {
        let message_id = message.message_id().unwrap_or_default().to_owned();
        let span = tracing::info_span!(
            "message",
            role = %self.settings.role,
            message_id = %message_id,
            pedido_id = tracing::field::Empty,
            event_id = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.name = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            messaging.system = tracing::field::Empty,
            messaging.operation.type = tracing::field::Empty,
        );
        if shared::telemetry::tracing_enabled() {
            // The consumer span of the trace the API started: it continues
            // the publish span carried in the message attributes.
            span.record(
                "otel.name",
                format!("process {}", self.settings.role).as_str(),
            );
            span.record("otel.kind", "consumer");
            span.record("messaging.system", "aws_sqs");
            span.record("messaging.operation.type", "process");
            continue_trace(&span, trace_carrier(&message));
        }
        async {
            self.metrics.in_flight.inc();
            let _gauge = InFlightGauge(self);
            let started = Instant::now();
            let verdict = self.judge(&message).await;
            let outcome = verdict.outcome();
            let retry_after = self.act(&message, verdict, deleter).await;
            if shared::telemetry::tracing_enabled() {
                // A poison message comes back with a delay only when the DLQ refused it.
                let outcome = match (outcome, retry_after) {
                    ("dead_lettered", Some(_)) => "dlq_send_failed",
                    _ => outcome,
                };
                let span = tracing::Span::current();
                span.record("outcome", outcome);
                if !matches!(outcome, "applied" | "duplicate") {
                    span.record("otel.status_code", "ERROR");
                }
            }
            self.metrics
                .processing_seconds
                .observe(started.elapsed().as_secs_f64());
            retry_after
        }
        .instrument(span)
        .await
    }

    /// Parses and applies the message (the heartbeat keeps it invisible however long that takes).
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
        let apply = shared::telemetry::traced(|| {
            tracing::info_span!(
                "apply",
                otel.name = "apply event",
                otel.kind = "client",
                db.system.name = "aws.dynamodb",
                db.operation.name = "UpdateItem",
            )
        });
        match self.handler.apply(&event).instrument(apply).await {
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

    /// Carries out a verdict; returns the delay after which the message
    /// reappears when it was returned to the queue.
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
                deleter.delete(receipt);
                None
            }
            Verdict::Poison { reason, detail } => {
                let mut attempt = 0_u32;
                loop {
                    attempt += 1;
                    let sent = dead_letter::send(
                        &self.sqs,
                        &self.settings,
                        message,
                        reason,
                        &detail,
                        &self.metrics,
                    )
                    .await;
                    let failure = match sent {
                        Ok(()) => {
                            self.report
                                .ok(dead_letter::OPERATION, &self.settings.dlq_url);
                            self.metrics.dead_letter(reason);
                            tracing::warn!(outcome = "dead_lettered", reason, detail = %detail, "poison message sent to the DLQ");
                            deleter.delete(receipt);
                            return None;
                        }
                        Err(failure) => failure,
                    };
                    // A refused DLQ (access denied, missing, its key) raises
                    // the configuration fault: not ready, exit at the limit.
                    self.report
                        .failed(dead_letter::OPERATION, &self.settings.dlq_url, &failure);
                    let e = &failure.code;
                    if !self.settings.fifo() {
                        // Never drop it: leave it to the queue's redrive policy.
                        tracing::error!(outcome = "dlq_send_failed", reason, error = %e, "could not dead-letter; returning the message so redrive moves it");
                        self.metrics.retried.inc();
                        self.return_to_queue(&receipt, Duration::ZERO).await;
                        return Some(Duration::ZERO);
                    }
                    // FIFO: the group stays blocked behind it, in hand (the
                    // heartbeat keeps the group invisible). Returning it would
                    // count a receive against every message of the group, and
                    // the redrive policy would dead-letter valid ones with it.
                    let delay = DLQ_RETRY.delay(attempt);
                    tracing::error!(outcome = "dlq_send_failed", reason, attempt, retry_in_ms = delay.as_millis() as u64, error = %e, "could not dead-letter; its FIFO group waits behind it");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.stopping.cancelled() => {
                            self.metrics.retried.inc();
                            self.return_to_queue(&receipt, Duration::ZERO).await;
                            return Some(Duration::ZERO);
                        }
                    }
                }
            }
            Verdict::Retry(reason) => {
                let attempt = receive_count(message);
                let delay = self.retry_backoff.delay(attempt);
                self.store_suspect.store(true, Ordering::Relaxed);
                self.metrics.retried.inc();
                tracing::warn!(outcome = "retry", attempt, retry_in_secs = delay.as_secs(), error = %reason, "processing failed; will retry");
                self.return_to_queue(&receipt, delay).await;
                Some(delay)
            }
            Verdict::Refused { failure, started } => {
                // Not the message's fault: neither deleted nor dead-lettered.
                self.write_refused(&failure, started);
                self.metrics.handed_back.inc();
                tracing::debug!(outcome = "handed_back", code = %failure.code, "the table refuses this worker; message handed back untouched");
                self.return_to_queue(&receipt, REFUSED_HANDBACK).await;
                Some(REFUSED_HANDBACK)
            }
        }
    }

    /// Stops holding the message and makes it visible again after `delay`.
    /// On a FIFO queue the caller returns it together with the rest of its
    /// group, in one request: returned alone first, it could be received
    /// again on its own while the rest of its group is still held, and then
    /// the rest could be received while it is.
    async fn return_to_queue(&self, receipt: &str, delay: Duration) {
        // First out of the heartbeat (once an extension of it in flight has
        // ended), so it does not extend what we return.
        self.held.let_go(&[receipt.to_owned()]).await;
        if self.settings.fifo() {
            return;
        }
        self.metrics.sqs_call("change_visibility");
        let seconds = crate::visibility::seconds(delay);
        let queue = &self.settings.queue_url;
        match self
            .sqs
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            // One IAM action with the batch call: one fault.
            Ok(_) => self.report.ok(crate::visibility::OPERATION, queue),
            Err(e) => {
                let failure = classify_sdk_error(&e, SQS_TRANSIENT_CODES);
                tracing::warn!(code = %failure.code, "ChangeMessageVisibility failed; the message reappears after its current timeout");
                self.report
                    .failed(crate::visibility::OPERATION, queue, &failure);
            }
        }
    }

    /// Makes messages (no longer held) visible again after `delay`, batched by 10.
    /// The caller has let them go (`Held::let_go`) first.
    pub(super) async fn release(&self, receipts: Vec<String>, delay: Duration) {
        let (metrics, report) = (&self.metrics, &self.report);
        let queue = &self.settings.queue_url;
        let result = crate::visibility::set_batch(
            &self.sqs,
            queue,
            &receipts,
            delay,
            || metrics.sqs_call("change_visibility_batch"),
            |failed| {
                report.entries_failed(
                    crate::visibility::OPERATION,
                    failed.iter().map(|(_, code)| code.as_str()),
                );
            },
        )
        .await;
        match result {
            Ok(()) => report.ok(crate::visibility::OPERATION, queue),
            Err(failure) => {
                tracing::warn!(code = %failure.code, "could not return messages; they reappear after their visibility timeout");
                report.failed(crate::visibility::OPERATION, queue, &failure);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_count_defaults_to_one() {
        let plain = Message::builder().body("x").build();
        assert_eq!(receive_count(&plain), 1);
        let counted = Message::builder()
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "4")
            .build();
        assert_eq!(receive_count(&counted), 4);
    }
}
