//! The outbox (issue 20): an order is accepted once its intake record is
//! durable, and the system publishes it whatever happens to SNS, the API, the
//! relay or the workers. Each test counts: each role's counter per order,
//! and SNS deliveries per order on a queue subscribed with no filter.

use std::time::{Duration, Instant};

use loadgen::{LoadConfig, Pace};
use testkit::fault_proxy::FaultProxy;
use testkit::{eventually, free_port, order_request, stack};
use uuid::Uuid;

use crate::harness::{
    Api, DeliveryCounter, RETRIES, RelayProc, SERIAL, WorkerProc, assert_each_applied_once,
};

const PROCESSED: &str = "sqs_worker_messages_processed_total";
const DUPLICATES: &str = "sqs_worker_messages_duplicate_total";

/// Seconds from the environment variable `name`, else `default`.
fn secs_from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number of seconds"))
        })
        .unwrap_or(default)
}

/// Posts `orders` at `rate` per second; returns right after the last answer
/// (no waiting for the workers: the tests count their applications).
fn posting(api: &Api, orders: usize, pace: Pace, retries: u32) -> LoadConfig {
    LoadConfig {
        base_url: api.base.clone(),
        orders,
        pace,
        deadline: Duration::ZERO,
        progress: false,
        retries,
    }
}

/// Waits until both workers applied `orders` events, at most `limit`.
async fn both_applied(wp: &WorkerProc, wl: &WorkerProc, orders: usize, limit: Duration) {
    let orders = orders as u64;
    eventually(
        limit,
        &format!("{orders} orders applied by both roles"),
        || async {
            (wp.counter(PROCESSED).await >= orders && wl.counter(PROCESSED).await >= orders)
                .then_some(())
        },
    )
    .await;
}

