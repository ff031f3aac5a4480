//! Startup: process start to `/health/ready`, of the API and of a worker
//! (median of 5 each).

use std::time::Duration;

use serde_json::json;
use testkit::{Stack, binary, free_port};

use crate::process::{Proc, wait_ok};
use crate::report::{Report, checked, median};
use crate::{api_env, worker_env};

/// Starts each binary five times; the median time to ready is the figure.
pub async fn measure(st: &Stack, report: &mut Report) {
    eprintln!("bench: startup");
    let queue = st.queue("bench-startup", 5, false).await;
    let topic = st.topic(&[], false).await;
    let (mut api, mut worker) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let port = free_port();
        let _api = Proc::spawn(
            &binary("order-api"),
            &api_env(st.table.name(), &topic, port),
        );
        api.push(ready_ms(port).await);
        let port = free_port();
        let _worker = Proc::spawn(
            &binary("sqs-worker"),
            &worker_env(st.table.name(), "procesamiento", &queue, port),
        );
        worker.push(ready_ms(port).await);
    }
    let (api_ms, worker_ms) = (median(&api), median(&worker));
    report.rows.push(checked(
        "API start to ready (median of 5)",
        format!("{api_ms:.0} ms"),
        "≤ 200 ms",
        api_ms <= 200.0,
    ));
    report.rows.push(checked(
        "Worker start to ready (median of 5)",
        format!("{worker_ms:.0} ms"),
        "≤ 200 ms",
        worker_ms <= 200.0,
    ));
    report.json.insert(
        "startup".into(),
        json!({"apiMs": api_ms, "workerMs": worker_ms}),
    );
}

async fn ready_ms(port: u16) -> f64 {
    wait_ok(
        &format!("http://127.0.0.1:{port}/health/ready"),
        Duration::from_secs(10),
    )
    .await
    .as_secs_f64()
        * 1e3
}
