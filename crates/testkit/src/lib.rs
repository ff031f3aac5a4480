//! Test fixtures against the local AWS stack (LocalStack + DynamoDB Local).
//! Every [`Stack`] names its resources uniquely, so tests running in
//! parallel never steal each other's messages. [`fault_proxy`] puts a
//! fault-injecting HTTP proxy in front of one of the stack's endpoints.

// Test support: panicking with a clear message is the point.
#![allow(clippy::missing_panics_doc)]

pub mod fault_proxy;
pub mod otlp;
pub mod process;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use shared::aws::{AwsClients, AwsSettings};
use shared::orders_table::{OrdersTable, attr};
use uuid::Uuid;

/// The stack's endpoint variables that are unset or blank.
pub fn missing_stack() -> Vec<&'static str> {
    [
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_DYNAMODB",
    ]
    .into_iter()
    .filter(|name| std::env::var(name).map_or(true, |v| v.trim().is_empty()))
    .collect()
}

/// Fails loudly when the stack's endpoints are not configured; never skips.
pub fn require_stack() {
    let missing = missing_stack();
    assert!(
        missing.is_empty(),
        "the local AWS stack is not configured ({} unset): run `make stack-up` and `set -a; . .local/stack.env`, or run `make test`",
        missing.join(", ")
    );
}

/// One queue and its DLQ.
#[derive(Debug, Clone)]
pub struct QueuePair {
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// DLQ URL.
    pub dlq_url: String,
}

/// The messaging of one pipeline: two queues with DLQs (maxReceiveCount 5, as
/// in production) behind one topic ([`Stack::pipeline`]).
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The procesamiento queue and its DLQ.
    pub procesamiento: QueuePair,
    /// The logistica queue and its DLQ.
    pub logistica: QueuePair,
    /// The topic's ARN.
    pub topic: String,
}

/// The resources of one test: clients, a unique suffix and an orders table.
pub struct Stack {
    /// Clients built from the environment's endpoints.
    pub clients: AwsClients,
    /// Unique per stack; part of every resource name.
    pub suffix: String,
    /// A fresh orders table.
    pub table: OrdersTable,
}

