//! The outbox relay against the real table and topic: it publishes what the
//! API left behind, once, and nothing the workers already took; a failed
//! publish is retried; two relays at once publish each event once.

use std::sync::Arc;
use std::time::Duration;

use order_api::publisher::{PublishBudget, SnsPublisher};
use order_api::relay::{Relay, RelayMetrics, RelaySettings};
use shared::config::EnvSource;
use shared::contract::Event;
use shared::orders_table::{WorkerRole, WriteBudget, attr};
use testkit::fault_proxy::FaultProxy;
use testkit::{Stack, stack};
use uuid::Uuid;

/// A relay over the stack's table and `topic` (through `sns` when given),
/// with a 1 s deadline and a 1 s pause; stopped when the sender drops.
async fn relay(
    st: &Stack,
    topic: &str,
    sns: Option<&FaultProxy>,
) -> (Arc<RelayMetrics>, tokio::sync::oneshot::Sender<()>) {
    relay_with(st, topic, sns, &[]).await
}

/// [`relay`] with `overrides` of its settings (the sweep 300 s behind now
/// unless they say otherwise).
async fn relay_with(
    st: &Stack,
    topic: &str,
    sns: Option<&FaultProxy>,
    overrides: &[(&str, &str)],
) -> (Arc<RelayMetrics>, tokio::sync::oneshot::Sender<()>) {
    let mut env = vec![
        ("SNS_TOPIC_ARN", topic),
        ("ORDERS_TABLE", st.table.name()),
        ("RELAY_STALE_SECS", "1"),
        ("RELAY_POLL_SECS", "1"),
        ("RELAY_BATCH", "7"),
        ("RELAY_SWEEP_LAG_SECS", "300"),
    ];
    env.extend_from_slice(overrides);
    let settings = RelaySettings::from_env(&EnvSource::from_pairs(env)).expect("relay settings");
    let mut config = st.clients.sns.config().to_builder();
    if let Some(proxy) = sns {
        config = config.endpoint_url(proxy.url());
    }
    let client = aws_sdk_sns::Client::from_conf(config.build());
    // One attempt of up to 5 s (the settings' total): an answer slow on a
    // loaded machine is not sent twice, so tests can count what SNS got.
    let budget = PublishBudget {
        attempt: Duration::from_secs(5),
        max_attempts: 1,
        ..settings.publish_budget()
    };
    let publisher = Arc::new(SnsPublisher::new(&client, topic, budget));
    let relay = Relay::new(st.table.clone(), publisher, settings);
    let metrics = relay.metrics.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(relay.run_on(listener, async move {
        let _ = stopped.await;
    }));
    (metrics, stop)
}

/// Records `n` orders as the API does, without publishing them.
async fn record_orders(st: &Stack, n: usize) -> Vec<Uuid> {
    record_orders_at(st, n, chrono::Utc::now()).await
}

/// [`record_orders`], stamped `at` (an API clock behind, or an index entry
/// that became visible late).
async fn record_orders_at(st: &Stack, n: usize, at: chrono::DateTime<chrono::Utc>) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = Uuid::new_v4();
        let event = Event::parse_message_body(&testkit::creado(id)).expect("event");
        st.table
            .record_intake(&event, "token", None, at, WriteBudget::default())
            .await
            .expect("intake");
        ids.push(id);
    }
    ids
}

/// Waits until the relay has run `passes` more passes.
async fn passes(metrics: &RelayMetrics, more: u64) {
    let target = metrics.passes() + more;
    testkit::eventually(Duration::from_secs(30), "relay passes", || async {
        (metrics.passes() >= target).then_some(())
    })
    .await;
}

/// Messages per order: distinct SQS message ids, so a message received
/// again after its visibility timeout is not taken for a second publish.
fn counts(messages: &[aws_sdk_sqs::types::Message]) -> std::collections::HashMap<Uuid, usize> {
    let mut ids = std::collections::HashMap::<Uuid, std::collections::HashSet<&str>>::new();
    for m in messages {
        let event = Event::parse_message_body(m.body().expect("body")).expect("event");
        ids.entry(event.pedido_id())
            .or_default()
            .insert(m.message_id().expect("message id"));
    }
    ids.into_iter()
        .map(|(id, messages)| (id, messages.len()))
        .collect()
}

