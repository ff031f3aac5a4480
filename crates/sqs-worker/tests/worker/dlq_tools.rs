//! `dlq redrive` returns dead-lettered messages to processing.

use std::time::Duration;

use shared::orders_table::WorkerRole;
use uuid::Uuid;

use crate::helpers::{Worker, creado, eventually, stack};

async fn redrive_case(manual: bool) {
    let st = stack().await;
    let q = st.queue("redrive", 5, false).await;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        st.clients
            .sqs
            .send_message()
            .queue_url(&q.dlq_url)
            .message_body(creado(*id))
            .send()
            .await
            .expect("send to dlq");
    }
    let report = sqs_worker::dlq::redrive(&st.clients.sqs, &q.url, &q.dlq_url, manual)
        .await
        .expect("redrive");
    println!("redrive: {report:?}");
    assert_eq!(report.moved, 3);
    let w = Worker::start_role(&st, WorkerRole::Procesamiento, &q, &[]).await;
    eventually(
        Duration::from_secs(20),
        "redriven messages processed",
        || async { (w.metrics.processed.get() == 3).then_some(()) },
    )
    .await;
    for id in ids {
        assert_eq!(
            st.table
                .get(id)
                .await
                .expect("read")
                .expect("recorded")
                .estado
                .as_str(),
            "PROCESADO"
        );
    }
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0));
    w.stop().await;
}

#[tokio::test]
async fn redrive_returns_dead_lettered_messages_to_processing() {
    redrive_case(false).await;
}

#[tokio::test]
async fn manual_redrive_returns_dead_lettered_messages_to_processing() {
    redrive_case(true).await;
}
