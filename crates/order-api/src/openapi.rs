//! The OpenAPI document, generated from the handlers' annotations.

use shared::contract::schema::Bounded;
use shared::contract::values::MAX_BODY_BYTES;
use utoipa::openapi;
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldError, Problem};
use crate::readiness::ReadinessReport;
use crate::routes::{ops, pedidos};
use crate::validation::schema::{
    AddressRequest, CancelOrderRequest, CreateOrderRequest, ItemRequest,
};

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "E-ComExpress order API", description = "Accepts orders and cancellations (a 202 means recorded durably with its event, which is then published), and serves each order's state. The events are described by the AsyncAPI document at `/asyncapi.json`; this document is browsable at `/docs`."),
    paths(
        pedidos::create_order, pedidos::cancel_order, pedidos::get_order,
        ops::live, ops::ready, ops::metrics, ops::openapi, ops::asyncapi,
    ),
    components(schemas(
        pedidos::CreateOrderRequest, pedidos::ItemRequest, pedidos::AddressRequest,
        pedidos::CancelOrderRequest, pedidos::Accepted, Problem, FieldError, ReadinessReport,
        shared::orders_table::OrderRecord, shared::orders_table::Shipment,
        shared::orders_table::OrderStatus, shared::orders_table::ShipmentStatus,
        shared::orders_table::Publication, shared::contract::Prioridad,
    )),
    tags((name = "pedidos", description = "Orders"), (name = "ops", description = "Operations")),
    modifiers(&ContractLimits)
)]
pub struct ApiDoc;

/// Writes the contract's limits (`shared::contract::values`) into the
/// document: the request schemas' lengths, ranges, counts and patterns, and
/// the body limit of the 413 answers. utoipa's `#[schema]` and `responses`
/// attributes take literals only, so they leave these out.
struct ContractLimits;

impl Modify for ContractLimits {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            write_bounds::<ItemRequest>(components);
            write_bounds::<AddressRequest>(components);
            write_bounds::<CreateOrderRequest>(components);
            write_bounds::<CancelOrderRequest>(components);
        }
        let too_large = body_too_large();
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post].into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter.name == "Idempotency-Key"
                        && let Some(openapi::RefOr::T(openapi::schema::Schema::Object(schema))) =
                            parameter.schema.as_mut()
                    {
                        schema.min_length = Some(1);
                        schema.max_length = Some(crate::idempotency::MAX_LEN);
                        schema.pattern =
                            Some(format!("^[ -~]{{1,{}}}$", crate::idempotency::MAX_LEN));
                    }
                }
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if let Some(openapi::RefOr::T(response)) =
                    operation.responses.responses.get_mut("413")
                {
                    response.description.clone_from(&too_large);
                }
            }
        }
    }
}

/// The description of a 413 answer.
fn body_too_large() -> String {
    format!("Body above {} KiB", MAX_BODY_BYTES / 1024)
}

