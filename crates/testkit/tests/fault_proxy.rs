//! The fault proxy against the local stack: every mode, seen through real SDK
//! calls (DynamoDB, SNS, SQS), and what the service did meanwhile.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use shared::orders_table::attr;
use testkit::fault_proxy::{FaultProxy, Mode};
use testkit::{Stack, eventually, stack};
use uuid::Uuid;

fn endpoint(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| panic!("{variable} (source .local/stack.env)"))
}

async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .load()
        .await
}

/// Attempt timeout and retries of a test client; `None` keeps the SDK's defaults.
#[derive(Clone, Copy)]
struct Patience {
    attempt: Option<Duration>,
    max_attempts: Option<u32>,
}

impl Patience {
    const DEFAULT: Self = Self {
        attempt: None,
        max_attempts: None,
    };

    fn once(attempt: Duration) -> Self {
        Self {
            attempt: Some(attempt),
            max_attempts: Some(1),
        }
    }

    fn timeouts(self) -> TimeoutConfig {
        let mut builder = TimeoutConfig::builder();
        if let Some(attempt) = self.attempt {
            builder = builder.operation_attempt_timeout(attempt);
        }
        builder.build()
    }

    fn retries(self) -> RetryConfig {
        match self.max_attempts {
            // Short backoff: these tests count attempts, not wait for them.
            Some(n) => RetryConfig::standard()
                .with_max_attempts(n)
                .with_initial_backoff(Duration::from_millis(20)),
            None => RetryConfig::standard(),
        }
    }
}

async fn dynamodb(proxy: &FaultProxy, patience: Patience) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(proxy.url())
        .timeout_config(patience.timeouts())
        .retry_config(patience.retries())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

async fn sns(proxy: &FaultProxy, patience: Patience) -> aws_sdk_sns::Client {
    let mut conf = aws_sdk_sns::config::Builder::from(&sdk_config().await)
        .endpoint_url(proxy.url())
        .timeout_config(patience.timeouts());
    if patience.max_attempts.is_some() {
        conf = conf.retry_config(patience.retries());
    }
    aws_sdk_sns::Client::from_conf(conf.build())
}

async fn sqs(proxy: &FaultProxy, patience: Patience) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::config::Builder::from(&sdk_config().await)
        .endpoint_url(proxy.url())
        .timeout_config(patience.timeouts())
        .retry_config(patience.retries())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

fn key(pedido_id: Uuid) -> AttributeValue {
    AttributeValue::S(pedido_id.to_string())
}

async fn put(
    client: &aws_sdk_dynamodb::Client,
    st: &Stack,
    pedido_id: Uuid,
) -> Result<(), SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>> {
    client
        .put_item()
        .table_name(st.table.name())
        .item(attr::PEDIDO_ID, key(pedido_id))
        .send()
        .await
        .map(|_| ())
}

async fn update(
    client: &aws_sdk_dynamodb::Client,
    st: &Stack,
    pedido_id: Uuid,
) -> Result<(), SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>> {
    client
        .update_item()
        .table_name(st.table.name())
        .key(attr::PEDIDO_ID, key(pedido_id))
        .update_expression("SET #e = :e")
        .expression_attribute_names("#e", "estado")
        .expression_attribute_values(":e", AttributeValue::S("PROCESADO".into()))
        .send()
        .await
        .map(|_| ())
}

fn error(status: u16, code: &str) -> Mode {
    Mode::Error {
        status,
        code: code.to_owned(),
        message: format!("{code} from the fault proxy"),
    }
}

/// The HTTP status the client received with a service error.
fn status_of<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response()
        .map(|response| response.status().as_u16())
}

