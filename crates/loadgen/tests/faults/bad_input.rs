//! At least 500 malformed, boundary and hostile requests: every one gets a
//! 4xx problem+json (never a 5xx) and nothing is published for any of them.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use testkit::{order_request, stack};

use crate::harness::{Api, SERIAL};

/// One hostile request.
struct Case {
    what: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn json_case(what: impl Into<String>, body: &Value) -> Case {
    Case {
        what: what.into(),
        method: Method::POST,
        path: "/api/pedidos".into(),
        content_type: Some("application/json"),
        body: body.to_string().into_bytes(),
    }
}

/// Sets the value at a JSON pointer (the parent must exist).
fn set(body: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
    }
}

fn remove(body: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    if let Some(Value::Object(map)) = body.pointer_mut(parent) {
        map.remove(key);
    }
}

fn cases() -> Vec<Case> {
    // With every optional field present, so that each one can be corrupted.
    let valid = order_request(Some(uuid::Uuid::new_v4()));
    let valid_text = valid.to_string();
    let mut cases = Vec::new();

    // Broken JSON: every truncation of a valid body, and assorted garbage.
    for cut in (1..valid_text.len()).step_by(3) {
        cases.push(Case {
            what: format!("truncated at {cut}"),
            method: Method::POST,
            path: "/api/pedidos".into(),
            content_type: Some("application/json"),
            body: valid_text.as_bytes()[..cut].to_vec(),
        });
    }
    for garbage in [
        &b""[..],
        b"{",
        b"}",
        b"[",
        b"null",
        b"nul",
        b"{\"a\":}",
        b"{'clienteId': 'x'}",
        b"\xff\xfe\xfd",
        b"\xef\xbb\xbf{}",
        b"{\"total\": 1,}",
        b"{\"total\": NaN}",
        b"{\"total\": Infinity}",
        b"{\"total\": 1e999999}",
        b"<xml/>",
        b"\x00\x00\x00",
        b"{\"a\":\"\\ud800\"}",
        b"{\"a\": 01}",
    ] {
        cases.push(Case {
            what: format!("garbage {:?}", String::from_utf8_lossy(garbage)),
            method: Method::POST,
            path: "/api/pedidos".into(),
            content_type: Some("application/json"),
            body: garbage.to_vec(),
        });
    }

    // Wrong types and out-of-range values at every field.
    let fields = [
        "/pedidoId",
        "/clienteId",
        "/moneda",
        "/total",
        "/items",
        "/items/0",
        "/items/0/sku",
        "/items/0/cantidad",
        "/items/0/precioUnitario",
        "/items/1/sku",
        "/items/1/cantidad",
        "/items/1/precioUnitario",
        "/direccionEnvio",
        "/direccionEnvio/calle",
        "/direccionEnvio/ciudad",
        "/direccionEnvio/region",
        "/direccionEnvio/codigoPostal",
        "/direccionEnvio/pais",
    ];
    let hostile_values = [
        json!(true),
        json!(false),
        json!([]),
        json!({}),
        json!(-1),
        json!(0),
        json!(1.5e300),
        json!(
            12_345_678_901_234_567_890_u128
                .to_string()
                .parse::<f64>()
                .unwrap_or(1e19)
        ),
        json!([1, 2, 3]),
        json!({"$ne": null}),
        json!(""),
        json!("   "),
    ];
    for field in fields {
        for value in &hostile_values {
            let mut body = valid.clone();
            set(&mut body, field, value.clone());
            cases.push(json_case(format!("{field} = {value}"), &body));
        }
    }
    // Missing required fields.
    for field in [
        "/clienteId",
        "/total",
        "/items",
        "/direccionEnvio",
        "/items/0/sku",
        "/items/0/cantidad",
        "/items/0/precioUnitario",
        "/direccionEnvio/calle",
        "/direccionEnvio/ciudad",
        "/direccionEnvio/region",
        "/direccionEnvio/pais",
    ] {
        let mut body = valid.clone();
        remove(&mut body, field);
        cases.push(json_case(format!("missing {field}"), &body));
        let mut body = valid.clone();
        set(&mut body, field, Value::Null);
        cases.push(json_case(format!("null {field}"), &body));
    }
    // Money: negative, zero, fractional cents, huge, exotic notations.
    for price in [
        "0",
        "0.00",
        "-0.01",
        "-5000",
        "5000.001",
        "0.001",
        "1e3",
        "1E3",
        "+5000",
        "5,000",
        "5 000",
        "0x10",
        "1000000000000.01",
        "99999999999999999999999999999",
        "NaN",
        "Infinity",
        "",
        " ",
        "١٢٣",
        "5000.",
        ".5",
    ] {
        let mut body = valid.clone();
        set(&mut body, "/items/1/precioUnitario", json!(price));
        cases.push(json_case(format!("precioUnitario {price:?}"), &body));
        let mut body = valid.clone();
        set(&mut body, "/total", json!(price));
        cases.push(json_case(format!("total {price:?}"), &body));
    }
    for (quantity, total) in [
        (0, "5000.00"),
        (1001, "10015500.50"),
        (-2, "-15001.00"),
        (4_294_967_297_i64, "1.00"),
    ] {
        let mut body = valid.clone();
        set(&mut body, "/items/0/cantidad", json!(quantity));
        set(&mut body, "/total", json!(total));
        cases.push(json_case(format!("cantidad {quantity}"), &body));
    }
    for total in ["25001.01", "25000.99", "0.01", "50002.00", "25001.001"] {
        let mut body = valid.clone();
        set(&mut body, "/total", json!(total));
        cases.push(json_case(format!("total mismatch {total}"), &body));
    }
    // Item counts.
    let item = json!({"sku": "S", "cantidad": 1, "precioUnitario": "1.00"});
    for n in [0_usize, 101, 1000] {
        let mut body = valid.clone();
        set(&mut body, "/items", Value::Array(vec![item.clone(); n]));
        set(&mut body, "/total", json!(format!("{n}.00")));
        cases.push(json_case(format!("{n} items"), &body));
    }
    // Unicode and hostile strings.
    for text in [
        "",
        "   ",
        "\u{0000}",
        "\u{202e}evil",
        "a\u{0007}b",
        "\t",
        "\n",
    ] {
        for field in [
            "/items/0/sku",
            "/direccionEnvio/calle",
            "/direccionEnvio/ciudad",
            "/direccionEnvio/pais",
        ] {
            let mut body = valid.clone();
            set(&mut body, field, json!(text));
            cases.push(json_case(format!("{field} = {text:?}"), &body));
        }
    }
    for sku in [
        "ñandú",
        "SKU 001",
        "💥",
        "x".repeat(65).as_str(),
        "<script> alert(1)</script>",
        "'; DROP TABLE x;--",
    ] {
        let mut body = valid.clone();
        set(&mut body, "/items/0/sku", json!(sku));
        cases.push(json_case(format!("sku {sku:?}"), &body));
    }
    for moneda in ["clp", "CL", "CLPX", "€€€", "C1P", "🇨🇱"] {
        let mut body = valid.clone();
        set(&mut body, "/moneda", json!(moneda));
        cases.push(json_case(format!("moneda {moneda:?}"), &body));
    }
    for long in [201_usize, 10_000] {
        let mut body = valid.clone();
        set(&mut body, "/direccionEnvio/calle", json!("x".repeat(long)));
        cases.push(json_case(format!("calle of {long} chars"), &body));
    }
    // Unknown fields, wrong document shapes.
    for extra in ["admin", "__proto__", "constructor", "estado", "a/b~c"] {
        let mut body = valid.clone();
        body[extra] = json!(true);
        cases.push(json_case(format!("unknown field {extra}"), &body));
    }
    for shape in [
        json!([valid.clone()]),
        json!("order"),
        json!(42),
        Value::Null,
        json!({"pedido": valid.clone()}),
    ] {
        cases.push(json_case(
            format!(
                "shape {}",
                shape.to_string().chars().take(20).collect::<String>()
            ),
            &shape,
        ));
    }
    // Wrong content types.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some("json"),
        Some(""),
    ] {
        cases.push(Case {
            what: format!("content type {ct:?}"),
            method: Method::POST,
            path: "/api/pedidos".into(),
            content_type: ct,
            body: valid_text.clone().into_bytes(),
        });
    }
    // A body just over the limit (larger ones are sent raw, see below).
    let mut body = valid.clone();
    set(
        &mut body,
        "/direccionEnvio/calle",
        json!("x".repeat(65 * 1024)),
    );
    cases.push(json_case("65 KiB body", &body));
    // Path injection and hostile ids.
    for id in [
        "not-a-uuid",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2f",
        "%00",
        "'%20OR%201=1--",
        "%3Cscript%3E",
        "00000000-0000-0000-0000-00000000000g",
        "6f1c2a524a434c499d1c0a0c5b1e8b11x",
        "%E2%80%AE",
        "x".repeat(5000).as_str(),
        "{6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11}",
        "urn:uuid:6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
    ] {
        cases.push(Case {
            what: format!("GET id {id}"),
            method: Method::GET,
            path: format!("/api/pedidos/{id}"),
            content_type: None,
            body: vec![],
        });
        cases.push(Case {
            what: format!("cancel id {id}"),
            method: Method::POST,
            path: format!("/api/pedidos/{id}/cancelacion"),
            content_type: Some("application/json"),
            body: json!({"motivo": "x"}).to_string().into_bytes(),
        });
    }
    // Bad cancellations.
    let id = uuid::Uuid::new_v4();
    for body in [
        json!({}),
        json!({"motivo": ""}),
        json!({"motivo": 5}),
        json!({"motivo": "x".repeat(501)}),
        json!([]),
        json!({"motivo": "ok", "extra": 1}),
        Value::Null,
    ] {
        cases.push(Case {
            what: format!("cancel body {body}"),
            method: Method::POST,
            path: format!("/api/pedidos/{id}/cancelacion"),
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
        });
    }
    // Wrong methods and routes.
    for (method, path) in [
        (Method::PUT, "/api/pedidos"),
        (Method::DELETE, "/api/pedidos"),
        (Method::PATCH, "/api/pedidos"),
        (Method::GET, "/api/pedidos"),
        (Method::GET, "/api"),
        (Method::GET, "/../../etc/passwd"),
        (Method::POST, "/api/pedidos/"),
        (Method::GET, "/api/pedidos//x"),
    ] {
        cases.push(Case {
            what: format!("{method} {path}"),
            method,
            path: path.into(),
            content_type: Some("application/json"),
            body: valid_text.clone().into_bytes(),
        });
    }
    cases
}

