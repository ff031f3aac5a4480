//! Bad messages on the queues land in the DLQ with a reason; the worker never
//! crashes or stalls.

use std::time::Duration;

use testkit::{creado, eventually, stack};

use crate::harness::{SERIAL, WorkerProc};

#[tokio::test]
async fn bad_messages_are_dead_lettered_with_a_reason_and_the_worker_keeps_going() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let q = st.queue("bad", 5, false).await;
    let mut worker = WorkerProc::start(&st, "logistica", &q, &[]).await;
    let id = uuid::Uuid::new_v4();
    let mut v9: serde_json::Value = serde_json::from_str(&creado(id)).expect("json");
    v9["eventVersion"] = 9.into();
    let mut wrong_schema: serde_json::Value = serde_json::from_str(&creado(id)).expect("json");
    wrong_schema["data"]["items"] = "many".into();
    let huge = format!("{{\"padding\":\"{}\"}}", "x".repeat(256 * 1024 - 20));
    let bodies: Vec<(&str, String)> = vec![
        ("not_json", "definitely not json".into()),
        ("not_json", "x".repeat(256 * 1024)),
        ("invalid_envelope", huge),
        ("invalid_envelope", r#"{"eventType":"PedidoCreado"}"#.into()),
        ("invalid_data", wrong_schema.to_string()),
        ("unsupported_event_version", v9.to_string()),
        (
            "unknown_event_type",
            creado(id).replace("PedidoCreado", "PedidoPerdido"),
        ),
        (
            "invalid_sns_envelope",
            r#"{"Type":"Notification","Message":"{\"eventId\": broken"}"#.into(),
        ),
        (
            "invalid_sns_envelope",
            r#"{"Type":"Notification","Message":42}"#.into(),
        ),
    ];
    for (_, body) in &bodies {
        st.send(&q, body).await;
    }
    eventually(
        Duration::from_secs(30),
        "every bad message dead-lettered",
        || async { (st.depth(&q.dlq_url).await.0 == bodies.len() as u64).then_some(()) },
    )
    .await;
    let peeked = sqs_worker::dlq::peek(&st.clients.sqs, &q.dlq_url, 50)
        .await
        .expect("peek");
    let mut reasons: Vec<&str> = peeked.iter().map(|m| m.reason.as_str()).collect();
    reasons.sort_unstable();
    let mut expected: Vec<&str> = bodies.iter().map(|(r, _)| *r).collect();
    expected.sort_unstable();
    assert_eq!(reasons, expected);
    assert!(
        peeked
            .iter()
            .all(|m| m.role.as_deref() == Some("logistica"))
    );
    assert!(
        peeked.iter().any(|m| m.body.len() >= 256 * 1024),
        "the 256 KiB body is kept whole"
    );

    // Still alive and still processing.
    assert!(worker.proc.is_running(), "the worker did not crash");
    st.send(&q, &creado(uuid::Uuid::new_v4())).await;
    eventually(
        Duration::from_secs(20),
        "a valid message is still processed",
        || async {
            (worker.counter("sqs_worker_messages_processed_total").await == 1).then_some(())
        },
    )
    .await;
    assert_eq!(
        worker.counter("sqs_worker_messages_retried_total").await,
        0,
        "poison is never retried"
    );
    println!(
        "bad messages: {}/{} dead-lettered at once with a reason; worker alive and processing",
        peeked.len(),
        bodies.len()
    );
}
