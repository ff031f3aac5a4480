//! The AsyncAPI document against the official AsyncAPI 3.0.0 JSON Schema,
//! and the checked-in events (and broken copies of them) against the
//! document's own schemas.

use super::*;
use crate::contract::pedido::{DireccionEnvio, LineItem, MAX_ITEMS, MIN_ITEMS, PedidoCreado};
use crate::contract::values::{Amount, Currency, Quantity, Sku};
use crate::contract::{PedidoCancelado, Prioridad, pedido};

const CREADO_V1: &str = include_str!("../../../tests/fixtures/pedido_creado_v1.json");
const CANCELADO_V1: &str = include_str!("../../../tests/fixtures/pedido_cancelado_v1.json");
const CREADO_V1_OLD: &str =
    include_str!("../../../tests/fixtures/pedido_creado_v1_before_prioridad.json");
const CANCELADO_V1_OLD: &str =
    include_str!("../../../tests/fixtures/pedido_cancelado_v1_before_prioridad.json");
/// `schemas/3.0.0-without-$id.json` of the npm package `@asyncapi/specs`
/// (see `tests/fixtures/asyncapi/README.md`).
const ASYNCAPI_3_0_0_SCHEMA: &str =
    include_str!("../../../tests/fixtures/asyncapi/asyncapi-3.0.0-without-id.json");

const DOC_URI: &str = "urn:ecomexpress:asyncapi";

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// A validator for the schema at `pointer` inside `doc`, its `$ref`s
/// resolved within `doc`, formats (uuid, date-time) checked.
fn validator_at(doc: &Value, pointer: &str) -> jsonschema::Validator {
    let registry = jsonschema::Registry::new()
        .add(DOC_URI, doc.clone())
        .expect("document is a resource")
        .prepare()
        .expect("registry");
    jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&json!({ "$ref": format!("{DOC_URI}#{pointer}") }))
        .expect("schema compiles")
}

fn payload_validator(doc: &Value, event_type: EventType) -> jsonschema::Validator {
    validator_at(doc, &format!("/components/messages/{event_type}/payload"))
}

fn headers_validator(doc: &Value, event_type: EventType) -> jsonschema::Validator {
    validator_at(doc, &format!("/components/messages/{event_type}/headers"))
}

