use serde_json::{Value, json};

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

fn create(body: &Value) -> Result<PedidoCreado, ApiError> {
    parse_create_order(body.to_string().as_bytes(), Utc::now())
}

fn cancel(pedido_id: Uuid, body: &Value) -> Result<PedidoCancelado, ApiError> {
    parse_cancel_order(pedido_id, body.to_string().as_bytes())
}

/// The field errors of a rejected body, asserting they are a 422.
fn field_errors(result: Result<impl std::fmt::Debug, ApiError>) -> Vec<FieldError> {
    match result.expect_err("should be rejected") {
        ApiError::Validation(errors) => errors,
        other => panic!("not a validation error: {other:?}"),
    }
}

/// The pointers of the errors for `body`, asserting it is rejected.
fn pointers(body: &Value) -> Vec<String> {
    field_errors(create(body))
        .into_iter()
        .map(|e| e.pointer)
        .collect()
}

#[test]
fn accepts_a_valid_order_and_generates_an_id() {
    let order = create(&valid()).expect("valid");
    assert_eq!(order.total().to_string(), "25001.00");
    assert_eq!(order.items().len(), 2);
    assert!(!order.pedido_id().is_nil());
}

#[test]
fn keeps_the_clients_pedido_id() {
    let id = Uuid::new_v4();
    let order = create(&with(|v| v["pedidoId"] = json!(id))).expect("valid");
    assert_eq!(order.pedido_id(), id);
}

#[test]
fn moneda_defaults_to_clp_and_must_be_iso() {
    let order = create(&with(|v| {
        v.as_object_mut().expect("object").remove("moneda");
    }))
    .expect("valid");
    assert_eq!(order.moneda().as_str(), "CLP");
    for bad in [json!("clp"), json!("PESO"), json!(152)] {
        assert_eq!(pointers(&with(|v| v["moneda"] = bad)), ["/moneda"]);
    }
}

#[test]
fn prioridad_defaults_to_estandar_and_takes_only_the_known_values() {
    for absent in [
        valid(),
        with(|v| v["prioridad"] = Value::Null),
        with(|v| v["prioridad"] = json!("ESTANDAR")),
    ] {
        assert_eq!(
            create(&absent).expect("valid").prioridad(),
            Prioridad::Estandar,
            "{absent}"
        );
    }
    let order = create(&with(|v| v["prioridad"] = json!("EXPRESS"))).expect("valid");
    assert_eq!(order.prioridad(), Prioridad::Express);
    for bad in [
        json!("express"),
        json!("URGENTE"),
        json!(""),
        json!(1),
        json!(["EXPRESS"]),
    ] {
        let errors = field_errors(create(&with(|v| v["prioridad"] = bad.clone())));
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].pointer, "/prioridad", "{bad}");
        let expected = if bad.is_string() {
            "must be one of \"EXPRESS\", \"ESTANDAR\""
        } else {
            "must be a string"
        };
        assert_eq!(errors[0].detail, expected, "{bad}");
    }
}

#[test]
fn money_must_be_a_decimal_string_not_a_json_number() {
    let errors = field_errors(create(&with(|v| {
        v["total"] = json!(25001);
        v["items"][0]["precioUnitario"] = json!(10000.5);
    })));
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
    assert!(create(&ok).is_ok());
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
    assert!(create(&ok).is_ok());
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
    assert!(create(&ok).is_ok());
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
        create(&with(
            |v| v["direccionEnvio"]["calle"] = json!("x".repeat(200))
        ))
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
    assert!(create(&with(|v| v["direccionEnvio"]["codigoPostal"] = Value::Null)).is_ok());
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
    let order = create(&with(|v| v["direccionEnvio"]["ciudad"] = json!("Ñuñoa 🚚")));
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
    assert!(cancel(id, &json!({"motivo": "cliente se arrepintió"})).is_ok());
    for body in [
        json!({}),
        json!({"motivo": ""}),
        json!({"motivo": "x".repeat(501)}),
        json!({"motivo": 1}),
        json!([]),
    ] {
        assert!(cancel(id, &body).is_err(), "{body}");
    }
    let errors = field_errors(cancel(id, &json!({"motivo": "ok", "extra": 1})));
    assert_eq!(errors[0].pointer, "/extra");
}

#[test]
fn errors_come_in_field_order_with_unknown_members_first() {
    let body = json!({"zz": 1, "clienteId": 5, "moneda": "x", "total": 1,
                      "items": [null, {"sku": "A", "cantidad": 1, "precioUnitario": "1", "x": 0}],
                      "direccionEnvio": {"calle": "c", "ciudad": "c", "region": "r", "pais": "p", "y": 0}});
    let errors = field_errors(create(&body));
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.pointer.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("/zz", "unknown field"),
            ("/clienteId", "must be a UUID string"),
            (
                "/moneda",
                "must be an ISO 4217 code of 3 upper-case letters, e.g. \"CLP\""
            ),
            (
                "/total",
                "must be a decimal string such as \"10.50\", not a JSON number"
            ),
            ("/items/0", "must be a JSON object"),
            ("/items/1/x", "unknown field"),
            ("/direccionEnvio/y", "unknown field"),
        ]
    );
}

