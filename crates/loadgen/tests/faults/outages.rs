//! DynamoDB down for 20 s during a burst; a client retrying refusals;
//! LocalStack unreachable from the API and its relay.

use std::time::Duration;

use loadgen::{LoadConfig, Pace};
use testkit::fault_proxy::{FaultProxy, Mode};
use testkit::{eventually, order_request, stack};

use crate::harness::{Api, PrivateDynamo, RETRIES, SERIAL, WorkerProc, assert_each_applied_once};

#[tokio::test]
async fn dynamodb_down_for_20_s_during_a_burst_delays_but_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    // The whole pipeline uses a DynamoDB Local of its own. The workers reach it
    // through a proxy that is switched off for 20 s mid-burst (connections
    // refused, open ones cut: what a dead DynamoDB looks like), while the API
    // keeps recording orders; then the database itself is killed to show the
    // API refusing orders it cannot record.
    let mut db = PrivateDynamo::start().await;
    let table = shared::orders_table::OrdersTable::new(
        testkit::dynamodb_at(&db.url()).await,
        st.table.name(),
    );
    table
        .create()
        .await
        .expect("create table on the private DynamoDB");
    let mut proxy = FaultProxy::start(&db.url()).await;
    let api_endpoint = [("AWS_ENDPOINT_URL_DYNAMODB", db.url())];
    let worker_endpoint = [("AWS_ENDPOINT_URL_DYNAMODB", proxy.url())];
    let api = Api::start(&st, &p.topic, &api_endpoint, true).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &worker_endpoint).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &worker_endpoint).await;

    // The shop retries a 503 as the API's contract says (same order and
    // Idempotency-Key, after Retry-After). The API's own DynamoDB is never cut,
    // but on these 2 shared cores the workers' catch-up after the outage can
    // stall it past the intake budget (1 s); the API then refuses the order
    // for certain, and the retry must be accepted and applied once like any.
    let run = tokio::spawn({
        let cfg = LoadConfig {
            base_url: api.base.clone(),
            orders: 400,
            pace: Pace::Rate(20.0),
            deadline: Duration::from_secs(120),
            progress: false,
            retries: RETRIES,
        };
        async move { loadgen::run(&cfg).await }
    });
    eventually(Duration::from_secs(30), "some orders processed", || async {
        (wp.counter("sqs_worker_messages_processed_total").await >= 20).then_some(())
    })
    .await;
    proxy.down().await;
    let outage = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    proxy.up().await;
    println!(
        "DynamoDB was unreachable from the workers for {:?}",
        outage.elapsed()
    );

    let report = run.await.expect("join").expect("run");
    println!("DynamoDB outage: 400 orders at 20/s\n{}", report.summary());
    assert_eq!(report.accepted, 400, "{}", report.summary());
    assert!(report.lost.is_empty(), "{} orders lost", report.lost.len());
    let retried = wp.counter("sqs_worker_messages_retried_total").await
        + wl.counter("sqs_worker_messages_retried_total").await;
    println!("messages retried with backoff during the outage: {retried}");
    assert!(retried > 0, "the outage was noticed and retried");
    assert_eq!(
        st.depth(&p.procesamiento.dlq_url).await.0 + st.depth(&p.logistica.dlq_url).await.0,
        0,
        "DLQs stay empty"
    );
    let private = testkit::Stack {
        clients: shared::aws::AwsClients {
            dynamodb: testkit::dynamodb_at(&db.url()).await,
            ..st.clients.clone()
        },
        suffix: st.suffix.clone(),
        table,
    };
    assert_each_applied_once(&private, 400).await;

    // The API records each order before publishing it: with DynamoDB dead, an
    // order is refused for certain (nothing published), and accepted again
    // once it is back.
    db.kill();
    let http = reqwest::Client::new();
    let order = order_request(None);
    let refused = http
        .post(format!("{}/api/pedidos", api.base))
        .json(&order)
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 503);
    let problem: serde_json::Value = refused.json().await.expect("problem");
    assert_eq!(problem["type"], "/problems/not-accepted", "{problem}");
    db.resume().await;
    eventually(Duration::from_secs(30), "accepted again", || async {
        let r = http
            .post(format!("{}/api/pedidos", api.base))
            .json(&order)
            .send()
            .await
            .ok()?;
        (r.status() == 202).then_some(())
    })
    .await;
    assert_eq!(
        st.depth(&p.procesamiento.dlq_url).await.0 + st.depth(&p.logistica.dlq_url).await.0,
        0
    );
}