#[tokio::test]
async fn the_relay_publishes_what_was_left_once_and_nothing_the_workers_took() {
    let st = stack().await;
    let q = st.queue("relay", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let left = record_orders(&st, 20).await;
    // One order the workers already took: its event is gone from the item.
    let taken = record_orders(&st, 1).await[0];
    let event = Event::parse_message_body(&testkit::creado(taken)).expect("event");
    for role in WorkerRole::ALL {
        st.table
            .apply(role, &event, chrono::Utc::now(), None)
            .await
            .expect("apply");
    }

    let (metrics, _stop) = relay(&st, &topic, None).await;
    let delivered = st.receive_all(&q.url, left.len()).await;
    // Three more passes: nothing is published again.
    passes(&metrics, 3).await;
    let mut delivered = delivered;
    delivered.extend(st.receive_all(&q.url, 0).await);
    let counts = counts(&delivered);
    for id in &left {
        assert_eq!(counts.get(id), Some(&1), "{id} published once");
    }
    assert_eq!(
        counts.get(&taken),
        None,
        "taken by the workers: not published"
    );
    assert_eq!(metrics.published(), 20);
    assert!(metrics.is_leader());
    let item = st.item(left[0]).await.expect("order");
    assert!(
        item.contains_key(attr::EVENTO_CREADO),
        "still stored until a worker applies it"
    );
    assert!(
        item.contains_key(attr::RELAY_PUBLICADOS),
        "marked: published by the relay"
    );
}

#[tokio::test]
async fn an_entry_that_shows_up_behind_the_main_pass_is_published_by_the_sweep_once() {
    let st = stack().await;
    let q = st.queue("sweep", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let (metrics, _stop) = relay_with(&st, &topic, None, &[("RELAY_SWEEP_LAG_SECS", "8")]).await;
    passes(&metrics, 2).await;
    // Stamped 5 s ago: the main pass (1 s behind now) passed its window
    // before it appeared; the sweep (8 s behind) has not yet.
    let late = record_orders_at(&st, 3, chrono::Utc::now() - chrono::Duration::seconds(5)).await;
    let mut delivered = st.receive_all(&q.url, late.len()).await;
    passes(&metrics, 3).await;
    delivered.extend(st.receive_all(&q.url, 0).await);
    let counts = counts(&delivered);
    for id in &late {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} published once, by the sweep"
        );
    }
    assert_eq!(metrics.published(), 3);
}

#[tokio::test]
async fn a_failed_relay_publish_is_retried_and_two_relays_publish_each_event_once() {
    let st = stack().await;
    let q = st.queue("relay2", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let ids = record_orders(&st, 15).await;
    let mut sns = FaultProxy::start(&testkit::endpoint("SNS")).await;
    sns.down().await;
    let (first, _stop_first) = relay(&st, &topic, Some(&sns)).await;
    let (second, _stop_second) = relay(&st, &topic, Some(&sns)).await;
    testkit::eventually(Duration::from_secs(30), "a failed publish", || async {
        (first.passes() + second.passes() >= 2).then_some(())
    })
    .await;
    assert_eq!(first.published() + second.published(), 0);
    sns.up().await;
    let mut delivered = st.receive_all(&q.url, ids.len()).await;
    passes(if first.is_leader() { &first } else { &second }, 3).await;
    delivered.extend(st.receive_all(&q.url, 0).await);
    let counts = counts(&delivered);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "{id} published once");
    }
    assert!(
        first.is_leader() != second.is_leader(),
        "one relay works, the other stands by"
    );
    assert_eq!(first.published() + second.published(), 15);
}

#[tokio::test]
async fn a_publish_in_flight_when_the_pass_runs_out_of_time_is_counted_and_never_repeated() {
    let st = stack().await;
    let q = st.queue("drain", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    // All in the first pass's window.
    let ids = record_orders_at(&st, 60, chrono::Utc::now() - chrono::Duration::seconds(5)).await;
    // SNS takes each publish at once and answers 0.5 s later; two at a time,
    // so the first pass (10 s of starting publishes, about 40) ends with two
    // in flight.
    let slow =
        FaultProxy::with_latency(&testkit::endpoint("SNS"), Duration::from_millis(500)).await;
    let (metrics, _stop) =
        relay_with(&st, &topic, Some(&slow), &[("RELAY_CONCURRENCY", "2")]).await;
    passes(&metrics, 1).await;
    let first = metrics.published();
    assert!(
        (1..60).contains(&first),
        "the first pass ran out of time with publishes in flight: {first} published"
    );
    let mut delivered = st.receive_all(&q.url, ids.len()).await;
    passes(&metrics, 2).await;
    delivered.extend(st.receive_all(&q.url, 0).await);
    assert_eq!(
        slow.seen("Publish"),
        60,
        "each order sent to SNS once (a publish cut short at the pass's end is sent again)"
    );
    let counts = counts(&delivered);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "{id} published once");
    }
    assert_eq!(metrics.published(), 60, "every publish SNS took is counted");
}
