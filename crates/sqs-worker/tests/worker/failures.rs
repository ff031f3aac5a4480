//! Retries with backoff, the redrive policy, and poison messages.

use std::sync::Arc;
use std::time::Duration;

use shared::orders_table::WorkerRole;
use uuid::Uuid;

use crate::helpers::{
    Instrumented, Worker, applier, cancelado, creado, creado_with_total, eventually, settings,
    stack,
};

#[tokio::test]
async fn a_failing_handler_is_retried_with_growing_delays_then_redriven_to_the_dlq() {
    let st = stack().await;
    let q = st.queue("retry", 3, false).await;
    let mut failing = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    failing.always_fail = true;
    let failing = Arc::new(failing);
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[("RETRY_BASE_SECS", "1"), ("SQS_WAIT_TIME_SECS", "1")],
        ),
        failing.clone(),
    )
    .await;
    let id = Uuid::new_v4();
    st.send(&q, &creado(id)).await;

    // maxReceiveCount = 3: three attempts, then SQS moves it to the DLQ.
    eventually(
        Duration::from_secs(40),
        "message redriven to the DLQ",
        || async { (st.depth(&q.dlq_url).await.0 == 1).then_some(()) },
    )
    .await;
    let calls = failing.calls();
    assert_eq!(
        calls.len(),
        3,
        "attempted exactly maxReceiveCount times: {calls:?}"
    );
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].3 - w[0].3).collect();
    println!("retry gaps: {gaps:?}");
    // Equal jitter: attempt n waits within [2^(n-2), 2^(n-1)] s, so the gaps never shrink.
    assert!(
        gaps[0] >= Duration::from_millis(450),
        "first retry waited {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] + Duration::from_millis(150) >= gaps[0],
        "gaps must grow: {gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(950),
        "second retry waited {:?}",
        gaps[1]
    );
    assert_eq!(w.metrics.retried.get(), 3);
    assert!(st.item(id).await.is_none(), "nothing was written");
    w.stop().await;
}

fn poison_cases(id: Uuid) -> Vec<(&'static str, String)> {
    let mut v2: serde_json::Value = serde_json::from_str(&creado(id)).expect("json");
    v2["eventVersion"] = 2.into();
    let mut unknown: serde_json::Value = serde_json::from_str(&creado(id)).expect("json");
    unknown["eventType"] = "PedidoEnviado".into();
    let mut bad_total: serde_json::Value =
        serde_json::from_str(&creado(Uuid::new_v4())).expect("json");
    bad_total["data"]["total"] = "1.00".into();
    vec![
        ("not_json", "this is not json".to_owned()),
        ("invalid_envelope", r#"{"hello":"world"}"#.to_owned()),
        ("unknown_event_type", unknown.to_string()),
        ("unsupported_event_version", v2.to_string()),
        ("invalid_data", bad_total.to_string()),
        (
            "invalid_sns_envelope",
            r#"{"Type":"Notification","Message":"{not json"}"#.to_owned(),
        ),
    ]
}

#[tokio::test]
async fn poison_messages_go_to_the_dlq_at_once_with_their_reason() {
    let st = stack().await;
    let q = st.queue("poison", 5, false).await;
    let w = Worker::start_role(&st, WorkerRole::Procesamiento, &q, &[]).await;

    let conflict_id = Uuid::new_v4();
    st.send(&q, &creado(conflict_id)).await;
    eventually(
        Duration::from_secs(20),
        "original order applied",
        || async { (w.metrics.processed.get() == 1).then_some(()) },
    )
    .await;

    let cases = poison_cases(Uuid::new_v4());
    for (_, body) in &cases {
        st.send(&q, body).await;
    }
    // Same pedidoId, different content: a conflicting duplicate.
    st.send(&q, &creado_with_total(conflict_id, "30.00", "15.00"))
        .await;

    eventually(
        Duration::from_secs(20),
        "all poison dead-lettered",
        || async { (st.depth(&q.dlq_url).await.0 == 7).then_some(()) },
    )
    .await;
    let peeked = sqs_worker::dlq::peek(&st.clients.sqs, &q.dlq_url, 50)
        .await
        .expect("peek");
    let mut reasons: Vec<&str> = peeked.iter().map(|m| m.reason.as_str()).collect();
    reasons.sort_unstable();
    let mut expected: Vec<&str> = cases
        .iter()
        .map(|(r, _)| *r)
        .chain(["conflicting_duplicate"])
        .collect();
    expected.sort_unstable();
    assert_eq!(reasons, expected);
    for m in &peeked {
        assert_eq!(m.role.as_deref(), Some("procesamiento"));
        assert!(m.detail.as_deref().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(w.metrics.retried.get(), 0, "poison is never retried");
    // peek did not consume them.
    assert_eq!(st.depth(&q.dlq_url).await.0, 7);

    // The worker keeps running.
    let after = Uuid::new_v4();
    st.send(&q, &cancelado(after)).await;
    eventually(
        Duration::from_secs(20),
        "worker still processes",
        || async { (w.metrics.processed.get() == 2).then_some(()) },
    )
    .await;
    let live = reqwest::get(format!("{}/health/live", w.health))
        .await
        .expect("live");
    assert_eq!(live.status(), 200);
    w.stop().await;
}

#[tokio::test]
async fn a_store_outage_pauses_receiving_instead_of_dead_lettering() {
    let st = stack().await;
    // A strict redrive policy: two receives. Without the pause, an 8 s outage
    // with 1 s retries would push every message to the DLQ.
    let q = st.queue("outage", 2, false).await;
    let outage = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    *outage.outage_until.lock().expect("lock") =
        Some(std::time::Instant::now() + Duration::from_secs(8));
    let outage = Arc::new(outage);
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        st.send(&q, &creado(*id)).await;
    }
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[("RETRY_BASE_SECS", "1"), ("SQS_WAIT_TIME_SECS", "1")],
        ),
        outage.clone(),
    )
    .await;
    eventually(
        Duration::from_secs(40),
        "all 20 applied after the outage",
        || async { (w.metrics.processed.get() == 20).then_some(()) },
    )
    .await;
    let failed = outage.calls().iter().filter(|c| !c.2).count();
    println!("{failed} failed attempts during the outage; all 20 applied afterwards");
    assert!(failed <= 20, "each message failed at most once: {failed}");
    assert_eq!(st.depth(&q.dlq_url).await.0, 0, "nothing dead-lettered");
    w.stop().await;
}
