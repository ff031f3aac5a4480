//! A long drain: one worker with the production defaults empties a queue of
//! 20,000 orders under a 5 s visibility timeout, and not one message is
//! received or applied twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::orders_table::{WorkerRole, attr};
use uuid::Uuid;

use crate::helpers::{Worker, applier, creado, eventually, production_settings, stack};

/// Orders prefilled in the queue.
const ORDERS: usize = 20_000;
/// The redrive policy's `maxReceiveCount`. A healthy drain receives each
/// message once; this is far above that, so every redelivery comes back to
/// the worker, where `received` and `duplicates` count it. With 1, SQS would
/// move a message to the DLQ on its second receive instead of delivering it:
/// `received` and `duplicates` would hide the redelivery, and only the DLQ
/// (and a drain that never completes) would show it.
const MAX_RECEIVE: u32 = 100;

#[tokio::test]
async fn twenty_thousand_orders_drain_with_no_redelivery_under_a_short_visibility_timeout() {
    let st = stack().await;
    let q = st.queue("drain", MAX_RECEIVE, false).await;
    let ids: Vec<Uuid> = (0..ORDERS).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();

    let prefill = Instant::now();
    st.send_all(&q, &bodies).await;
    let prefill = prefill.elapsed();
    println!(
        "prefill: {ORDERS} messages in {:.1} s ({:.0} msg/s)",
        prefill.as_secs_f64(),
        ORDERS as f64 / prefill.as_secs_f64()
    );

    // The production defaults (concurrency, pollers, long-poll wait, delete
    // window) but a 5 s visibility timeout: a message left undeleted for
    // longer is received again.
    let role = WorkerRole::Procesamiento;
    let drain = Instant::now();
    let w = Worker::start(
        &st,
        production_settings(&st, role, &q, &[("SQS_VISIBILITY_TIMEOUT_SECS", "5")]),
        applier(&st, role),
    )
    .await;
    let m = w.metrics.clone();
    let n = ORDERS as u64;
    eventually(
        Duration::from_secs(180),
        "every message deleted and the queue empty",
        || async {
            // Fail as soon as a redelivery shows, not at the timeout.
            let (received, duplicates, deleted) =
                (m.received.get(), m.duplicates.get(), m.deleted.get());
            assert!(
                duplicates == 0 && received <= n,
                "redelivery {:.1} s into the drain: {received} messages received for {ORDERS} sent, \
                 {duplicates} found already applied, {deleted} deleted: messages were left \
                 undeleted past their 5 s visibility timeout",
                drain.elapsed().as_secs_f64()
            );
            if deleted < n {
                return None;
            }
            (st.depth(&q.url).await == (0, 0)).then_some(())
        },
    )
    .await;
    let drain = drain.elapsed();
    println!(
        "drain: {ORDERS} messages in {:.1} s ({:.0} msg/s; {} ReceiveMessage, {} DeleteMessageBatch, {} ChangeMessageVisibility calls)",
        drain.as_secs_f64(),
        ORDERS as f64 / drain.as_secs_f64(),
        calls(&w, "receive"),
        calls(&w, "delete_batch"),
        calls(&w, "change_visibility"),
    );

    let exposition = reqwest::get(format!("{}/metrics", w.health))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        exposition.contains(&format!("sqs_worker_messages_deleted_total {ORDERS}\n")),
        "{exposition}"
    );
    w.stop().await;

    assert_eq!(m.received.get(), n, "each message received once");
    assert_eq!(m.duplicates.get(), 0, "no event found already applied");
    assert_eq!(m.processed.get(), n, "each event applied now");
    assert_eq!(m.deleted.get(), n, "each message deleted once");
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");

    // Counted from the table: each order's procesamiento counter is 1.
    let scan = Instant::now();
    let orders = st.all_orders().await;
    println!(
        "table scan: {} orders in {:.1} s",
        orders.len(),
        scan.elapsed().as_secs_f64()
    );
    assert_eq!(orders.len(), ORDERS, "one item per order");
    let applied: HashMap<Uuid, u64> = orders
        .iter()
        .map(|item| {
            let id = match item.get(attr::PEDIDO_ID) {
                Some(AttributeValue::S(id)) => id.parse().expect("pedidoId is a UUID"),
                other => panic!("order item without a pedidoId: {other:?}"),
            };
            (id, shared::orders_table::applications(item, role))
        })
        .collect();
    let wrong: Vec<(Uuid, Option<u64>)> = ids
        .iter()
        .map(|id| (*id, applied.get(id).copied()))
        .filter(|(_, count)| *count != Some(1))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} orders not applied exactly once (pedidoId, aplicacionesProcesamiento), first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

fn calls(w: &Worker, operation: &str) -> u64 {
    w.metrics
        .sqs_calls
        .get_or_create(&sqs_worker::metrics::Label {
            name: operation.into(),
        })
        .get()
}
