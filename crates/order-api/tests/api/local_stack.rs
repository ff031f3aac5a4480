//! The real application against the local AWS stack. Requires the stack's
//! endpoints in the environment (`make stack-up` writes them to
//! `.local/stack.env`; `make test` sources it). Never skipped.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use order_api::Application;
use shared::contract::{Event, EventPayload};
use shared::orders_table::attr;
use testkit::{order_request, stack};
use uuid::Uuid;

use crate::helpers::settings;

async fn start(topic_arn: &str, table: &str) -> String {
    let app = Application::build(settings(topic_arn, table))
        .await
        .expect("build app");
    let addr = app.local_addr().expect("addr");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    format!("http://{addr}")
}

#[tokio::test]
async fn posted_order_reaches_a_subscribed_queue_with_its_attributes() {
    let st = stack().await;
    let q = st.queue("api", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let base = start(&topic, st.table.name()).await;
    let http = reqwest::Client::new();

    let response = http
        .post(format!("{base}/api/pedidos"))
        .header("x-request-id", "it-correlation-1")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&order_request(None))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await.expect("json");
    let pedido_id = accepted["pedidoId"].as_str().expect("pedidoId").to_owned();

    let messages = st.receive_all(&q.url, 1).await;
    assert_eq!(
        messages.len(),
        1,
        "exactly the published event reached the queue"
    );
    let message = &messages[0];
    let event = Event::parse_message_body(message.body().expect("body")).expect("a valid event");
    assert_eq!(event.pedido_id().to_string(), pedido_id);
    assert_eq!(event.correlation_id, "it-correlation-1");
    assert_eq!(
        event.event_id.to_string(),
        accepted["eventId"].as_str().expect("eventId")
    );
    assert!(matches!(event.payload, EventPayload::PedidoCreado(_)));

    let attributes = message
        .message_attributes
        .clone()
        .expect("message attributes");
    let value = |name: &str| attributes.get(name).and_then(|a| a.string_value.clone());
    assert_eq!(value("eventType").as_deref(), Some("PedidoCreado"));
    assert_eq!(value("eventVersion").as_deref(), Some("1"));
    assert_eq!(value("total").as_deref(), Some("25001"));
    assert_eq!(
        value("prioridad").as_deref(),
        Some("ESTANDAR"),
        "the default"
    );
    assert_eq!(
        attributes.get("total").map(|a| a.data_type.as_str()),
        Some("Number")
    );
    // Tracing is off in this process: no trace context travels, even though
    // the request sent one.
    let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "correlationId",
            "eventType",
            "eventVersion",
            "prioridad",
            "total"
        ]
    );
}

/// The priority, the customer and the message group of what reached `queue`.
fn lane_of(message: &aws_sdk_sqs::types::Message) -> (Event, Option<String>, Option<String>) {
    let event = Event::parse_message_body(message.body().expect("body")).expect("event");
    let attribute = message
        .message_attributes()
        .and_then(|a| a.get("prioridad"))
        .and_then(|a| a.string_value.clone());
    let group = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned();
    (event, attribute, group)
}

