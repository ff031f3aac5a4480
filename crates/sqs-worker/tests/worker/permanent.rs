//! Permanent write failures told apart at apply time, with DynamoDB faults
//! injected per operation by a `FaultProxy` in front of DynamoDB Local:
//! a refused write (the deployment's fault) stops the worker and leaves the
//! messages in the queue; a write rejected for one item dead-letters that
//! message alone; a missing table makes the worker not ready.

use std::sync::Arc;
use std::time::Duration;

use shared::orders_table::{OrdersTable, WorkerRole};
use sqs_worker::handler::TableApplier;
use testkit::fault_proxy::{FaultProxy, Mode};
use uuid::Uuid;

use crate::helpers::{
    Instrumented, Reaped, Stack, Worker, applier, creado, eventually, settings, stack,
};
use crate::shutdown::{signal, spawn_worker_logging, wait_exit};

fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB (the local stack)")
}

/// A DynamoDB Local proxy and a procesamiento applier writing through it.
async fn proxied_applier(st: &Stack) -> (FaultProxy, Arc<TableApplier>) {
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let table = OrdersTable::new(testkit::dynamodb_at(&proxy.url()).await, st.table.name());
    let applier = Arc::new(TableApplier::new(table, WorkerRole::Procesamiento, None));
    (proxy, applier)
}

/// `(status, body)` of a readiness probe.
pub(crate) async fn readiness(
    http: &reqwest::Client,
    base: &str,
) -> Option<(u16, serde_json::Value)> {
    let answer = http.get(format!("{base}/health/ready")).send().await.ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.json().await.ok()?))
}

/// Waits for readiness to report a configuration fault; returns its body.
pub(crate) async fn wait_misconfigured(
    http: &reqwest::Client,
    base: &str,
    what: &str,
) -> serde_json::Value {
    eventually(Duration::from_secs(20), what, || async {
        let (status, body) = readiness(http, base).await?;
        (status == 503 && body["status"] == "misconfigured").then_some(body)
    })
    .await
}

pub(crate) async fn wait_ready(http: &reqwest::Client, base: &str) {
    eventually(Duration::from_secs(20), "worker ready", || async {
        (readiness(http, base).await?.0 == 200).then_some(())
    })
    .await;
}