#[tokio::test]
async fn pass_relays_and_counts_operations_and_rules_override_the_default() {
    let st = stack().await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let client = dynamodb(&proxy, Patience::once(Duration::from_secs(5))).await;
    let id = Uuid::new_v4();

    put(&client, &st, id).await.expect("PutItem through Pass");
    let got = client
        .get_item()
        .table_name(st.table.name())
        .key(attr::PEDIDO_ID, key(id))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem through Pass");
    assert!(got.item.is_some(), "the answer is relayed whole");
    assert!(st.item(id).await.is_some(), "and the service acted on it");
    assert_eq!(proxy.seen("PutItem"), 1);
    assert_eq!(proxy.seen("GetItem"), 1);
    assert_eq!(proxy.seen("UpdateItem"), 0);
    assert_eq!(proxy.seen_total(), 2);

    // Everything answers 503, except GetItem, whose rule takes precedence.
    proxy.set(Mode::Status(503));
    proxy.set_for("GetItem", Mode::Pass);
    let err = put(&client, &st, Uuid::new_v4())
        .await
        .expect_err("PutItem gets the default mode");
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err:?}");
    client
        .get_item()
        .table_name(st.table.name())
        .key(attr::PEDIDO_ID, key(id))
        .send()
        .await
        .expect("GetItem keeps its own rule");

    proxy.reset();
    put(&client, &st, Uuid::new_v4())
        .await
        .expect("Pass again after reset");
    assert_eq!(proxy.seen("PutItem"), 3, "counts survive reset");
    assert_eq!(proxy.seen_total(), 5);
}

#[tokio::test]
async fn hold_forwards_at_once_and_answers_late() {
    let st = stack().await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let hold = Duration::from_secs(6);
    proxy.set_for("PutItem", Mode::Hold(hold));

    // A client that gives up after 1 s: it sees a timeout, yet the item is written.
    let impatient = dynamodb(&proxy, Patience::once(Duration::from_secs(1))).await;
    let id = Uuid::new_v4();
    let started = Instant::now();
    let err = put(&impatient, &st, id)
        .await
        .expect_err("the answer is held past the attempt timeout");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    // The service must have acted before the hold ends, not after it.
    let before_hold_ends = hold
        .saturating_sub(started.elapsed())
        .saturating_sub(Duration::from_millis(500));
    eventually(
        before_hold_ends,
        "the held PutItem is in the table before the hold ends",
        || async { st.item(id).await.map(|_| ()) },
    )
    .await;
    assert!(
        started.elapsed() < hold,
        "checked while the answer was still held"
    );

    // A patient client gets the answer, late.
    proxy.set_for("PutItem", Mode::Hold(Duration::from_millis(600)));
    let patient = dynamodb(&proxy, Patience::once(Duration::from_secs(5))).await;
    let started = Instant::now();
    put(&patient, &st, Uuid::new_v4())
        .await
        .expect("the held answer is relayed");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn close_after_forward_writes_but_the_client_gets_no_answer() {
    let st = stack().await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    proxy.set_for("PutItem", Mode::CloseAfterForward);
    let client = dynamodb(&proxy, Patience::once(Duration::from_secs(5))).await;
    let id = Uuid::new_v4();

    let err = put(&client, &st, id)
        .await
        .expect_err("the connection is closed instead of answered");
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "a dispatch/response error, not a service error: {err:?}"
    );
    assert!(
        st.item(id).await.is_some(),
        "the service acted before the connection was closed"
    );
    assert_eq!(proxy.seen("PutItem"), 1);
}

#[tokio::test]
async fn dynamodb_errors_parse_as_the_sdk_service_errors() {
    let st = stack().await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let client = dynamodb(&proxy, Patience::once(Duration::from_secs(5))).await;
    let id = Uuid::new_v4();

    proxy.set_for("UpdateItem", error(400, "AccessDeniedException"));
    let err = update(&client, &st, id).await.expect_err("access denied");
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("AccessDeniedException from the fault proxy")
    );
    assert!(err.as_service_error().is_some(), "{err:?}");
    assert_eq!(status_of(&err), Some(400));

    proxy.set_for(
        "UpdateItem",
        error(400, "ProvisionedThroughputExceededException"),
    );
    let err = update(&client, &st, id).await.expect_err("throughput");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()),
        "{err:?}"
    );

    proxy.set_for("UpdateItem", error(400, "ResourceNotFoundException"));
    let err = update(&client, &st, id).await.expect_err("missing table");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );

    proxy.set_for("UpdateItem", Mode::Throttle);
    let err = update(&client, &st, id).await.expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_throttling_exception()),
        "{err:?}"
    );

    proxy.set_for("UpdateItem", Mode::Status(500));
    let err = update(&client, &st, id).await.expect_err("5xx");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    assert_eq!(status_of(&err), Some(500));

    assert_eq!(proxy.seen("UpdateItem"), 5, "one attempt each");
    assert!(st.item(id).await.is_none(), "nothing was forwarded");

    // Two throttled attempts, then the third goes through: the SDK retried.
    proxy.set_for_next("UpdateItem", Mode::Throttle, 2);
    let retrying = dynamodb(
        &proxy,
        Patience {
            attempt: Some(Duration::from_secs(5)),
            max_attempts: Some(3),
        },
    )
    .await;
    update(&retrying, &st, id)
        .await
        .expect("the third attempt passes: the rule ran out");
    assert_eq!(proxy.seen("UpdateItem"), 8);
    assert!(st.item(id).await.is_some());
}

