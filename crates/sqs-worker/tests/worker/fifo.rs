//! FIFO queues: a group's messages are applied strictly in order, also when
//! one of them fails and is retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shared::orders_table::WorkerRole;
use uuid::Uuid;

use crate::helpers::{
    Instrumented, Worker, applier, cancelado, creado, eventually, settings, stack,
};

#[tokio::test]
async fn a_groups_messages_are_applied_in_order() {
    let st = stack().await;
    let q = st.queue("fifo", 5, true).await;
    // Groups are orders; each gets creado then cancelado.
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        st.send_fifo(&q, &creado(*id), &id.to_string()).await;
    }
    for id in &ids {
        st.send_fifo(&q, &cancelado(*id), &id.to_string()).await;
    }
    let recorder = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    // The first attempt fails: its group must wait for its retry.
    recorder.fail_first.store(1, Ordering::SeqCst);
    let recorder = Arc::new(recorder);
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[("RETRY_BASE_SECS", "1"), ("SQS_WAIT_TIME_SECS", "1")],
        ),
        recorder.clone(),
    )
    .await;
    eventually(Duration::from_secs(40), "12 events applied", || async {
        (w.metrics.processed.get() == 12).then_some(())
    })
    .await;

    let mut per_group: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, event_type, ok, _) in recorder.calls() {
        if ok {
            per_group.entry(id).or_default().push(event_type);
        }
    }
    for id in &ids {
        assert_eq!(
            per_group[id],
            ["PedidoCreado", "PedidoCancelado"],
            "group {id} out of order"
        );
        let record = st.table.get(*id).await.expect("read").expect("recorded");
        assert_eq!(record.estado.as_str(), "CANCELADO");
    }
    assert!(w.metrics.retried.get() >= 1);
    w.stop().await;
}
