//! Idle cost: SQS requests per minute of a worker on an empty queue.

use std::time::Duration;

use serde_json::json;
use testkit::{Stack, binary, free_port};

use crate::process::{Proc, metric, wait_ok};
use crate::report::{Report, checked};
use crate::worker_env;

/// Watches an idle worker for `seconds`.
pub async fn measure(st: &Stack, seconds: u64, report: &mut Report) {
    eprintln!("bench: idle worker for {seconds} s");
    let queue = st.queue("bench-idle", 5, false).await;
    let port = free_port();
    let health = format!("http://127.0.0.1:{port}");
    let _idle = Proc::spawn(
        &binary("sqs-worker"),
        &worker_env(st.table.name(), "logistica", &queue, port),
    );
    wait_ok(&format!("{health}/health/ready"), Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    let before = metric(&http, &health, "sqs_worker_sqs_calls_total").await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = metric(&http, &health, "sqs_worker_sqs_calls_total").await;
    let per_minute = (after - before) * 60.0 / seconds as f64;
    report.rows.push(checked(
        "Idle worker SQS requests per minute",
        format!("{per_minute:.1}"),
        "≤ 4",
        per_minute <= 4.0,
    ));
    report.json.insert(
        "idle".into(),
        json!({"sqsRequestsPerMinute": per_minute, "seconds": seconds}),
    );
}