/// Declares a huge body, sends its first `sent` bytes, and reads the answer:
/// the API must refuse it without waiting for (or reading) the rest.
async fn huge_body_status(base: &str, declared: usize, sent: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/pedidos HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let _ = stream.write_all(&vec![b'{'; sent]).await;
    let mut answer = vec![0_u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered without reading the whole body")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn hundreds_of_hostile_requests_get_4xx_problems_and_publish_nothing() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let api = Api::start(&st, &p.topic, &[], true).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let cases = cases();
    assert!(cases.len() >= 500, "only {} cases", cases.len());
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for case in &cases {
        let mut request = http
            .request(case.method.clone(), format!("{}{}", api.base, case.path))
            .body(case.body.clone());
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.what));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status),
            "{}: got {status} {body}",
            case.what
        );
        assert_eq!(
            content_type, "application/problem+json",
            "{}: {status}",
            case.what
        );
        assert_eq!(body["status"], status, "{}: {body}", case.what);
        *by_status.entry(status).or_default() += 1;
    }
    for (declared, sent) in [
        (1024 * 1024, 0),
        (10 * 1024 * 1024, 0),
        (10 * 1024 * 1024, 100 * 1024),
    ] {
        let (status, text) = huge_body_status(&api.base, declared, sent).await;
        assert_eq!(status, 413, "{declared} byte body: {text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{text}"
        );
        *by_status.entry(status).or_default() += 1;
    }
    let total: usize = by_status.values().sum();
    println!("bad input: {total} hostile requests, all 4xx problem+json: {by_status:?}");
    let metrics = reqwest::get(format!("{}/metrics", api.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("order_api_sns_publish_duration_seconds_count 0"),
        "a publish was attempted:\n{metrics}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        st.depth(&p.procesamiento.url).await,
        (0, 0),
        "nothing was published"
    );
    // The API is still healthy after all that.
    let ok = http
        .post(format!("{}/api/pedidos", api.base))
        .json(&order_request(None))
        .send()
        .await
        .expect("POST");
    assert_eq!(ok.status(), 202);
}
