use serde_json::json;

use super::*;

fn valid() -> Value {
    json!({
        "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
        "moneda": "CLP",
        "items": [
            {"sku": "SKU-001", "cantidad": 2, "precioUnitario": "10000.50"},
            {"sku": "SKU-002", "cantidad": 1, "precioUnitario": "5000"}
        ],
        "total": "25001.00",
        "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM",
                           "codigoPostal": "7500000", "pais": "CL"}
    })
}

fn with(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = valid();
    f(&mut v);
    v
}

/// The pointers of the errors for `body`, asserting it is rejected.
fn pointers(body: &Value) -> Vec<String> {
    let errors = parse_create_order(body, Utc::now()).expect_err("should be rejected");
    errors.into_iter().map(|e| e.pointer).collect()
}

#[test]
fn accepts_a_valid_order_and_generates_an_id() {
    let order = parse_create_order(&valid(), Utc::now()).expect("valid");
    assert_eq!(order.total().to_string(), "25001.00");
    assert_eq!(order.items().len(), 2);
    assert!(!order.pedido_id().is_nil());
}

#[test]
fn keeps_the_clients_pedido_id() {
    let id = Uuid::new_v4();
    let order =
        parse_create_order(&with(|v| v["pedidoId"] = json!(id)), Utc::now()).expect("valid");
    assert_eq!(order.pedido_id(), id);
}

#[test]
fn moneda_defaults_to_clp_and_must_be_iso() {
    let order = parse_create_order(
        &with(|v| {
            v.as_object_mut().expect("object").remove("moneda");
        }),
        Utc::now(),
    )
    .expect("valid");
    assert_eq!(order.moneda().as_str(), "CLP");
    for bad in [json!("clp"), json!("PESO"), json!(152)] {
        assert_eq!(pointers(&with(|v| v["moneda"] = bad)), ["/moneda"]);
    }
}

#[test]
fn money_must_be_a_decimal_string_not_a_json_number() {
    let errors = parse_create_order(
        &with(|v| {
            v["total"] = json!(25001);
            v["items"][0]["precioUnitario"] = json!(10000.5);
        }),
        Utc::now(),
    )
    .expect_err("numbers are refused");
    let mut pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/items/0/precioUnitario", "/total"]);
    assert!(
        errors[0].detail.contains("not a JSON number"),
        "{}",
        errors[0].detail
    );
}

#[test]
fn cliente_id_must_be_a_uuid() {
    for bad in [
        json!("123"),
        json!(123),
        json!(""),
        json!("00000000-0000-0000-0000-000000000000"),
        json!("6f1c2a524a434c499d1c0a0c5b1e8b11"),
    ] {
        assert_eq!(
            pointers(&with(|v| v["clienteId"] = bad.clone())),
            ["/clienteId"],
            "{bad}"
        );
    }
    assert_eq!(
        pointers(&with(|v| v["clienteId"] = Value::Null)),
        ["/clienteId"]
    );
}

#[test]
fn item_count_bounds() {
    assert_eq!(pointers(&with(|v| v["items"] = json!([]))), ["/items"]);
    let hundred: Vec<Value> = (0..100)
        .map(|i| json!({"sku": format!("S{i}"), "cantidad": 1, "precioUnitario": "1"}))
        .collect();
    let ok = with(|v| {
        v["items"] = json!(hundred.clone());
        v["total"] = json!("100");
    });
    assert!(parse_create_order(&ok, Utc::now()).is_ok());
    let mut too_many = hundred;
    too_many.push(json!({"sku": "X", "cantidad": 1, "precioUnitario": "1"}));
    assert_eq!(
        pointers(&with(|v| {
            v["items"] = json!(too_many);
            v["total"] = json!("101");
        })),
        ["/items"]
    );
    assert_eq!(
        pointers(&with(|v| v["items"] = json!({"sku": "A"}))),
        ["/items"]
    );
}

#[test]
fn sku_bounds() {
    let ok = with(|v| v["items"][0]["sku"] = json!("A".repeat(64)));
    assert!(parse_create_order(&ok, Utc::now()).is_ok());
    for bad in [
        json!("A".repeat(65)),
        json!(""),
        json!("has space"),
        json!("tab\t"),
        json!(7),
    ] {
        assert_eq!(
            pointers(&with(|v| v["items"][0]["sku"] = bad.clone())),
            ["/items/0/sku"],
            "{bad}"
        );
    }
}

#[test]
fn cantidad_bounds() {
    // The totals are adjusted so only the quantity rule can fail.
    let ok = with(|v| {
        v["items"][1]["cantidad"] = json!(1000);
        v["total"] = json!("5020001.00");
    });
    assert!(parse_create_order(&ok, Utc::now()).is_ok());
    for bad in [
        json!(0),
        json!(1001),
        json!(-1),
        json!(1.5),
        json!("2"),
        json!(4294967297_u64),
    ] {
        assert_eq!(
            pointers(&with(|v| v["items"][1]["cantidad"] = bad.clone())),
            ["/items/1/cantidad"],
            "{bad}"
        );
    }
}