fn errors_of(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_checked_in_event_validates_against_its_message_payload() {
    let doc = document(None);
    for (fixture, event_type) in [
        (CREADO_V1, EventType::PedidoCreado),
        (CANCELADO_V1, EventType::PedidoCancelado),
        // Readers take ESTANDAR when `prioridad` is absent: so does the schema.
        (CREADO_V1_OLD, EventType::PedidoCreado),
        (CANCELADO_V1_OLD, EventType::PedidoCancelado),
    ] {
        let errors = errors_of(&payload_validator(&doc, event_type), &json(fixture));
        assert!(errors.is_empty(), "{event_type} fixture: {errors:#?}");
    }
}

#[test]
fn an_event_does_not_validate_against_the_other_message() {
    let doc = document(None);
    assert!(!payload_validator(&doc, EventType::PedidoCreado).is_valid(&json(CANCELADO_V1)));
    assert!(!payload_validator(&doc, EventType::PedidoCancelado).is_valid(&json(CREADO_V1)));
}

/// A copy of `fixture` with the member at `pointer` replaced (`Some`) or
/// removed (`None`), and where the schema must see the fault: at the member
/// replaced, or at the object that lost one.
fn broken(fixture: &str, pointer: &str, value: Option<Value>) -> (Value, String) {
    let mut event = json(fixture);
    let (parent_pointer, member) = pointer.rsplit_once('/').expect("pointer");
    let at = if value.is_some() {
        pointer
    } else {
        parent_pointer
    }
    .to_owned();
    let parent = event.pointer_mut(parent_pointer).expect("parent exists");
    match (value, parent) {
        (Some(value), Value::Array(items)) => {
            items[member.parse::<usize>().expect("index")] = value
        }
        (Some(value), parent) => parent[member] = value,
        (None, Value::Object(members)) => {
            members.remove(member).expect("member exists");
        }
        (None, _) => panic!("cannot remove {pointer}"),
    }
    (event, at)
}

#[test]
fn broken_events_do_not_validate_and_the_reader_rejects_them_too() {
    let doc = document(None);
    let cases: Vec<(&str, EventType, (Value, String))> = vec![
        (
            "total as a number",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/total", Some(json!(25001.0))),
        ),
        (
            "a price with 3 decimals",
            EventType::PedidoCreado,
            broken(
                CREADO_V1,
                "/data/items/0/precioUnitario",
                Some(json!("10000.505")),
            ),
        ),
        (
            "a zero total",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/total", Some(json!("0.00"))),
        ),
        (
            "a negative total",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/total", Some(json!("-25001.00"))),
        ),
        (
            "clienteId missing",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/clienteId", None),
        ),
        (
            "direccionEnvio.calle missing",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/direccionEnvio/calle", None),
        ),
        (
            "data missing",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data", None),
        ),
        (
            "eventId missing",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/eventId", None),
        ),
        (
            "correlationId missing",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/correlationId", None),
        ),
        (
            "an unknown eventType",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/eventType", Some(json!("PedidoEnviado"))),
        ),
        (
            "an unknown eventType",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/eventType", Some(json!("PedidoEnviado"))),
        ),
        (
            "a newer eventVersion",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/eventVersion", Some(json!(2))),
        ),
        (
            "eventVersion as a string",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/eventVersion", Some(json!("1"))),
        ),
        (
            "eventId not a UUID",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/eventId", Some(json!("evt-1"))),
        ),
        (
            "pedidoId not a UUID",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/data/pedidoId", Some(json!("42"))),
        ),
        (
            "occurredAt not a date-time",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/occurredAt", Some(json!("yesterday"))),
        ),
        (
            "cantidad 0",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/items/0/cantidad", Some(json!(0))),
        ),
        (
            "cantidad 1001",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/items/0/cantidad", Some(json!(1001))),
        ),
        (
            "no items",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/items", Some(json!([]))),
        ),
        (
            "a SKU with a space",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/items/0/sku", Some(json!("SKU 001"))),
        ),
        (
            "moneda in lower case",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/moneda", Some(json!("clp"))),
        ),
        (
            "an unknown prioridad",
            EventType::PedidoCreado,
            broken(CREADO_V1, "/data/prioridad", Some(json!("URGENTE"))),
        ),
        (
            "a prioridad in lower case",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/data/prioridad", Some(json!("express"))),
        ),
        (
            "an empty motivo",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/data/motivo", Some(json!(""))),
        ),
        (
            "a motivo of 501 characters",
            EventType::PedidoCancelado,
            broken(CANCELADO_V1, "/data/motivo", Some(json!("x".repeat(501)))),
        ),
    ];
    for (what, event_type, (event, at)) in cases {
        let validator = payload_validator(&doc, event_type);
        let paths: Vec<String> = validator
            .iter_errors(&event)
            .map(|e| e.instance_path().to_string())
            .collect();
        assert!(
            paths.contains(&at),
            "an event with {what}: the {event_type} schema finds no fault at {at:?} \
             (faults at {paths:?})"
        );
        assert!(
            Event::parse_message_body(&event.to_string()).is_err(),
            "the reader accepts an event with {what}, which the schema refuses"
        );
    }
}

#[test]
fn unknown_members_validate_as_readers_ignore_them() {
    let doc = document(None);
    let mut event = json(CREADO_V1);
    event["newEnvelopeField"] = json!("x");
    event["data"]["newDataField"] = json!(42);
    let errors = errors_of(&payload_validator(&doc, EventType::PedidoCreado), &event);
    assert!(errors.is_empty(), "{errors:#?}");
}

fn order(total: &str, items: &[(&str, u32, &str)], codigo_postal: Option<&str>) -> PedidoCreado {
    let text = |t: &str| pedido::PlaceName::parse(t).expect("text");
    PedidoCreado::new(
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        chrono::Utc::now(),
        Amount::parse(total).expect("total"),
        Currency::parse("USD").expect("currency"),
        items
            .iter()
            .map(|(sku, cantidad, precio)| LineItem {
                sku: Sku::parse(sku).expect("sku"),
                cantidad: Quantity::new(*cantidad).expect("cantidad"),
                precio_unitario: Amount::parse(precio).expect("precio"),
            })
            .collect(),
        DireccionEnvio {
            calle: pedido::Street::parse(" Calle 1 ").expect("calle"),
            ciudad: text("Valparaíso"),
            region: text("V"),
            codigo_postal: codigo_postal.map(|c| pedido::PostalCode::parse(c).expect("cp")),
            pais: text("CL"),
        },
    )
    .expect("valid order")
}

#[test]
fn events_as_the_writer_writes_them_validate() {
    let doc = document(None);
    let events = [
        Event::new(
            "00000000-0000-4000-8000-000000000000",
            EventPayload::PedidoCreado(order("7", &[("A", 7, "1")], None)),
        ),
        Event::new(
            "req:1.2_3",
            EventPayload::PedidoCreado(order(
                "1000000000000",
                &[
                    ("~!", 1000, "999999999.99"),
                    ("B", 1, "0.01"),
                    ("C", 1, "9.99"),
                ],
                Some("7500000"),
            )),
        ),
        Event::new(
            "r",
            EventPayload::PedidoCancelado(PedidoCancelado {
                pedido_id: uuid::Uuid::new_v4(),
                motivo: pedido::Motivo::parse(&"ñ".repeat(500)).expect("motivo"),
                prioridad: Prioridad::Express,
                cliente_id: Some(uuid::Uuid::new_v4()),
            }),
        ),
        Event::new(
            "r",
            EventPayload::PedidoCancelado(PedidoCancelado::new(
                uuid::Uuid::new_v4(),
                pedido::Motivo::parse("no").expect("motivo"),
            )),
        ),
        Event::new(
            "r",
            EventPayload::PedidoCreado(
                order("7", &[("A", 7, "1")], None).with_prioridad(Prioridad::Express),
            ),
        ),
    ];
    for event in events {
        let written = json(&event.to_json());
        let errors = errors_of(&payload_validator(&doc, event.event_type()), &written);
        assert!(errors.is_empty(), "{written}: {errors:#?}");
    }
}

#[test]
fn the_messages_examples_validate() {
    let doc = document(None);
    for event_type in EventType::ALL {
        let example = &doc["components"]["messages"][event_type.as_str()]["examples"][0];
        let errors = errors_of(&payload_validator(&doc, event_type), &example["payload"]);
        assert!(
            errors.is_empty(),
            "{event_type} example payload: {errors:#?}"
        );
        let errors = errors_of(&headers_validator(&doc, event_type), &example["headers"]);
        assert!(
            errors.is_empty(),
            "{event_type} example headers: {errors:#?}"
        );
    }
    assert_eq!(
        doc["components"]["messages"]["PedidoCreado"]["examples"][0]["headers"]["total"],
        json!(25001)
    );
    for event_type in EventType::ALL {
        let headers = &doc["components"]["messages"][event_type.as_str()]["examples"][0]["headers"];
        assert_eq!(headers[ATTR_PRIORIDAD], json!("EXPRESS"), "{event_type}");
    }
    // The header schema takes exactly the priorities there are.
    let headers = headers_validator(&doc, EventType::PedidoCancelado);
    let mut example =
        doc["components"]["messages"]["PedidoCancelado"]["examples"][0]["headers"].clone();
    example[ATTR_PRIORIDAD] = json!("NORMAL");
    assert!(!headers.is_valid(&example));
}

#[test]
fn the_headers_are_the_message_attributes_within_the_sqs_limit() {
    let doc = document(None);
    for (event_type, always) in [
        (
            EventType::PedidoCreado,
            vec![
                ATTR_EVENT_TYPE,
                ATTR_EVENT_VERSION,
                ATTR_CORRELATION_ID,
                ATTR_PRIORIDAD,
                ATTR_TOTAL,
            ],
        ),
        (
            EventType::PedidoCancelado,
            vec![
                ATTR_EVENT_TYPE,
                ATTR_EVENT_VERSION,
                ATTR_CORRELATION_ID,
                ATTR_PRIORIDAD,
            ],
        ),
    ] {
        let headers = &doc["components"]["messages"][event_type.as_str()]["headers"];
        let properties = headers["properties"].as_object().expect("properties");
        let mut all = always.clone();
        all.extend([ATTR_TRACEPARENT, ATTR_TRACESTATE]);
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort_unstable();
        all.sort_unstable();
        assert_eq!(names, all, "{event_type}");
        assert_eq!(headers["required"], json!(always), "{event_type}");
        assert!(properties.len() <= SQS_MAX_MESSAGE_ATTRIBUTES);
        for (name, schema) in properties {
            assert!(
                matches!(
                    schema["x-sns-data-type"].as_str(),
                    Some("String" | "Number")
                ),
                "{event_type}.{name}: {schema}"
            );
        }
    }
}

#[test]
#[ignore = "prints the document: cargo test -p shared --lib print_the_document -- --ignored --nocapture"]
#[allow(clippy::print_stdout)]
fn print_the_document() {
    let doc = document(std::env::var("TOPIC_ARN").ok().as_deref());
    println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
}

#[test]
fn the_schemas_keep_the_rules_of_the_types() {
    let doc = document(None);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["PedidoCreado"]["properties"]["items"]["minItems"],
        json!(MIN_ITEMS)
    );
    assert_eq!(
        schemas["PedidoCreado"]["properties"]["items"]["maxItems"],
        json!(MAX_ITEMS)
    );
    assert_eq!(schemas["Quantity"]["minimum"], json!(Quantity::MIN));
    assert_eq!(schemas["Quantity"]["maximum"], json!(Quantity::MAX));
    assert_eq!(schemas["Sku"]["minLength"], json!(Sku::MIN_LEN));
    assert_eq!(schemas["Sku"]["maxLength"], json!(Sku::MAX_LEN));
    let calle = &schemas["DireccionEnvio"]["properties"]["calle"]["oneOf"][0];
    assert_eq!(calle["minLength"], json!(pedido::Street::MIN_LEN));
    assert_eq!(calle["maxLength"], json!(pedido::Street::MAX_LEN));
    let motivo = &schemas["PedidoCancelado"]["properties"]["motivo"]["oneOf"][0];
    assert_eq!(motivo["maxLength"], json!(pedido::Motivo::MAX_LEN));
    assert_eq!(schemas["Amount"]["type"], json!("string"));
    // The patterns follow the constants too: the integer digits and decimals
    // of an amount, the letters of a currency.
    let amount = validator_at(&doc, "/components/schemas/Amount");
    let nines = |count: u32| "9".repeat(count as usize);
    let (digits, decimals) = (Amount::MAX_INTEGER_DIGITS, Amount::MAX_DECIMALS);
    assert!(amount.is_valid(&json!(format!("{}.{}", nines(digits), nines(decimals)))));
    assert!(!amount.is_valid(&json!(format!("{}.{}", nines(digits + 1), nines(decimals)))));
    assert!(!amount.is_valid(&json!(format!("1.{}", nines(decimals + 1)))));
    assert!(!amount.is_valid(&json!(format!("0.{}", "0".repeat(decimals as usize)))));
    let currency = validator_at(&doc, "/components/schemas/Currency");
    assert!(currency.is_valid(&json!("X".repeat(Currency::LEN))));
    assert!(!currency.is_valid(&json!("X".repeat(Currency::LEN + 1))));
    // codigoPostal is left out when absent, never written as null.
    let codigo_postal = validator_at(
        &doc,
        "/components/schemas/DireccionEnvio/properties/codigoPostal",
    );
    assert!(codigo_postal.is_valid(&json!("7500000")));
    assert!(!codigo_postal.is_valid(&Value::Null));
    let required = schemas["DireccionEnvio"]["required"]
        .as_array()
        .expect("required");
    assert!(!required.contains(&json!("codigoPostal")));
}

