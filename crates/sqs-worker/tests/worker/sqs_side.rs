//! The worker's SQS-side failures, injected per operation by a `FaultProxy`
//! in front of LocalStack: refused deletes raise the configuration fault
//! (not ready, deletes given up after their attempts, exit at the limit);
//! an SQS that answers nothing trips the progress watchdog (not ready), then
//! liveness while messages are held; an SQS at its in-flight limit is
//! waited out; either way each order is applied once.

use std::time::Duration;

use shared::orders_table::WorkerRole;
use testkit::fault_proxy::{FaultProxy, Mode};
use uuid::Uuid;

use crate::helpers::{
    QueuePair, Reaped, Stack, Worker, creado, eventually, sqs_at, sqs_errors, stack,
};
use crate::permanent::{
    metric, metrics_text, readiness, series_value, wait_misconfigured, wait_ready,
};
use crate::shutdown::{spawn_worker_logging, wait_exit};

async fn sqs_proxy() -> FaultProxy {
    FaultProxy::start(&testkit::endpoint("SQS")).await
}

/// A worker process whose SQS calls go through `sqs`, its probe on a free
/// port, with `env` on top: the child (killed when dropped) and its probe's
/// base URL.
fn spawn_through(
    st: &Stack,
    q: &QueuePair,
    sqs: &FaultProxy,
    env: &[(&str, &str)],
) -> (Reaped, String) {
    spawn_logging_through(st, q, sqs, env, std::process::Stdio::null())
}

/// [`spawn_through`], its log (stdout) going to `log`.
fn spawn_logging_through(
    st: &Stack,
    q: &QueuePair,
    sqs: &FaultProxy,
    env: &[(&str, &str)],
    log: impl Into<std::process::Stdio>,
) -> (Reaped, String) {
    let port = testkit::free_port().to_string();
    let sqs = sqs.url();
    let mut all = vec![
        ("HEALTH_PORT", port.as_str()),
        ("AWS_ENDPOINT_URL_SQS", sqs.as_str()),
    ];
    all.extend_from_slice(env);
    let child = Reaped(spawn_worker_logging(st, q, &all, log));
    (child, format!("http://127.0.0.1:{port}"))
}

/// SQS refusing the worker's deletes, as it answers a missing permission.
fn deletes_denied() -> Mode {
    Mode::Error {
        status: 400,
        code: "AccessDenied".into(),
        message: "not authorized to perform: sqs:DeleteMessage".into(),
    }
}

/// A labelled series of the worker's `/metrics` (0 while it does not exist yet).
async fn sample(http: &reqwest::Client, base: &str, series: &str) -> Option<u64> {
    Some(series_value(&metrics_text(http, base).await?, series).unwrap_or(0))
}

#[tokio::test]
async fn refused_deletes_make_the_worker_not_ready_are_given_up_and_it_exits() {
    let st = stack().await;
    let q = st.queue("deletes-denied", 5, false).await;
    let proxy = sqs_proxy().await;
    proxy.set_for("DeleteMessageBatch", deletes_denied());
    let (mut child, base) = spawn_through(
        &st,
        &q,
        &proxy,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("CONFIG_FAULT_LIMIT_SECS", "40"),
        ],
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;

    let fault = wait_misconfigured(&http, &base, "readiness names the refused delete").await;
    assert_eq!(fault["operation"], "DeleteMessageBatch", "{fault}");
    assert_eq!(fault["code"], "AccessDenied", "{fault}");
    // Not held for ever: each delete is given up after its attempts.
    eventually(Duration::from_secs(30), "every delete given up", || async {
        (metric(&http, &base, "deletes_given_up").await? == 3).then_some(())
    })
    .await;
    let errors = metrics_text(&http, &base).await.expect("metrics");
    assert!(
        errors.contains(
            "sqs_worker_sqs_errors_total{operation=\"DeleteMessageBatch\",code=\"AccessDenied\"}"
        ),
        "counted by code:\n{errors}"
    );
    let status = wait_exit(&mut child, Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "exits non-zero at the limit");
    for id in &ids {
        assert_eq!(
            st.applications(*id, WorkerRole::Procesamiento).await,
            1,
            "applied once"
        );
    }
    // Never deleted: the messages are still in the queue, for a healthy task.
    let (visible, in_flight) = st.depth(&q.url).await;
    assert_eq!(visible + in_flight, 3);
}

