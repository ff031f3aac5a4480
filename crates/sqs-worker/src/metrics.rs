//! Prometheus metrics of a worker.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label set with one `reason` / `operation` / `outcome` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Label {
    /// The label's value.
    pub name: String,
}

/// A label set naming an SQS operation and the error code it got.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationCode {
    /// The SQS operation (`DeleteMessageBatch`).
    pub operation: String,
    /// The AWS error code, or the kind of failure (`timeout`).
    pub code: String,
}

/// Counters and histograms of one worker process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Messages received.
    pub received: Counter,
    /// Messages received, by lane (`express`, `standard`).
    pub received_by_lane: Family<Label, Counter>,
    /// Events applied now.
    pub processed: Counter,
    /// Events found already applied.
    pub duplicates: Counter,
    /// Messages returned for a later retry.
    pub retried: Counter,
    /// Messages sent to the DLQ, by reason.
    pub dead_lettered: Family<Label, Counter>,
    /// Messages being processed now.
    pub in_flight: Gauge<i64, AtomicI64>,
    /// Time to process one message, seconds.
    pub processing_seconds: Histogram,
    /// SQS API calls by operation.
    pub sqs_calls: Family<Label, Counter>,
    /// Failed receives.
    pub poll_errors: Counter,
    /// Messages handed back untouched because the store refuses this worker.
    pub handed_back: Counter,
    /// Processed messages awaiting deletion (receiving pauses above a bound).
    pub delete_backlog: Gauge<i64, AtomicI64>,
    /// Visibility extensions of held messages (the heartbeat).
    pub visibility_extended: Counter,
    /// Long polls in flight now.
    pub polls_in_flight: Gauge<i64, AtomicI64>,
    /// Times receiving paused because the delete backlog passed its bound.
    pub receive_paused: Counter,
    /// Messages deleted from the queue (done: applied, duplicate or dead-lettered).
    pub deleted: Counter,
    /// Failed SQS requests, by operation and error code.
    pub sqs_errors: Family<OperationCode, Counter>,
    /// Entries of SQS batch requests that failed, by operation and error code.
    pub sqs_entry_failures: Family<OperationCode, Counter>,
    /// Processed messages whose delete was given up after its attempts
    /// (left to their visibility timeout; redelivered as duplicates).
    pub deletes_given_up: Counter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("sqs_worker");
        let received = Counter::default();
        registry.register("messages_received", "Messages received", received.clone());
        let received_by_lane = Family::<Label, Counter>::default();
        registry.register(
            "messages_received_by_lane",
            "Messages received by lane (express, standard)",
            received_by_lane.clone(),
        );
        let processed = Counter::default();
        registry.register("messages_processed", "Events applied", processed.clone());
        let duplicates = Counter::default();
        registry.register(
            "messages_duplicate",
            "Events already applied (idempotent no-op)",
            duplicates.clone(),
        );
        let retried = Counter::default();
        registry.register(
            "messages_retried",
            "Messages returned to the queue for a retry",
            retried.clone(),
        );
        let dead_lettered = Family::<Label, Counter>::default();
        registry.register(
            "messages_dead_lettered",
            "Messages sent to the DLQ by reason",
            dead_lettered.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "messages_in_flight",
            "Messages being processed",
            in_flight.clone(),
        );
        let processing_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "processing_duration_seconds",
            "Time to process one message",
            processing_seconds.clone(),
        );
        let sqs_calls = Family::<Label, Counter>::default();
        registry.register("sqs_calls", "SQS API calls by operation", sqs_calls.clone());
        let poll_errors = Counter::default();
        registry.register("poll_errors", "Failed receives", poll_errors.clone());
        let handed_back = Counter::default();
        registry.register(
            "messages_handed_back",
            "Messages returned untouched because the table refuses this worker (configuration)",
            handed_back.clone(),
        );
        let delete_backlog = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "delete_backlog",
            "Processed messages awaiting deletion (receiving pauses above a bound)",
            delete_backlog.clone(),
        );
        let visibility_extended = Counter::default();
        registry.register(
            "visibility_extended",
            "Visibility extensions of held messages (heartbeat)",
            visibility_extended.clone(),
        );
        let polls_in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "polls_in_flight",
            "Long polls (ReceiveMessage) in flight",
            polls_in_flight.clone(),
        );
        let receive_paused = Counter::default();
        registry.register(
            "receive_paused",
            "Times receiving paused because the delete backlog passed its bound",
            receive_paused.clone(),
        );
        let deleted = Counter::default();
        registry.register(
            "messages_deleted",
            "Messages deleted from the queue (applied, duplicate or dead-lettered): done",
            deleted.clone(),
        );
        let sqs_errors = Family::<OperationCode, Counter>::default();
        registry.register(
            "sqs_errors",
            "Failed SQS requests by operation and error code",
            sqs_errors.clone(),
        );
        let sqs_entry_failures = Family::<OperationCode, Counter>::default();
        registry.register(
            "sqs_entry_failures",
            "Failed entries of SQS batch requests by operation and error code",
            sqs_entry_failures.clone(),
        );
        let deletes_given_up = Counter::default();
        registry.register(
            "deletes_given_up",
            "Deletes given up after their attempts: the message reappears after its visibility timeout and is recognised as a duplicate",
            deletes_given_up.clone(),
        );
        Arc::new(Self {
            registry,
            sqs_errors,
            sqs_entry_failures,
            deletes_given_up,
            received,
            received_by_lane,
            processed,
            duplicates,
            retried,
            dead_lettered,
            in_flight,
            processing_seconds,
            sqs_calls,
            poll_errors,
            handed_back,
            delete_backlog,
            visibility_extended,
            polls_in_flight,
            receive_paused,
            deleted,
        })
    }

    /// Counts one SQS call.
    pub fn sqs_call(&self, operation: &str) {
        self.sqs_calls
            .get_or_create(&Label {
                name: operation.to_owned(),
            })
            .inc();
    }

    /// Counts one failed SQS request.
    pub fn sqs_error(&self, operation: &str, code: &str) {
        self.sqs_errors
            .get_or_create(&OperationCode {
                operation: operation.to_owned(),
                code: code.to_owned(),
            })
            .inc();
    }

    /// Counts one failed entry of an SQS batch request.
    pub fn sqs_entry_failure(&self, operation: &str, code: &str) {
        self.sqs_entry_failures
            .get_or_create(&OperationCode {
                operation: operation.to_owned(),
                code: code.to_owned(),
            })
            .inc();
    }

    /// The received-messages counter of a lane.
    pub fn received_in_lane(&self, lane: &str) -> Counter {
        self.received_by_lane
            .get_or_create(&Label {
                name: lane.to_owned(),
            })
            .clone()
    }

    /// Counts one dead-lettered message.
    pub fn dead_letter(&self, reason: &str) {
        self.dead_lettered
            .get_or_create(&Label {
                name: reason.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