fn write_bounds<T: Bounded>(components: &mut openapi::Components) {
    let schema = components.schemas.get_mut(T::name().as_ref());
    debug_assert!(schema.is_some(), "{} is not in the document", T::name());
    if let Some(schema) = schema {
        T::write_bounds(schema);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shared::contract::values::{
        Amount, Currency, MAX_BODY_BYTES, MAX_ITEMS, MIN_ITEMS, Motivo, PlaceName, PostalCode,
        Quantity, Sku, Street,
    };
    use utoipa::OpenApi;

    use super::{ApiDoc, body_too_large};

    /// The document `/openapi.json` serves.
    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("JSON")
    }

    const REQUEST_SCHEMAS: [&str; 4] = [
        "CreateOrderRequest",
        "ItemRequest",
        "AddressRequest",
        "CancelOrderRequest",
    ];

    const BOUND_KEYWORDS: [&str; 6] = [
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
    ];

    /// Each request property's bounds: schema, property, keyword, and the
    /// contract constant it must equal.
    fn expected_bounds() -> Vec<(&'static str, &'static str, &'static str, Value)> {
        let mut bounds = Vec::new();
        let mut pair =
            |schema, property, [min, max]: [&'static str; 2], low: Value, high: Value| {
                bounds.push((schema, property, min, low));
                bounds.push((schema, property, max, high));
            };
        let length = ["minLength", "maxLength"];
        pair(
            "ItemRequest",
            "sku",
            length,
            json!(Sku::MIN_LEN),
            json!(Sku::MAX_LEN),
        );
        pair(
            "ItemRequest",
            "cantidad",
            ["minimum", "maximum"],
            json!(Quantity::MIN),
            json!(Quantity::MAX),
        );
        pair(
            "AddressRequest",
            "calle",
            length,
            json!(Street::MIN_LEN),
            json!(Street::MAX_LEN),
        );
        for place in ["ciudad", "region", "pais"] {
            pair(
                "AddressRequest",
                place,
                length,
                json!(PlaceName::MIN_LEN),
                json!(PlaceName::MAX_LEN),
            );
        }
        pair(
            "AddressRequest",
            "codigoPostal",
            length,
            json!(PostalCode::MIN_LEN),
            json!(PostalCode::MAX_LEN),
        );
        pair(
            "CreateOrderRequest",
            "items",
            ["minItems", "maxItems"],
            json!(MIN_ITEMS),
            json!(MAX_ITEMS),
        );
        pair(
            "CancelOrderRequest",
            "motivo",
            length,
            json!(Motivo::MIN_LEN),
            json!(Motivo::MAX_LEN),
        );
        bounds
    }

    #[test]
    fn the_request_bounds_are_the_contract_constants() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let expected = expected_bounds();
        for (schema, property, keyword, value) in &expected {
            assert_eq!(
                &schemas[schema]["properties"][property][keyword], value,
                "{schema}.{property}.{keyword}"
            );
        }
        for schema in REQUEST_SCHEMAS {
            let properties = schemas[schema]["properties"]
                .as_object()
                .expect("properties");
            for (property, value) in properties {
                let of_property = |(s, p, ..): &&(_, _, _, _)| *s == schema && p == property;
                for keyword in BOUND_KEYWORDS {
                    assert!(
                        value.get(keyword).is_none()
                            || expected.iter().filter(of_property).any(|b| b.2 == keyword),
                        "{schema}.{property}.{keyword} is not one of the contract's constants"
                    );
                }
                // The keywords state the numbers; a description repeating them would drift.
                if expected.iter().any(|b| of_property(&b)) {
                    let description = value["description"].as_str().unwrap_or_default();
                    assert!(
                        !description.contains(|c: char| c.is_ascii_digit()),
                        "{schema}.{property}: the description states a number: {description:?}"
                    );
                }
            }
        }
    }

    /// A validator of one request property's schema as the document states it.
    fn property(doc: &Value, schema: &str, property: &str) -> jsonschema::Validator {
        jsonschema::validator_for(&doc["components"]["schemas"][schema]["properties"][property])
            .expect("the property's schema compiles")
    }

    #[test]
    fn the_request_patterns_follow_the_contract_constants() {
        let doc = document();
        let nines = |count: u32| "9".repeat(count as usize);
        let (digits, decimals) = (Amount::MAX_INTEGER_DIGITS, Amount::MAX_DECIMALS);
        for (schema, name) in [
            ("ItemRequest", "precioUnitario"),
            ("CreateOrderRequest", "total"),
        ] {
            let amount = property(&doc, schema, name);
            assert!(amount.is_valid(&json!(nines(digits))), "{name}");
            assert!(!amount.is_valid(&json!(nines(digits + 1))), "{name}");
            assert!(
                amount.is_valid(&json!(format!("1.{}", nines(decimals)))),
                "{name}"
            );
            assert!(
                !amount.is_valid(&json!(format!("1.{}", nines(decimals + 1)))),
                "{name}"
            );
        }
        let moneda = property(&doc, "CreateOrderRequest", "moneda");
        assert!(moneda.is_valid(&json!("X".repeat(Currency::LEN))));
        assert!(!moneda.is_valid(&json!("X".repeat(Currency::LEN + 1))));
        assert!(!moneda.is_valid(&json!("X".repeat(Currency::LEN - 1))));
        let sku = property(&doc, "ItemRequest", "sku");
        assert!(sku.is_valid(&json!("S".repeat(Sku::MAX_LEN))));
        assert!(!sku.is_valid(&json!("S".repeat(Sku::MAX_LEN + 1))));
        assert!(!sku.is_valid(&json!("S K")));
    }

    #[test]
    fn the_413_answers_state_the_body_limit() {
        assert_eq!(crate::startup::BODY_LIMIT_BYTES, MAX_BODY_BYTES);
        let doc = document();
        let mut answers = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if let Some(answer) = operation["responses"].get("413") {
                    assert_eq!(answer["description"], body_too_large(), "{method} {path}");
                    answers += 1;
                }
            }
        }
        assert!(answers >= 2, "the POST routes describe their 413");
        assert!(body_too_large().contains(&(MAX_BODY_BYTES / 1024).to_string()));
    }
}