#[tokio::test]
async fn an_sqs_that_answers_nothing_fails_readiness_then_liveness_while_messages_are_held() {
    let st = stack().await;
    let q = st.queue("black-hole", 5, false).await;
    let proxy = sqs_proxy().await;
    let (_child, base) = spawn_through(
        &st,
        &q,
        &proxy,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("PROGRESS_WATCHDOG_SECS", "6"),
            ("CONFIG_FAULT_LIMIT_SECS", "4"),
        ],
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    // The messages are applied, then SQS stops answering: their deletes hang.
    proxy.set_for("DeleteMessageBatch", Mode::Hold(Duration::from_secs(600)));
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    eventually(Duration::from_secs(20), "the orders applied", || async {
        for id in &ids {
            if st.applications(*id, WorkerRole::Procesamiento).await != 1 {
                return None;
            }
        }
        Some(())
    })
    .await;
    proxy.set(Mode::Hold(Duration::from_secs(600)));
    let stalled = eventually(
        Duration::from_secs(20),
        "readiness reports the stall",
        || async {
            let (status, body) = readiness(&http, &base).await?;
            (status == 503 && body["status"] == "stalled").then_some(body)
        },
    )
    .await;
    assert_eq!(
        stalled["reason"], "no successful SQS receive, delete or dead-lettering",
        "{stalled}"
    );
    eventually(
        Duration::from_secs(20),
        "liveness fails while messages are held",
        || async {
            let live = http.get(format!("{base}/health/live")).send().await.ok()?;
            (live.status() == 503).then_some(())
        },
    )
    .await;
    // SQS answers again: the worker recovers and deletes what it holds.
    proxy.reset();
    eventually(Duration::from_secs(60), "the queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    wait_ready(&http, &base).await;
    for id in &ids {
        assert_eq!(
            st.applications(*id, WorkerRole::Procesamiento).await,
            1,
            "applied once"
        );
    }
}

#[tokio::test]
async fn refused_deletes_that_are_allowed_again_clear_without_an_exit() {
    let st = stack().await;
    let q = st.queue("deletes-allowed-again", 5, false).await;
    let proxy = sqs_proxy().await;
    let (mut child, base) = spawn_through(
        &st,
        &q,
        &proxy,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("SQS_VISIBILITY_TIMEOUT_SECS", "10"),
            ("CONFIG_FAULT_LIMIT_SECS", "60"),
        ],
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    proxy.set_for("DeleteMessageBatch", deletes_denied());
    let id = Uuid::new_v4();
    st.send(&q, &creado(id)).await;
    let fault = wait_misconfigured(&http, &base, "readiness names the refused delete").await;
    assert_eq!(fault["operation"], "DeleteMessageBatch", "{fault}");
    // The delete is given up: from then on only the worker's own probe
    // can see that deletes are allowed again (receiving is paused).
    eventually(Duration::from_secs(40), "the delete given up", || async {
        (metric(&http, &base, "deletes_given_up").await? == 1).then_some(())
    })
    .await;
    let received = metric(&http, &base, "messages_received").await;
    proxy.record("ReceiveMessage");
    proxy.record("DeleteMessageBatch");
    proxy.reset();
    wait_ready(&http, &base).await;
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    // Receiving resumes as soon as the worker's probe (the first delete
    // since) finds deletes allowed, not at the loop's next tick, 5 s later.
    let resumed = eventually(Duration::from_secs(20), "receiving resumed", || async {
        proxy.recorded("ReceiveMessage").first().map(|r| r.at)
    })
    .await;
    // The probe that found deletes allowed: the last one before receiving
    // resumed (one refused just before the reset may come first).
    let probed = proxy
        .recorded("DeleteMessageBatch")
        .iter()
        .map(|r| r.at)
        .filter(|at| *at <= resumed)
        .max()
        .expect("a probe before receiving resumed");
    let after = resumed.saturating_duration_since(probed);
    assert!(
        after < Duration::from_secs(2),
        "receiving resumed {after:?} after the probe"
    );
    assert_eq!(
        received,
        Some(1),
        "nothing received while deletes were refused"
    );
    // The message comes back after its visibility timeout, is recognised as
    // applied and deleted.
    eventually(Duration::from_secs(60), "the queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(
        st.applications(id, WorkerRole::Procesamiento).await,
        1,
        "applied once"
    );
}

#[tokio::test]
async fn a_queue_at_its_in_flight_limit_is_waited_out_not_reported_as_misconfigured() {
    let st = stack().await;
    let q = st.queue("over-limit", 5, false).await;
    let proxy = sqs_proxy().await;
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "1")],
    )
    .await;
    let http = reqwest::Client::new();
    wait_ready(&http, &w.health).await;
    // Other tasks hold the queue's in-flight limit: SQS answers 403.
    proxy.set_for(
        "ReceiveMessage",
        Mode::Error {
            status: 403,
            code: "OverLimit".into(),
            message: "Too many messages in flight".into(),
        },
    );
    let over_limit = || sqs_errors(&w.metrics, "ReceiveMessage", "OverLimit");
    eventually(Duration::from_secs(20), "receives refused", || async {
        (over_limit() >= 2).then_some(())
    })
    .await;
    // A 403, but not the deployment's fault: a configuration fault would
    // have made the worker not ready at the first refusal.
    let (status, body) = readiness(&http, &w.health).await.expect("readiness");
    assert_eq!(status, 200, "{body}");
    proxy.reset();
    let id = Uuid::new_v4();
    st.send(&q, &creado(id)).await;
    eventually(Duration::from_secs(30), "the order applied", || async {
        (w.metrics.deleted.get() == 1).then_some(())
    })
    .await;
    assert_eq!(st.applications(id, WorkerRole::Procesamiento).await, 1);
    w.stop().await;
}