/// A fresh [`Stack`] with its own table.
pub async fn stack() -> Stack {
    require_stack();
    let clients = AwsClients::load(&AwsSettings::new("us-east-1")).await;
    let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let table = OrdersTable::new(clients.dynamodb.clone(), format!("it-{suffix}"));
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

/// Approximate (visible, in flight) messages of a queue, or SQS's error.
pub async fn try_depth(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<
    (u64, u64),
    aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError,
    >,
> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    let n = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// The ARN of a queue.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
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

    /// A topic (FIFO when `fifo`) fanning out to `queues` with raw delivery and
    /// the production filter policy on `eventType`.
    pub async fn topic(&self, queues: &[&QueuePair], fifo: bool) -> String {
        let mut create = self.clients.sns.create_topic().name(format!(
            "it-{}{}",
            self.suffix,
            if fifo { ".fifo" } else { "" }
        ));
        if fifo {
            create = create.attributes("FifoTopic", "true");
        }
        let arn = create
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("arn");
        self.subscribe(&arn, queues).await;
        arn
    }

    /// Subscribes `queues` to the topic `arn` as production does: raw
    /// delivery, the `eventType` filter.
    pub async fn subscribe(&self, arn: &str, queues: &[&QueuePair]) {
        for q in queues {
            self.clients
                .sns
                .subscribe()
                .topic_arn(arn)
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
    }

    /// The filter policy of the subscription that delivers the local
    /// stack's topic (`SNS_TOPIC_ARN`, applied from infra/local) to the
    /// queue named `queue_name` (e.g. `ecomexpress-logistica-express`).
    /// Tests subscribe their own queues with it, so a policy is written
    /// once, in infra/modules/messaging. Panics, naming what is missing,
    /// when the stack has no such subscription.
    pub async fn stack_filter_policy(&self, queue_name: &str) -> String {
        let topic = std::env::var("SNS_TOPIC_ARN")
            .expect("SNS_TOPIC_ARN (the local stack's topic; source .local/stack.env)");
        let mut subscriptions = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .clients
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&topic)
                .set_next_token(next.take())
                .send()
                .await
                .expect("list the stack topic's subscriptions");
            subscriptions.extend(page.subscriptions.unwrap_or_default());
            match page.next_token {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        let wanted = format!(":{queue_name}");
        let arn = subscriptions
            .iter()
            .find(|s| s.protocol() == Some("sqs") && s.endpoint().is_some_and(|e| e.ends_with(&wanted)))
            .and_then(|s| s.subscription_arn().map(str::to_owned))
            .unwrap_or_else(|| {
                panic!("the stack topic {topic} has no subscription to the queue {queue_name} (re-run `make stack-up` after changing infra/)")
            });
        let attributes = self
            .clients
            .sns
            .get_subscription_attributes()
            .subscription_arn(&arn)
            .send()
            .await
            .expect("subscription attributes")
            .attributes
            .unwrap_or_default();
        attributes
            .get("FilterPolicy")
            .cloned()
            .unwrap_or_else(|| panic!("the subscription of {queue_name} has no filter policy"))
    }

    /// Subscribes `queue` to the topic `arn` with raw delivery and `policy`
    /// (on message attributes).
    pub async fn subscribe_with_policy(&self, arn: &str, queue: &QueuePair, policy: &str) {
        self.clients
            .sns
            .subscribe()
            .topic_arn(arn)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", policy)
            .attributes("FilterPolicyScope", "MessageAttributes")
            .send()
            .await
            .expect("subscribe");
    }

    /// The stack's [`Pipeline`]: its two queues (`proc`, `log`) and its topic.
    pub async fn pipeline(&self) -> Pipeline {
        let procesamiento = self.queue("proc", 5, false).await;
        let logistica = self.queue("log", 5, false).await;
        let topic = self.topic(&[&procesamiento, &logistica], false).await;
        Pipeline {
            procesamiento,
            logistica,
            topic,
        }
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

    /// Sends many bodies to a queue, ten per request, a few requests at
    /// once (their order across requests is not kept: for standard queues).
    pub async fn send_all(&self, queue: &QueuePair, bodies: &[String]) {
        use futures::StreamExt;
        /// `SendMessageBatch` requests in flight.
        const SENDERS: usize = 8;
        futures::stream::iter(bodies.chunks(10))
            .for_each_concurrent(SENDERS, |chunk| async move {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, body)| {
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body)
                            .build()
                            .expect("entry")
                    })
                    .collect();
                let out = self
                    .clients
                    .sqs
                    .send_message_batch()
                    .queue_url(&queue.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("send batch");
                assert!(out.failed.is_empty(), "send batch: {:?}", out.failed);
            })
            .await;
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

    /// Approximate (visible, in flight) messages of a queue.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        try_depth(&self.clients.sqs, url)
            .await
            .expect("queue attributes")
    }

    /// Receives every message of a queue (leaving them in flight): polls
    /// until at least `expected` arrived, then until three one-second polls
    /// in a row bring nothing; 15 s at most. With `expected = 0`, it shows
    /// that nothing arrived.
    pub async fn receive_all(
        &self,
        url: &str,
        expected: usize,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        let mut messages = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut quiet = 0;
        while std::time::Instant::now() < deadline && (messages.len() < expected || quiet < 3) {
            let out = self
                .clients
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            let received = out.messages.unwrap_or_default();
            quiet = if received.is_empty() { quiet + 1 } else { 0 };
            messages.extend(received);
        }
        messages
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

    /// The dedup keys recorded on an order, sorted.
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

    /// How many events `role` applied to an order: the counter each effect
    /// increments in its own conditional write (0 when none). "Applied once"
    /// means this is 1 (a dedup set cannot show a double application).
    pub async fn applications(
        &self,
        pedido_id: Uuid,
        role: shared::orders_table::WorkerRole,
    ) -> u64 {
        self.item(pedido_id)
            .await
            .map_or(0, |item| shared::orders_table::applications(&item, role))
    }

    /// Every order item of the table (scan; idempotency-key records left
    /// out), for whole-run checks.
    pub async fn all_orders(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.all_items()
            .await
            .into_iter()
            .filter(|item| {
                matches!(item.get(attr::PEDIDO_ID), Some(AttributeValue::S(id)) if shared::orders_table::is_order_id(id))
            })
            .collect()
    }

    /// Every item of the table (scan), for whole-run checks.
    pub async fn all_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .clients
                .dynamodb
                .scan()
                .table_name(self.table.name())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// The standard AWS variables of this process plus `extra`, for a child process.
    pub fn child_env(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL_SNS",
            "AWS_ENDPOINT_URL_SQS",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "PATH",
            // The permission contract's call records (scripts/test.sh sets it).
            shared::aws::call_record::ENV_DIR,
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
        env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
        env.push(("LOG_FORMAT".into(), "json".into()));
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes (then panics naming `what`).
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

/// A valid `PedidoCreado` event body for `pedido_id` (total 20001.00).
pub fn creado(pedido_id: Uuid) -> String {
    creado_with_total(pedido_id, "20001.00", "10000.50")
}

/// A `PedidoCreado` with one item of two units of `half`, totalling `total`.
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

/// A valid order request body for `POST /api/pedidos` (total 25001.00).
pub fn order_request(pedido_id: Option<Uuid>) -> serde_json::Value {
    let mut body = serde_json::json!({
        "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
        "moneda": "CLP",
        "items": [{"sku": "SKU-001", "cantidad": 2, "precioUnitario": "10000.50"},
                  {"sku": "SKU-002", "cantidad": 1, "precioUnitario": "5000"}],
        "total": "25001.00",
        "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM",
                           "codigoPostal": "7500000", "pais": "CL"}
    });
    if let Some(id) = pedido_id {
        body["pedidoId"] = serde_json::json!(id);
    }
    body
}

/// The workspace's binary `name` from the same build as the running
/// executable: beside it (a binary such as `bench`) or one level up (a test
/// in `target/<profile>/deps`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let here = exe.parent().expect("exe dir");
    let candidates = [
        here.join(name),
        here.parent().map(|p| p.join(name)).unwrap_or_default(),
    ];
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
        panic!(
            "{name} not found beside {}: build the workspace first (`cargo build --workspace`, or run `make test`)",
            exe.display()
        )
    })
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The endpoint of one service of the stack (`AWS_ENDPOINT_URL_<SERVICE>`,
/// e.g. `"SNS"`), to put a fault proxy in front of it.
pub fn endpoint(service: &str) -> String {
    let name = format!("AWS_ENDPOINT_URL_{service}");
    std::env::var(&name).unwrap_or_else(|_| panic!("{name} is not set: source .local/stack.env"))
}

/// A DynamoDB client for an endpoint other than the environment's (e.g. a
/// private DynamoDB Local a test stops and starts).
pub async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}
