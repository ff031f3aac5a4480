//! Bursts, workers down, and a worker killed in the middle of a burst (the
//! API's outbox relay runs beside the API in each).

use std::time::Duration;

use loadgen::{LoadConfig, Pace, Report};
use testkit::{eventually, stack};

use crate::harness::{Api, RETRIES, SERIAL, WorkerProc, assert_each_applied_once};

/// The shop's client retries a 503 or 429 as the API's contract says (same
/// order and Idempotency-Key, after Retry-After): on these 2 shared cores the
/// emulators can stall past the API's budgets during a burst, and the API
/// then refuses an order rather than risk it; what must hold is that every
/// order the shop sends ends up accepted and applied once.
fn config(api: &Api, orders: usize, pace: Pace, deadline_secs: u64) -> LoadConfig {
    LoadConfig {
        base_url: api.base.clone(),
        orders,
        pace,
        deadline: Duration::from_secs(deadline_secs),
        progress: false,
        retries: RETRIES,
    }
}

fn assert_nothing_lost(name: &str, report: &Report, orders: usize) {
    println!("{name}:\n{}", report.summary());
    assert_eq!(
        report.accepted, orders,
        "every order accepted: {:?}",
        report.rejected
    );
    assert!(
        report.lost.is_empty(),
        "{} orders lost: {:?}",
        report.lost.len(),
        &report.lost[..report.lost.len().min(5)]
    );
}

#[tokio::test]
async fn burst_of_1000_orders_none_lost_none_applied_twice() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let api = Api::start(&st, &p.topic, &[], true).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;

    let report = loadgen::run(&config(&api, 1000, Pace::Concurrency(32), 120))
        .await
        .expect("run");
    assert_nothing_lost("burst: 1000 orders, both workers", &report, 1000);
    for w in [&wp, &wl] {
        assert_eq!(
            w.counter("sqs_worker_messages_processed_total").await,
            1000,
            "each event applied once"
        );
    }
    // An order still unapplied RELAY_STALE_SECS after its intake is
    // published again by the relay (at most once): the workers drop the copy.
    println!(
        "relay publishes {}; duplicates dropped by the workers: {} + {}",
        api.relay().published().await,
        wp.counter("sqs_worker_messages_duplicate_total").await,
        wl.counter("sqs_worker_messages_duplicate_total").await
    );
    assert_each_applied_once(&st, 1000).await;
    assert_eq!(
        st.depth(&p.procesamiento.dlq_url).await.0 + st.depth(&p.logistica.dlq_url).await.0,
        0
    );
}

#[tokio::test]
async fn orders_posted_while_workers_are_down_are_processed_when_they_return() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let api = Api::start(&st, &p.topic, &[], true).await;

    // No worker runs: post 200 orders, they wait in the queues. Each is
    // published by the API and, still unapplied RELAY_STALE_SECS later, once
    // more by the relay (never more: each window of the outbox is passed once).
    let posting = config(&api, 200, Pace::Concurrency(16), 0);
    let report = loadgen::run(&posting).await.expect("run");
    assert_eq!(report.accepted, 200);
    assert_eq!(
        report.lost.len(),
        200,
        "nothing can be processed while the workers are down"
    );
    eventually(
        Duration::from_secs(30),
        "the relay published each order once more",
        || async { (api.relay().published().await >= 200).then_some(()) },
    )
    .await;
    // The API's publishes and the relay's, all waiting: 400, or a few less
    // when a publish of the API failed (the relay's is then the only one),
    // never more (an ambiguous failure of the API's may have landed).
    let published = api.published().await + api.relay().published().await;
    let waiting = eventually(
        Duration::from_secs(20),
        &format!("at least {published} messages waiting in each queue"),
        || async {
            let depths = (
                st.depth(&p.procesamiento.url).await.0,
                st.depth(&p.logistica.url).await.0,
            );
            (depths.0 >= published && depths.1 >= published).then_some(depths)
        },
    )
    .await;
    assert!(
        waiting.0 <= 400 && waiting.1 <= 400,
        "each order published at most twice: {waiting:?}"
    );
    assert_eq!(api.relay().published().await, 200, "once more, not twice");

    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(60),
        "all 200 applied by both workers",
        || async {
            (wp.counter("sqs_worker_messages_processed_total").await == 200
                && wl.counter("sqs_worker_messages_processed_total").await == 200)
                .then_some(())
        },
    )
    .await;
    println!(
        "workers down: 200 orders ({waiting:?} messages) waited in the queues and were processed in {:?} once the workers returned",
        started.elapsed()
    );
    assert_each_applied_once(&st, 200).await;
}

#[tokio::test]
async fn a_worker_killed_mid_burst_loses_and_doubles_nothing() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let api = Api::start(&st, &p.topic, &[], true).await;
    let short_visibility = [("SQS_VISIBILITY_TIMEOUT_SECS", "10".to_owned())];
    let mut wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &short_visibility).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;

    let run = tokio::spawn({
        // Below the emulator's capacity (~45 publishes/s here), so every order is accepted.
        let cfg = config(&api, 500, Pace::Rate(25.0), 120);
        async move { loadgen::run(&cfg).await }
    });
    eventually(Duration::from_secs(30), "procesamiento busy", || async {
        (wp.counter("sqs_worker_messages_processed_total").await >= 100).then_some(())
    })
    .await;
    wp.proc.signal("KILL");
    let _ = wp.proc.wait_exit(Duration::from_secs(5)).await;
    println!("SIGKILL sent to procesamiento mid-burst");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _restarted =
        WorkerProc::start(&st, "procesamiento", &p.procesamiento, &short_visibility).await;

    let report = run.await.expect("join").expect("run");
    assert_nothing_lost("worker SIGKILL mid-burst: 500 orders at 25/s", &report, 500);
    assert_each_applied_once(&st, 500).await;
    assert_eq!(wl.counter("sqs_worker_messages_processed_total").await, 500);
    assert_eq!(st.depth(&p.procesamiento.dlq_url).await.0, 0);
}