/// The orders in the table.
async fn order_ids(st: &testkit::Stack) -> Vec<Uuid> {
    st.all_orders()
        .await
        .iter()
        .filter_map(
            |item| match item.get(shared::orders_table::attr::PEDIDO_ID) {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) => Uuid::try_parse(id).ok(),
                _ => None,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_down_for_60_s_at_20_orders_per_s_all_accepted_then_published_within_30_s() {
    let _serial = SERIAL.lock().await;
    // FAULT_SNS_OUTAGE_SECS shortens the outage to debug quicker (the is 60 s).
    let outage = secs_from_env("FAULT_SNS_OUTAGE_SECS", 60);
    let orders = usize::try_from(20 * outage).expect("orders");
    let st = stack().await;
    let p = st.pipeline().await;
    // The API and its relay reach SNS through one proxy, switched off while
    // the orders are posted (connections refused).
    // (No counting queue here: a third subscription slows LocalStack's
    // fan-out by a third, and this test measures time.)
    let mut sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    let api = Api::start(&st, &p.topic, &[("AWS_ENDPOINT_URL_SNS", sns.url())], true).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;

    sns.down().await;
    let down = Instant::now();
    // No retries: every order must be answered 202 the first time.
    let report = loadgen::run(&posting(&api, orders, Pace::Rate(20.0), 0))
        .await
        .expect("run");
    println!(
        "SNS unreachable for {:?}: {orders} orders at 20/s\n{}",
        down.elapsed(),
        report.summary()
    );
    assert_eq!(report.accepted, orders, "{}", report.summary());
    assert_eq!(report.rejected_total(), 0, "{}", report.summary());
    assert_eq!(
        wp.counter(PROCESSED).await + wl.counter(PROCESSED).await,
        0,
        "nothing reached the workers while SNS was unreachable"
    );
    let relay = api.relay();
    let relay_failures = relay.metric("outbox_relay_publish_failures_total").await;

    sns.up().await;
    let back = Instant::now();
    // Published = SNS took it (the relay's count; the API's publishes all
    // failed meanwhile). Waited for longer than the bound, so that a miss is
    // measured.
    let total = u64::try_from(orders).expect("orders");
    let give_up = back + Duration::from_secs(120);
    loop {
        let (by_relay, by_api) = (relay.published().await, api.published().await);
        if by_relay + by_api >= total {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "not every order published 120 s after SNS returned: the relay published {by_relay}, the API {by_api}, of {total}; applied by procesamiento {}, by logistica {}",
            wp.counter(PROCESSED).await,
            wl.counter(PROCESSED).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let published = back.elapsed();
    both_applied(&wp, &wl, orders, Duration::from_secs(120)).await;
    let applied = back.elapsed();
    println!(
        "after SNS returned: every order published within {published:?}, applied by both roles within {applied:?}; the relay published {} events, the API {} (its publishes failed {} times)",
        relay.published().await,
        api.published().await,
        api.metric("order_api_sns_publish_failures_total").await
    );
    assert!(
        published <= Duration::from_secs(30),
        "all published within 30 s after SNS returned: took {published:?}"
    );
    assert!(
        relay_failures > 0.0,
        "the relay tried to publish while SNS was unreachable"
    );
    assert_each_applied_once(&st, orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_killed_between_its_write_and_its_publish_the_relay_publishes_each_order_once() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let deliveries = DeliveryCounter::start(&st, &p.topic).await;
    // The API's SNS is a proxy in front of a black hole (connections taken,
    // never answered): its publishes stay in flight after the 202, and none
    // reaches SNS. (Mode::Hold would forward them first: SNS would have them.)
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("black hole");
    let sns = FaultProxy::start(&hole.local_addr().expect("addr").to_string()).await;
    let mut api =
        Api::start_alone(&st, &p.topic, &[("AWS_ENDPOINT_URL_SNS", sns.url())], false).await;
    let relay = RelayProc::start(&st, &p.topic, &[]).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;

    let http = reqwest::Client::new();
    let ids: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        let answer = http
            .post(format!("{}/api/pedidos", api.base))
            .json(&order_request(Some(*id)))
            .send()
            .await
            .expect("POST");
        assert_eq!(answer.status(), 202, "accepted once recorded");
    }
    eventually(
        Duration::from_secs(10),
        "every order's publish in flight",
        || async { (sns.seen("Publish") >= ids.len() as u64).then_some(()) },
    )
    .await;
    assert_eq!(deliveries.total(), 0, "no publish reached SNS");
    api.proc.signal("KILL");
    let _ = api.proc.wait_exit(Duration::from_secs(5)).await;
    let killed = Instant::now();
    println!(
        "SIGKILL sent to order-api with {} publishes in flight",
        sns.seen("Publish")
    );

    both_applied(&wp, &wl, ids.len(), Duration::from_secs(30)).await;
    println!(
        "the relay published the {} orders; applied by both roles {:?} after the kill",
        relay.published().await,
        killed.elapsed()
    );
    assert_eq!(relay.published().await, ids.len() as u64);
    deliveries
        .settle(Duration::from_secs(3), Duration::from_secs(20))
        .await;
    let (histogram, most) = deliveries.histogram(&ids);
    println!("API killed: {histogram}");
    assert_eq!(
        most, 1,
        "each order published once (by the relay): {histogram}"
    );
    assert_eq!(deliveries.total(), ids.len() as u64, "{histogram}");
    assert_each_applied_once(&st, ids.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_batch_and_two_relays_at_once_each_order_applied_once() {
    let _serial = SERIAL.lock().await;
    let st = stack().await;
    let p = st.pipeline().await;
    let deliveries = DeliveryCounter::start(&st, &p.topic).await;
    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;
    // Nothing listens on the API's SNS endpoint: every order is left to the relays.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let api = Api::start_alone(&st, &p.topic, &[("AWS_ENDPOINT_URL_SNS", nowhere)], false).await;
    let orders = 160;
    let report = loadgen::run(&posting(&api, orders, Pace::Concurrency(8), RETRIES))
        .await
        .expect("run");
    assert_eq!(report.accepted, orders, "{}", report.summary());

    // A slow SNS (each answer 0.5 s late) and 8 publishes at a time: a pass
    // over the 160 records takes about 10 s.
    let slow =
        FaultProxy::with_latency(&testkit::endpoint("SNS"), Duration::from_millis(500)).await;
    let relay_env = [
        ("AWS_ENDPOINT_URL_SNS", slow.url()),
        ("RELAY_CONCURRENCY", "8".to_owned()),
    ];
    // Two relays at once.
    let mut relays = [
        RelayProc::start(&st, &p.topic, &relay_env).await,
        RelayProc::start(&st, &p.topic, &relay_env).await,
    ];
    let leader = eventually(
        Duration::from_secs(20),
        "one relay holds the lease and has published 40 records",
        || async {
            for (i, relay) in relays.iter().enumerate() {
                if relay.is_leader().await && relay.published().await >= 40 {
                    return Some(i);
                }
            }
            None
        },
    )
    .await;
    let standby = 1 - leader;
    assert!(
        !relays[standby].is_leader().await,
        "one lease holder at a time"
    );
    assert_eq!(
        relays[standby].published().await + relays[standby].passes().await,
        0,
        "the other relay stands by"
    );
    let before_kill = relays[leader].published().await;
    relays[leader].proc.signal("KILL");
    let _ = relays[leader].proc.wait_exit(Duration::from_secs(5)).await;
    let killed = Instant::now();
    let applied = wp.counter(PROCESSED).await;
    println!(
        "SIGKILL sent to the leading relay mid-batch after {before_kill} publishes ({applied} orders applied)"
    );
    assert!(applied < orders as u64, "killed before the batch was done");
    // Restarted: two relays again, one of which takes the lease over once
    // the dead one's runs out.
    relays[leader] = RelayProc::start(&st, &p.topic, &relay_env).await;

    // The dead relay's lease (34 s with 1 s pauses) runs out first.
    both_applied(&wp, &wl, orders, Duration::from_secs(90)).await;
    let mut took_over = Vec::new();
    for relay in &relays {
        took_over.push(relay.published().await);
    }
    println!(
        "all {orders} applied {:?} after the kill; publishes by the standby {}, by the restarted relay {}",
        killed.elapsed(),
        took_over[standby],
        took_over[leader]
    );
    deliveries
        .settle(Duration::from_secs(3), Duration::from_secs(30))
        .await;
    let ids = order_ids(&st).await;
    let (histogram, most) = deliveries.histogram(&ids);
    println!("relay killed mid-batch, two relays: {histogram}");
    assert!(
        (1..=2).contains(&most),
        "each order published at most once more: {histogram}"
    );
    assert_eq!(
        deliveries.per_order().len(),
        orders,
        "every order published: {histogram}"
    );
    assert_each_applied_once(&st, orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_outage_with_orders_flowing_costs_at_most_one_extra_publish_per_order() {
    let _serial = SERIAL.lock().await;
    // The issue asks for a 10-minute outage: FAULT_WORKER_OUTAGE_SECS=600
    // runs it (12,000 orders; about 20 min in all on 2 cores); `make test`
    // runs 60 s.
    let outage = secs_from_env("FAULT_WORKER_OUTAGE_SECS", 60);
    let orders = usize::try_from(20 * outage).expect("orders");
    let st = stack().await;
    let p = st.pipeline().await;
    let deliveries = DeliveryCounter::start(&st, &p.topic).await;
    let api = Api::start(&st, &p.topic, &[], true).await;

    // No worker runs while the orders flow in.
    let started = Instant::now();
    let report = loadgen::run(&posting(&api, orders, Pace::Rate(20.0), RETRIES))
        .await
        .expect("run");
    println!(
        "workers down for {:?}: {orders} orders at 20/s\n{}",
        started.elapsed(),
        report.summary()
    );
    assert_eq!(report.accepted, orders, "{}", report.summary());
    let relay = api.relay();
    let republished = relay.published().await;

    let wp = WorkerProc::start(&st, "procesamiento", &p.procesamiento, &[]).await;
    let wl = WorkerProc::start(&st, "logistica", &p.logistica, &[]).await;
    let back = Instant::now();
    both_applied(&wp, &wl, orders, Duration::from_secs(60 + 2 * outage)).await;
    let drained = back.elapsed();
    // Two passes after the last application: the relay has nothing left to publish.
    let passes = relay.passes().await;
    eventually(Duration::from_secs(30), "two more relay passes", || async {
        (relay.passes().await >= passes + 2).then_some(())
    })
    .await;
    deliveries
        .settle(Duration::from_secs(3), Duration::from_secs(60))
        .await;
    let ids = order_ids(&st).await;
    let (histogram, most) = deliveries.histogram(&ids);
    println!(
        "worker outage: {histogram}; the relay published {republished} during the outage, {} in all; the API's publishes that failed (after their retries) {}; duplicates dropped by the workers {} + {}; drained in {drained:?}",
        relay.published().await,
        api.metric("order_api_sns_publish_failures_total").await,
        wp.counter(DUPLICATES).await,
        wl.counter(DUPLICATES).await
    );
    assert_eq!(
        deliveries.per_order().len(),
        orders,
        "every order published: {histogram}"
    );
    // Each role's counter first; then the bound on publishes.
    assert_each_applied_once(&st, orders).await;
    assert!(
        most <= 2,
        "at most one extra publish per order: {histogram}"
    );
}
