//! A worker whose DLQ or table is refused or missing must not look healthy:
//! readiness fails at once with the AWS error code, and the process exits
//! non-zero after `CONFIG_FAULT_LIMIT_SECS`, leaving the messages in the queue.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::helpers::{QueuePair, Stack, creado, eventually, stack};
use crate::shutdown::{spawn_worker_logging, wait_exit};

const LIMIT_SECS: u64 = 3;

/// Runs a worker with `overrides` until it exits; returns its exit code, its
/// log, and the readiness answer seen while it ran.
async fn run_misconfigured(
    st: &Stack,
    q: &QueuePair,
    overrides: &[(&str, &str)],
) -> (Option<i32>, String, serde_json::Value, Duration) {
    let port = testkit::free_port().to_string();
    let limit = LIMIT_SECS.to_string();
    let log = std::env::temp_dir().join(format!("worker-misconfigured-{}.log", Uuid::new_v4()));
    let mut env = vec![
        ("HEALTH_PORT", port.as_str()),
        ("CONFIG_FAULT_LIMIT_SECS", limit.as_str()),
    ];
    env.extend_from_slice(overrides);
    let started = Instant::now();
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut child = spawn_worker_logging(st, q, &env, log_file);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health/ready");
    let ready: serde_json::Value = eventually(
        Duration::from_secs(LIMIT_SECS),
        "readiness reports the configuration fault",
        || async {
            let answer = http.get(&url).send().await.ok()?;
            let status = answer.status();
            let body: serde_json::Value = answer.json().await.ok()?;
            (status == 503 && body["status"] == "misconfigured").then_some(body)
        },
    )
    .await;
    let live = http
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok();
    assert!(
        started.elapsed() >= Duration::from_secs(LIMIT_SECS) || live == Some(200),
        "live until the limit: {live:?}"
    );
    let status = wait_exit(&mut child, Duration::from_secs(LIMIT_SECS + 15)).await;
    let took = started.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();
    (status.code(), text, ready, took)
}

async fn assert_message_kept(st: &Stack, q: &QueuePair) {
    // Visible or in flight, but still in the queue: never consumed, never dead-lettered.
    let (visible, in_flight) = st.depth(&q.url).await;
    assert_eq!(visible + in_flight, 1, "the message must stay in the queue");
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0), "nothing dead-lettered");
}

#[tokio::test]
async fn a_missing_dlq_fails_readiness_at_once_and_exits_non_zero() {
    let st = stack().await;
    let q = st.queue("no-dlq", 3, false).await;
    st.send(&q, &creado(Uuid::new_v4())).await;
    let missing = format!("{}-missing", q.dlq_url);
    let (code, log, ready, took) = run_misconfigured(&st, &q, &[("SQS_DLQ_URL", &missing)]).await;
    assert_eq!(ready["operation"], "GetQueueAttributes", "{ready}");
    let aws_code = ready["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        aws_code.contains("NonExistentQueue") || aws_code.contains("QueueDoesNotExist"),
        "{ready}"
    );
    assert_eq!(
        code,
        Some(1),
        "must exit non-zero so the task is replaced; log:\n{log}"
    );
    assert!(
        took >= Duration::from_secs(LIMIT_SECS),
        "exited before the limit: {took:?}"
    );
    assert!(
        log.contains(&aws_code),
        "the log names the AWS error code:\n{log}"
    );
    assert!(log.contains("giving up"), "{log}");
    assert_message_kept(&st, &q).await;
    println!("missing DLQ: not ready with {aws_code}, exit 1 after {took:?}");
}

#[tokio::test]
async fn a_missing_table_fails_readiness_at_once_and_exits_non_zero() {
    let st = stack().await;
    let q = st.queue("no-table", 3, false).await;
    st.send(&q, &creado(Uuid::new_v4())).await;
    let table = format!("missing-{}", Uuid::new_v4().simple());
    let (code, log, ready, took) = run_misconfigured(&st, &q, &[("ORDERS_TABLE", &table)]).await;
    assert_eq!(ready["operation"], "GetItem", "{ready}");
    assert_eq!(ready["code"], "ResourceNotFoundException", "{ready}");
    assert_eq!(code, Some(1), "log:\n{log}");
    assert!(log.contains("ResourceNotFoundException"), "{log}");
    assert_message_kept(&st, &q).await;
    println!("missing table: not ready, exit 1 after {took:?}");
}
