use super::*;
use crate::contract::values::Amount;

const CREADO_V1: &str = include_str!("../../tests/fixtures/pedido_creado_v1.json");
const CANCELADO_V1: &str = include_str!("../../tests/fixtures/pedido_cancelado_v1.json");
/// The samples as builds before priorities wrote them (no `prioridad`, no
/// `clienteId` on the cancellation).
const CREADO_V1_OLD: &str =
    include_str!("../../tests/fixtures/pedido_creado_v1_before_prioridad.json");
const CANCELADO_V1_OLD: &str =
    include_str!("../../tests/fixtures/pedido_cancelado_v1_before_prioridad.json");

fn sample_creado() -> Event {
    Event::parse_message_body(CREADO_V1).expect("fixture parses")
}

#[test]
fn checked_in_v1_samples_still_parse() {
    let event = sample_creado();
    assert_eq!(event.event_type(), EventType::PedidoCreado);
    assert_eq!(event.correlation_id, "req-7f3a9c");
    assert_eq!(
        event.pedido_id().to_string(),
        "5d6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
    );
    let EventPayload::PedidoCreado(order) = &event.payload else {
        panic!("wrong payload");
    };
    assert_eq!(order.total(), Amount::parse("25001").expect("amount"));
    assert_eq!(order.items().len(), 2);
    assert_eq!(
        order
            .direccion_envio()
            .codigo_postal
            .as_ref()
            .map(|c| c.as_str()),
        Some("7500000")
    );

    let cancel = Event::parse_message_body(CANCELADO_V1).expect("fixture parses");
    assert_eq!(cancel.event_type(), EventType::PedidoCancelado);
    assert_eq!(cancel.pedido_id(), event.pedido_id());
}

#[test]
fn events_written_before_priorities_parse_as_estandar() {
    for (old, new) in [(CREADO_V1_OLD, CREADO_V1), (CANCELADO_V1_OLD, CANCELADO_V1)] {
        let event = Event::parse_message_body(old).expect("an old event parses");
        assert_eq!(event.prioridad(), Prioridad::Estandar, "{old}");
        let current = Event::parse_message_body(new).expect("parse");
        assert_eq!(current.prioridad(), Prioridad::Express);
        assert_eq!(event.pedido_id(), current.pedido_id());
        // Rewritten by this build, the priority is always there.
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).expect("json");
        assert_eq!(json["data"]["prioridad"], "ESTANDAR");
    }
    let old_cancel = Event::parse_message_body(CANCELADO_V1_OLD).expect("parse");
    assert_eq!(old_cancel.cliente_id(), None);
    assert_eq!(
        Event::parse_message_body(CANCELADO_V1)
            .expect("parse")
            .cliente_id(),
        sample_creado().cliente_id()
    );
}

#[test]
fn every_event_carries_its_priority_as_a_string_attribute() {
    for (fixture, expected) in [
        (CREADO_V1, "EXPRESS"),
        (CANCELADO_V1, "EXPRESS"),
        (CREADO_V1_OLD, "ESTANDAR"),
        (CANCELADO_V1_OLD, "ESTANDAR"),
    ] {
        let event = Event::parse_message_body(fixture).expect("parse");
        let attributes = event.message_attributes();
        let prioridad: Vec<_> = attributes
            .iter()
            .filter(|(name, _, _)| *name == ATTR_PRIORIDAD)
            .collect();
        assert_eq!(
            prioridad,
            [&(ATTR_PRIORIDAD, "String", expected.to_owned())],
            "{fixture}"
        );
    }
}

#[test]
fn round_trip_preserves_every_field() {
    for fixture in [CREADO_V1, CANCELADO_V1] {
        let event = Event::parse_message_body(fixture).expect("parse");
        let again = Event::parse_message_body(&event.to_json()).expect("reparse");
        assert_eq!(event, again);
        // And the serialized form is the same JSON document as the fixture.
        let a: serde_json::Value = serde_json::from_str(fixture).expect("json");
        let b: serde_json::Value = serde_json::from_str(&event.to_json()).expect("json");
        assert_eq!(a, b);
    }
}

#[test]
fn money_is_serialized_as_strings() {
    let json: serde_json::Value = serde_json::from_str(&sample_creado().to_json()).expect("json");
    assert_eq!(json["data"]["total"], "25001.00");
    assert_eq!(json["data"]["items"][0]["precioUnitario"], "10000.50");
    assert_eq!(json["eventVersion"], 1);
}

#[test]
fn accepts_sns_notification_envelope() {
    let sns = serde_json::json!({
        "Type": "Notification",
        "MessageId": "abc",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "Message": CREADO_V1,
        "Timestamp": "2026-11-23T10:15:30.200Z",
    })
    .to_string();
    assert_eq!(
        Event::parse_message_body(&sns).expect("parse"),
        sample_creado()
    );
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let mut json: serde_json::Value = serde_json::from_str(CREADO_V1).expect("json");
    json["newEnvelopeField"] = "x".into();
    json["data"]["newDataField"] = 42.into();
    assert!(Event::parse_message_body(&json.to_string()).is_ok());
}

fn mutate(f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value = serde_json::from_str(CREADO_V1).expect("json");
    f(&mut json);
    json.to_string()
}

#[test]
fn typed_errors_for_every_kind_of_bad_body() {
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "not_json"),
        (String::new(), "not_json"),
        ("[1,2]".into(), "invalid_envelope"),
        ("{}".into(), "invalid_envelope"),
        (r#"{"Type":"Notification"}"#.into(), "invalid_sns_envelope"),
        (
            r#"{"Type":"Notification","Message":"{broken"}"#.into(),
            "invalid_sns_envelope",
        ),
        (
            mutate(|j| j["eventType"] = "PedidoEnviado".into()),
            "unknown_event_type",
        ),
        (
            mutate(|j| j["eventVersion"] = 2.into()),
            "unsupported_event_version",
        ),
        (
            mutate(|j| j["eventVersion"] = 0.into()),
            "unsupported_event_version",
        ),
        (
            mutate(|j| j["eventVersion"] = "1".into()),
            "invalid_envelope",
        ),
        (mutate(|j| j["eventId"] = "nope".into()), "invalid_envelope"),
        (
            mutate(|j| j["data"]["total"] = 25001.0.into()),
            "invalid_data",
        ),
        (
            mutate(|j| j["data"]["total"] = "1.00".into()),
            "invalid_data",
        ),
        (
            mutate(|j| j["data"]["items"] = serde_json::json!([])),
            "invalid_data",
        ),
        (
            mutate(|j| j["data"]["moneda"] = "clp".into()),
            "invalid_data",
        ),
        (
            mutate(|j| j["data"]["prioridad"] = "URGENTE".into()),
            "invalid_data",
        ),
        (
            mutate(|j| j["data"]["pedidoId"] = serde_json::Value::Null),
            "invalid_data",
        ),
    ];
    for (body, code) in cases {
        let err = Event::parse_message_body(&body).expect_err(&body);
        assert_eq!(err.code(), code, "{body}: {err}");
    }
}

#[test]
fn newer_version_error_names_type_and_version() {
    let err = Event::parse_message_body(&mutate(|j| j["eventVersion"] = 7.into())).expect_err("v7");
    let text = err.to_string();
    assert!(
        text.contains("PedidoCreado") && text.contains('7'),
        "{text}"
    );
}
