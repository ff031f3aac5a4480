//! One trace from the HTTP request to both workers: order-api and the two
//! workers run as real processes, configured only by the standard `OTEL_*`
//! variables, and export to testkit's OTLP receiver. The caller's W3C
//! `traceparent` is continued by the API, carried in the SNS message
//! attributes and continued by each worker; every log line written inside
//! those spans carries the trace id.

use std::time::Duration;

use testkit::otlp::{OtlpReceiver, ReceivedSpan};
use testkit::{eventually, order_request, stack};

use crate::harness::{Api, SERIAL, WorkerProc};

/// The spans of one trace, by service and name.
fn find<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name)
}

fn find_in<'a>(spans: &[&'a ReceivedSpan], name: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().copied().find(|s| s.name == name)
}

/// Checks one worker's spans of `trace`: the consumer span is the child of
/// the API's publish span and holds the order, role and outcome; the apply
/// and delete spans are its children.
fn assert_worker_spans(trace: &[ReceivedSpan], role: &str, publish: &ReceivedSpan, pedido: &str) {
    let service = format!("sqs-worker-{role}");
    let process = find(trace, &service, &format!("process {role}"))
        .unwrap_or_else(|| panic!("no consumer span of {service}: {trace:#?}"));
    assert_eq!(process.kind, "consumer");
    assert_eq!(
        process.parent_span_id, publish.span_id,
        "continues the publish"
    );
    assert_eq!(process.attribute("pedido_id"), Some(pedido));
    assert_eq!(process.attribute("role"), Some(role));
    assert_eq!(process.attribute("outcome"), Some("applied"));
    assert!(!process.error, "an applied message is no error");
    assert_eq!(process.attribute("event_type"), Some("PedidoCreado"));
    for (name, outcome) in [("apply event", None), ("delete message", Some("deleted"))] {
        let span = find(trace, &service, name)
            .unwrap_or_else(|| panic!("no {name:?} span of {service}: {trace:#?}"));
        assert_eq!(
            span.parent_span_id, process.span_id,
            "{name} under the message"
        );
        assert_eq!(span.kind, "client");
        assert_eq!(span.attribute("outcome"), outcome, "{name}");
    }
}

/// The JSON log lines of `proc` that carry `trace_id`, as parsed values.
fn lines_with(lines: &[String], trace_id: &str) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["trace_id"] == trace_id)
        .collect()
}