#[test]
fn details_name_the_rule() {
    let detail = |body: Value| {
        let errors = field_errors(create(&body));
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].detail.clone()
    };
    assert_eq!(
        detail(with(|v| v["items"][0]["cantidad"] = json!("2"))),
        "must be an integer from 1 to 1000"
    );
    assert_eq!(
        detail(with(|v| v["items"][0]["cantidad"] = json!(0))),
        "must be an integer from 1 to 1000"
    );
    assert_eq!(
        detail(with(|v| v["clienteId"] = json!("123"))),
        "must be a UUID such as \"6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11\""
    );
    assert_eq!(
        detail(with(|v| v["clienteId"] = Value::Null)),
        "is required"
    );
    assert_eq!(
        detail(with(|v| v["items"][0]["sku"] = json!(["A"]))),
        "must be a string"
    );
    assert_eq!(
        detail(with(|v| v["total"] = json!({"amount": "1"}))),
        "must be a decimal string such as \"10.50\""
    );
    assert_eq!(
        detail(with(|v| v["items"] = json!("many"))),
        "must be an array of items"
    );
    assert_eq!(
        detail(with(|v| v["items"] = json!([]))),
        "must have from 1 to 100 items"
    );
    assert_eq!(
        detail(with(|v| v["direccionEnvio"]["calle"] = json!("a\u{202e}b"))),
        "must not contain control, bidirectional-override or byte-order-mark characters"
    );
    assert!(
        detail(with(|v| v["total"] = json!("25001.01"))).contains("does not equal the sum"),
        "total mismatch"
    );
}

#[test]
fn null_counts_as_missing() {
    // Optional members may be null; required ones may not.
    let order = create(&with(|v| {
        v["pedidoId"] = Value::Null;
        v["moneda"] = Value::Null;
    }))
    .expect("valid");
    assert_eq!(order.moneda().as_str(), "CLP");
    for field in ["/items", "/direccionEnvio", "/total"] {
        let key = &field[1..];
        let errors = field_errors(create(&with(|v| v[key] = Value::Null)));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            (errors[0].pointer.as_str(), errors[0].detail.as_str()),
            (field, "is required")
        );
    }
}

#[test]
fn text_that_is_not_json_is_malformed() {
    for body in [
        &b""[..],
        b"{",
        b"{\"a\":1}{",
        b"\xef\xbb\xbf{}",
        b"{\"total\": 1,}",
        b"{\"total\": 1e999999}",
        b"nul",
        // Faults inside members that are skipped (unknown) or refused
        // (wrong type) still make the document malformed.
        b"{\"zz\": \"\\ud800\"}",
        b"{\"zz\": \"\xff\"}",
        b"{\"items\": {\"a\": [1,]}}",
    ] {
        let result = parse_create_order(body, Utc::now());
        assert!(
            matches!(result, Err(ApiError::MalformedJson(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(matches!(
        parse_cancel_order(Uuid::new_v4(), b"{\"motivo\": \"x\""),
        Err(ApiError::MalformedJson(_))
    ));
}

#[test]
fn a_repeated_member_is_refused_where_it_is() {
    let body = valid().to_string();
    let repeated_total = body.replacen("\"total\":", "\"total\":\"1\",\"total\":", 1);
    let errors = field_errors(parse_create_order(repeated_total.as_bytes(), Utc::now()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].pointer, "");
    assert_eq!(errors[0].detail, "duplicate field `total`");

    let repeated_sku = body.replacen("\"sku\":", "\"sku\":\"X\",\"sku\":", 1);
    let errors = field_errors(parse_create_order(repeated_sku.as_bytes(), Utc::now()));
    assert_eq!(errors[0].pointer, "/items/0");
    assert_eq!(errors[0].detail, "duplicate field `sku`");
}

#[test]
fn cancel_reports_each_problem_at_its_pointer() {
    let id = Uuid::new_v4();
    let found = |body: Value| -> Vec<(String, String)> {
        field_errors(cancel(id, &body))
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect()
    };
    assert_eq!(found(json!({})), [("/motivo".into(), "is required".into())]);
    assert_eq!(
        found(json!({"motivo": 1, "a/b": 2})),
        [
            ("/a~1b".into(), "unknown field".into()),
            ("/motivo".into(), "must be a string".into())
        ]
    );
    assert_eq!(
        found(Value::Null),
        [(String::new(), "must be a JSON object".into())]
    );
    let cancelled = cancel(id, &json!({"motivo": "  sin stock  "})).expect("valid");
    assert_eq!(cancelled.motivo.as_str(), "sin stock");
    assert_eq!(cancelled.pedido_id, id);
}