fn official_schema() -> jsonschema::Validator {
    jsonschema::validator_for(&json(ASYNCAPI_3_0_0_SCHEMA)).expect("the AsyncAPI schema compiles")
}

#[test]
fn the_document_is_valid_asyncapi_3_0_0() {
    let validator = official_schema();
    for topic in [
        None,
        Some("arn:aws:sns:us-east-1:000000000000:ecomexpress-pedidos-eventos"),
        Some("arn:aws:sns:us-east-1:000000000000:shop-pedidos-eventos.fifo"),
        Some("arn:aws:sns:us-east-1:000000000000:test-topic"),
    ] {
        let doc = document(topic);
        let errors = errors_of(&validator, &doc);
        assert!(errors.is_empty(), "{topic:?}: {errors:#?}");
    }
}

#[test]
fn the_official_schema_catches_a_broken_document() {
    let validator = official_schema();
    let mut doc = document(None);
    doc["operations"]["publishPedidoEvent"]["action"] = json!("publish");
    assert!(
        !validator.is_valid(&doc),
        "AsyncAPI 2's `publish` is not a 3.0 action"
    );
    let mut doc = document(None);
    doc["components"]["messages"]["PedidoCreado"]["headers"]["properties"]["total"]["type"] =
        json!("decimal");
    assert!(!validator.is_valid(&doc), "a schema with an unknown type");
}

