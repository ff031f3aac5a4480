//! The intake record, idempotency keys and honest answers against the real
//! table (DynamoDB Local) and topic (LocalStack), with SNS misbehaving through
//! a fault proxy: held answers, cut connections, 5xx, throttling, refusals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use order_api::Application;
use order_api::publisher::SnsPublisher;
use serde_json::{Value, json};
use shared::contract::Event;
use shared::orders_table::{ApplyOutcome, OrdersTable, WorkerRole, attr};
use testkit::fault_proxy::{FaultProxy, Mode};
use testkit::{QueuePair, Stack, order_request, stack};
use uuid::Uuid;

use crate::helpers::settings_with;

struct Api {
    base: String,
    http: reqwest::Client,
}

/// The real application over the stack's table and topic, publishing through `sns`.
async fn start(st: &Stack, topic: &str, sns: Option<&FaultProxy>, extra: &[(&str, &str)]) -> Api {
    let settings = settings_with(topic, st.table.name(), extra);
    let mut config = st.clients.sns.config().to_builder();
    if let Some(proxy) = sns {
        config = config.endpoint_url(proxy.url());
    }
    let client = aws_sdk_sns::Client::from_conf(config.build());
    let publisher = Arc::new(SnsPublisher::new(
        &client,
        topic,
        settings.budgets().publish,
    ));
    let orders = Arc::new(OrdersTable::new(
        st.clients.dynamodb.clone(),
        st.table.name(),
    ));
    let app = Application::build_with(settings, publisher, orders)
        .await
        .expect("build app");
    let addr = app.local_addr().expect("addr");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

impl Api {
    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, pedido_id: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/api/pedidos/{pedido_id}", self.base))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Every event that reached `queue` (at least `expected`).
async fn events(st: &Stack, queue: &QueuePair, expected: usize) -> Vec<Event> {
    st.receive_all(&queue.url, expected)
        .await
        .iter()
        .map(|m| Event::parse_message_body(m.body().expect("body")).expect("an event"))
        .collect()
}

/// Applies every event for both roles, as the two workers would.
async fn apply_all(st: &Stack, events: &[Event]) {
    for event in events {
        for role in WorkerRole::ALL {
            let outcome = st
                .table
                .apply(role, event, chrono::Utc::now(), None)
                .await
                .expect("apply");
            assert!(
                matches!(outcome, ApplyOutcome::Applied | ApplyOutcome::Duplicate),
                "{outcome:?}"
            );
        }
    }
}

fn id_of(body: &Value) -> String {
    body["pedidoId"].as_str().expect("pedidoId").to_owned()
}

#[tokio::test]
async fn get_shows_recibido_at_once_and_the_workers_complete_the_same_record() {
    let st = stack().await;
    let q = st.queue("intake", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let api = start(&st, &topic, None, &[]).await;

    let (status, body) = api.post("/api/pedidos", None, &order_request(None)).await;
    assert_eq!(status, 202, "{body}");
    let id = id_of(&body);
    let (status, record) = api.get(&id).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["estado"], "RECIBIDO");
    let pedido_id: Uuid = id.parse().expect("uuid");
    let item = st.item(pedido_id).await.expect("intake record");
    assert!(
        item.contains_key(attr::EXPIRES_AT),
        "a provisional expiry, in case the order is never recorded: {item:?}"
    );

    apply_all(&st, &events(&st, &q, 1).await).await;
    let (_, record) = api.get(&id).await;
    assert_eq!(record["estado"], "PROCESADO", "{record}");
    assert_eq!(record["envio"]["estado"], "PROGRAMADO", "{record}");
    let item = st.item(pedido_id).await.expect("order");
    assert!(
        !item.contains_key(attr::EXPIRES_AT),
        "procesamiento decides the order's lifetime (none here): {item:?}"
    );
    for role in WorkerRole::ALL {
        assert_eq!(st.applications(pedido_id, role).await, 1);
    }
}

#[tokio::test]
async fn a_pedido_id_used_for_other_content_is_409_and_nothing_more_is_published() {
    let st = stack().await;
    let q = st.queue("conflict", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let api = start(&st, &topic, None, &[]).await;
    let id = Uuid::new_v4();

    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
    let mut other = order_request(Some(id));
    other["direccionEnvio"]["calle"] = json!("Otra 99");
    let (status, problem) = api.post("/api/pedidos", None, &other).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/pedido-conflict");
    let published = events(&st, &q, 1).await;
    assert_eq!(published.len(), 1, "only the first order was published");
    // The retried original is still accepted.
    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_key_in_progress_is_409_then_replays_answer_as_the_first_and_another_body_is_422() {
    let st = stack().await;
    let q = st.queue("keys", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = Arc::new(start(&st, &topic, Some(&sns), &[]).await);
    let key = Uuid::new_v4().to_string();

    // Held a while, but within the publish attempt timeout.
    sns.set_for_next("Publish", Mode::Hold(Duration::from_millis(1200)), 1);
    let first = {
        let (api, key) = (api.clone(), key.clone());
        tokio::spawn(async move {
            api.post("/api/pedidos", Some(&key), &order_request(None))
                .await
        })
    };
    testkit::eventually(
        Duration::from_secs(5),
        "first publish in flight",
        || async { (sns.seen("Publish") == 1).then_some(()) },
    )
    .await;
    let (status, problem) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/idempotency-key-in-progress");

    let (status, first) = first.await.expect("first request");
    assert_eq!(status, 202, "{first}");
    let (status, replay) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay, first, "answered as the first request");
    let mut other = order_request(None);
    other["total"] = json!("25001.00");
    other["items"][1]["precioUnitario"] = json!("5000.00");
    other["direccionEnvio"]["ciudad"] = json!("Valparaíso");
    let (status, problem) = api.post("/api/pedidos", Some(&key), &other).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/idempotency-key-mismatch");
    assert_eq!(sns.seen("Publish"), 1, "replays publish nothing");
    assert_eq!(events(&st, &q, 1).await.len(), 1);
}

#[tokio::test]
async fn a_late_sns_answer_is_outcome_unknown_with_the_pedido_id_and_the_retry_is_applied_once() {
    let st = stack().await;
    let q = st.queue("late", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = start(&st, &topic, Some(&sns), &[("REQUEST_TIMEOUT_SECS", "10")]).await;
    let key = Uuid::new_v4().to_string();

    // SNS takes every publish but answers after 7 s, past each attempt's timeout.
    sns.set_for("Publish", Mode::Hold(Duration::from_secs(7)));
    let started = Instant::now();
    let (status, problem) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/outcome-unknown");
    assert!(
        took < Duration::from_secs(10),
        "the API answered, not the outer timeout: {took:?}"
    );
    let id = id_of(&problem);
    let (_, record) = api.get(&id).await;
    assert_eq!(
        record["estado"], "RECIBIDO",
        "the order may exist: its record stays"
    );

    sns.reset();
    let (status, accepted) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(id_of(&accepted), id, "the retry names the same order");

    // The held attempts and the retry all reached the topic; each role applies the order once.
    let published = events(&st, &q, 2).await;
    assert!(published.len() >= 2, "{}", published.len());
    assert!(published.iter().all(|e| e.pedido_id().to_string() == id));
    apply_all(&st, &published).await;
    let pedido_id: Uuid = id.parse().expect("uuid");
    for role in WorkerRole::ALL {
        assert_eq!(st.applications(pedido_id, role).await, 1, "{role}");
    }
}

#[tokio::test]
async fn only_certain_failures_say_not_accepted() {
    let st = stack().await;
    let q = st.queue("certain", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let mut sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = start(&st, &topic, Some(&sns), &[("REQUEST_TIMEOUT_SECS", "5")]).await;

    let unknown = [
        Mode::CloseAfterForward,
        Mode::Status(500),
        Mode::Status(503),
    ];
    for mode in unknown {
        sns.set_for("Publish", mode.clone());
        let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
        assert_eq!(status, 503, "{mode:?}: {problem}");
        assert_eq!(problem["type"], "/problems/outcome-unknown", "{mode:?}");
        let (status, _) = api.get(&id_of(&problem)).await;
        assert_eq!(
            status, 200,
            "{mode:?}: the record of a maybe-accepted order stays"
        );
    }

    let refusals = [
        Mode::Throttle,
        Mode::Error {
            status: 403,
            code: "AuthorizationError".into(),
            message: "not authorized to perform SNS:Publish".into(),
        },
    ];
    for mode in refusals {
        sns.set_for("Publish", mode.clone());
        let before = sns.seen("Publish");
        let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
        assert_eq!(status, 503, "{mode:?}: {problem}");
        assert_eq!(problem["type"], "/problems/not-accepted", "{mode:?}");
        let (status, _) = api.get(&id_of(&problem)).await;
        assert_eq!(status, 404, "{mode:?}: no record of an order NOT accepted");
        if mode == Mode::Throttle {
            assert!(sns.seen("Publish") - before > 1, "throttling is retried");
        }
    }

    sns.reset();
    sns.down().await;
    let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["type"], "/problems/not-accepted",
        "connection refused"
    );
    sns.up().await;
    // Only the attempts whose outcome was unknown may have reached the queue.
    let published = events(&st, &q, 1).await;
    assert!(
        !published.is_empty() && published.len() <= 3,
        "{}",
        published.len()
    );
}
