//! Router tests with `oneshot` and fakes: every status path, and that nothing
//! is published for any invalid input.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::contract::{EventPayload, Prioridad};
use shared::orders_table::{OrderRecord, OrderStatus, Publication, Shipment, ShipmentStatus};
use tower::ServiceExt;
use uuid::Uuid;

use crate::helpers::{fake_app, fake_app_with, valid_order};

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Value,
    pub(crate) raw: String,
}

pub(crate) async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

pub(crate) fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

pub(crate) fn assert_problem(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.raw);
    assert_eq!(
        answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        answer.raw
    );
    assert_eq!(answer.body["status"], status.as_u16(), "{}", answer.raw);
    assert!(
        answer.body["title"].is_string() && answer.body["detail"].is_string(),
        "{}",
        answer.raw
    );
    assert!(answer.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn accepted_order_is_published_with_request_id_as_correlation_id() {
    let (app, publisher, _) = fake_app();
    let answer = send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    let pedido_id = answer.body["pedidoId"]
        .as_str()
        .expect("pedidoId")
        .to_owned();
    assert_eq!(answer.body["estado"], "RECIBIDO");
    assert_eq!(
        answer
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/api/pedidos/{pedido_id}").as_str())
    );
    let request_id = answer
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id");

    publisher.wait_published(1).await;
    let events = publisher.published.lock().expect("lock");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.correlation_id, request_id);
    assert_eq!(event.pedido_id().to_string(), pedido_id);
    assert_eq!(answer.body["eventId"], event.event_id.to_string());
    let EventPayload::PedidoCreado(order) = &event.payload else {
        panic!("wrong event")
    };
    assert_eq!(order.total().to_string(), "25001.00");
}

#[tokio::test]
async fn callers_request_id_and_pedido_id_are_kept() {
    let (app, publisher, _) = fake_app();
    let id = Uuid::new_v4();
    let mut body = valid_order();
    body["pedidoId"] = json!(id);
    let request = Request::post("/api/pedidos")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header("x-request-id", "shop-backend-42")
        .body(Body::from(body.to_string()))
        .expect("request");
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    assert_eq!(answer.body["pedidoId"], id.to_string());
    assert_eq!(answer.headers["x-request-id"], "shop-backend-42");
    publisher.wait_published(1).await;
    assert_eq!(
        publisher.published.lock().expect("lock")[0].correlation_id,
        "shop-backend-42"
    );

    // A hostile request id is replaced, not echoed.
    let request = Request::post("/api/pedidos")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "a b <script>")
        .body(Body::from(valid_order().to_string()))
        .expect("request");
    let answer = send(&app, request).await;
    assert_ne!(answer.headers["x-request-id"], "a b <script>");
}