#[tokio::test]
async fn an_express_order_and_its_cancellation_travel_with_its_priority_grouped_by_customer() {
    let st = stack().await;
    let q = st.queue("api", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let base = start(&topic, st.table.name()).await;
    let http = reqwest::Client::new();
    let cliente = Uuid::new_v4();
    let mut body = order_request(None);
    body["clienteId"] = cliente.to_string().into();
    body["prioridad"] = "EXPRESS".into();
    let response = http
        .post(format!("{base}/api/pedidos"))
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await.expect("json");
    let pedido_id = accepted["pedidoId"].as_str().expect("pedidoId").to_owned();
    let record: serde_json::Value = http
        .get(format!("{base}/api/pedidos/{pedido_id}"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(record["prioridad"], "EXPRESS", "{record}");

    let cancel = http
        .post(format!("{base}/api/pedidos/{pedido_id}/cancelacion"))
        .json(&serde_json::json!({"motivo": "ya no"}))
        .send()
        .await
        .expect("POST cancel");
    assert_eq!(cancel.status(), 202);

    let messages = st.receive_all(&q.url, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    for message in &messages {
        let (event, attribute, group) = lane_of(message);
        let what = event.event_type();
        assert_eq!(event.pedido_id().to_string(), pedido_id);
        let body: serde_json::Value =
            serde_json::from_str(message.body().expect("body")).expect("json");
        assert_eq!(body["data"]["prioridad"], "EXPRESS", "{what}: {body}");
        assert_eq!(attribute.as_deref(), Some("EXPRESS"), "{what}");
        // LocalStack passes a standard topic's MessageGroupId on to the
        // standard queue, as SNS does for fair queues.
        assert_eq!(group, Some(cliente.to_string()), "{what}");
    }
}

#[tokio::test]
async fn with_fair_group_ids_off_no_message_group_is_sent() {
    let st = stack().await;
    let q = st.queue("api", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let app = Application::build(crate::helpers::settings_with(
        &topic,
        st.table.name(),
        &[("SNS_FAIR_GROUP_IDS", "false")],
    ))
    .await
    .expect("build app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let response = reqwest::Client::new()
        .post(format!("{base}/api/pedidos"))
        .json(&order_request(None))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let messages = st.receive_all(&q.url, 1).await;
    assert_eq!(messages.len(), 1);
    let (event, attribute, group) = lane_of(&messages[0]);
    assert!(matches!(event.payload, EventPayload::PedidoCreado(_)));
    assert_eq!(attribute.as_deref(), Some("ESTANDAR"));
    assert_eq!(
        group, None,
        "SNS_FAIR_GROUP_IDS=false sends no MessageGroupId"
    );
}

#[tokio::test]
async fn order_state_is_read_from_dynamodb_and_readiness_is_real() {
    let st = stack().await;
    let q = st.queue("api", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let base = start(&topic, st.table.name()).await;
    let http = reqwest::Client::new();
    let id = Uuid::new_v4();

    let response = http
        .get(format!("{base}/api/pedidos/{id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);

    let item: HashMap<String, AttributeValue> = [
        (attr::PEDIDO_ID, AttributeValue::S(id.to_string())),
        (attr::ESTADO, AttributeValue::S("PROCESADO".into())),
        (attr::TOTAL, AttributeValue::N("25001.5".into())),
        (attr::ENVIO_ESTADO, AttributeValue::S("PROGRAMADO".into())),
        (attr::ENVIO_TRACKING, AttributeValue::S("EX-TEST".into())),
        (
            attr::PROCESADO_EN,
            AttributeValue::S("2026-11-23T10:00:00Z".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    st.clients
        .dynamodb
        .put_item()
        .table_name(st.table.name())
        .set_item(Some(item))
        .send()
        .await
        .expect("put item");

    let record: serde_json::Value = http
        .get(format!("{base}/api/pedidos/{id}"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(record["estado"], "PROCESADO");
    assert_eq!(record["total"], "25001.50");
    assert_eq!(record["envio"]["estado"], "PROGRAMADO");
    assert_eq!(record["envio"]["tracking"], "EX-TEST");
    assert_eq!(record["procesadoEn"], "2026-11-23T10:00:00Z");

    let ready = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn a_missing_topic_means_not_ready_but_orders_are_still_recorded() {
    let st = stack().await;
    let q = st.queue("api", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let base = start(&format!("{topic}-missing"), st.table.name()).await;
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503);
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        http.post(format!("{base}/api/pedidos"))
            .json(&order_request(None))
            .send(),
    )
    .await
    .expect("answers in time")
    .expect("POST");
    // Accepting depends on the table only: the order is recorded with its
    // event, and the relay publishes it once the topic is there.
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    let id: uuid::Uuid = body["pedidoId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let item = st.item(id).await.expect("recorded");
    assert!(
        item.contains_key(shared::orders_table::attr::EVENTO_CREADO),
        "{item:?}"
    );
    assert!(
        st.receive_all(&q.url, 0).await.is_empty(),
        "nothing published"
    );
}

#[tokio::test]
async fn fifo_topic_gets_group_and_deduplication_ids() {
    let st = stack().await;
    let q = st.queue("api", 5, true).await;
    let topic = st.topic(&[&q], true).await;
    let base = start(&topic, st.table.name()).await;
    let http = reqwest::Client::new();

    // The same order POSTed twice: the topic deduplicates it.
    let id = Uuid::new_v4();
    for _ in 0..2 {
        let r = http
            .post(format!("{base}/api/pedidos"))
            .json(&order_request(Some(id)))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 202);
    }
    let messages = st.receive_all(&q.url, 1).await;
    assert_eq!(
        messages.len(),
        1,
        "the retried POST was deduplicated by the FIFO topic"
    );
    let attributes = messages[0].attributes.clone().expect("system attributes");
    assert_eq!(
        attributes.get(&MessageSystemAttributeName::MessageGroupId),
        Some(&id.to_string())
    );
    assert_eq!(
        attributes.get(&MessageSystemAttributeName::MessageDeduplicationId),
        Some(&format!("{id}:PedidoCreado"))
    );
}
