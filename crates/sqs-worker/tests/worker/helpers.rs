//! Fixtures: uniquely named queues, DLQs, topic and table per test, and
//! workers started in-process or as real processes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use futures::future::BoxFuture;
use shared::aws::{AwsClients, AwsSettings};
use shared::config::EnvSource;
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, OrdersTable, TableError, WorkerRole, attr};
use sqs_worker::handler::{ApplyEvent, TableApplier};
use sqs_worker::metrics::Metrics;
use sqs_worker::{Application, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Fails loudly when the stack's endpoints are not configured.
pub fn require_stack() {
    let missing: Vec<&str> = [
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_DYNAMODB",
    ]
    .into_iter()
    .filter(|name| std::env::var(name).map_or(true, |v| v.trim().is_empty()))
    .collect();
    assert!(
        missing.is_empty(),
        "the local AWS stack is not configured ({} unset): run `make stack-up` and `source .local/stack.env`, or run `make test`",
        missing.join(", ")
    );
}

/// One queue and its DLQ.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// The resources of one test.
pub struct Stack {
    pub clients: AwsClients,
    pub suffix: String,
    pub table: OrdersTable,
}

pub async fn stack() -> Stack {
    require_stack();
    let clients = AwsClients::load(&AwsSettings::new("us-east-1")).await;
    let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let table = OrdersTable::new(clients.dynamodb.clone(), format!("it-worker-{suffix}"));
    table
        .create()
        .await
        .expect("create table (is DynamoDB Local up?)");
    Stack {
        clients,
        suffix,
        table,
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

impl Stack {
    /// A queue with a DLQ and a redrive policy of `max_receive` receives.
    pub async fn queue(&self, name: &str, max_receive: u32, fifo: bool) -> QueuePair {
        let ext = if fifo { ".fifo" } else { "" };
        let mut dlq = self
            .clients
            .sqs
            .create_queue()
            .queue_name(format!("it-{name}-{}-dlq{ext}", self.suffix));
        if fifo {
            dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let dlq_url = dlq
            .send()
            .await
            .expect("create dlq (is LocalStack up?)")
            .queue_url
            .expect("url");
        let dlq_arn = queue_arn(&self.clients.sqs, &dlq_url).await;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
                .to_string();
        let mut q = self
            .clients
            .sqs
            .create_queue()
            .queue_name(format!("it-{name}-{}{ext}", self.suffix))
            .attributes(QueueAttributeName::RedrivePolicy, redrive);
        if fifo {
            q = q.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let url = q
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url");
        let arn = queue_arn(&self.clients.sqs, &url).await;
        QueuePair { url, arn, dlq_url }
    }

    /// A topic fanning out to the given queues (raw delivery, eventType filter).
    pub async fn topic(&self, queues: &[&QueuePair]) -> String {
        let arn = self
            .clients
            .sns
            .create_topic()
            .name(format!("it-worker-{}", self.suffix))
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("arn");
        for q in queues {
            self.clients
                .sns
                .subscribe()
                .topic_arn(&arn)
                .protocol("sqs")
                .endpoint(&q.arn)
                .attributes("RawMessageDelivery", "true")
                .attributes(
                    "FilterPolicy",
                    r#"{"eventType":["PedidoCreado","PedidoCancelado"]}"#,
                )
                .send()
                .await
                .expect("subscribe");
        }
        arn
    }

    /// Sends a raw body to a queue.
    pub async fn send(&self, queue: &QueuePair, body: &str) {
        self.clients
            .sqs
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    /// Sends a raw body to a FIFO queue in `group`.
    pub async fn send_fifo(&self, queue: &QueuePair, body: &str, group: &str) {
        self.clients
            .sqs
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(Uuid::new_v4().to_string())
            .send()
            .await
            .expect("send fifo");
    }

    /// Approximate visible + in-flight messages of a queue.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        let attrs = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("attributes")
            .attributes
            .unwrap_or_default();
        let n = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// The raw item of an order.
    pub async fn item(&self, pedido_id: Uuid) -> Option<HashMap<String, AttributeValue>> {
        self.clients
            .dynamodb
            .get_item()
            .table_name(self.table.name())
            .key(attr::PEDIDO_ID, AttributeValue::S(pedido_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// The dedup keys recorded on an order.
    pub async fn applied_keys(&self, pedido_id: Uuid) -> Vec<String> {
        match self
            .item(pedido_id)
            .await
            .and_then(|i| i.get(attr::APPLIED_EVENTS).cloned())
        {
            Some(AttributeValue::Ss(mut keys)) => {
                keys.sort();
                keys
            }
            _ => Vec::new(),
        }
    }

    /// Settings of a worker for `queue` (probe port 0, short waits for tests).
    pub fn settings(
        &self,
        role: WorkerRole,
        queue: &QueuePair,
        extra: &[(&str, &str)],
    ) -> Settings {
        let mut pairs: Vec<(String, String)> = vec![
            ("SQS_QUEUE_URL".into(), queue.url.clone()),
            ("SQS_DLQ_URL".into(), queue.dlq_url.clone()),
            ("ORDERS_TABLE".into(), self.table.name().to_owned()),
            ("HEALTH_PORT".into(), "0".into()),
            ("SQS_WAIT_TIME_SECS".into(), "2".into()),
            ("DELETE_BATCH_WINDOW_MS".into(), "20".into()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Settings::from_env(&EnvSource::from_pairs(pairs), Some(role.as_str()))
            .expect("valid worker settings")
    }

    /// The real applier for `role` on this test's table.
    pub fn applier(&self, role: WorkerRole) -> Arc<TableApplier> {
        Arc::new(TableApplier::new(self.table.clone(), role, None))
    }

    /// Environment for a worker process.
    pub fn process_env(&self, role: WorkerRole, queue: &QueuePair) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL_SNS",
            "AWS_ENDPOINT_URL_SQS",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
        env.extend([
            ("WORKER_ROLE".to_owned(), role.as_str().to_owned()),
            ("SQS_QUEUE_URL".to_owned(), queue.url.clone()),
            ("SQS_DLQ_URL".to_owned(), queue.dlq_url.clone()),
            ("ORDERS_TABLE".to_owned(), self.table.name().to_owned()),
            ("HEALTH_PORT".to_owned(), "0".to_owned()),
            ("LOG_FORMAT".to_owned(), "json".to_owned()),
        ]);
        env
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
        let app = Application::build_with(settings, stack.clients.sqs.clone(), handler)
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

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
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
            let result = if fail {
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

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        if self.in_outage() {
            return Box::pin(async {
                Err(TableError::Unavailable {
                    code: "injected".into(),
                    message: "store down".into(),
                })
            });
        }
        self.inner.probe()
    }
}

/// A valid `PedidoCreado` event body for `pedido_id`.
pub fn creado(pedido_id: Uuid) -> String {
    creado_with_total(pedido_id, "20001.00", "10000.50")
}

/// A `PedidoCreado` whose single item costs `total` (two units of `half`).
pub fn creado_with_total(pedido_id: Uuid, total: &str, half: &str) -> String {
    serde_json::json!({
        "eventId": Uuid::new_v4(), "eventType": "PedidoCreado", "eventVersion": 1,
        "occurredAt": "2026-11-23T10:00:00Z", "correlationId": format!("it-{pedido_id}"),
        "data": {
            "pedidoId": pedido_id, "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
            "fecha": "2026-11-23T10:00:00Z", "total": total, "moneda": "CLP",
            "items": [{"sku": "SKU-001", "cantidad": 2, "precioUnitario": half}],
            "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM", "pais": "CL"}
        }
    })
    .to_string()
}

/// A valid `PedidoCancelado` event body.
pub fn cancelado(pedido_id: Uuid) -> String {
    serde_json::json!({
        "eventId": Uuid::new_v4(), "eventType": "PedidoCancelado", "eventVersion": 1,
        "occurredAt": "2026-11-23T10:00:01Z", "correlationId": format!("it-{pedido_id}"),
        "data": {"pedidoId": pedido_id, "motivo": "cliente se arrepintió"}
    })
    .to_string()
}