/// The worker's `/metrics` text, if it answers.
pub(crate) async fn metrics_text(http: &reqwest::Client, base: &str) -> Option<String> {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// The value of `series` (a name with its labels, as exposed) in a `/metrics` text.
pub(crate) fn series_value(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// A counter of the worker's `/metrics`.
pub(crate) async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    series_value(
        &metrics_text(http, base).await?,
        &format!("sqs_worker_{name}_total"),
    )
}

#[tokio::test]
async fn a_worker_that_may_read_but_not_write_stops_and_leaves_the_messages_in_the_queue() {
    let st = stack().await;
    // Strict redrive: a second receive of a refused message would already
    // move it to the DLQ on the next one.
    let q = st.queue("refused", 2, false).await;
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let port = testkit::free_port().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("worker-refused-{}.log", Uuid::new_v4()));
    let dynamodb = proxy.url();
    let mut child = Reaped(spawn_worker_logging(
        &st,
        &q,
        &[
            ("HEALTH_PORT", port.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
            ("SQS_WAIT_TIME_SECS", "1"),
            ("CONFIG_FAULT_LIMIT_SECS", "300"),
        ],
        std::fs::File::create(&log).expect("log file"),
    ));
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;

    // The role may read (GetItem passes) but not write.
    proxy.set_for(
        "UpdateItem",
        Mode::Error {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "User: arn:aws:sts::000000000000:assumed-role/worker/task is not authorized to perform: dynamodb:UpdateItem".into(),
        },
    );
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;

    let fault = wait_misconfigured(&http, &base, "readiness names the refused write").await;
    assert_eq!(fault["operation"], "UpdateItem", "{fault}");
    assert_eq!(fault["code"], "AccessDeniedException", "{fault}");

    // Paused: the probe keeps failing, step after step, for longer than the
    // messages stay invisible; a worker still receiving would have taken them
    // again by then (and the redrive policy moved them on the next receive).
    let probes = proxy.seen("UpdateItem");
    eventually(Duration::from_secs(30), "four more probe steps", || async {
        (proxy.seen("UpdateItem") >= probes + 4).then_some(())
    })
    .await;
    let received = metric(&http, &base, "messages_received").await;
    let handed_back = metric(&http, &base, "messages_handed_back").await;
    assert_eq!(received, Some(5), "each message received once");
    assert_eq!(handed_back, Some(5), "each handed back untouched");
    assert_eq!(metric(&http, &base, "messages_retried").await, Some(0));
    let (visible, in_flight) = st.depth(&q.url).await;
    assert_eq!(visible + in_flight, 5, "every message still in the queue");
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");
    for id in &ids {
        assert!(st.item(*id).await.is_none(), "nothing written");
    }
    let fault = wait_misconfigured(&http, &base, "still not ready").await;
    assert_eq!(fault["code"], "AccessDeniedException", "{fault}");

    // The fault clears: the probe passes, the messages are applied.
    proxy.reset();
    eventually(
        Duration::from_secs(30),
        "every order applied once the fault cleared",
        || async {
            for id in &ids {
                st.item(*id).await?;
            }
            Some(())
        },
    )
    .await;
    eventually(Duration::from_secs(20), "queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    wait_ready(&http, &base).await;
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");

    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#) && l.contains("AccessDeniedException"))
        .collect();
    // One line when the first write is refused, then one per probe step:
    // never one per message.
    assert!(
        errors.len() >= 2,
        "the error log names the AWS code at each step:\n{text}"
    );
    let first_step = text
        .lines()
        .position(|l| l.contains("AWS refuses the worker's own resource"))
        .expect("a backoff-step error line");
    let before_first_step = text
        .lines()
        .take(first_step)
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .count();
    assert_eq!(
        before_first_step, 1,
        "one error line for the five refused messages, not one each:\n{text}"
    );
    println!(
        "refused writes: {} error lines over {} probes; all applied after the fault cleared",
        errors.len(),
        proxy.seen("UpdateItem") - probes
    );
}

#[tokio::test]
async fn a_write_rejected_for_one_item_dead_letters_that_message_alone() {
    let st = stack().await;
    let q = st.queue("rejected", 5, false).await;
    let (proxy, applier) = proxied_applier(&st).await;
    let w = Worker::start(
        &st,
        settings(&st, WorkerRole::Procesamiento, &q, &[]),
        applier,
    )
    .await;
    let http = reqwest::Client::new();
    wait_ready(&http, &w.health).await;

    proxy.set_for_next(
        "UpdateItem",
        Mode::Error {
            status: 400,
            code: "ValidationException".into(),
            message: "Item size has exceeded the maximum allowed size".into(),
        },
        1,
    );
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;

    eventually(
        Duration::from_secs(20),
        "one message dead-lettered, the others applied",
        || async {
            (st.depth(&q.dlq_url).await.0 == 1 && w.metrics.processed.get() == 3).then_some(())
        },
    )
    .await;
    let peeked = sqs_worker::dlq::peek(&st.clients.sqs, &q.dlq_url, 10)
        .await
        .expect("peek");
    assert_eq!(peeked.len(), 1, "{peeked:?}");
    let dead = &peeked[0];
    assert_eq!(dead.reason, "write_rejected", "{dead:?}");
    assert!(
        dead.detail
            .as_deref()
            .is_some_and(|d| d.contains("ValidationException")),
        "the reason names the AWS code: {dead:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&dead.body).expect("json body");
    let rejected: Uuid = body["data"]["pedidoId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("pedidoId");
    assert!(ids.contains(&rejected));
    for id in &ids {
        assert_eq!(
            st.item(*id).await.is_some(),
            *id != rejected,
            "only the rejected order is missing: {id}"
        );
    }
    assert_eq!(w.metrics.retried.get(), 0, "never retried");
    assert_eq!(w.metrics.handed_back.get(), 0, "never handed back");
    eventually(Duration::from_secs(10), "source queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(readiness(&http, &w.health).await.map(|r| r.0), Some(200));
    w.stop().await;
}

#[tokio::test]
async fn a_table_that_disappears_makes_a_busy_worker_not_ready_and_keeps_its_messages() {
    let st = stack().await;
    let q = st.queue("gone-busy", 2, false).await;
    let w = Worker::start_role(
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("CONFIG_FAULT_LIMIT_SECS", "300"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    wait_ready(&http, &w.health).await;
    st.clients
        .dynamodb
        .delete_table()
        .table_name(st.table.name())
        .send()
        .await
        .expect("delete table");
    st.send(&q, &creado(Uuid::new_v4())).await;
    let fault = wait_misconfigured(&http, &w.health, "not ready once the table is gone").await;
    assert_eq!(fault["code"], "ResourceNotFoundException", "{fault}");
    eventually(
        Duration::from_secs(10),
        "the message handed back",
        || async { (w.metrics.handed_back.get() == 1).then_some(()) },
    )
    .await;
    let (visible, in_flight) = st.depth(&q.url).await;
    assert_eq!(visible + in_flight, 1, "the message stays in the queue");
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");
    assert_eq!(w.metrics.retried.get(), 0);
    w.stop().await;
}

#[tokio::test]
async fn a_table_that_disappears_makes_an_idle_worker_not_ready() {
    let st = stack().await;
    let q = st.queue("gone-idle", 2, false).await;
    let w = Worker::start_role(
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "1"), ("STORE_CHECK_SECS", "1")],
    )
    .await;
    let http = reqwest::Client::new();
    wait_ready(&http, &w.health).await;
    st.clients
        .dynamodb
        .delete_table()
        .table_name(st.table.name())
        .send()
        .await
        .expect("delete table");
    let fault =
        wait_misconfigured(&http, &w.health, "an idle worker notices the table is gone").await;
    assert_eq!(fault["code"], "ResourceNotFoundException", "{fault}");
    assert_eq!(
        w.metrics.received.get(),
        0,
        "no message was needed to notice"
    );
    w.stop().await;
}

#[tokio::test]
async fn writes_refused_although_the_probe_passes_pause_the_worker_until_it_gives_up() {
    const LIMIT_SECS: u64 = 4;
    let st = stack().await;
    let q = st.queue("blind", 3, false).await;
    let mut refusing = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    refusing.refuse_writes = true;
    let refusing = Arc::new(refusing);
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    let limit = LIMIT_SECS.to_string();
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[
                ("SQS_WAIT_TIME_SECS", "1"),
                ("CONFIG_FAULT_LIMIT_SECS", limit.as_str()),
            ],
        ),
        refusing.clone(),
    )
    .await;
    let http = reqwest::Client::new();
    let fault = wait_misconfigured(&http, &w.health, "not ready while writes are refused").await;
    assert_eq!(fault["code"], "AccessDeniedException", "{fault}");
    let metrics = w.metrics.clone();
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(LIMIT_SECS + 20), w.finished())
        .await
        .expect("the worker gives up at the configuration fault limit");
    let error = result.expect_err("a worker that cannot write exits with an error");
    assert!(error.to_string().contains("giving up"), "{error}");
    println!(
        "blind refusal: gave up after {:?}, {} writes attempted for 3 messages",
        started.elapsed(),
        refusing.calls().len()
    );
    // Each message was received at most twice in the worker's whole life (its
    // first batch, then one canary after the probe passed): never a loop.
    let attempts = refusing.calls();
    for id in &ids {
        let tries = attempts.iter().filter(|c| c.0 == *id).count();
        assert!(
            tries <= 2,
            "order {id} attempted {tries} times: {attempts:?}"
        );
    }
    assert!(
        attempts.len() <= 4,
        "one canary after the first batch: {attempts:?}"
    );
    assert_eq!(metrics.handed_back.get(), attempts.len() as u64);
    let (visible, in_flight) = st.depth(&q.url).await;
    assert_eq!(visible + in_flight, 3, "every message still in the queue");
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");
}