/// A `PedidoCreado` as order-api publishes it (the subscriptions filter on `eventType`).
async fn publish(
    client: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<(), SdkError<aws_sdk_sns::operation::publish::PublishError>> {
    client
        .publish()
        .topic_arn(topic)
        .message(testkit::creado(Uuid::new_v4()))
        .message_attributes(
            "eventType",
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("PedidoCreado")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .map(|_| ())
}

#[tokio::test]
async fn sns_publish_errors_are_query_errors_and_retried_by_default() {
    let st = stack().await;
    let queue = st.queue("fp", 5, false).await;
    let topic = st.topic(&[&queue], false).await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_SNS")).await;
    // The SDK's default retry configuration.
    let client = sns(&proxy, Patience::DEFAULT).await;
    proxy.set_for("Publish", Mode::Throttle);
    let err = publish(&client, &topic).await.expect_err("throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded"));
    let throttled = proxy.seen("Publish");
    assert!(throttled > 1, "the SDK retried throttling: {throttled}");

    proxy.set_for("Publish", Mode::Status(500));
    let err = publish(&client, &topic).await.expect_err("5xx");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    let failed = proxy.seen("Publish") - throttled;
    assert!(failed > 1, "the SDK retried the 5xx: {failed}");

    proxy.set_for("Publish", error(403, "AuthorizationError"));
    let before = proxy.seen("Publish");
    let err = publish(&client, &topic).await.expect_err("denied");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_authorization_error_exception()),
        "{err:?}"
    );
    assert_eq!(proxy.seen("Publish") - before, 1, "not retried");

    proxy.set_for("Publish", error(400, "KMSDisabled"));
    let err = publish(&client, &topic).await.expect_err("key disabled");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_kms_disabled_exception()),
        "{err:?}"
    );
    assert_eq!(st.depth(&queue.url).await, (0, 0), "nothing was published");

    // Accepted by SNS, answered late: the client times out, the event is out.
    // (A long hold costs nothing: the test ends as soon as the event is out.)
    let hold = Duration::from_secs(6);
    proxy.set_for("Publish", Mode::Hold(hold));
    let impatient = sns(&proxy, Patience::once(Duration::from_secs(1))).await;
    let started = Instant::now();
    let err = publish(&impatient, &topic)
        .await
        .expect_err("held past the attempt timeout");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    eventually(
        hold.saturating_sub(started.elapsed())
            .saturating_sub(Duration::from_millis(500)),
        "the held Publish is delivered before the hold ends",
        || async { (st.depth(&queue.url).await.0 == 1).then_some(()) },
    )
    .await;
    assert!(started.elapsed() < hold);
}