#[test]
fn prices_must_be_positive_with_at_most_two_decimals() {
    for bad in [
        json!("0"),
        json!("-5000"),
        json!("5000.001"),
        json!("abc"),
        json!(true),
        json!("1e3"),
        json!(1e300),
        json!("99999999999999999999"),
    ] {
        assert_eq!(
            pointers(&with(|v| v["items"][1]["precioUnitario"] = bad.clone())),
            ["/items/1/precioUnitario"],
            "{bad}"
        );
    }
}

#[test]
fn total_must_be_valid_and_equal_the_sum() {
    assert_eq!(
        pointers(&with(|v| v["total"] = json!("25001.01"))),
        ["/total"]
    );
    assert_eq!(pointers(&with(|v| v["total"] = json!("0.001"))), ["/total"]);
    assert_eq!(pointers(&with(|v| v["total"] = json!(-1))), ["/total"]);
}

#[test]
fn address_fields_are_required_non_empty_and_bounded() {
    for field in ["calle", "ciudad", "region", "pais"] {
        assert_eq!(
            pointers(&with(|v| v["direccionEnvio"][field] = json!("   "))),
            [format!("/direccionEnvio/{field}")]
        );
        assert_eq!(
            pointers(&with(|v| {
                v["direccionEnvio"]
                    .as_object_mut()
                    .expect("object")
                    .remove(field);
            })),
            [format!("/direccionEnvio/{field}")]
        );
    }
    assert!(
        parse_create_order(
            &with(|v| v["direccionEnvio"]["calle"] = json!("x".repeat(200))),
            Utc::now()
        )
        .is_ok()
    );
    assert_eq!(
        pointers(&with(
            |v| v["direccionEnvio"]["calle"] = json!("x".repeat(201))
        )),
        ["/direccionEnvio/calle"]
    );
    assert_eq!(
        pointers(&with(
            |v| v["direccionEnvio"]["ciudad"] = json!("x".repeat(101))
        )),
        ["/direccionEnvio/ciudad"]
    );
    // codigoPostal is optional but bounded.
    assert!(
        parse_create_order(
            &with(|v| v["direccionEnvio"]["codigoPostal"] = Value::Null),
            Utc::now()
        )
        .is_ok()
    );
    assert_eq!(
        pointers(&with(
            |v| v["direccionEnvio"]["codigoPostal"] = json!("9".repeat(21))
        )),
        ["/direccionEnvio/codigoPostal"]
    );
    assert_eq!(
        pointers(&with(|v| v["direccionEnvio"] = json!("Santiago"))),
        ["/direccionEnvio"]
    );
}

#[test]
fn unicode_is_fine_in_text_fields() {
    let order = parse_create_order(
        &with(|v| v["direccionEnvio"]["ciudad"] = json!("Ñuñoa 🚚")),
        Utc::now(),
    );
    assert!(order.is_ok());
}

#[test]
fn unknown_fields_are_reported_with_escaped_pointers() {
    assert_eq!(pointers(&with(|v| v["a/b~c"] = json!(1))), ["/a~1b~0c"]);
    assert_eq!(
        pointers(&with(|v| v["items"][0]["precio"] = json!(1))),
        ["/items/0/precio"]
    );
}

#[test]
fn reports_one_error_per_invalid_field() {
    let body = json!({"clienteId": "x", "items": [{"sku": "", "cantidad": 0, "precioUnitario": "-1"}],
                      "total": "abc", "direccionEnvio": {}});
    let mut found = pointers(&body);
    found.sort();
    assert_eq!(
        found,
        [
            "/clienteId",
            "/direccionEnvio/calle",
            "/direccionEnvio/ciudad",
            "/direccionEnvio/pais",
            "/direccionEnvio/region",
            "/items/0/cantidad",
            "/items/0/precioUnitario",
            "/items/0/sku",
            "/total",
        ]
    );
}

#[test]
fn non_object_bodies_are_rejected() {
    for body in [json!([]), json!("order"), json!(42), Value::Null] {
        assert_eq!(pointers(&body), [""]);
    }
}

#[test]
fn cancel_needs_a_motivo() {
    let id = Uuid::new_v4();
    assert!(parse_cancel_order(id, &json!({"motivo": "cliente se arrepintió"})).is_ok());
    for body in [
        json!({}),
        json!({"motivo": ""}),
        json!({"motivo": "x".repeat(501)}),
        json!({"motivo": 1}),
        json!([]),
    ] {
        assert!(parse_cancel_order(id, &body).is_err(), "{body}");
    }
    let errors =
        parse_cancel_order(id, &json!({"motivo": "ok", "extra": 1})).expect_err("unknown field");
    assert_eq!(errors[0].pointer, "/extra");
}