#[tokio::test]
async fn one_post_is_one_trace_through_the_api_and_both_workers() {
    let _serial = SERIAL.lock().await;
    let receiver = OtlpReceiver::start().await;
    let st = stack().await;
    let p = st.pipeline().await;
    // Only the standard variables; a short batch delay so the test need not wait 5 s.
    let otel = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            receiver.endpoint().to_owned(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let api = Api::start(&st, &p.topic, &otel, true).await;
    // logistica logs warnings only: RUST_LOG chooses log lines, not what is traced.
    let quiet = [
        otel[0].clone(),
        otel[1].clone(),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let workers = [
        WorkerProc::start(&st, "procesamiento", &p.procesamiento, &otel).await,
        WorkerProc::start(&st, "logistica", &p.logistica, &quiet).await,
    ];

    // A caller that is itself traced, and one that is not.
    let caller_trace = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let caller_span = "00f067aa0ba902b7";
    let traced_id = uuid::Uuid::new_v4();
    let untraced_id = uuid::Uuid::new_v4();
    let http = reqwest::Client::new();
    let post = |id, traceparent: Option<String>| {
        let mut request = http
            .post(format!("{}/api/pedidos", api.base))
            .json(&order_request(Some(id)));
        if let Some(value) = traceparent {
            request = request
                .header("traceparent", value)
                .header("tracestate", "shop=checkout");
        }
        request.send()
    };
    let answer = post(
        traced_id,
        Some(format!("00-{caller_trace}-{caller_span}-01")),
    )
    .await
    .expect("POST");
    assert_eq!(answer.status(), 202);
    let answer = post(untraced_id, None).await.expect("POST");
    assert_eq!(answer.status(), 202);
    // A poison message that carries a trace context (as a redriven one
    // does): its span continues that trace and says it was dead-lettered.
    let poison_trace = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let traceparent = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(format!("00-{poison_trace}-{caller_span}-01"))
        .build()
        .expect("attribute");
    st.clients
        .sqs
        .send_message()
        .queue_url(&p.procesamiento.url)
        .message_body("not an event")
        .message_attributes("traceparent", traceparent)
        .send()
        .await
        .expect("send the poison message");

    for worker in &workers {
        eventually(Duration::from_secs(30), "both orders applied", || async {
            (worker.counter("sqs_worker_messages_processed_total").await == 2).then_some(())
        })
        .await;
    }
    eventually(
        Duration::from_secs(30),
        "the poison message dead-lettered",
        || async { (st.depth(&p.procesamiento.dlq_url).await.0 == 1).then_some(()) },
    )
    .await;
    // Both workers' spans of both orders (3 spans each), the API's (3 each),
    // and the poison message's (its span and its delete).
    let spans = eventually(Duration::from_secs(20), "every span exported", || async {
        let spans = receiver.spans();
        (spans.len() >= 20).then_some(spans)
    })
    .await;
    assert!(receiver.rejected().is_empty(), "{:?}", receiver.rejected());
    let poison: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == poison_trace)
        .collect();
    assert_eq!(
        poison.len(),
        2,
        "the message's span and its delete: {poison:#?}"
    );
    let process = find_in(&poison, "process procesamiento").expect("the message's span");
    assert_eq!(
        process.parent_span_id, caller_span,
        "continues the attribute's trace"
    );
    assert_eq!(process.attribute("outcome"), Some("dead_lettered"));
    assert!(process.error, "a dead-lettered message is an error");
    let delete = find_in(&poison, "delete message").expect("its delete");
    assert_eq!(delete.parent_span_id, process.span_id);

    for (pedido, parent) in [(traced_id, Some(caller_span)), (untraced_id, None)] {
        let pedido = pedido.to_string();
        let publish = spans
            .iter()
            .find(|s| s.name == "publish pedidos" && s.attribute("pedido_id") == Some(&pedido))
            .unwrap_or_else(|| panic!("no publish span for {pedido}: {spans:#?}"));
        let trace: Vec<ReceivedSpan> = spans
            .iter()
            .filter(|s| s.trace_id == publish.trace_id)
            .cloned()
            .collect();
        assert_eq!(
            trace.len(),
            9,
            "3 spans per service in one trace: {trace:#?}"
        );
        let request = find(&trace, "order-api", "POST /api/pedidos").expect("the server span");
        assert_eq!(request.kind, "server");
        assert_eq!(request.attribute("http.response.status_code"), Some("202"));
        match parent {
            Some(caller) => {
                assert_eq!(publish.trace_id, caller_trace, "the caller's trace goes on");
                assert_eq!(request.parent_span_id, caller);
            }
            None => assert_eq!(request.parent_span_id, "", "a new trace starts at the API"),
        }
        let intake = find(&trace, "order-api", "record intake").expect("the intake span");
        assert_eq!(intake.parent_span_id, request.span_id);
        assert_eq!(publish.parent_span_id, request.span_id);
        assert_eq!(publish.kind, "producer");
        assert_eq!(publish.attribute("outcome"), Some("published"));
        for role in ["procesamiento", "logistica"] {
            assert_worker_spans(&trace, role, publish, &pedido);
        }

        // The trace id on the log lines of each process, inside its spans.
        let api_lines = lines_with(&api.proc.log_lines(), &publish.trace_id);
        assert!(
            api_lines.iter().any(|l| l["message"] == "accepted"),
            "the API's 'accepted' line carries the trace id: {api_lines:#?}"
        );
        let lines = lines_with(&workers[0].proc.log_lines(), &publish.trace_id);
        assert!(
            lines.iter().any(|l| l["message"] == "event applied"),
            "procesamiento's 'event applied' line carries the trace id: {lines:#?}"
        );
        let quiet_lines = workers[1].proc.log_lines();
        assert!(
            !quiet_lines.iter().any(|l| l.contains("event applied")),
            "logistica runs with RUST_LOG=warn: {quiet_lines:#?}"
        );
    }
}