#[tokio::test]
async fn sqs_errors_parse_and_a_held_delete_batch_still_deletes() {
    let st = stack().await;
    let queue = st.queue("fp", 5, false).await;
    let proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_SQS")).await;
    let client = sqs(&proxy, Patience::once(Duration::from_secs(3))).await;
    st.send(&queue, "hola").await;

    let received = client
        .receive_message()
        .queue_url(&queue.url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive through Pass")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let receipt = received[0].receipt_handle.clone().expect("receipt");
    let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
        .id("0")
        .receipt_handle(receipt)
        .build()
        .expect("entry");
    let delete = |client: &aws_sdk_sqs::Client| {
        client
            .delete_message_batch()
            .queue_url(&queue.url)
            .entries(entry.clone())
            .send()
    };

    proxy.set_for(
        "DeleteMessageBatch",
        error(400, "AWS.SimpleQueueService.NonExistentQueue"),
    );
    let err = delete(&client).await.expect_err("no such queue");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist()),
        "{err:?}"
    );
    assert_eq!(st.depth(&queue.url).await, (0, 1), "not deleted");

    proxy.set_for("ReceiveMessage", Mode::Throttle);
    let retrying = sqs(
        &proxy,
        Patience {
            attempt: Some(Duration::from_secs(3)),
            max_attempts: Some(3),
        },
    )
    .await;
    let before = proxy.seen("ReceiveMessage");
    let err = retrying
        .receive_message()
        .queue_url(&queue.url)
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(proxy.seen("ReceiveMessage") - before, 3, "retried");

    // A delete batch that hangs: the client gives up, the queue deleted it.
    let hold = Duration::from_secs(6);
    proxy.set_for("DeleteMessageBatch", Mode::Hold(hold));
    let impatient = sqs(&proxy, Patience::once(Duration::from_secs(1))).await;
    let started = Instant::now();
    let err = delete(&impatient).await.expect_err("held");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    eventually(
        hold.saturating_sub(started.elapsed())
            .saturating_sub(Duration::from_millis(500)),
        "the held DeleteMessageBatch deleted the message",
        || async { (st.depth(&queue.url).await == (0, 0)).then_some(()) },
    )
    .await;
    assert!(started.elapsed() < hold);
}

#[tokio::test]
async fn down_refuses_and_cuts_a_long_poll_and_up_serves_again() {
    let st = stack().await;
    let queue = st.queue("fp", 5, false).await;
    let mut proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_SQS")).await;
    let client = sqs(&proxy, Patience::once(Duration::from_secs(30))).await;

    let poll = tokio::spawn({
        let client = client.clone();
        let url = queue.url.clone();
        async move {
            client
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(20)
                .send()
                .await
        }
    });
    eventually(Duration::from_secs(5), "the long poll is in flight", || {
        let seen = proxy.seen("ReceiveMessage");
        async move { (seen == 1).then_some(()) }
    })
    .await;

    proxy.down().await;
    let cut = tokio::time::timeout(Duration::from_secs(3), poll)
        .await
        .expect("the long poll ends when the proxy goes down")
        .expect("join");
    let err = cut.expect_err("cut, not answered");
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port()))
        .await
        .expect_err("nothing listens while down");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    proxy.up().await;
    assert_eq!(proxy.url(), format!("http://127.0.0.1:{}", proxy.port()));
    client
        .receive_message()
        .queue_url(&queue.url)
        .send()
        .await
        .expect("served again on the same port");
}

