//! `floor`: the least a consumer of a procesamiento queue can do, written
//! directly against the SDK, as the baseline `bench` holds the worker to.
//!
//! Per message it does the worker's work and nothing more: `ReceiveMessage`
//! (up to 10, long poll), parse the event, the same conditional write
//! (`OrdersTable::apply` for procesamiento), then one `DeleteMessageBatch`
//! per received batch. No retries, no dead-lettering, no health server, no
//! metrics: a failed message is left to reappear.
//!
//! It has the worker's concurrency budget and setup: `WORKER_POLLERS` receive
//! loops (default 4), at most `WORKER_CONCURRENCY` messages being written at
//! once (default 32; each receive first takes room for a whole batch of 10,
//! so receives and deletes stay full), `WORKER_THREADS` runtime threads (default 1: a
//! current-thread runtime), `SQS_WAIT_TIME_SECS` (20),
//! `SQS_VISIBILITY_TIMEOUT_SECS` (60), and the clients of `shared::aws`
//! (`AWS_REGION`, `AWS_ENDPOINT_URL_*`), on `SQS_QUEUE_URL` and `ORDERS_TABLE`.
//!
//! It runs until killed. After each delete it prints one line,
//! `deleted <messages deleted so far> sqs_calls <SQS requests so far>`, so
//! `bench` knows when it is done.

// Its progress lines are its output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use shared::aws::{AwsClients, AwsSettings};
use shared::config::{ConfigReader, EnvSource, parse_http_url, parse_resource_name};
use shared::contract::Event;
use shared::orders_table::{OrdersTable, WorkerRole};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most messages one receive may return (an SQS limit).
const MAX_RECEIVE: usize = 10;

/// The floor's settings, read as the worker reads them.
struct Settings {
    queue_url: String,
    orders_table: String,
    aws: AwsSettings,
    pollers: usize,
    concurrency: usize,
    wait_time: Duration,
    visibility_timeout: Duration,
    threads: usize,
}

impl Settings {
    fn from_env(env: &EnvSource) -> Result<Self, shared::config::ConfigError> {
        let mut r = ConfigReader::new(env);
        let queue_url = r.required("SQS_QUEUE_URL", "the queue to consume", parse_http_url);
        let orders_table = r.required("ORDERS_TABLE", "the orders table", parse_resource_name);
        let region = r.or_default("AWS_REGION", String::from("us-east-1"));
        let pollers = r.number_in("WORKER_POLLERS", 4_usize, 1..=16);
        let concurrency = r.number_in("WORKER_CONCURRENCY", 32_usize, 1..=1000);
        let wait_time = r.seconds("SQS_WAIT_TIME_SECS", Duration::from_secs(20), 0..=20);
        let visibility_timeout = r.seconds(
            "SQS_VISIBILITY_TIMEOUT_SECS",
            Duration::from_secs(60),
            5..=43_200,
        );
        let threads = r.number_in("WORKER_THREADS", 1_usize, 1..=64);
        r.finish()?;
        let mut aws = AwsSettings::new(region);
        aws.sqs_long_poll = wait_time;
        Ok(Self {
            queue_url,
            orders_table,
            aws,
            pollers,
            concurrency,
            wait_time,
            visibility_timeout,
            threads,
        })
    }
}

fn main() -> ExitCode {
    let settings = match Settings::from_env(&EnvSource::from_process()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if settings.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(settings));
    ExitCode::SUCCESS
}

/// One consumer: its clients, its concurrency budget and its counts.
struct Floor {
    sqs: aws_sdk_sqs::Client,
    table: OrdersTable,
    settings: Settings,
    /// One permit per message being written.
    permits: Arc<Semaphore>,
    deleted: AtomicU64,
    sqs_calls: AtomicU64,
}

async fn run(settings: Settings) {
    let clients = AwsClients::load(&settings.aws).await;
    let floor = Arc::new(Floor {
        table: OrdersTable::new(clients.dynamodb, &settings.orders_table),
        sqs: clients.sqs,
        permits: Arc::new(Semaphore::new(settings.concurrency)),
        settings,
        deleted: AtomicU64::new(0),
        sqs_calls: AtomicU64::new(0),
    });
    let pollers: Vec<_> = (0..floor.settings.pollers)
        .map(|_| tokio::spawn(Arc::clone(&floor).poll()))
        .collect();
    futures::future::join_all(pollers).await;
}

impl Floor {
    /// One receive loop: waits for room for a whole batch (so receives and
    /// deletes stay full), receives, hands the messages to a task.
    async fn poll(self: Arc<Self>) {
        let batch = MAX_RECEIVE.min(self.settings.concurrency);
        let room = u32::try_from(batch).unwrap_or(1);
        loop {
            let Ok(permits) = Arc::clone(&self.permits).acquire_many_owned(room).await else {
                return;
            };
            match self.receive(batch).await {
                Ok(messages) if !messages.is_empty() => {
                    tokio::spawn(Arc::clone(&self).process(messages, permits));
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("floor: receive failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn receive(&self, max: usize) -> Result<Vec<Message>, String> {
        self.sqs_calls.fetch_add(1, Ordering::Relaxed);
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
            .config_override(
                aws_sdk_sqs::config::Builder::default()
                    .timeout_config(self.settings.aws.long_poll_timeouts()),
            )
            .send()
            .await
            .map(|out| out.messages.unwrap_or_default())
            .map_err(|e| with_causes(&e))
    }

    /// Writes a batch's messages at once, then deletes those written in one
    /// request; the batch's room is given back once its writes are done.
    async fn process(self: Arc<Self>, messages: Vec<Message>, permits: OwnedSemaphorePermit) {
        let this = &*self;
        let writes = messages.into_iter().map(|message| async move {
            let written = this.write(&message).await;
            written.then_some(message.receipt_handle).flatten()
        });
        let written = futures::future::join_all(writes).await;
        drop(permits);
        let entries: Vec<DeleteMessageBatchRequestEntry> = written
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        let sent = entries.len() as u64;
        let calls = self.sqs_calls.fetch_add(1, Ordering::Relaxed) + 1;
        match self
            .sqs
            .delete_message_batch()
            .queue_url(&self.settings.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let done = sent.saturating_sub(out.failed.len() as u64);
                let deleted = self.deleted.fetch_add(done, Ordering::Relaxed) + done;
                println!("deleted {deleted} sqs_calls {calls}");
            }
            Err(e) => eprintln!("floor: delete failed: {}", with_causes(&e)),
        }
    }

    /// The worker's write for one message: parse, then the conditional write.
    async fn write(&self, message: &Message) -> bool {
        let event = match Event::parse_message_body(message.body().unwrap_or_default()) {
            Ok(event) => event,
            Err(e) => {
                eprintln!("floor: not an event: {e}");
                return false;
            }
        };
        match self
            .table
            .apply(WorkerRole::Procesamiento, &event, chrono::Utc::now(), None)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                eprintln!("floor: write failed: {e}");
                false
            }
        }
    }
}

/// An SDK error with its causes.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
