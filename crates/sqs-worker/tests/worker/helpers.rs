//! Worker-specific fixtures on top of `testkit`: in-process workers, their
//! settings, and an applier wrapper that delays, fails and records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use shared::config::EnvSource;
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, TableError, WorkerRole};
use sqs_worker::handler::{ApplyEvent, ProbeError, TableApplier};
use sqs_worker::metrics::Metrics;
use sqs_worker::{Application, Settings};
pub use testkit::{QueuePair, Stack, cancelado, creado, creado_with_total, eventually, stack};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Settings of a worker for `queue` (probe port 0, short waits for tests).
pub fn settings(
    st: &Stack,
    role: WorkerRole,
    queue: &QueuePair,
    extra: &[(&str, &str)],
) -> Settings {
    let mut pairs = vec![
        ("SQS_WAIT_TIME_SECS", "2"),
        ("DELETE_BATCH_WINDOW_MS", "20"),
    ];
    pairs.extend_from_slice(extra);
    production_settings(st, role, queue, &pairs)
}

/// Settings of a worker for `queue` with the production defaults (probe
/// port 0) but for `extra`, which wins over them.
pub fn production_settings(
    st: &Stack,
    role: WorkerRole,
    queue: &QueuePair,
    extra: &[(&str, &str)],
) -> Settings {
    let mut pairs: Vec<(String, String)> = vec![
        ("SQS_QUEUE_URL".into(), queue.url.clone()),
        ("SQS_DLQ_URL".into(), queue.dlq_url.clone()),
        ("ORDERS_TABLE".into(), st.table.name().to_owned()),
        ("HEALTH_PORT".into(), "0".into()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Settings::from_env(&EnvSource::from_pairs(pairs), Some(role.as_str()))
        .expect("valid worker settings")
}

/// Failed SQS requests of `operation` with `code` (the worker's `sqs_errors` counter).
pub fn sqs_errors(metrics: &Metrics, operation: &str, code: &str) -> u64 {
    metrics
        .sqs_errors
        .get_or_create(&sqs_worker::metrics::OperationCode {
            operation: operation.to_owned(),
            code: code.to_owned(),
        })
        .get()
}

/// The real applier for `role` on the stack's table.
pub fn applier(st: &Stack, role: WorkerRole) -> Arc<TableApplier> {
    Arc::new(TableApplier::new(st.table.clone(), role, None))
}

/// The stack's SQS client, pointed at `endpoint` (e.g. a fault proxy in front of LocalStack).
pub fn sqs_at(st: &Stack, endpoint: &str) -> aws_sdk_sqs::Client {
    let conf = st
        .clients
        .sqs
        .config()
        .to_builder()
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Environment of a worker process for `queue`.
pub fn process_env(st: &Stack, role: WorkerRole, queue: &QueuePair) -> Vec<(String, String)> {
    st.child_env(&[
        ("WORKER_ROLE", role.as_str().to_owned()),
        ("SQS_QUEUE_URL", queue.url.clone()),
        ("SQS_DLQ_URL", queue.dlq_url.clone()),
        ("ORDERS_TABLE", st.table.name().to_owned()),
        ("HEALTH_PORT", "0".to_owned()),
    ])
}

/// A child process killed (if still running) when the test ends, even by a panic.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// An in-process worker.
pub struct Worker {
    pub metrics: Arc<Metrics>,
    pub health: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Worker {
    pub async fn start(stack: &Stack, settings: Settings, handler: Arc<dyn ApplyEvent>) -> Self {
        Self::start_with_sqs(stack.clients.sqs.clone(), settings, handler).await
    }

    /// A worker for `role` on `queue` with the real applier on the stack's
    /// table and the test settings plus `extra`.
    pub async fn start_role(
        st: &Stack,
        role: WorkerRole,
        queue: &QueuePair,
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_role_via(st.clients.sqs.clone(), st, role, queue, extra).await
    }

    /// [`Worker::start_role`] with its SQS calls going through `sqs` (e.g. a fault proxy's client).
    pub async fn start_role_via(
        sqs: aws_sdk_sqs::Client,
        st: &Stack,
        role: WorkerRole,
        queue: &QueuePair,
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_with_sqs(sqs, settings(st, role, queue, extra), applier(st, role)).await
    }

    /// A worker whose SQS calls go through `sqs` (e.g. a fault proxy's client).
    pub async fn start_with_sqs(
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
        handler: Arc<dyn ApplyEvent>,
    ) -> Self {
        let app = Application::build_with(settings, sqs, handler)
            .await
            .expect("build worker");
        let health = format!("http://{}", app.health_addr().expect("addr"));
        let metrics = app.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self {
            metrics,
            health,
            stop: Some(tx),
            task,
        }
    }

    /// Waits for the worker to return on its own (e.g. giving up on a fault).
    pub async fn finished(self) -> std::io::Result<()> {
        self.task.await.expect("worker task")
    }

    /// Signals shutdown and waits for the worker to return; returns how long that took.
    pub async fn stop(mut self) -> Duration {
        let started = Instant::now();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .expect("worker task")
            .expect("worker result");
        started.elapsed()
    }
}

/// Wraps an applier: delays, fails on demand, and records what it applied.
pub struct Instrumented {
    pub inner: Arc<dyn ApplyEvent>,
    pub delay: Duration,
    /// Fail this many calls (from the start) before delegating.
    pub fail_first: std::sync::atomic::AtomicUsize,
    /// Fail every call.
    pub always_fail: bool,
    /// Until then, both `apply` and `probe` fail (a store outage).
    pub outage_until: std::sync::Mutex<Option<Instant>>,
    /// Every `apply` is refused (access denied) while `probe` passes: a
    /// fault the probe cannot see.
    pub refuse_writes: bool,
    /// Panic in this many calls (from the start) before delegating.
    pub panic_first: std::sync::atomic::AtomicUsize,
    /// (pedidoId, eventType, succeeded, when) of every call.
    pub calls: std::sync::Mutex<Vec<(Uuid, String, bool, Instant)>>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn ApplyEvent>) -> Self {
        Self {
            inner,
            delay: Duration::ZERO,
            fail_first: std::sync::atomic::AtomicUsize::new(0),
            always_fail: false,
            outage_until: std::sync::Mutex::new(None),
            refuse_writes: false,
            panic_first: std::sync::atomic::AtomicUsize::new(0),
            calls: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn in_outage(&self) -> bool {
        self.outage_until
            .lock()
            .expect("lock")
            .is_some_and(|until| Instant::now() < until)
    }

    pub fn calls(&self) -> Vec<(Uuid, String, bool, Instant)> {
        self.calls.lock().expect("lock").clone()
    }
}

impl ApplyEvent for Instrumented {
    fn apply<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<ApplyOutcome, TableError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let panic = self
                .panic_first
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok();
            assert!(!panic, "injected panic while applying");
            let fail = self.always_fail
                || self.in_outage()
                || self
                    .fail_first
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok();
            let result = if self.refuse_writes {
                Err(TableError::Misconfigured {
                    code: "AccessDeniedException".into(),
                    message: "injected refusal".into(),
                })
            } else if fail {
                Err(TableError::Unavailable {
                    code: "injected".into(),
                    message: "injected failure".into(),
                })
            } else {
                self.inner.apply(event).await
            };
            self.calls.lock().expect("lock").push((
                event.pedido_id(),
                event.event_type().to_string(),
                result.is_ok(),
                Instant::now(),
            ));
            result
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        if self.in_outage() {
            return Box::pin(async {
                Err(ProbeError {
                    operation: "GetItem",
                    error: TableError::Unavailable {
                        code: "injected".into(),
                        message: "store down".into(),
                    },
                })
            });
        }
        self.inner.probe()
    }
}

/// Makes received messages visible again, for a worker to take.
pub async fn release(st: &Stack, url: &str, messages: &[aws_sdk_sqs::types::Message]) {
    let receipts: Vec<String> = messages
        .iter()
        .filter_map(|m| m.receipt_handle().map(str::to_owned))
        .collect();
    sqs_worker::visibility::set_batch(
        &st.clients.sqs,
        url,
        &receipts,
        Duration::ZERO,
        || {},
        |_| {},
    )
    .await
    .expect("release");
}

/// The API in process over the stack's table, publishing to `topic`; its base URL.
pub async fn start_api(st: &Stack, topic: &str) -> String {
    let settings = order_api::Settings::from_env(&EnvSource::from_pairs([
        ("SNS_TOPIC_ARN", topic),
        ("ORDERS_TABLE", st.table.name()),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ]))
    .expect("api settings");
    let api = order_api::Application::build(settings).await.expect("api");
    let base = format!("http://{}", api.local_addr().expect("addr"));
    tokio::spawn(api.run_until_stopped(std::future::pending()));
    base
}
