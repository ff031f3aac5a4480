//! End to end: orders posted to the API at a fixed rate below the emulators'
//! capacity, until both workers processed each one.

use std::time::Duration;

use loadgen::{LoadConfig, Pace};
use testkit::{Stack, binary, free_port};

use crate::process::{Proc, wait_ok};
use crate::report::{Report, checked, info};
use crate::{api_env, worker_env};

/// Posts `orders` at `rate` per second through the whole pipeline.
pub async fn measure(st: &Stack, orders: usize, rate: f64, report: &mut Report) {
    eprintln!("bench: end to end, {orders} orders at {rate}/s");
    let p = st.queue("bench-proc", 5, false).await;
    let l = st.queue("bench-log", 5, false).await;
    let topic = st.topic(&[&p, &l], false).await;
    let port = free_port();
    let _api = Proc::spawn(&binary("order-api"), &api_env(st, &topic, port));
    let _wp = Proc::spawn(
        &binary("sqs-worker"),
        &worker_env(st, "procesamiento", &p, free_port()),
    );
    let _wl = Proc::spawn(
        &binary("sqs-worker"),
        &worker_env(st, "logistica", &l, free_port()),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let load = loadgen::run(&LoadConfig {
        base_url: base,
        orders,
        pace: Pace::Rate(rate),
        deadline: Duration::from_secs(120),
        progress: false,
    })
    .await
    .expect("loadgen");
    let e = load.end_to_end;
    report.rows.push(info(
        format!("End to end at {rate}/s ({orders} orders)"),
        format!(
            "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms
        ),
    ));
    report.rows.push(checked(
        "Lost orders",
        load.lost.len().to_string(),
        "0",
        load.lost.is_empty(),
    ));
    report.json.insert(
        "endToEnd".into(),
        serde_json::to_value(&load).unwrap_or_default(),
    );
}
