//! The intake record (the outbox), idempotency keys and honest answers
//! against the real table (DynamoDB Local) and topic (LocalStack), with
//! DynamoDB or SNS misbehaving through a fault proxy: held answers, cut
//! connections, 5xx, throttling, refusals.

use std::sync::Arc;
use std::time::Duration;

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
    start_with(st, topic, sns, None, extra).await
}

/// [`start`], with the table reached through `dynamodb` too.
async fn start_with(
    st: &Stack,
    topic: &str,
    sns: Option<&FaultProxy>,
    dynamodb: Option<&FaultProxy>,
    extra: &[(&str, &str)],
) -> Api {
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
    let mut table = st.clients.dynamodb.config().to_builder();
    if let Some(proxy) = dynamodb {
        table = table.endpoint_url(proxy.url());
    }
    let table = aws_sdk_dynamodb::Client::from_conf(table.build());
    let orders = Arc::new(OrdersTable::new(
        order_api::startup::table_client(&table, &settings),
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
    assert_eq!(record["publicacion"], "PENDIENTE", "{record}");
    let pedido_id: Uuid = id.parse().expect("uuid");
    let item = st.item(pedido_id).await.expect("intake record");
    assert!(
        !item.contains_key(attr::EXPIRES_AT),
        "an accepted order is durable: no provisional expiry: {item:?}"
    );
    let stored = item
        .get(attr::EVENTO_CREADO)
        .and_then(|v| v.as_s().ok())
        .expect("the intake record holds the event");
    let published = events(&st, &q, 1).await;
    assert_eq!(
        Event::parse_message_body(stored)
            .expect("stored event")
            .event_id,
        published[0].event_id,
        "the stored event is the one published"
    );

    apply_all(&st, &published).await;
    let (_, record) = api.get(&id).await;
    assert_eq!(record["estado"], "PROCESADO", "{record}");
    assert_eq!(record["envio"]["estado"], "PROGRAMADO", "{record}");
    assert_eq!(record["publicacion"], "COMPLETADA", "{record}");
    let item = st.item(pedido_id).await.expect("order");
    assert!(!item.contains_key(attr::EXPIRES_AT), "{item:?}");
    assert!(
        !item.contains_key(attr::EVENTO_CREADO),
        "applied: its copy is gone {item:?}"
    );
    for role in WorkerRole::ALL {
        assert_eq!(st.applications(pedido_id, role).await, 1);
    }
}

#[tokio::test]
async fn a_processed_order_retried_three_ways_is_never_written_again() {
    let st = stack().await;
    let q = st.queue("retried", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let api = start(&st, &topic, None, &[]).await;
    let id = Uuid::new_v4();
    let key = Uuid::new_v4().to_string();
    let (status, first) = api
        .post("/api/pedidos", Some(&key), &order_request(Some(id)))
        .await;
    assert_eq!(status, 202, "{first}");
    apply_all(&st, &events(&st, &q, 1).await).await;
    let processed = st.item(id).await.expect("order");
    assert!(!processed.contains_key(attr::EXPIRES_AT), "{processed:?}");

    let other_key = Uuid::new_v4().to_string();
    for (how, key) in [
        ("the same key", Some(key.as_str())),
        ("the same pedidoId, no key", None),
        ("a new key, the same pedidoId", Some(other_key.as_str())),
    ] {
        let (status, answer) = api
            .post("/api/pedidos", key, &order_request(Some(id)))
            .await;
        assert_eq!(status, 202, "{how}: {answer}");
        assert_eq!(answer["pedidoId"], first["pedidoId"], "{how}");
        assert_eq!(answer["eventId"], first["eventId"], "{how}");
        let item = st.item(id).await.expect("order");
        assert!(!item.contains_key(attr::EXPIRES_AT), "{how}: {item:?}");
        assert_eq!(item, processed, "{how}: the processed order is not written");
    }
    let (_, record) = api.get(&id.to_string()).await;
    assert_eq!(record["estado"], "PROCESADO", "{record}");
}

#[tokio::test]
async fn an_expired_order_is_absent_for_get() {
    let st = stack().await;
    let q = st.queue("expired", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let api = start(&st, &topic, None, &[]).await;
    let id = Uuid::new_v4();
    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    let event = &events(&st, &q, 1).await[0];
    st.table
        .apply(
            WorkerRole::Procesamiento,
            event,
            chrono::Utc::now(),
            Some(past),
        )
        .await
        .expect("apply");
    let (status, problem) = api.get(&id.to_string()).await;
    assert_eq!(
        status, 404,
        "past its TTL, DynamoDB has not deleted it yet: {problem}"
    );
}

#[tokio::test]
async fn a_pedido_id_used_for_other_content_is_409_and_nothing_is_written() {
    let st = stack().await;
    let q = st.queue("conflict", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let api = start(&st, &topic, None, &[]).await;
    let id = Uuid::new_v4();

    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
    let published = events(&st, &q, 1).await;
    assert_eq!(published.len(), 1);
    let recorded = st.item(id).await.expect("record");
    let mut other = order_request(Some(id));
    other["direccionEnvio"]["calle"] = json!("Otra 99");
    let (status, problem) = api.post("/api/pedidos", None, &other).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/pedido-conflict");
    assert_eq!(st.item(id).await.expect("record"), recorded);
    // The retried original is still accepted.
    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_request_meeting_its_own_landed_writes_goes_on() {
    let st = stack().await;
    let q = st.queue("own", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let dynamodb = FaultProxy::start(&testkit::endpoint("DYNAMODB")).await;
    // T = 20 s: each table call gets 2 s, attempts of 1 s.
    let api = start_with(
        &st,
        &topic,
        None,
        Some(&dynamodb),
        &[("REQUEST_TIMEOUT_SECS", "20")],
    )
    .await;

    // The key's reservation lands, but its answer comes after the 1 s attempt
    // timeout: the SDK's second attempt meets this request's own reservation.
    let key = Uuid::new_v4().to_string();
    dynamodb.set_for_next("UpdateItem", Mode::Hold(Duration::from_millis(1500)), 1);
    let (status, first) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    assert_eq!(status, 202, "never 409 about itself: {first}");
    assert!(
        dynamodb.seen("UpdateItem") >= 2,
        "the reservation was retried"
    );
    let (status, replay) = api
        .post("/api/pedidos", Some(&key), &order_request(None))
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay, first, "answered as the first request");

    // The intake record lands but its answer is late: the retry meets it.
    dynamodb.set_for_next("PutItem", Mode::Hold(Duration::from_millis(1500)), 1);
    let (status, second) = api.post("/api/pedidos", None, &order_request(None)).await;
    assert_eq!(status, 202, "{second}");
    assert_eq!(dynamodb.seen("PutItem"), 3, "both writes and the retry");

    let published = events(&st, &q, 2).await;
    apply_all(&st, &published).await;
    for answer in [&first, &second] {
        let id: Uuid = id_of(answer).parse().expect("uuid");
        for role in WorkerRole::ALL {
            assert_eq!(st.applications(id, role).await, 1, "{role}");
        }
    }
}

#[tokio::test]
async fn a_key_in_progress_is_409_to_another_request_and_replays_answer_as_the_first() {
    let st = stack().await;
    let q = st.queue("keys", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let dynamodb = FaultProxy::start(&testkit::endpoint("DYNAMODB")).await;
    let api = Arc::new(start_with(&st, &topic, None, Some(&dynamodb), &[]).await);
    let key = Uuid::new_v4().to_string();

    // The first request's intake write is held (within its budget).
    dynamodb.set_for_next("PutItem", Mode::Hold(Duration::from_millis(400)), 1);
    let first = {
        let (api, key) = (api.clone(), key.clone());
        tokio::spawn(async move {
            api.post("/api/pedidos", Some(&key), &order_request(None))
                .await
        })
    };
    testkit::eventually(
        Duration::from_secs(5),
        "first intake write in flight",
        || async { (dynamodb.seen("PutItem") == 1).then_some(()) },
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
    assert_eq!(dynamodb.seen("PutItem"), 1, "replays write nothing");
    assert_eq!(events(&st, &q, 1).await.len(), 1);
}

#[tokio::test]
async fn with_sns_down_orders_are_accepted_and_recorded_with_their_event() {
    let st = stack().await;
    let q = st.queue("snsdown", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let mut sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = start(&st, &topic, Some(&sns), &[]).await;
    sns.down().await;
    for mode in [None, Some(Mode::Status(500)), Some(Mode::CloseAfterForward)] {
        if let Some(mode) = mode {
            sns.up().await;
            sns.set_for("Publish", mode);
        }
        let (status, body) = api.post("/api/pedidos", None, &order_request(None)).await;
        assert_eq!(status, 202, "{body}");
        let id: Uuid = id_of(&body).parse().expect("uuid");
        let item = st.item(id).await.expect("record");
        assert!(item.contains_key(attr::EVENTO_CREADO), "{item:?}");
        let (_, record) = api.get(&id.to_string()).await;
        assert_eq!(record["estado"], "RECIBIDO", "{record}");
        assert_eq!(record["publicacion"], "PENDIENTE", "{record}");
    }
}

#[tokio::test]
async fn only_certain_failures_of_the_table_say_not_accepted() {
    let st = stack().await;
    let q = st.queue("certain", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let mut dynamodb = FaultProxy::start(&testkit::endpoint("DYNAMODB")).await;
    let api = start_with(&st, &topic, None, Some(&dynamodb), &[]).await;

    for mode in [Mode::CloseAfterForward, Mode::Status(500)] {
        dynamodb.set_for("PutItem", mode.clone());
        let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
        assert_eq!(status, 503, "{mode:?}: {problem}");
        assert_eq!(problem["type"], "/problems/outcome-unknown", "{mode:?}");
        assert!(problem["pedidoId"].is_string(), "{problem}");
    }
    // The cut answer's write landed: its record is there for the relay.
    dynamodb.reset();

    let refusals = [
        Mode::Throttle,
        Mode::Error {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "not authorized to perform dynamodb:PutItem".into(),
        },
    ];
    for mode in refusals {
        dynamodb.set_for("PutItem", mode.clone());
        let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
        assert_eq!(status, 503, "{mode:?}: {problem}");
        assert_eq!(problem["type"], "/problems/not-accepted", "{mode:?}");
        let id: Uuid = id_of(&problem).parse().expect("uuid");
        assert!(st.item(id).await.is_none(), "{mode:?}: nothing recorded");
    }
    dynamodb.reset();
    dynamodb.down().await;
    let (status, problem) = api.post("/api/pedidos", None, &order_request(None)).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["type"], "/problems/not-accepted",
        "connection refused"
    );
}

#[tokio::test]
async fn cancellations_go_through_the_outbox_and_an_unknown_order_is_404() {
    let st = stack().await;
    let q = st.queue("cancel", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = start(&st, &topic, Some(&sns), &[]).await;

    let unknown = Uuid::new_v4();
    let (status, problem) = api
        .post(
            &format!("/api/pedidos/{unknown}/cancelacion"),
            None,
            &json!({"motivo": "sin stock"}),
        )
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["type"], "/problems/order-not-found");
    assert!(st.item(unknown).await.is_none(), "nothing written");
    assert_eq!(sns.seen("Publish"), 0, "nothing published");

    let id = Uuid::new_v4();
    let (status, _) = api
        .post("/api/pedidos", None, &order_request(Some(id)))
        .await;
    assert_eq!(status, 202);
    let (status, cancelled) = api
        .post(
            &format!("/api/pedidos/{id}/cancelacion"),
            None,
            &json!({"motivo": "sin stock"}),
        )
        .await;
    assert_eq!(status, 202, "{cancelled}");
    let item = st.item(id).await.expect("order");
    assert!(item.contains_key(attr::EVENTO_CANCELADO), "{item:?}");
    let published = events(&st, &q, 2).await;
    apply_all(&st, &published).await;
    let (_, record) = api.get(&id.to_string()).await;
    assert_eq!(record["estado"], "CANCELADO", "{record}");
    assert_eq!(record["publicacion"], "COMPLETADA", "{record}");
    assert!(record["cancelacionSolicitadaEn"].is_string(), "{record}");
}
