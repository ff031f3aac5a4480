//! The happy path, idempotency and order-insensitivity.

use std::sync::Arc;
use std::time::Duration;

use shared::orders_table::{WorkerRole, tracking_number};
use uuid::Uuid;

use crate::helpers::{
    QueuePair, Stack, Worker, applier, cancelado, creado, eventually, settings, stack, start_api,
};

/// The whole pipeline in process: a topic, both queues, the API and both workers.
struct Pipeline {
    st: Stack,
    p: QueuePair,
    l: QueuePair,
    base: String,
    wp: Worker,
    wl: Worker,
}

async fn pipeline() -> Pipeline {
    let st = stack().await;
    let p = st.queue("proc", 5, false).await;
    let l = st.queue("log", 5, false).await;
    let topic = st.topic(&[&p, &l], false).await;
    let base = start_api(&st, &topic).await;
    let wp = Worker::start_role(&st, WorkerRole::Procesamiento, &p, &[]).await;
    let wl = Worker::start_role(&st, WorkerRole::Logistica, &l, &[]).await;
    Pipeline {
        st,
        p,
        l,
        base,
        wp,
        wl,
    }
}

#[tokio::test]
async fn a_posted_order_reaches_both_workers_and_is_processed_and_scheduled() {
    let Pipeline { base, wp, wl, .. } = pipeline().await;
    let http = reqwest::Client::new();

    let accepted: serde_json::Value = http
        .post(format!("{base}/api/pedidos"))
        .json(&testkit::order_request(None))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let id: Uuid = accepted["pedidoId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("pedidoId");

    let state: serde_json::Value = eventually(
        Duration::from_secs(20),
        "order processed and scheduled",
        || {
            let http = http.clone();
            let url = format!("{base}/api/pedidos/{id}");
            async move {
                let r = http.get(url).send().await.ok()?;
                let v: serde_json::Value = r.json().await.ok()?;
                (v["estado"] == "PROCESADO" && v["envio"]["estado"] == "PROGRAMADO").then_some(v)
            }
        },
    )
    .await;
    assert_eq!(state["envio"]["tracking"], tracking_number(id));
    assert_eq!(state["total"], "25001.00");
    assert_eq!(state["clienteId"], "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11");

    // Health and metrics of a running worker.
    let ready = http
        .get(format!("{}/health/ready", wp.health))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let live = http
        .get(format!("{}/health/live", wl.health))
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), 200);
    let metrics = http
        .get(format!("{}/metrics", wp.health))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("sqs_worker_messages_processed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sqs_worker_sqs_calls_total{name=\"receive\"}"),
        "{metrics}"
    );
    wp.stop().await;
    wl.stop().await;
}

