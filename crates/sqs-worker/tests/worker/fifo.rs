//! FIFO queues: a group's messages are applied strictly in order, also when
//! one of them fails and is retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shared::orders_table::WorkerRole;
use testkit::fault_proxy::{FaultProxy, Mode};
use uuid::Uuid;

use crate::helpers::{
    Instrumented, Worker, applier, cancelado, creado, eventually, settings, sqs_at, stack,
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

/// The `ReceiveRequestAttemptId` of each recorded FIFO receive.
fn attempt_ids(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .recorded("ReceiveMessage")
        .iter()
        .map(|r| {
            r.json()["ReceiveRequestAttemptId"]
                .as_str()
                .expect("a FIFO receive carries an attempt id")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_receive_whose_answer_was_lost_is_asked_again_with_its_attempt_id_and_a_refused_one_never()
 {
    let st = stack().await;
    let q = st.queue("fifo-attempt", 5, true).await;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        st.send_fifo(&q, &creado(*id), &id.to_string()).await;
    }
    let proxy = FaultProxy::start(&testkit::endpoint("SQS")).await;
    proxy.record("ReceiveMessage");
    // The first receive reaches SQS (its messages become invisible), and
    // its answer is lost on the way back.
    proxy.set_for_next("ReceiveMessage", Mode::CloseAfterForward, 1);
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("SQS_VISIBILITY_TIMEOUT_SECS", "10"),
            ("WORKER_POLLERS", "1"),
        ],
    )
    .await;
    // LocalStack ignores the attempt id, so the messages come back only
    // after their visibility timeout (SQS would answer the repeat with them).
    eventually(Duration::from_secs(40), "every order applied", || async {
        (w.metrics.processed.get() == 3).then_some(())
    })
    .await;
    let sent = attempt_ids(&proxy);
    assert!(sent.len() >= 3, "{sent:?}");
    assert_eq!(
        sent[1], sent[0],
        "the receive after a lost answer repeats its id"
    );
    assert_eq!(
        sent.iter().filter(|id| **id == sent[0]).count(),
        2,
        "sent once by the lost receive and once by the consumer's retry (the SDK does not retry it)"
    );
    assert_ne!(
        sent[2], sent[1],
        "an answered receive's id is not used again"
    );

    // A receive SQS refuses (throttled, a 4xx) is never asked again with its id.
    let before = attempt_ids(&proxy).len();
    proxy.set_for_next("ReceiveMessage", Mode::Throttle, 1);
    eventually(
        Duration::from_secs(30),
        "receives after the throttled one",
        || async { (proxy.seen("ReceiveMessage") as usize >= before + 3).then_some(()) },
    )
    .await;
    let after = attempt_ids(&proxy);
    let tail = &after[before - 1..];
    for pair in tail.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "an id repeated after no lost answer: {tail:?}"
        );
    }
    for id in &ids {
        assert_eq!(st.applications(*id, WorkerRole::Procesamiento).await, 1);
    }
    w.stop().await;
}