#[tokio::test]
async fn a_client_retrying_503s_gets_every_order_accepted_and_applied_once() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    // The API's table calls go through a fault proxy; the shop retries as the
    // contract says (same order, same Idempotency-Key, after Retry-After).
    // (The relay's table calls go straight to DynamoDB: the refusals are the API's.)
    let proxy = FaultProxy::start(&testkit::endpoint("DYNAMODB")).await;
    let api = Api::start_with_relay(
        &st,
        &p.topic,
        &[("AWS_ENDPOINT_URL_DYNAMODB", proxy.url())],
        &[],
        true,
    )
    .await;
    let _wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let _wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;
    let load = |orders| LoadConfig {
        base_url: api.base.clone(),
        orders,
        pace: Pace::Concurrency(1),
        deadline: Duration::from_secs(60),
        progress: false,
        retries: RETRIES,
    };

    // 1. Both attempts of the first order's first write (its key's
    // reservation) refused: 503, nothing recorded; the retry is accepted.
    proxy.set_for_next("UpdateItem", Mode::Status(503), 2);
    let report = loadgen::run(&load(10)).await.expect("run");
    println!("10 orders, the first refused once:\n{}", report.summary());
    assert!(proxy.seen("UpdateItem") >= 2, "the refusals were hit");
    assert_eq!(report.rejected_total(), 0, "{}", report.summary());
    assert_eq!(report.accepted, 10, "{}", report.summary());
    assert_eq!(report.retried, 1, "{}", report.summary());

    // 2. The reservation applied but its answer late (past the 0.5 s attempt
    // timeout): the key stays held until its lease runs out, the API answers
    // 409 in progress meanwhile, and the shop's retries get the order accepted.
    proxy.set_for_next("UpdateItem", Mode::Hold(Duration::from_secs(2)), 1);
    let report = loadgen::run(&load(10)).await.expect("run");
    println!(
        "10 orders, the first one's reservation answered late:\n{}",
        report.summary()
    );
    assert_eq!(report.rejected_total(), 0, "{}", report.summary());
    assert_eq!(report.accepted, 10, "{}", report.summary());
    assert!(report.lost.is_empty(), "{} orders lost", report.lost.len());
    assert_each_applied_once(&st, 20).await;
}

#[tokio::test]
async fn localstack_unreachable_orders_are_still_accepted_and_published_once_it_returns() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    // The API and its relay reach SNS through the proxy.
    let mut proxy = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let sns = [("AWS_ENDPOINT_URL_SNS", proxy.url())];
    let api = Api::start(&st, &p.topic, &sns, true).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;
    let http = reqwest::Client::new();

    // Accepting an order depends on DynamoDB alone.
    proxy.down().await;
    for _ in 0..30 {
        let r = http
            .post(format!("{}/api/pedidos", api.base))
            .json(&order_request(None))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 202, "accepted while SNS is unreachable");
    }
    let ready = http
        .get(format!("{}/health/ready", api.base))
        .send()
        .await
        .expect("ready");
    assert_eq!(
        ready.status(),
        503,
        "/health/ready names SNS (the load balancer probes /health/live)"
    );
    let relay = api.relay();
    eventually(
        Duration::from_secs(20),
        "the relay tried to publish them",
        || async {
            (relay.metric("outbox_relay_publish_failures_total").await > 0.0).then_some(())
        },
    )
    .await;
    assert_eq!(
        st.depth(&p.procesamiento.url).await.0
            + wp.counter("sqs_worker_messages_processed_total").await,
        0,
        "nothing was published"
    );
    println!("LocalStack unreachable: 30/30 orders answered 202, 0 published");

    proxy.up().await;
    let back = std::time::Instant::now();
    let mut accepted = 0;
    for _ in 0..20 {
        let r = http
            .post(format!("{}/api/pedidos", api.base))
            .json(&order_request(None))
            .send()
            .await
            .expect("POST");
        if r.status() == 202 {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 20, "orders flow on once LocalStack is reachable");
    eventually(
        Duration::from_secs(30),
        "the 50 orders applied by both roles",
        || async {
            (wp.counter("sqs_worker_messages_processed_total").await == 50
                && wl.counter("sqs_worker_messages_processed_total").await == 50)
                .then_some(())
        },
    )
    .await;
    println!(
        "LocalStack back: the 30 waiting orders (relay: {} publishes) and 20 new ones applied by both roles within {:?}",
        relay.published().await,
        back.elapsed()
    );
    assert_each_applied_once(&st, 50).await;
}
