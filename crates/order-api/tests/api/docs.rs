//! The published contract: `/asyncapi.json` (and that its message headers are
//! exactly the attributes the publisher sets) and the API reference at `/docs`.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use shared::contract::{
    ATTR_TRACEPARENT, ATTR_TRACESTATE, Event, EventPayload, EventType, PedidoCancelado,
    PedidoCreado,
};
use uuid::Uuid;

use crate::helpers::{fake_app, fake_app_with, valid_order};
use crate::router::{get, post_json, send};

const TEST_TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:test-topic";

#[tokio::test]
async fn asyncapi_document_is_served_for_the_configured_topic() {
    let (app, _, _) = fake_app();
    let answer = send(&app, get("/asyncapi.json")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.raw);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    let doc = answer.body;
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["pedidosEventos"]["address"], TEST_TOPIC);
    for event_type in EventType::ALL {
        let message = &doc["components"]["messages"][event_type.as_str()];
        assert!(message["payload"].is_object(), "{event_type}");
        assert!(message["headers"].is_object(), "{event_type}");
    }
    assert_eq!(doc["operations"]["publishPedidoEvent"]["action"], "send");
    assert_eq!(
        doc["operations"]["receiveProcesamiento"]["action"],
        "receive"
    );
    assert_eq!(doc["operations"]["receiveLogistica"]["action"], "receive");
    assert_eq!(doc, shared::contract::asyncapi::document(Some(TEST_TOPIC)));
}

#[tokio::test]
async fn the_openapi_document_lists_the_asyncapi_route() {
    let (app, _, _) = fake_app();
    let doc = send(&app, get("/openapi.json")).await.body;
    // The order's state refers to the contract's one priority schema.
    assert_eq!(
        doc["components"]["schemas"]["OrderRecord"]["properties"]["prioridad"]["$ref"],
        "#/components/schemas/Prioridad"
    );
    assert_eq!(
        doc["components"]["schemas"]["Prioridad"]["enum"],
        json!(["EXPRESS", "ESTANDAR"])
    );
    let operation = &doc["paths"]["/asyncapi.json"]["get"];
    assert_eq!(operation["tags"], json!(["ops"]), "{operation}");
    assert!(
        operation["responses"]["200"]["content"]["application/json"].is_object(),
        "{operation}"
    );
}

fn sample_events() -> Vec<Event> {
    let order: PedidoCreado = serde_json::from_value(json!({
        "pedidoId": Uuid::new_v4(), "clienteId": Uuid::new_v4(), "fecha": "2026-11-23T10:00:00Z",
        "total": "20001.50", "moneda": "CLP",
        "items": [{"sku": "A", "cantidad": 2, "precioUnitario": "10000.75"}],
        "direccionEnvio": {"calle": "x", "ciudad": "y", "region": "z", "pais": "CL"}
    }))
    .expect("order");
    let cancel: PedidoCancelado =
        serde_json::from_value(json!({"pedidoId": Uuid::new_v4(), "motivo": "no"}))
            .expect("cancel");
    vec![
        Event::new("req-1", EventPayload::PedidoCreado(order)),
        Event::new("req-2", EventPayload::PedidoCancelado(cancel)),
    ]
}

/// A header's value as the document describes it: a String attribute's text,
/// a Number attribute's number.
fn logical_value(data_type: &str, text: &str) -> Value {
    match data_type {
        "Number" => serde_json::from_str(text).expect("a Number attribute is a JSON number"),
        _ => Value::String(text.to_owned()),
    }
}

/// The headers in the document are exactly the attributes
/// `publisher::message_attributes` sets, plus the two trace-context ones
/// (set only when tracing is on), with the same data types; and the values
/// it sets validate against the document's header schemas.
#[test]
fn the_documented_headers_are_the_attributes_the_publisher_sets() {
    let doc = shared::contract::asyncapi::document(None);
    for event in sample_events() {
        let event_type = event.event_type();
        let headers = &doc["components"]["messages"][event_type.as_str()]["headers"];
        let properties = headers["properties"].as_object().expect("properties");

        let attributes = order_api::publisher::message_attributes(&event);
        let mut set: Vec<&str> = attributes.iter().map(|(name, _, _)| *name).collect();
        for trace in [ATTR_TRACEPARENT, ATTR_TRACESTATE] {
            if !set.contains(&trace) {
                set.push(trace);
            }
        }
        set.sort_unstable();
        let mut documented: Vec<&str> = properties.keys().map(String::as_str).collect();
        documented.sort_unstable();
        assert_eq!(documented, set, "{event_type}: documented vs set");

        let mut values = serde_json::Map::new();
        for (name, data_type, text) in &attributes {
            assert_eq!(
                properties[*name]["x-sns-data-type"], *data_type,
                "{event_type}.{name}"
            );
            values.insert((*name).to_owned(), logical_value(data_type, text));
        }
        let validator = jsonschema::validator_for(headers).expect("headers schema");
        let errors: Vec<String> = validator
            .iter_errors(&Value::Object(values.clone()))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{event_type} {values:?}: {errors:?}");
    }
}

#[tokio::test]
async fn docs_serves_swagger_ui_pointed_at_the_openapi_document() {
    let (app, _, _) = fake_app();
    let redirect = send(&app, get("/docs")).await;
    assert!(redirect.status.is_redirection(), "{}", redirect.status);
    assert_eq!(redirect.headers[header::LOCATION], "/docs/");

    let page = send(&app, get("/docs/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.raw.contains("swagger-ui"), "{}", page.raw);

    let initializer = send(&app, get("/docs/swagger-initializer.js")).await;
    assert_eq!(initializer.status, StatusCode::OK);
    let config: String = initializer.raw.split_whitespace().collect();
    assert!(
        config.contains(r#""url":"/openapi.json""#),
        "{}",
        initializer.raw
    );
    assert!(
        config.contains(r#""validatorUrl":"none""#),
        "{}",
        initializer.raw
    );
    assert!(
        !initializer.raw.contains("https://"),
        "nothing loaded from outside: {}",
        initializer.raw
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        let answer = send(&app, get(&format!("/docs/{asset}"))).await;
        assert_eq!(answer.status, StatusCode::OK, "{asset}");
    }
}

#[tokio::test]
async fn the_api_reference_is_not_behind_the_api_limits() {
    let (app, _, orders) = fake_app_with(&[("MAX_CONCURRENT_REQUESTS", "1")]);
    let gate = orders.hold();
    let held = tokio::spawn({
        let app = app.clone();
        async move { send(&app, post_json("/api/pedidos", valid_order().to_string())).await }
    });
    orders.wait_started(1).await;

    // The only API slot is taken: the API sheds, the documents do not.
    let shed = send(&app, get(&format!("/api/pedidos/{}", Uuid::new_v4()))).await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE);
    for path in [
        "/docs/",
        "/docs/swagger-ui.css",
        "/asyncapi.json",
        "/openapi.json",
    ] {
        assert_eq!(send(&app, get(path)).await.status, StatusCode::OK, "{path}");
    }

    gate.add_permits(1);
    assert_eq!(held.await.expect("join").status, StatusCode::ACCEPTED);
}