#[tokio::test]
async fn credentials_that_are_not_refreshed_are_a_configuration_fault_that_clears() {
    let st = stack().await;
    let q = st.queue("expired-token", 5, false).await;
    let proxy = sqs_proxy().await;
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "1")],
    )
    .await;
    let http = reqwest::Client::new();
    wait_ready(&http, &w.health).await;
    // The SDK refreshes credentials before they expire and corrects its
    // clock skew: an expired token or request that persists means they are
    // not refreshed, or the clock is wrong (answered 403 and 400).
    for (status, code) in [(403, "ExpiredToken"), (400, "RequestExpired")] {
        proxy.set_for(
            "ReceiveMessage",
            Mode::Error {
                status,
                code: code.into(),
                message: "The security token included in the request is expired".into(),
            },
        );
        let fault = wait_misconfigured(&http, &w.health, code).await;
        assert_eq!(fault["code"], code, "{fault}");
        proxy.reset();
        wait_ready(&http, &w.health).await;
    }
    w.stop().await;
}

#[tokio::test]
async fn refused_deletes_end_the_worker_at_their_limit_also_while_it_waits_for_the_table() {
    let st = stack().await;
    let q = st.queue("deletes-denied-store-down", 5, false).await;
    let sqs_faults = sqs_proxy().await;
    let table_faults = FaultProxy::start(&testkit::endpoint("DYNAMODB")).await;
    let dynamodb = table_faults.url();
    let (mut child, base) = spawn_through(
        &st,
        &q,
        &sqs_faults,
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
            ("SQS_WAIT_TIME_SECS", "1"),
            ("CONFIG_FAULT_LIMIT_SECS", "6"),
        ],
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    // Two orders received together: one is applied and its delete refused,
    // the other meets a table that stays down (the worker waits for it).
    sqs_faults.set_for("DeleteMessageBatch", deletes_denied());
    table_faults.set(Mode::Status(503));
    table_faults.set_for_next("UpdateItem", Mode::Pass, 1);
    let ids: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    eventually(
        Duration::from_secs(20),
        "the worker waits for the table",
        || async {
            let (status, body) = readiness(&http, &base).await?;
            // The store probe (a GetItem first) runs only in that wait.
            (status == 503 && table_faults.seen("GetItem") >= 2 && body["status"] != "ok")
                .then_some(())
        },
    )
    .await;
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert_eq!(
        status.code(),
        Some(1),
        "exits at the refused deletes' limit"
    );
    let applied: usize = {
        let mut n = 0;
        for id in &ids {
            n += st.applications(*id, WorkerRole::Procesamiento).await as usize;
        }
        n
    };
    assert_eq!(applied, 1, "one order applied once, the other not at all");
}

#[tokio::test]
async fn deletes_refused_entry_by_entry_are_a_fault_the_probe_does_not_clear_and_are_counted_as_entries()
 {
    let st = stack().await;
    let q = st.queue("entries-refused", 5, false).await;
    let proxy = sqs_proxy().await;
    let log = std::env::temp_dir().join(format!("worker-entries-refused-{}.log", Uuid::new_v4()));
    let (mut child, base) = spawn_logging_through(
        &st,
        &q,
        &proxy,
        &[
            ("SQS_WAIT_TIME_SECS", "1"),
            ("CONFIG_FAULT_LIMIT_SECS", "15"),
        ],
        std::fs::File::create(&log).expect("log file"),
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    // Every delete goes through and each of its entries is refused (the
    // worker's own probe included).
    proxy.set_for(
        "DeleteMessageBatch",
        Mode::FailEntries {
            code: "AccessDenied".into(),
            sender_fault: true,
        },
    );
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    let fault = wait_misconfigured(&http, &base, "readiness names the refused entries").await;
    assert_eq!(fault["operation"], "DeleteMessageBatch", "{fault}");
    assert_eq!(fault["code"], "AccessDenied", "{fault}");
    let entries = "sqs_worker_sqs_entry_failures_total{operation=\"DeleteMessageBatch\",code=\"AccessDenied\"}";
    let requests =
        "sqs_worker_sqs_errors_total{operation=\"DeleteMessageBatch\",code=\"AccessDenied\"}";
    eventually(
        Duration::from_secs(20),
        "refused entries counted",
        || async { (sample(&http, &base, entries).await? >= 3).then_some(()) },
    )
    .await;
    assert_eq!(
        sample(&http, &base, requests).await,
        Some(0),
        "the requests went through: none counted as a failed request"
    );
    // The probe's entry is refused too: the fault is never cleared (nor its
    // clock restarted), so the worker exits at the limit.
    let status = wait_exit(&mut child, Duration::from_secs(40)).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();
    assert_eq!(status.code(), Some(1), "exits at the limit");
    assert!(
        text.contains("SQS refuses entries") && !text.contains("SQS allows this call again"),
        "the probe never took the refused entry for an allowed call:\n{text}"
    );
    for id in &ids {
        assert_eq!(
            st.applications(*id, WorkerRole::Procesamiento).await,
            1,
            "applied once"
        );
    }
}
