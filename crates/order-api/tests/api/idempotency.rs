//! Idempotency keys, the intake record and honest answers, through the router
//! with fakes (the table's own semantics are tested in `local_stack`).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{fake_app, valid_order};
use crate::router::{assert_problem, get, post_json, send};

fn with_key(uri: &str, key: &str, body: &serde_json::Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test]
async fn a_replay_with_the_same_key_answers_as_the_first_and_publishes_nothing_more() {
    let (app, publisher, orders) = fake_app();
    let key = Uuid::new_v4().to_string();
    let first = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.raw);
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
    let again = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.raw);
    assert_eq!(again.body["pedidoId"], first.body["pedidoId"]);
    assert_eq!(again.body["eventId"], first.body["eventId"]);
    assert_eq!(
        again.headers[header::LOCATION],
        first.headers[header::LOCATION]
    );
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
    // Quoted (Structured Field) and bare spellings are the same key.
    let quoted = send(
        &app,
        with_key("/api/pedidos", &format!("\"{key}\""), &valid_order()),
    )
    .await;
    assert_eq!(quoted.body["pedidoId"], first.body["pedidoId"]);
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_nothing_is_published() {
    let (app, publisher, orders) = fake_app();
    let key = Uuid::new_v4().to_string();
    let first = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.raw);
    let mut other = valid_order();
    other["direccionEnvio"]["calle"] = json!("Otra calle 1");
    let answer = send(&app, with_key("/api/pedidos", &key, &other)).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["type"], "/problems/idempotency-key-mismatch");
    // Another route with the same key is another request too.
    let id = first.body["pedidoId"].as_str().expect("id");
    let cancel = send(
        &app,
        with_key(
            &format!("/api/pedidos/{id}/cancelacion"),
            &key,
            &json!({"motivo": "x"}),
        ),
    )
    .await;
    assert_problem(&cancel, StatusCode::UNPROCESSABLE_ENTITY);
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
}

#[tokio::test]
async fn an_ambiguous_record_says_so_with_the_pedido_id_and_a_replay_resolves_it() {
    let (app, publisher, orders) = fake_app();
    orders.lose_answers.store(true, Ordering::SeqCst);
    let key = Uuid::new_v4().to_string();
    let answer = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["type"], "/problems/outcome-unknown");
    assert!(answer.headers.contains_key(header::RETRY_AFTER));
    let pedido_id = answer.body["pedidoId"]
        .as_str()
        .expect("pedidoId")
        .to_owned();
    assert!(answer.raw.contains("Idempotency-Key"), "{}", answer.raw);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1, "the write landed");

    orders.lose_answers.store(false, Ordering::SeqCst);
    let retry = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.raw);
    assert_eq!(retry.body["pedidoId"], pedido_id.as_str());
    orders.settled().await;
    // The record is the first request's: nothing written again, and the
    // publish is the relay's (this retry did not record the event).
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
    assert_eq!(publisher.started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_a_key_an_unknown_outcome_still_carries_the_generated_pedido_id() {
    let (app, _, orders) = fake_app();
    orders.lose_answers.store(true, Ordering::SeqCst);
    let answer = send(&app, post_json("/api/pedidos", valid_order().to_string())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    let pedido_id: Uuid = answer.body["pedidoId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("pedidoId");
    // The intake record stays: the order may exist (and the relay publishes it).
    assert!(
        orders
            .intakes
            .lock()
            .expect("lock")
            .contains_key(&pedido_id)
    );
}

#[tokio::test]
async fn not_accepted_is_said_only_when_certain_and_leaves_no_record_or_key() {
    let (app, publisher, orders) = fake_app();
    orders.fail.store(true, Ordering::SeqCst);
    let key = Uuid::new_v4().to_string();
    let answer = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_problem(&answer, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["type"], "/problems/not-accepted");
    assert!(orders.intakes.lock().expect("lock").is_empty());
    orders.fail.store(false, Ordering::SeqCst);
    let retry = send(&app, with_key("/api/pedidos", &key, &valid_order())).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.raw);
    assert_eq!(retry.body["pedidoId"], answer.body["pedidoId"]);
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
}

#[tokio::test]
async fn a_pedido_id_already_used_for_other_content_is_409_and_nothing_is_published() {
    let (app, publisher, orders) = fake_app();
    let id = Uuid::new_v4();
    let mut order = valid_order();
    order["pedidoId"] = json!(id);
    let first = send(&app, post_json("/api/pedidos", order.to_string())).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.raw);
    // The same content again: a retry, answered as the first; nothing written or published.
    let retry = send(&app, post_json("/api/pedidos", order.to_string())).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.raw);
    assert_eq!(retry.body["eventId"], first.body["eventId"]);
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
    assert_eq!(orders.writes.load(Ordering::SeqCst), 1);
    order["items"][0]["cantidad"] = json!(3);
    order["total"] = json!("35001.50");
    let conflict = send(&app, post_json("/api/pedidos", order.to_string())).await;
    assert_problem(&conflict, StatusCode::CONFLICT);
    assert_eq!(conflict.body["type"], "/problems/pedido-conflict");
    assert_eq!(conflict.body["pedidoId"], id.to_string());
    orders.settled().await;
    assert_eq!(publisher.count(), 1);
}

#[tokio::test]
async fn malformed_keys_are_400_and_nothing_is_published() {
    let (app, publisher, _) = fake_app();
    for bad in ["", "\"\"", &"k".repeat(256), "tab\there"] {
        let answer = send(&app, with_key("/api/pedidos", bad, &valid_order())).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer.body["type"], "/problems/invalid-idempotency-key",
            "{bad:?}"
        );
        assert_eq!(
            answer.body["errors"][0]["pointer"],
            "#/header/Idempotency-Key"
        );
    }
    let twice = Request::post("/api/pedidos")
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .body(Body::from(valid_order().to_string()))
        .expect("request");
    assert_problem(&send(&app, twice).await, StatusCode::BAD_REQUEST);
    assert_eq!(publisher.count(), 0);
}

#[tokio::test]
async fn the_openapi_document_describes_the_key_and_the_new_answers() {
    let (app, _, _) = fake_app();
    let doc = send(&app, get("/openapi.json")).await.body;
    let post = &doc["paths"]["/api/pedidos"]["post"];
    let params = post["parameters"].as_array().expect("parameters");
    let key = params
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key parameter");
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["maxLength"], 255);
    for status in ["202", "409", "422", "503"] {
        assert!(post["responses"][status].is_object(), "{status}");
    }
    let cancel = &doc["paths"]["/api/pedidos/{pedidoId}/cancelacion"]["post"];
    assert!(
        cancel["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "Idempotency-Key")
    );
}
