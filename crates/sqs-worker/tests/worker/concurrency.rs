//! Concurrent long polls, deletes that fall behind, and the visibility
//! heartbeat of every message the worker holds, with SQS slowed or failing
//! behind a fault proxy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::orders_table::WorkerRole;
use testkit::fault_proxy::{FaultProxy, Mode};
use uuid::Uuid;

use crate::helpers::{
    Instrumented, Worker, applier, creado, eventually, settings, sqs_at, sqs_errors, stack,
};
use crate::permanent::wait_misconfigured;

async fn sqs_proxy() -> FaultProxy {
    FaultProxy::start(&testkit::endpoint("SQS")).await
}

#[tokio::test]
async fn deletes_behind_pause_receiving_and_held_messages_outlive_their_visibility_timeout() {
    const N: usize = 100;
    let st = stack().await;
    let q = st.queue("deletes-behind", 10, false).await;
    let ids: Vec<Uuid> = (0..N).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    let proxy = sqs_proxy().await;
    // SQS refuses every delete (a 503 the SDK retries, then gives up on).
    proxy.set_for("DeleteMessageBatch", Mode::Status(503));
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[
            ("SQS_VISIBILITY_TIMEOUT_SECS", "5"),
            ("WORKER_CONCURRENCY", "5"),
            ("WORKER_POLLERS", "2"),
        ],
    )
    .await;
    let started = Instant::now();
    // The backlog bound is 40 here (concurrency 5): receiving pauses.
    let received = eventually(
        Duration::from_secs(30),
        "receiving paused with deletes behind",
        || async {
            let m = &w.metrics;
            (m.receive_paused.get() >= 1 && m.polls_in_flight.get() == 0 && m.in_flight.get() == 0)
                .then(|| m.received.get())
        },
    )
    .await;
    let (visible, _) = st.depth(&q.url).await;
    println!(
        "paused after receiving {received} of {N}; backlog {}",
        w.metrics.delete_backlog.get()
    );
    assert!(
        received < N as u64 && visible > 0,
        "receiving stopped before the queue was emptied ({received} received, {visible} visible)"
    );
    assert!(w.metrics.delete_backlog.get() >= 40);

    // Held past their 5 s visibility timeout, awaiting deletion: every one
    // is extended by the heartbeat, and none is delivered again.
    eventually(
        Duration::from_secs(30),
        "the held messages outlived their visibility timeout",
        || async {
            (started.elapsed() > Duration::from_secs(8)
                && w.metrics.visibility_extended.get() >= received)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        w.metrics.received.get(),
        received,
        "no message was delivered again while held"
    );

    proxy.reset();
    eventually(Duration::from_secs(60), "every message deleted", || async {
        (w.metrics.deleted.get() == N as u64 && st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(w.metrics.received.get(), N as u64, "no redelivery");
    assert_eq!(w.metrics.duplicates.get(), 0);
    assert_eq!(w.metrics.processed.get(), N as u64);
    for id in &ids {
        assert_eq!(st.applications(*id, WorkerRole::Procesamiento).await, 1);
    }
    assert_eq!(st.depth(&q.dlq_url).await.0, 0);
    w.stop().await;
}

#[tokio::test]
async fn extra_long_polls_run_only_while_receives_come_back_full() {
    const N: u64 = 300;
    let st = stack().await;
    let q = st.queue("pollers", 10, false).await;
    let bodies: Vec<String> = (0..N).map(|_| creado(Uuid::new_v4())).collect();
    st.send_all(&q, &bodies).await;
    let proxy = sqs_proxy().await;
    // Every receive takes 300 ms on the way back: one poll at a time would
    // cap the worker at 10 messages per 300 ms.
    proxy.set_for("ReceiveMessage", Mode::Hold(Duration::from_millis(300)));
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("WORKER_POLLERS", "4"), ("SQS_WAIT_TIME_SECS", "1")],
    )
    .await;
    let started = Instant::now();
    let mut most = 0;
    while w.metrics.deleted.get() < N {
        most = most.max(w.metrics.polls_in_flight.get());
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not drained in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    println!("{N} messages with 300 ms receives: {took:?}, at most {most} polls in flight");
    assert!(most >= 2, "receives overlapped under load (at most {most})");

    // Idle: the extra polls end with their empty answers; one remains.
    eventually(Duration::from_secs(20), "back to one long poll", || async {
        (w.metrics.polls_in_flight.get() <= 1).then_some(())
    })
    .await;
    let calls = || async { proxy.seen("ReceiveMessage") };
    let before = calls().await;
    let window = Duration::from_secs(6);
    tokio::time::sleep(window).await;
    let idle = calls().await - before;
    println!("idle: {idle} receives in {window:?} (1 s long polls, 300 ms added)");
    // One poll: a receive every 1.3 s, about 5 in the window; four would be about 18.
    assert!(
        idle <= 7,
        "{idle} receives in {window:?}: more than one poll while idle"
    );
    w.stop().await;
}

#[tokio::test]
async fn a_fifo_group_stays_behind_a_message_that_cannot_be_dead_lettered() {
    let st = stack().await;
    let q = st.queue("fifo-dlq-down", 10, true).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let group = "g1";
    st.send_fifo(&q, "not json", group).await;
    st.send_fifo(&q, &creado(a), group).await;
    st.send_fifo(&q, &creado(b), group).await;
    let proxy = sqs_proxy().await;
    // The DLQ's key refuses the worker (as SQS answers it: 400, with the
    // code in `x-amzn-query-error`).
    proxy.set_for(
        "SendMessage",
        Mode::Error {
            status: 400,
            code: "KMS.AccessDeniedException".into(),
            message: "not allowed to use the DLQ's key".into(),
        },
    );
    let w = Worker::start_role_via(
        sqs_at(&st, &proxy.url()),
        &st,
        WorkerRole::Procesamiento,
        &q,
        &[("SQS_WAIT_TIME_SECS", "1")],
    )
    .await;
    // Dead-lettering fails again and again: the group stays in hand behind
    // the poison message, neither skipped nor returned (returning it would
    // count receives against the valid messages too).
    eventually(
        Duration::from_secs(30),
        "dead-lettering failed twice",
        || async {
            // Each attempt tries twice (with its attributes, then minimal ones).
            (proxy.seen("SendMessage") >= 4).then_some(())
        },
    )
    .await;
    assert!(
        st.item(a).await.is_none() && st.item(b).await.is_none(),
        "a later message of the group overtook the one that could not be dead-lettered"
    );
    assert_eq!(
        w.metrics.received.get(),
        3,
        "the group was not received again"
    );
    let http = reqwest::Client::new();
    let fault = wait_misconfigured(&http, &w.health, "readiness names the refused key").await;
    assert_eq!(fault["operation"], "SendMessage", "{fault}");
    assert_eq!(fault["code"], "KMS.AccessDeniedException", "{fault}");
    proxy.reset();
    eventually(Duration::from_secs(30), "the group done", || async {
        (w.metrics.processed.get() == 2 && st.depth(&q.url).await == (0, 0)).then_some(())
    })
    .await;
    assert_eq!(
        st.depth(&q.dlq_url).await.0,
        1,
        "the poison message dead-lettered"
    );
    assert_eq!(st.applications(a, WorkerRole::Procesamiento).await, 1);
    assert_eq!(st.applications(b, WorkerRole::Procesamiento).await, 1);
    w.stop().await;
}

#[tokio::test]
async fn a_panic_while_processing_lets_the_message_go_and_the_worker_goes_on() {
    let st = stack().await;
    let q = st.queue("panic", 10, false).await;
    let id = Uuid::new_v4();
    st.send(&q, &creado(id)).await;
    let recorder = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    recorder
        .panic_first
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let w = Worker::start(
        &st,
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[
                ("SQS_VISIBILITY_TIMEOUT_SECS", "5"),
                ("SQS_WAIT_TIME_SECS", "1"),
            ],
        ),
        std::sync::Arc::new(recorder),
    )
    .await;
    // The panicking task's message is no longer held (no heartbeat keeps
    // it): it reappears after its 5 s visibility timeout and is applied.
    eventually(
        Duration::from_secs(30),
        "applied on its second delivery",
        || async { (w.metrics.processed.get() == 1 && w.metrics.deleted.get() == 1).then_some(()) },
    )
    .await;
    assert_eq!(
        w.metrics.received.get(),
        2,
        "received twice: the panic, then the retry"
    );
    assert_eq!(st.applications(id, WorkerRole::Procesamiento).await, 1);
    assert_eq!(
        w.metrics.visibility_extended.get(),
        0,
        "the dead task's message was let go"
    );
    w.stop().await;
}

#[tokio::test]
async fn the_heartbeat_sends_its_chunks_at_once_each_call_within_a_quarter_of_the_visibility_timeout()
 {
    const N: usize = 30;
    // Visibility 8 s: messages are extended from 4 s on, each call has 2 s.
    const VISIBILITY: Duration = Duration::from_secs(8);
    const CALL_DEADLINE: Duration = Duration::from_secs(2);
    let st = stack().await;
    let q = st.queue("heartbeat-chunks", 5, false).await;
    let ids: Vec<Uuid> = (0..N).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&q, &bodies).await;
    let proxy = sqs_proxy().await;
    // SQS extends the messages at once, but no answer comes back: every
    // extension call is in flight until the worker gives up on it.
    proxy.record(VISIBILITY_OP);
    proxy.set_for(VISIBILITY_OP, Mode::Hold(Duration::from_secs(600)));
    // Each message is held (being applied) for 14 s: three chunks of ten.
    let mut slow = Instrumented::new(applier(&st, WorkerRole::Procesamiento));
    slow.delay = Duration::from_secs(14);
    let w = Worker::start_with_sqs(
        sqs_at(&st, &proxy.url()),
        settings(
            &st,
            WorkerRole::Procesamiento,
            &q,
            &[
                ("SQS_VISIBILITY_TIMEOUT_SECS", "8"),
                ("WORKER_CONCURRENCY", "30"),
                ("WORKER_POLLERS", "3"),
            ],
        ),
        Arc::new(slow),
    )
    .await;
    let timed_out = || sqs_errors(&w.metrics, VISIBILITY_OP, "timeout");
    // The first calls, and when the worker first gave up on one.
    let first_given_up = eventually(
        Duration::from_secs(30),
        "an extension call given up",
        || async { (timed_out() >= 1).then(Instant::now) },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "two rounds of extensions",
        || async { (proxy.recorded(VISIBILITY_OP).len() >= 6).then_some(()) },
    )
    .await;
    let calls = proxy.recorded(VISIBILITY_OP);
    // Concurrent: a call goes out while another is still unanswered (each
    // stays open for its whole deadline). One at a time, consecutive calls
    // would be at least the deadline apart.
    let closest = calls
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .min()
        .expect("two calls");
    assert!(
        closest < CALL_DEADLINE / 2,
        "calls sent one after another ({closest:?} apart at the closest)"
    );
    // Each call is given up at its own deadline (a quarter of the
    // visibility timeout), not the SDK's attempt timeout.
    // (Sampled every 200 ms on a busy runtime: the bound is below the SDK's
    // own attempt timeout, 5 s, not at the deadline.)
    let waited = first_given_up - calls[0].at;
    assert!(
        waited >= CALL_DEADLINE - Duration::from_millis(100) && waited < Duration::from_secs(4),
        "the first call was given up after {waited:?}"
    );
    assert!(CALL_DEADLINE <= VISIBILITY / 4);
    // The extensions landed (SQS acted on them): nothing was delivered again.
    eventually(Duration::from_secs(40), "every order applied", || async {
        (w.metrics.deleted.get() == N as u64).then_some(())
    })
    .await;
    assert_eq!(w.metrics.received.get(), N as u64, "no redelivery");
    for id in &ids {
        assert_eq!(st.applications(*id, WorkerRole::Procesamiento).await, 1);
    }
    w.stop().await;
}

const VISIBILITY_OP: &str = "ChangeMessageVisibilityBatch";