#[test]
fn the_names_follow_the_topic() {
    let doc = document(Some(
        "arn:aws:sns:eu-west-1:123456789012:shop-pedidos-eventos.fifo",
    ));
    let channel = &doc["channels"][CHANNEL];
    assert_eq!(
        channel["address"],
        json!("arn:aws:sns:eu-west-1:123456789012:shop-pedidos-eventos.fifo")
    );
    assert!(channel.get("parameters").is_none());
    assert_eq!(
        channel["bindings"]["sns"]["ordering"]["type"],
        json!("FIFO")
    );
    let queues = &doc["operations"]["receiveLogistica"]["bindings"]["sqs"]["queues"];
    assert_eq!(queues[0]["name"], json!("shop-logistica.fifo"));
    assert_eq!(queues[2]["name"], json!("shop-logistica-express.fifo"));
    assert_eq!(
        queues[2]["redrivePolicy"]["deadLetterQueue"]["name"],
        json!("shop-logistica-express-dlq.fifo")
    );
    assert_eq!(
        queues[0]["redrivePolicy"]["deadLetterQueue"]["name"],
        json!("shop-logistica-dlq.fifo")
    );

    let doc = document(None);
    assert_eq!(doc["channels"][CHANNEL]["address"], json!("{topicArn}"));
    assert!(doc["channels"][CHANNEL]["parameters"]["topicArn"].is_object());
    assert_eq!(
        doc["operations"]["receiveProcesamiento"]["bindings"]["sqs"]["queues"][0]["name"],
        json!("ecomexpress-procesamiento")
    );
}