#[tokio::test]
async fn duplicates_and_retried_posts_are_applied_once() {
    let Pipeline {
        st,
        p,
        l,
        base,
        wp,
        wl,
    } = pipeline().await;
    let http = reqwest::Client::new();

    // Two POSTs with the same pedidoId (a client retry): the second is
    // answered from the intake record, nothing published again.
    let retried = Uuid::new_v4();
    for _ in 0..2 {
        let r = http
            .post(format!("{base}/api/pedidos"))
            .json(&testkit::order_request(Some(retried)))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 202);
    }
    // The very same event body delivered twice to each queue.
    let replayed = Uuid::new_v4();
    let body = creado(replayed);
    for q in [&p, &l] {
        st.send(q, &body).await;
        st.send(q, &body).await;
    }

    for w in [&wp, &wl] {
        eventually(Duration::from_secs(20), "3 messages handled", || async {
            (w.metrics.processed.get() + w.metrics.duplicates.get() == 3).then_some(())
        })
        .await;
        assert_eq!(w.metrics.processed.get(), 2, "each order applied once");
        assert_eq!(
            w.metrics.duplicates.get(),
            1,
            "the repeated body recognised"
        );
        assert_eq!(
            w.metrics
                .dead_lettered
                .get_or_create(&sqs_worker::metrics::Label {
                    name: "conflicting_duplicate".into()
                })
                .get(),
            0
        );
    }
    for id in [retried, replayed] {
        assert_eq!(
            st.applied_keys(id).await,
            [
                format!("logistica#PedidoCreado#{id}"),
                format!("procesamiento#PedidoCreado#{id}")
            ]
        );
        for role in WorkerRole::ALL {
            assert_eq!(
                st.applications(id, role).await,
                1,
                "{role} applied {id} once"
            );
        }
    }
    // Queues are empty: duplicates were deleted, not left to the DLQ.
    eventually(Duration::from_secs(10), "queues drained", || async {
        (st.depth(&p.url).await == (0, 0) && st.depth(&l.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(st.depth(&p.dlq_url).await.0, 0);
    wp.stop().await;
    wl.stop().await;
}

#[tokio::test]
async fn cancel_before_create_ends_cancelled_in_both_roles() {
    let st = stack().await;
    let p = st.queue("proc", 5, false).await;
    let l = st.queue("log", 5, false).await;
    let id = Uuid::new_v4();
    // The cancellation is applied first; the late creation must not resurrect the order.
    for q in [&p, &l] {
        st.send(q, &cancelado(id)).await;
    }
    let wp = Worker::start_role(&st, WorkerRole::Procesamiento, &p, &[]).await;
    let wl = Worker::start_role(&st, WorkerRole::Logistica, &l, &[]).await;
    for w in [&wp, &wl] {
        eventually(Duration::from_secs(20), "cancellation applied", || async {
            (w.metrics.processed.get() == 1).then_some(())
        })
        .await;
    }
    let cancelled = st.table.get(id).await.expect("read").expect("recorded");
    for q in [&p, &l] {
        st.send(q, &creado(id)).await;
    }
    for w in [&wp, &wl] {
        eventually(Duration::from_secs(20), "late creation applied", || async {
            (w.metrics.processed.get() == 2).then_some(())
        })
        .await;
    }
    let record = st.table.get(id).await.expect("read").expect("recorded");
    assert_eq!(record.estado.as_str(), "CANCELADO");
    let envio = record.envio.expect("envio");
    assert_eq!(envio.estado.as_str(), "CANCELADO");
    assert_eq!(
        envio.tracking.as_deref(),
        Some(tracking_number(id).as_str()),
        "the late creation still records the data"
    );
    assert_eq!(record.total.as_deref(), Some("20001.00"));
    // The late creation leaves the cancellation's timestamps alone.
    assert!(cancelled.cancelado_en.is_some());
    assert_eq!(record.cancelado_en, cancelled.cancelado_en);
    assert_eq!(
        envio.actualizado_en,
        cancelled.envio.as_ref().and_then(|e| e.actualizado_en)
    );
    assert!(record.procesado_en.is_some());
    for role in WorkerRole::ALL {
        assert_eq!(
            st.applications(id, role).await,
            2,
            "{role}: cancel and create, once each"
        );
    }
    wp.stop().await;
    wl.stop().await;
}

#[tokio::test]
async fn deletes_are_batched() {
    let st = stack().await;
    let p = st.queue("proc", 5, false).await;
    let bodies: Vec<String> = (0..40).map(|_| creado(Uuid::new_v4())).collect();
    st.send_all(&p, &bodies).await;
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &p,
            &[("DELETE_BATCH_WINDOW_MS", "100")],
        ),
        Arc::new(crate::helpers::Instrumented::new(applier(
            &st,
            WorkerRole::Procesamiento,
        ))),
    )
    .await;
    eventually(Duration::from_secs(30), "40 processed", || async {
        (w.metrics.processed.get() == 40).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "queue drained", || async {
        (st.depth(&p.url).await == (0, 0)).then_some(())
    })
    .await;
    let deletes = w
        .metrics
        .sqs_calls
        .get_or_create(&sqs_worker::metrics::Label {
            name: "delete_batch".into(),
        })
        .get();
    println!("40 messages deleted with {deletes} DeleteMessageBatch calls");
    assert!(
        deletes <= 20,
        "expected batched deletes, got {deletes} calls for 40 messages"
    );
    w.stop().await;
}

#[tokio::test]
async fn ready_once_its_queues_answer_not_ready_while_they_do_not() {
    let st = stack().await;
    let q = st.queue("ready", 5, false).await;
    let w = Worker::start_role(
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "20")],
    )
    .await;
    // Ready long before the first 20 s long poll on the empty queue returns.
    let ready_url = format!("{}/health/ready", w.health);
    eventually(Duration::from_secs(3), "ready on an empty queue", || {
        let url = ready_url.clone();
        async move {
            reqwest::get(url)
                .await
                .ok()
                .filter(|r| r.status() == 200)
                .map(|_| ())
        }
    })
    .await;
    w.stop().await;

    let missing = testkit::QueuePair {
        url: format!("{}-missing", q.url),
        arn: String::new(),
        dlq_url: q.dlq_url.clone(),
    };
    let w = Worker::start_role(&st, WorkerRole::Procesamiento, &missing, &[]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = reqwest::get(format!("{}/health/ready", w.health))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503, "not ready without its queue");
    let live = reqwest::get(format!("{}/health/live", w.health))
        .await
        .expect("live");
    assert_eq!(live.status(), 200, "alive: it keeps retrying with backoff");
    assert!(w.metrics.poll_errors.get() >= 1);
    w.stop().await;
}
