//! Graceful shutdown (SIGTERM) and crashes (SIGKILL): nothing lost, nothing applied twice.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::orders_table::WorkerRole;
use testkit::fault_proxy::{FaultProxy, Mode};
use uuid::Uuid;

use crate::helpers::{
    Instrumented, QueuePair, Reaped, Stack, Worker, applier, creado, eventually, process_env,
    settings, stack,
};

async fn send_orders(st: &Stack, q: &QueuePair, n: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(q, &bodies).await;
    ids
}

/// Every order recorded exactly once by procesamiento.
async fn assert_all_applied_once(st: &Stack, ids: &[Uuid]) {
    for id in ids {
        assert_eq!(
            st.applied_keys(*id).await,
            [format!("procesamiento#PedidoCreado#{id}")],
            "order {id}"
        );
        assert_eq!(
            st.applications(*id, WorkerRole::Procesamiento).await,
            1,
            "order {id} applied exactly once"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_messages_finish_within_the_grace_period() {
    let st = stack().await;
    let q = st.queue("drain", 5, false).await;
    let mut slow = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    slow.delay = Duration::from_secs(2);
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[("WORKER_CONCURRENCY", "5"), ("SHUTDOWN_GRACE_SECS", "10")],
        ),
        Arc::new(slow),
    )
    .await;
    let ids = send_orders(&st, &q, 5).await;
    eventually(Duration::from_secs(20), "5 in flight", || async {
        (w.metrics.in_flight.get() == 5).then_some(())
    })
    .await;
    let metrics = w.metrics.clone();
    let took = w.stop().await;
    println!("drained 5 in-flight messages in {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "stopped within the grace period: {took:?}"
    );
    assert_eq!(metrics.processed.get(), 5, "in-flight messages finished");
    assert_all_applied_once(&st, &ids).await;
    eventually(
        Duration::from_secs(5),
        "finished messages deleted",
        || async { (st.depth(&q.url).await == (0, 0)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn messages_unfinished_after_the_grace_period_are_returned_at_once() {
    let st = stack().await;
    let q = st.queue("grace", 5, false).await;
    let mut slow = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    slow.delay = Duration::from_secs(30);
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[
                ("WORKER_CONCURRENCY", "3"),
                ("SHUTDOWN_GRACE_SECS", "1"),
                ("SQS_VISIBILITY_TIMEOUT_SECS", "120"),
            ],
        ),
        Arc::new(slow),
    )
    .await;
    let ids = send_orders(&st, &q, 3).await;
    eventually(Duration::from_secs(20), "3 in flight", || async {
        (w.metrics.in_flight.get() == 3).then_some(())
    })
    .await;
    let took = w.stop().await;
    assert!(
        took < Duration::from_secs(5),
        "stopped after the grace period: {took:?}"
    );
    // Visible again right away, not after the 120 s visibility timeout.
    eventually(Duration::from_secs(5), "messages visible again", || async {
        (st.depth(&q.url).await.0 == 3).then_some(())
    })
    .await;

    let next = Worker::start_role(&st, WorkerRole::Procesamiento, &q, &[]).await;
    eventually(
        Duration::from_secs(20),
        "another worker finishes them",
        || async { (next.metrics.processed.get() == 3).then_some(()) },
    )
    .await;
    assert_all_applied_once(&st, &ids).await;
    next.stop().await;
}

fn spawn_worker(st: &Stack, q: &QueuePair, extra: &[(&str, &str)]) -> Child {
    spawn_worker_logging(st, q, extra, Stdio::null())
}

/// A procesamiento worker process for `q`; `extra` overrides its environment,
/// its log (stdout) goes to `log`.
pub fn spawn_worker_logging(
    st: &Stack,
    q: &QueuePair,
    extra: &[(&str, &str)],
    log: impl Into<Stdio>,
) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqs-worker"));
    cmd.env_clear()
        .envs(process_env(st, WorkerRole::Procesamiento, q))
        .envs(extra.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    cmd.spawn().expect("spawn sqs-worker")
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

pub async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn recorded(st: &Stack, ids: &[Uuid]) -> usize {
    let mut n = 0;
    for id in ids {
        if st.item(*id).await.is_some() {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_and_nothing_is_lost() {
    let st = stack().await;
    let q = st.queue("sigterm", 5, false).await;
    let ids = send_orders(&st, &q, 60).await;
    let mut child = spawn_worker(&st, &q, &[("SHUTDOWN_GRACE_SECS", "25")]);
    eventually(
        Duration::from_secs(30),
        "the process started applying",
        || async { (recorded(&st, &ids[..10]).await > 0).then_some(()) },
    )
    .await;
    let sent = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    println!("SIGTERM -> exit {status:?} in {:?}", sent.elapsed());
    assert!(status.success(), "exit status {status:?}");

    let next = Worker::start_role(&st, WorkerRole::Procesamiento, &q, &[]).await;
    eventually(Duration::from_secs(40), "every order recorded", || async {
        (recorded(&st, &ids).await == ids.len()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_all_applied_once(&st, &ids).await;
    assert_eq!(st.depth(&q.dlq_url).await.0, 0);
    next.stop().await;
}

#[tokio::test]
async fn sigkill_mid_batch_loses_nothing() {
    let st = stack().await;
    let q = st.queue("sigkill", 5, false).await;
    let ids = send_orders(&st, &q, 100).await;
    let mut child = spawn_worker(&st, &q, &[("SQS_VISIBILITY_TIMEOUT_SECS", "5")]);
    eventually(
        Duration::from_secs(30),
        "the process started applying",
        || async { (recorded(&st, &ids).await > 0).then_some(()) },
    )
    .await;
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, Duration::from_secs(5)).await;
    let before = recorded(&st, &ids).await;
    println!("SIGKILL after {before}/100 orders were recorded");

    let next = Worker::start_role(
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_VISIBILITY_TIMEOUT_SECS", "5")],
    )
    .await;
    eventually(Duration::from_secs(60), "every order recorded", || async {
        (recorded(&st, &ids).await == ids.len()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(20), "queue drained", || async {
        (st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_all_applied_once(&st, &ids).await;
    assert_eq!(st.depth(&q.dlq_url).await.0, 0, "nothing dead-lettered");
    next.stop().await;
}

#[tokio::test]
async fn a_long_poll_outlives_the_ordinary_attempt_timeout() {
    // The client's attempt timeout is 5 s; an 8 s long poll on an empty
    // queue must complete as an empty receive, not time out.
    let st = stack().await;
    let q = st.queue("long-poll", 5, false).await;
    let w = Worker::start_role(
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "8")],
    )
    .await;
    let receives = |m: &sqs_worker::metrics::Metrics| {
        m.sqs_calls
            .get_or_create(&sqs_worker::metrics::Label {
                name: "receive".into(),
            })
            .get()
    };
    eventually(Duration::from_secs(30), "a long poll completed", || async {
        (receives(&w.metrics) >= 2).then_some(())
    })
    .await;
    assert_eq!(w.metrics.poll_errors.get(), 0, "no long poll timed out");
    w.stop().await;
}

#[tokio::test]
async fn sigterm_exits_within_the_grace_period_whatever_sqs_does() {
    const GRACE_SECS: u64 = 3;
    let st = stack().await;
    let q = st.queue("hung-sqs", 5, false).await;
    let sqs =
        FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL_SQS").expect("SQS endpoint")).await;
    let dynamodb =
        FaultProxy::start(&std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB endpoint"))
            .await;
    let port = testkit::free_port().to_string();
    let grace = GRACE_SECS.to_string();
    let (sqs_url, dynamodb_url) = (sqs.url(), dynamodb.url());
    let log = std::env::temp_dir().join(format!("worker-hung-sqs-{}.log", Uuid::new_v4()));
    let mut child = Reaped(spawn_worker_logging(
        &st,
        &q,
        &[
            ("HEALTH_PORT", port.as_str()),
            ("AWS_ENDPOINT_URL_SQS", sqs_url.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url.as_str()),
            ("SHUTDOWN_GRACE_SECS", grace.as_str()),
            ("WORKER_CONCURRENCY", "4"),
            ("RUST_LOG", "info"),
        ],
        std::fs::File::create(&log).expect("log file"),
    ));
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(20), "worker ready", || async {
        let r = http
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // SQS takes deletes and visibility changes but never answers them; two
    // writes hang too, so their messages are still in hand at the deadline.
    let hold = Mode::Hold(Duration::from_secs(120));
    for operation in [
        "DeleteMessageBatch",
        "DeleteMessage",
        "ChangeMessageVisibilityBatch",
        "ChangeMessageVisibility",
    ] {
        sqs.set_for(operation, hold.clone());
    }
    let writes_before = dynamodb.seen("UpdateItem");
    dynamodb.set_for_next("UpdateItem", hold.clone(), 2);
    send_orders(&st, &q, 6).await;
    eventually(
        Duration::from_secs(20),
        "messages applied with their deletes hanging, two writes hanging",
        || async {
            (dynamodb.seen("UpdateItem") >= writes_before + 6
                && sqs.seen("DeleteMessageBatch") >= 1)
                .then_some(())
        },
    )
    .await;

    let sent = Instant::now();
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(GRACE_SECS + 30)).await;
    let took = sent.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();
    println!("SIGTERM with SQS hanging -> {status:?} in {took:?}");
    assert!(status.success(), "exit status {status:?}; log:\n{text}");
    // The hard deadline is grace + 3 s; the rest is the test's own polling.
    assert!(
        took < Duration::from_secs(GRACE_SECS + 3) + Duration::from_millis(700),
        "exited {took:?} after SIGTERM, over the grace period + 3 s; log:\n{text}"
    );
    assert!(
        text.contains("delete deadline passed"),
        "the undeleted messages are counted in the log:\n{text}"
    );
}