/// The median time of `calls` sequential calls of `call`.
async fn median_time<F, Fut>(calls: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn a_latency_line_adds_its_delay_to_every_answer() {
    let st = stack().await;
    let queue = st.queue("fp", 5, false).await;
    let id = Uuid::new_v4();
    put(&st.clients.dynamodb, &st, id)
        .await
        .expect("put directly");
    let get = |client: aws_sdk_dynamodb::Client| {
        let table = st.table.name().to_owned();
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key(attr::PEDIDO_ID, key(id))
                .send()
                .await
                .expect("GetItem through the line")
                .item;
            assert!(item.is_some(), "the answer is relayed whole");
        }
    };
    let receive = |client: aws_sdk_sqs::Client| {
        let url = queue.url.clone();
        async move {
            client
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("ReceiveMessage through the line");
        }
    };
    let patience = Patience::once(Duration::from_secs(5));

    // A zero line is a plain relay; a 150 ms DynamoDB line and a 100 ms SQS
    // line add that much to every call, and not much more.
    let dynamodb_delay = Duration::from_millis(150);
    let sqs_delay = Duration::from_millis(100);
    let ddb_zero =
        FaultProxy::with_latency(&endpoint("AWS_ENDPOINT_URL_DYNAMODB"), Duration::ZERO).await;
    let ddb_line =
        FaultProxy::with_latency(&endpoint("AWS_ENDPOINT_URL_DYNAMODB"), dynamodb_delay).await;
    let sqs_zero =
        FaultProxy::with_latency(&endpoint("AWS_ENDPOINT_URL_SQS"), Duration::ZERO).await;
    let sqs_line = FaultProxy::with_latency(&endpoint("AWS_ENDPOINT_URL_SQS"), sqs_delay).await;
    let (ddb_zero_client, ddb_line_client) = (
        dynamodb(&ddb_zero, patience).await,
        dynamodb(&ddb_line, patience).await,
    );
    let (sqs_zero_client, sqs_line_client) = (
        sqs(&sqs_zero, patience).await,
        sqs(&sqs_line, patience).await,
    );
    // Warm both paths (credentials, connections) before timing.
    get(ddb_zero_client.clone()).await;
    get(ddb_line_client.clone()).await;
    receive(sqs_zero_client.clone()).await;
    receive(sqs_line_client.clone()).await;

    let slack = Duration::from_millis(100);
    for (what, zero, line, delay) in [
        (
            "DynamoDB GetItem",
            median_time(5, || get(ddb_zero_client.clone())).await,
            median_time(5, || get(ddb_line_client.clone())).await,
            dynamodb_delay,
        ),
        (
            "SQS ReceiveMessage",
            median_time(5, || receive(sqs_zero_client.clone())).await,
            median_time(5, || receive(sqs_line_client.clone())).await,
            sqs_delay,
        ),
    ] {
        assert!(zero < delay, "{what}: a zero line adds nothing ({zero:?})");
        assert!(
            line >= delay && line < zero + delay + slack,
            "{what}: {line:?} through the {delay:?} line, {zero:?} through the zero line"
        );
    }
    assert_eq!(
        ddb_line.seen("GetItem"),
        6,
        "every call went through the line"
    );
    assert_eq!(sqs_line.seen("ReceiveMessage"), 6);

    // The line is a fault proxy: a rule still overrides the latency.
    sqs_line.set_for_next("ReceiveMessage", Mode::Throttle, 1);
    let err = sqs_line_client
        .receive_message()
        .queue_url(&queue.url)
        .send()
        .await
        .expect_err("throttled by the rule");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
}

#[tokio::test]
async fn upstream_connections_are_reused_while_the_upstream_keeps_them_alive() {
    let st = stack().await;
    let queue = st.queue("fp", 5, false).await;
    let patience = Patience::once(Duration::from_secs(5));

    // DynamoDB Local keeps connections alive: sequential calls share one.
    let ddb = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let client = dynamodb(&ddb, patience).await;
    for _ in 0..20 {
        put(&client, &st, Uuid::new_v4())
            .await
            .expect("PutItem through a pooled connection");
    }
    assert_eq!(ddb.seen("PutItem"), 20);
    assert_eq!(
        ddb.upstream_connections(),
        1,
        "20 sequential requests on one kept-alive upstream connection"
    );

    // Concurrent calls open at most one connection each, then reuse them.
    let concurrent = || {
        futures::future::join_all((0..8).map(|_| {
            let (client, st) = (client.clone(), &st);
            async move {
                put(&client, st, Uuid::new_v4())
                    .await
                    .expect("concurrent PutItem")
            }
        }))
    };
    concurrent().await;
    let after_first = ddb.upstream_connections();
    assert!(
        after_first <= 8,
        "{after_first} connections for 8 requests at once"
    );
    concurrent().await;
    assert!(
        ddb.upstream_connections() <= 8,
        "{} connections after 16 requests, 8 at a time",
        ddb.upstream_connections()
    );

    // LocalStack closes each connection after its answer: every request gets
    // a fresh one, and none fails on a connection being closed.
    let sqs_proxy = FaultProxy::start(&endpoint("AWS_ENDPOINT_URL_SQS")).await;
    let client = sqs(&sqs_proxy, patience).await;
    for i in 0..5 {
        client
            .send_message()
            .queue_url(&queue.url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .expect("SendMessage through the proxy");
    }
    assert_eq!(sqs_proxy.seen("SendMessage"), 5);
    assert_eq!(sqs_proxy.upstream_connections(), 5);
    assert_eq!(st.depth(&queue.url).await, (5, 0));
}