#[tokio::test]
async fn wrong_content_type_is_415_and_nothing_is_published() {
    let (app, publisher, _) = fake_app();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let mut builder = Request::post("/api/pedidos");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let answer = send(
            &app,
            builder
                .body(Body::from(valid_order().to_string()))
                .expect("request"),
        )
        .await;
        assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn body_above_64_kib_is_413() {
    let (app, publisher, _) = fake_app();
    let mut body = valid_order();
    body["direccionEnvio"]["calle"] = json!("x".repeat(70 * 1024));
    let answer = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    let answer = send(
        &app,
        post_json("/api/pedidos", vec![b'{'; 10 * 1024 * 1024]),
    )
    .await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, publisher, _) = fake_app();
    for body in [
        "",
        "{",
        "{\"clienteId\": }",
        "nul",
        "{\"a\":1}{",
        "\u{feff}{}",
    ] {
        let answer = send(&app, post_json("/api/pedidos", body)).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn invalid_values_are_422_with_one_entry_per_field() {
    let (app, publisher, _) = fake_app();
    let mut body = valid_order();
    body["clienteId"] = json!("nope");
    body["items"][0]["cantidad"] = json!(0);
    body["items"][1]["precioUnitario"] = json!("5000.001");
    body["moneda"] = json!("clp");
    let answer = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    let mut pointers: Vec<&str> = answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/clienteId",
            "/items/0/cantidad",
            "/items/1/precioUnitario",
            "/moneda"
        ]
    );

    for body in [json!([]), json!({}), json!({"total": "1"}), json!(null)] {
        let answer = send(&app, post_json("/api/pedidos", body.to_string())).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn an_order_is_accepted_with_sns_down_once_it_is_recorded() {
    let (app, publisher, orders) = fake_app();
    publisher.fail.store(true, Ordering::SeqCst);
    let answer = send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
    // The publish is tried after the answer, fails, and is left to the relay.
    publisher.wait_started(1).await;
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn a_store_failure_is_503_not_accepted_and_leaks_nothing() {
    let (app, publisher, orders) = fake_app();
    orders.fail.store(true, Ordering::SeqCst);
    let answer = send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[header::RETRY_AFTER], "5");
    assert_eq!(
        answer.body["type"], "/problems/not-accepted",
        "{}",
        answer.raw
    );
    assert!(!answer.raw.contains("down"), "{}", answer.raw);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 0);
    assert_eq!(publisher.started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_ambiguous_write_is_503_outcome_unknown_and_a_retry_resolves_it() {
    let (app, publisher, orders) = fake_app();
    orders.lose_answers.store(true, Ordering::SeqCst);
    let body = testkit::order_request(Some(Uuid::new_v4()));
    let answer = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.body["type"], "/problems/outcome-unknown",
        "{}",
        answer.raw
    );
    assert_eq!(answer.body["pedidoId"], body["pedidoId"], "{}", answer.raw);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
    // Not published by this request: its outcome was unknown (the relay publishes it).
    assert_eq!(publisher.started.load(Ordering::SeqCst), 0);

    orders.lose_answers.store(false, Ordering::SeqCst);
    let retry = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.raw);
    assert_eq!(retry.body["pedidoId"], body["pedidoId"]);
    // Answered from the record: nothing written, nothing published again.
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
    assert_eq!(publisher.started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn prioridad_defaults_to_estandar_express_is_carried_and_a_bad_one_is_422() {
    let (app, publisher, orders) = fake_app();
    let default = send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    assert_eq!(default.status, StatusCode::ACCEPTED, "{}", default.raw);
    let mut express = valid_order();
    express["prioridad"] = json!("EXPRESS");
    let answer = send(&app, post_json("/api/pedidos", express.to_string())).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    publisher.wait_published(2).await;
    let prioridades: Vec<Prioridad> = publisher
        .published
        .lock()
        .expect("lock")
        .iter()
        .map(|event| event.prioridad())
        .collect();
    assert_eq!(prioridades, [Prioridad::Estandar, Prioridad::Express]);

    let mut bad = valid_order();
    bad["prioridad"] = json!("URGENTE");
    let answer = send(&app, post_json("/api/pedidos", bad.to_string())).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.body["errors"],
        json!([{"pointer": "/prioridad", "detail": "must be one of \"EXPRESS\", \"ESTANDAR\""}]),
        "{}",
        answer.raw
    );
    orders.settled().await;
    assert_eq!(publisher.count(), 2, "nothing published for the 422");
}

#[tokio::test]
async fn a_cancellation_carries_its_orders_priority_and_customer() {
    let (app, publisher, _) = fake_app();
    let mut body = testkit::order_request(Some(Uuid::new_v4()));
    body["prioridad"] = json!("EXPRESS");
    let id = body["pedidoId"].as_str().expect("id").to_owned();
    let created = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.raw);
    let answer = send(
        &app,
        post_json(
            &format!("/api/pedidos/{id}/cancelacion"),
            json!({"motivo": "sin stock"}).to_string(),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    publisher.wait_published(2).await;
    let events = publisher.published.lock().expect("lock");
    let cancel = events
        .iter()
        .find(|e| matches!(e.payload, EventPayload::PedidoCancelado(_)))
        .expect("a cancellation");
    assert_eq!(cancel.prioridad(), Prioridad::Express);
    assert_eq!(
        cancel.cliente_id().map(|c| c.to_string()).as_deref(),
        body["clienteId"].as_str()
    );
    assert!(
        cancel
            .message_attributes()
            .contains(&("prioridad", "String", "EXPRESS".to_owned()))
    );
}

#[tokio::test]
async fn cancellation_is_recorded_then_published() {
    let (app, publisher, orders) = fake_app();
    let body = testkit::order_request(Some(Uuid::new_v4()));
    let id = body["pedidoId"].as_str().expect("id").to_owned();
    let created = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.raw);
    publisher.wait_published(1).await;
    let cancel = || {
        post_json(
            &format!("/api/pedidos/{id}/cancelacion"),
            json!({"motivo": "sin stock"}).to_string(),
        )
    };
    let answer = send(&app, cancel()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    assert_eq!(answer.body["pedidoId"], id);
    assert_eq!(answer.body["estado"], "CANCELACION_SOLICITADA");
    publisher.wait_published(2).await;
    {
        let events = publisher.published.lock().expect("lock");
        let EventPayload::PedidoCancelado(cancelled) = &events[1].payload else {
            panic!("wrong event")
        };
        assert_eq!(cancelled.pedido_id.to_string(), id);
        assert_eq!(cancelled.motivo.as_str(), "sin stock");
    }
    // The same cancellation again: answered as the first, nothing written or published.
    let again = send(&app, cancel()).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.raw);
    assert_eq!(again.body["eventId"], answer.body["eventId"]);
    // Another reason: refused.
    let other = send(
        &app,
        post_json(
            &format!("/api/pedidos/{id}/cancelacion"),
            json!({"motivo": "otra"}).to_string(),
        ),
    )
    .await;
    assert_problem(&other, StatusCode::CONFLICT);
    assert_eq!(other.body["type"], "/problems/cancellation-conflict");
    assert_eq!(orders.writes.load(Ordering::SeqCst), 2);
    assert_eq!(publisher.started.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_404_and_writes_nothing() {
    let (app, publisher, orders) = fake_app();
    let id = Uuid::new_v4();
    let answer = send(
        &app,
        post_json(
            &format!("/api/pedidos/{id}/cancelacion"),
            json!({"motivo": "sin stock"}).to_string(),
        ),
    )
    .await;
    assert_problem(&answer, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.body["type"], "/problems/order-not-found",
        "{}",
        answer.raw
    );
    assert_eq!(answer.body["pedidoId"], id.to_string());
    assert_eq!(orders.writes.load(Ordering::SeqCst), 0);
    assert_eq!(publisher.started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cancellation_input_errors() {
    let (app, publisher, _) = fake_app();
    let id = Uuid::new_v4();
    let answer = send(
        &app,
        post_json(&format!("/api/pedidos/{id}/cancelacion"), "{}"),
    )
    .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    for path in [
        "/api/pedidos/not-a-uuid/cancelacion",
        "/api/pedidos/..%2F..%2Fetc%2Fpasswd/cancelacion",
        "/api/pedidos/%00/cancelacion",
    ] {
        let answer = send(&app, post_json(path, json!({"motivo": "x"}).to_string())).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn get_order_states() {
    let (app, _, orders) = fake_app();
    let id = Uuid::new_v4();
    let answer = send(&app, get(&format!("/api/pedidos/{id}"))).await;
    assert_problem(&answer, StatusCode::NOT_FOUND);

    orders.records.lock().expect("lock").insert(
        id,
        OrderRecord {
            pedido_id: id,
            estado: OrderStatus::Procesado,
            cliente_id: None,
            prioridad: Prioridad::Express,
            total: Some("10.00".into()),
            moneda: Some("CLP".into()),
            fecha: None,
            creado_en: None,
            actualizado_en: None,
            procesado_en: None,
            cancelado_en: None,
            motivo_cancelacion: None,
            envio: Some(Shipment {
                estado: ShipmentStatus::Programado,
                tracking: Some("EX1".into()),
                actualizado_en: None,
            }),
            publicacion: Some(Publication::Completada),
            cancelacion_solicitada_en: None,
        },
    );
    let answer = send(&app, get(&format!("/api/pedidos/{id}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.raw);
    assert_eq!(answer.body["estado"], "PROCESADO");
    assert_eq!(answer.body["envio"]["estado"], "PROGRAMADO");
    assert_eq!(answer.body["envio"]["tracking"], "EX1");
    assert_eq!(answer.body["publicacion"], "COMPLETADA");
    assert_eq!(answer.body["prioridad"], "EXPRESS");

    let answer = send(&app, get("/api/pedidos/12345")).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);

    orders.fail.store(true, Ordering::SeqCst);
    let answer = send(&app, get(&format!("/api/pedidos/{id}"))).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!answer.raw.contains("down"), "{}", answer.raw);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let (app, _, _) = fake_app();
    assert_problem(&send(&app, get("/nope")).await, StatusCode::NOT_FOUND);
    assert_problem(
        &send(&app, get("/api/pedidos")).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    let delete = Request::delete(format!("/api/pedidos/{}", Uuid::new_v4()))
        .body(Body::empty())
        .expect("request");
    assert_problem(&send(&app, delete).await, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_reflects_dependencies() {
    let (app, publisher, orders) = fake_app();
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.raw);
    assert_eq!(ready.body["status"], "ready");

    publisher.fail.store(true, Ordering::SeqCst);
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["sns"], "unavailable");
    assert_eq!(ready.body["dynamodb"], "ok");

    publisher.fail.store(false, Ordering::SeqCst);
    orders.fail.store(true, Ordering::SeqCst);
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.body["dynamodb"], "unavailable");
    // Liveness does not depend on AWS.
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_refused_table_fails_readiness_at_once_and_liveness_after_the_limit() {
    let (app, _, orders) = fake_app_with(&[("CONFIG_FAULT_LIMIT_SECS", "1")]);
    let limit = std::time::Duration::from_secs(1);

    // A transient outage longer than the limit: readiness fails, liveness never.
    orders.fail.store(true, Ordering::SeqCst);
    let outage = std::time::Instant::now();
    let probes_before = orders.probes.load(Ordering::SeqCst);
    while outage.elapsed() < limit * 2 || orders.probes.load(Ordering::SeqCst) < probes_before + 5 {
        let live = send(&app, get("/health/live")).await;
        assert_eq!(
            live.status,
            StatusCode::OK,
            "a transient outage must not fail liveness: {}",
            live.raw
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.body["dynamodb"], "unavailable");
    orders.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&app, get("/health/ready")).await.status,
        StatusCode::OK
    );

    // Access denied: readiness fails at once and says why; liveness after the limit.
    orders.refuse.store(true, Ordering::SeqCst);
    let refused = std::time::Instant::now();
    let ready = send(&app, get("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["dynamodb"], "misconfigured", "{}", ready.raw);
    assert_eq!(
        send(&app, get("/health/live")).await.status,
        StatusCode::OK,
        "live until the limit"
    );
    loop {
        let live = send(&app, get("/health/live")).await;
        if live.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(live.body["status"], "misconfigured");
            assert!(
                refused.elapsed() >= limit,
                "liveness failed before the limit"
            );
            break;
        }
        assert!(
            refused.elapsed() < limit * 5,
            "liveness never failed on a refused table"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Fixed: live again once a check passes.
    orders.refuse.store(false, Ordering::SeqCst);
    let fixed = std::time::Instant::now();
    while send(&app, get("/health/live")).await.status != StatusCode::OK {
        assert!(fixed.elapsed() < limit * 5, "liveness did not recover");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_publishes() {
    let (app, publisher, orders) = fake_app();
    send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    publisher.wait_published(1).await;
    send(&app, post_json("/api/pedidos", "{")).await;
    publisher.fail.store(true, Ordering::SeqCst);
    send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    orders.fail.store(true, Ordering::SeqCst);
    send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    // The publishes follow the answers: wait for the failed one to be counted.
    let metrics = testkit::eventually(
        std::time::Duration::from_secs(10),
        "both publishes counted",
        || {
            let app = app.clone();
            async move {
                let metrics = send(&app, get("/metrics")).await;
                metrics
                    .raw
                    .contains("order_api_sns_publish_duration_seconds_count 2")
                    .then_some(metrics)
            }
        },
    )
    .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.raw;
    assert!(
        text.contains(
            r#"order_api_http_requests_total{method="POST",route="/api/pedidos",status="202"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"order_api_http_requests_total{method="POST",route="/api/pedidos",status="400"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"order_api_http_requests_total{method="POST",route="/api/pedidos",status="503"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("order_api_sns_publish_duration_seconds_count 2"),
        "{text}"
    );
    assert!(
        text.contains(r#"order_api_sns_publish_failures_total{kind="unavailable"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn openapi_document_describes_the_routes() {
    let (app, _, _) = fake_app();
    let doc = send(&app, get("/openapi.json")).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(
        doc.body["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    for path in [
        "/api/pedidos",
        "/api/pedidos/{pedidoId}",
        "/api/pedidos/{pedidoId}/cancelacion",
        "/health/ready",
    ] {
        assert!(doc.body["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc.body["components"]["schemas"]["CreateOrderRequest"].is_object());
}

/// A body that records whether it was ever read.
fn watched_body(chunks: usize, chunk: usize) -> (Body, std::sync::Arc<AtomicBool>) {
    let read = std::sync::Arc::new(AtomicBool::new(false));
    let flag = read.clone();
    let stream = futures::stream::iter((0..chunks).map(move |_| {
        flag.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(vec![b' '; chunk])
    }));
    (Body::from_stream(stream), read)
}

#[tokio::test]
async fn a_declared_length_above_64_kib_is_413_without_reading_the_body() {
    let (app, publisher, _) = fake_app();
    let (body, read) = watched_body(16, 64 * 1024);
    let request = Request::post("/api/pedidos")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, 1024 * 1024)
        .body(body)
        .expect("request");
    let answer = send(&app, request).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["type"], "/problems/payload-too-large");
    assert!(!read.load(Ordering::SeqCst), "the body was read");
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn a_body_of_unknown_length_growing_past_64_kib_is_413() {
    let (app, publisher, _) = fake_app();
    let (body, read) = watched_body(9, 8 * 1024);
    let answer = send(&app, post_json("/api/pedidos", body)).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.body["type"], "/problems/payload-too-large");
    assert!(read.load(Ordering::SeqCst));
    // Just under the limit is read (and refused as JSON, not for its size).
    let (body, _) = watched_body(8, 8 * 1024);
    let answer = send(&app, post_json("/api/pedidos", body)).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_400_after_the_body_read_timeout() {
    let (app, publisher, _) = fake_app_with(&[
        ("BODY_READ_TIMEOUT_SECS", "1"),
        ("REQUEST_TIMEOUT_SECS", "20"),
    ]);
    let first =
        futures::stream::once(async { Ok::<_, std::io::Error>(b"{\"clienteId\":".to_vec()) });
    let body = Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()));
    let started = std::time::Instant::now();
    let answer = send(&app, post_json("/api/pedidos", body)).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body["type"], "/problems/unreadable-body",
        "{}",
        answer.raw
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn a_command_undecided_at_the_timeout_names_its_order_and_still_completes() {
    let (app, publisher, orders) = fake_app_with(&[("REQUEST_TIMEOUT_SECS", "1")]);
    let gate = orders.hold();
    let body = testkit::order_request(Some(Uuid::new_v4()));
    let answer = send(&app, post_json("/api/pedidos", body.to_string())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.body["type"], "/problems/outcome-unknown",
        "{}",
        answer.raw
    );
    assert_eq!(answer.body["pedidoId"], body["pedidoId"], "{}", answer.raw);
    assert_eq!(answer.headers[header::RETRY_AFTER], "5");
    // The work was not dropped with the request: released, it records and publishes.
    gate.add_permits(1);
    publisher.wait_published(1).await;
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_client_that_goes_away_does_not_cut_its_command_short() {
    let (app, publisher, orders) = fake_app();
    let gate = orders.hold();
    let request = tokio::spawn({
        let app = app.clone();
        async move { send(&app, post_json("/api/pedidos", valid_order().to_string())).await }
    });
    orders.wait_started(1).await;
    // The client disconnects: its request future is dropped.
    request.abort();
    let _ = request.await;
    gate.add_permits(1);
    publisher.wait_published(1).await;
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_concurrency_limit_is_shared_by_every_api_route() {
    let (app, _, orders) = fake_app_with(&[("MAX_CONCURRENT_REQUESTS", "1")]);
    let gate = orders.hold();
    let held = tokio::spawn({
        let app = app.clone();
        async move { send(&app, post_json("/api/pedidos", valid_order().to_string())).await }
    });
    orders.wait_started(1).await;

    // Another API route is shed while the order holds the only slot...
    let shed = send(&app, get(&format!("/api/pedidos/{}", Uuid::new_v4()))).await;
    assert_problem(&shed, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.body["type"], "/problems/overloaded", "{}", shed.raw);
    assert_eq!(shed.headers[header::RETRY_AFTER], "5");
    // ...operational routes are not limited.
    assert_eq!(send(&app, get("/health/live")).await.status, StatusCode::OK);

    gate.add_permits(1);
    let answer = held.await.expect("join");
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
    // The slot is free again.
    let answer = send(&app, get(&format!("/api/pedidos/{}", Uuid::new_v4()))).await;
    assert_problem(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn request_ids_are_kept_when_sane_and_made_otherwise() {
    let (app, publisher, _) = fake_app();
    let id_for = |value: Option<Vec<&str>>| {
        let mut builder =
            Request::post("/api/pedidos").header(header::CONTENT_TYPE, "application/json");
        for v in value.unwrap_or_default() {
            builder = builder.header("x-request-id", v);
        }
        builder
            .body(Body::from(valid_order().to_string()))
            .expect("request")
    };
    let longest = "a".repeat(128);
    for (n, (sent, kept)) in [
        (Some(vec!["shop:backend.42_x-y"]), true),
        (Some(vec![longest.as_str()]), true),
        (None, false),
        (Some(vec![""]), false),
        (Some(vec!["a b <script>"]), false),
        (Some(vec!["a/b"]), false),
        (Some(vec![&"a".repeat(129)]), false),
        (Some(vec!["first", "second"]), false),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = send(&app, id_for(sent.clone())).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.raw);
        let ids: Vec<&str> = answer
            .headers
            .get_all("x-request-id")
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect();
        assert_eq!(ids.len(), 1, "{sent:?}: {ids:?}");
        if kept {
            assert_eq!(Some(vec![ids[0]]), sent, "kept");
        } else {
            assert!(Uuid::try_parse(ids[0]).is_ok(), "{sent:?} got {}", ids[0]);
        }
        publisher.wait_published(n + 1).await;
        let correlation = publisher
            .published
            .lock()
            .expect("lock")
            .last()
            .expect("published")
            .correlation_id
            .clone();
        assert_eq!(correlation, ids[0], "the event carries the answered id");
    }
    // Errors carry an id too, even when a layer answered.
    let request = Request::post("/api/pedidos")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, 1024 * 1024)
        .header("x-request-id", "big-1")
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.headers["x-request-id"], "big-1");
}

#[tokio::test]
async fn invented_methods_are_counted_as_other() {
    let (app, _, _) = fake_app();
    for i in 0..10_000 {
        let method = format!("M{}", Uuid::new_v4().simple()).to_ascii_uppercase();
        let path = if i % 2 == 0 { "/api/pedidos" } else { "/nope" };
        let request = Request::builder()
            .method(method.as_str())
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let answer = send(&app, request).await;
        assert!(
            answer.status.is_client_error(),
            "{method}: {}",
            answer.status
        );
    }
    let text = send(&app, get("/metrics")).await.raw;
    let series: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("order_api_http_requests_total{"))
        .collect();
    assert!(
        text.contains(
            r#"order_api_http_requests_total{method="OTHER",route="/api/pedidos",status="405"} 5000"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"order_api_http_requests_total{method="OTHER",route="unmatched",status="404"} 5000"#
        ),
        "{text}"
    );
    assert_eq!(series.len(), 2, "{series:?}");
}

#[tokio::test]
async fn a_repeated_member_is_422_at_its_object() {
    let (app, publisher, _) = fake_app();
    let body = valid_order()
        .to_string()
        .replacen("\"total\":", "\"total\":\"1\",\"total\":", 1);
    let answer = send(&app, post_json("/api/pedidos", body)).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"][0]["pointer"], "", "{}", answer.raw);
    assert_eq!(
        answer.body["errors"][0]["detail"],
        "duplicate field `total`"
    );
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn the_request_schemas_describe_the_same_shapes() {
    let (app, _, _) = fake_app();
    let doc = send(&app, get("/openapi.json")).await;
    let schemas = &doc.body["components"]["schemas"];
    let expected: Value =
        serde_json::from_str(include_str!("request_schemas.json")).expect("fixture");
    for name in [
        "CreateOrderRequest",
        "ItemRequest",
        "AddressRequest",
        "CancelOrderRequest",
    ] {
        assert_eq!(
            schemas[name],
            expected[name],
            "{name} changed:\n{}",
            serde_json::to_string_pretty(&schemas[name]).expect("json")
        );
    }
    assert_eq!(
        doc.body["paths"]["/api/pedidos"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/CreateOrderRequest"
    );
}