/// `default = { role = ["A", "B"] ... }` of `variable "<name>"` in a
/// Terraform variables file: just enough HCL for the module's defaults.
fn terraform_default<'a>(variables_tf: &'a str, name: &str) -> &'a str {
    let start = variables_tf
        .find(&format!("variable \"{name}\""))
        .unwrap_or_else(|| panic!("variable {name} not found"));
    let block = &variables_tf[start..];
    let default = block.find("default").expect("a default");
    let rest = &block[default..];
    let value = rest.split_once('=').expect("default =").1;
    value
        .split_once("\n  nullable")
        .map_or(value, |(v, _)| v)
        .trim()
}

#[test]
fn the_subscribers_follow_the_messaging_module() {
    let variables_tf = include_str!("../../../../../infra/modules/messaging/variables.tf");
    let default = terraform_default(variables_tf, "event_types_by_queue");
    let mut roles = Vec::new();
    for line in default.lines() {
        let Some((role, types)) = line.split_once('=') else {
            continue;
        };
        let types: Vec<&str> = types
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|t| t.trim().trim_matches('"'))
            .collect();
        roles.push((role.trim().to_owned(), types));
    }
    let ours: Vec<(String, Vec<&str>)> = SUBSCRIBERS
        .iter()
        .map(|s| {
            (
                s.role.as_str().to_owned(),
                s.event_types.iter().map(|t| t.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(ours, roles, "SUBSCRIBERS vs event_types_by_queue's default");

    let max_receive_count = terraform_default(variables_tf, "max_receive_count");
    assert_eq!(
        max_receive_count.lines().next().map(str::trim),
        Some(MAX_RECEIVE_COUNT.to_string().as_str())
    );
    let prefix = terraform_default(variables_tf, "name_prefix");
    assert_eq!(
        prefix.lines().next().map(str::trim),
        Some(format!("\"{DEFAULT_NAME_PREFIX}\"").as_str())
    );

    let doc = document(None);
    for subscriber in SUBSCRIBERS {
        let operation =
            &doc["operations"][format!("receive{}", capitalized(subscriber.role.as_str()))];
        assert_eq!(operation["action"], json!("receive"));
        let expected: Vec<Value> = message_refs(subscriber.event_types);
        assert_eq!(
            operation["messages"],
            json!(expected),
            "{}",
            subscriber.role
        );
    }
}
