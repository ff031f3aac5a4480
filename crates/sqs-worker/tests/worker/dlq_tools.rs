//! `dlq peek` / `dlq redrive`: the queue's DLQ (a move task or by hand, never
//! both at once) and the role's SNS subscription DLQ.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use shared::contract::{ATTR_TRACEPARENT, Event};
use shared::orders_table::WorkerRole;
use sqs_worker::dlq::{self, DlqError, RedriveOptions, Shape};
use testkit::fault_proxy::{FaultProxy, Mode};
use testkit::{QueuePair, Stack};
use uuid::Uuid;

use crate::helpers::{Worker, creado, eventually, release, sqs_at, stack};

/// Puts `bodies` in the DLQ of `q`, as the worker or the redrive policy would.
async fn dead_letter(st: &Stack, q: &QueuePair, bodies: &[String]) {
    let dlq = QueuePair {
        url: q.dlq_url.clone(),
        ..q.clone()
    };
    st.send_all(&dlq, bodies).await;
}

async fn redrive_case(manual: bool) {
    let st = stack().await;
    let q = st.queue("redrive", 5, false).await;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    dead_letter(
        &st,
        &q,
        &ids.iter().map(|id| creado(*id)).collect::<Vec<_>>(),
    )
    .await;
    let options = RedriveOptions { manual, rate: None };
    let report = dlq::redrive(&st.clients.sqs, &q.url, &q.dlq_url, options)
        .await
        .expect("redrive");
    println!("redrive: {report:?}");
    assert_eq!(report.moved, 3);
    let w = Worker::start_role(&st, WorkerRole::Procesamiento, &q, &[]).await;
    eventually(
        Duration::from_secs(20),
        "redriven messages processed",
        || async { (w.metrics.processed.get() == 3).then_some(()) },
    )
    .await;
    for id in ids {
        assert_eq!(
            st.table
                .get(id)
                .await
                .expect("read")
                .expect("recorded")
                .estado
                .as_str(),
            "PROCESADO"
        );
    }
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0));
    w.stop().await;
}

#[tokio::test]
async fn redrive_returns_dead_lettered_messages_to_processing() {
    redrive_case(false).await;
}

#[tokio::test]
async fn manual_redrive_returns_dead_lettered_messages_to_processing() {
    redrive_case(true).await;
}

/// The DLQ's most recent move task.
async fn latest_task(
    st: &Stack,
    dlq_arn: &str,
) -> aws_sdk_sqs::types::ListMessageMoveTasksResultEntry {
    st.clients
        .sqs
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .send()
        .await
        .expect("list move tasks")
        .results
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("a move task")
}

#[tokio::test]
async fn manual_redrive_is_refused_while_a_move_task_runs() {
    let st = stack().await;
    let q = st.queue("movetask", 5, false).await;
    let bodies: Vec<String> = (0..20).map(|_| creado(Uuid::new_v4())).collect();
    dead_letter(&st, &q, &bodies).await;
    // Another operator's task (or the console's), paced to run for ~20 s.
    let dlq_arn = testkit::queue_arn(&st.clients.sqs, &q.dlq_url).await;
    st.clients
        .sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&q.arn)
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .expect("start a move task");

    let options = RedriveOptions {
        manual: true,
        rate: None,
    };
    let refused = dlq::redrive(&st.clients.sqs, &q.url, &q.dlq_url, options)
        .await
        .expect_err("a manual move beside a running move task");
    println!("{refused}");
    assert!(
        matches!(&refused, DlqError::Refused(why) if why.contains("RUNNING") && why.contains("cancel-message-move-task")),
        "{refused}"
    );
    let task = latest_task(&st, &dlq_arn).await;
    assert_eq!(task.status.as_deref(), Some("RUNNING"), "{task:?}");

    st.clients
        .sqs
        .cancel_message_move_task()
        .task_handle(task.task_handle.expect("a running task's handle"))
        .send()
        .await
        .expect("cancel the move task");
}

/// A `StartMessageMoveTask` whose answer is lost may have started the task:
/// `redrive` must find it and wait for it, never move by hand beside it.
#[tokio::test]
async fn redrive_waits_for_a_move_task_its_failed_start_may_have_started() {
    let st = stack().await;
    let q = st.queue("lostanswer", 5, false).await;
    let bodies: Vec<String> = (0..40).map(|_| creado(Uuid::new_v4())).collect();
    dead_letter(&st, &q, &bodies).await;
    let proxy = FaultProxy::start(&testkit::endpoint("SQS")).await;
    // SQS starts the task; the answer never reaches the tool.
    proxy.set_for_next("StartMessageMoveTask", Mode::CloseAfterForward, 1);
    let sqs = sqs_at(&st, &proxy.url());

    // 40 messages at 10/s: the task runs ~4 s.
    let options = RedriveOptions {
        manual: false,
        rate: Some(10),
    };
    let report = dlq::redrive(&sqs, &q.url, &q.dlq_url, options)
        .await
        .expect("redrive");
    println!("redrive: {report:?}");
    assert_eq!(
        (proxy.seen("ReceiveMessage"), proxy.seen("SendMessage")),
        (0, 0),
        "messages moved by hand beside the move task"
    );
    assert!(proxy.seen("ListMessageMoveTasks") >= 1);
    assert_eq!((report.method, report.moved), ("StartMessageMoveTask", 40));
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0));
    let moved = st.receive_all(&q.url, bodies.len()).await;
    let got: Vec<&str> = moved.iter().filter_map(|m| m.body()).collect();
    assert_eq!(got.len(), bodies.len(), "each message once in the queue");
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        bodies.iter().map(String::as_str).collect::<HashSet<_>>()
    );
}

/// A second redrive reports its own move task, not the first one's (still
/// listed), and moves what was dead-lettered since.
#[tokio::test]
async fn a_second_redrive_waits_for_its_own_move_task() {
    let st = stack().await;
    let q = st.queue("redrivetwice", 5, false).await;
    let options = RedriveOptions::default();
    for count in [3, 2] {
        let bodies: Vec<String> = (0..count).map(|_| creado(Uuid::new_v4())).collect();
        dead_letter(&st, &q, &bodies).await;
        let report = dlq::redrive(&st.clients.sqs, &q.url, &q.dlq_url, options)
            .await
            .expect("redrive");
        println!("redrive: {report:?}");
        assert_eq!(
            (report.method, report.moved),
            ("StartMessageMoveTask", count as u64)
        );
        assert_eq!(st.depth(&q.dlq_url).await, (0, 0));
    }
    assert_eq!(st.receive_all(&q.url, 5).await.len(), 5);
}

/// `StartMessageMoveTask` failing in a way that may have started the task,
/// none listed: nothing is moved by hand (it could run beside the task); the
/// operator is told to run again, and that run moves everything.
#[tokio::test]
async fn a_start_that_may_have_landed_is_never_followed_by_a_manual_move() {
    let st = stack().await;
    let q = st.queue("maystart", 5, false).await;
    let bodies: Vec<String> = (0..5).map(|_| creado(Uuid::new_v4())).collect();
    dead_letter(&st, &q, &bodies).await;
    let proxy = FaultProxy::start(&testkit::endpoint("SQS")).await;
    // A 500 on every attempt (the SDK retries): SQS may have acted on it.
    proxy.set_for_next("StartMessageMoveTask", Mode::Status(500), 10);
    let sqs = sqs_at(&st, &proxy.url());
    let err = dlq::redrive(&sqs, &q.url, &q.dlq_url, RedriveOptions::default())
        .await
        .expect_err("a start that may have landed, no task listed");
    println!("{err}");
    assert!(
        err.to_string().contains("StartMessageMoveTask") && err.to_string().contains("again"),
        "{err}"
    );
    assert_eq!(
        (proxy.seen("ReceiveMessage"), proxy.seen("SendMessage")),
        (0, 0),
        "messages moved by hand after a start that may have landed"
    );
    assert_eq!(st.depth(&q.dlq_url).await, (5, 0));

    let report = dlq::redrive(
        &st.clients.sqs,
        &q.url,
        &q.dlq_url,
        RedriveOptions::default(),
    )
    .await
    .expect("run again");
    assert_eq!(report.moved, 5);
    assert_eq!(st.depth(&q.dlq_url).await, (0, 0));
}

async fn create_queue(st: &Stack, name: &str) -> (String, String) {
    let url = st
        .clients
        .sqs
        .create_queue()
        .queue_name(format!("it-{name}-{}", st.suffix))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("url");
    let arn = testkit::queue_arn(&st.clients.sqs, &url).await;
    (url, arn)
}

fn string_attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<(String, String)> {
    let value = message.message_attributes()?.get(name)?;
    Some((
        value.data_type().to_owned(),
        value.string_value()?.to_owned(),
    ))
}

/// Starts a worker on `q` and waits until it handled `copies` messages of one
/// order's `PedidoCreado`; the event must have been applied once.
async fn applied_once(st: &Stack, q: &QueuePair, pedido_id: Uuid, copies: u64) {
    let w = Worker::start_role(st, WorkerRole::Procesamiento, q, &[]).await;
    eventually(Duration::from_secs(20), "every copy handled", || async {
        (w.metrics.processed.get() + w.metrics.duplicates.get() == copies).then_some(())
    })
    .await;
    assert_eq!(w.metrics.processed.get(), 1, "applied once");
    assert_eq!(
        st.applications(pedido_id, WorkerRole::Procesamiento).await,
        1
    );
    w.stop().await;
}

/// SNS cannot deliver to the role's queue (here: subscriptions whose queues
/// were deleted, one with raw message delivery as in production, one
/// without); what it dead-letters is peeked and delivered to the queue with
/// the event's body and attributes, and applied once.
#[tokio::test]
async fn subscription_dlq_events_are_peeked_and_redriven_to_the_queue() {
    let st = stack().await;
    let q = st.queue("subdlq", 5, false).await;
    let (dlq_url, dlq_arn) = create_queue(&st, "subdlq-delivery-dlq").await;
    let topic = st
        .clients
        .sns
        .create_topic()
        .name(format!("it-subdlq-{}", st.suffix))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("arn");
    for raw in ["true", "false"] {
        let (gone_url, gone_arn) = create_queue(&st, &format!("subdlq-gone-{raw}")).await;
        st.clients
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(gone_arn)
            .attributes("RawMessageDelivery", raw)
            .attributes(
                "FilterPolicy",
                r#"{"eventType":["PedidoCreado","PedidoCancelado"]}"#,
            )
            .attributes(
                "RedrivePolicy",
                serde_json::json!({ "deadLetterTargetArn": dlq_arn }).to_string(),
            )
            .send()
            .await
            .expect("subscribe");
        st.clients
            .sqs
            .delete_queue()
            .queue_url(gone_url)
            .send()
            .await
            .expect("delete the subscribed queue");
    }

    // Published as the API publishes, with a trace context.
    let pedido_id = Uuid::new_v4();
    let body = creado(pedido_id);
    let event = Event::parse_message_body(&body).expect("event");
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut publish = st.clients.sns.publish().topic_arn(&topic).message(&body);
    let attributes = event.message_attributes().into_iter().chain([(
        ATTR_TRACEPARENT,
        "String",
        traceparent.to_owned(),
    )]);
    for (name, data_type, value) in attributes.clone() {
        let value = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .expect("attribute");
        publish = publish.message_attributes(name, value);
    }
    publish.send().await.expect("publish");

    let peeked = eventually(
        Duration::from_secs(20),
        "both undelivered copies in the subscription DLQ",
        || async {
            let peeked = dlq::peek_subscription(&st.clients.sqs, &dlq_url, 10)
                .await
                .ok()?;
            (peeked.len() == 2).then_some(peeked)
        },
    )
    .await;
    for p in &peeked {
        println!("{}", serde_json::to_string(p).expect("json"));
        assert_eq!(p.event, body, "{p:?}");
        assert_eq!(
            p.event_id.as_deref(),
            Some(event.event_id.to_string().as_str())
        );
        assert_eq!(p.pedido_id.as_deref(), Some(pedido_id.to_string().as_str()));
        assert_eq!(
            p.attributes.get("eventType").map(String::as_str),
            Some("PedidoCreado")
        );
        assert_eq!(
            p.attributes.get(ATTR_TRACEPARENT).map(String::as_str),
            Some(traceparent)
        );
        assert!(p.problem.is_none(), "{p:?}");
    }
    let shapes: HashSet<Option<Shape>> = peeked.iter().map(|p| p.shape).collect();
    assert_eq!(shapes, [Some(Shape::Raw), Some(Shape::SnsEnvelope)].into());
    assert_eq!(st.depth(&dlq_url).await, (2, 0), "peek consumed nothing");

    let report = dlq::redrive_subscription(&st.clients.sqs, &q.url, None, &dlq_url)
        .await
        .expect("redrive --subscription");
    println!("redrive --subscription: {report:?}");
    assert_eq!((report.moved, report.left.len()), (2, 0));
    assert_eq!(st.depth(&dlq_url).await, (0, 0));

    let delivered = st.receive_all(&q.url, 2).await;
    assert_eq!(delivered.len(), 2);
    for m in &delivered {
        assert_eq!(m.body(), Some(body.as_str()), "delivered as published");
        for (name, data_type, value) in attributes.clone() {
            assert_eq!(
                string_attribute(m, name),
                Some((data_type.to_owned(), value)),
                "attribute {name} of {m:?}"
            );
        }
    }
    release(&st, &q.url, &delivered).await;
    applied_once(&st, &q, pedido_id, 2).await;
}

/// Each event leaves the subscription DLQ only once it is in the queue; a
/// failed run is simply run again (a copy sent twice is applied once).
#[tokio::test]
async fn subscription_redrive_deletes_only_after_sending_and_runs_again_safely() {
    let st = stack().await;
    let q = st.queue("subretry", 5, false).await;
    let (dlq_url, _) = create_queue(&st, "subretry-delivery-dlq").await;
    // As SNS dead-letters a raw delivery: the event, its attributes.
    let pedido_id = Uuid::new_v4();
    let event_type = MessageAttributeValue::builder()
        .data_type("String")
        .string_value("PedidoCreado")
        .build()
        .expect("attribute");
    st.clients
        .sqs
        .send_message()
        .queue_url(&dlq_url)
        .message_body(creado(pedido_id))
        .message_attributes("eventType", event_type)
        .send()
        .await
        .expect("send to the subscription DLQ");
    let proxy = FaultProxy::start(&testkit::endpoint("SQS")).await;
    let sqs = sqs_at(&st, &proxy.url());
    let refuse = || Mode::Error {
        status: 400,
        code: "AccessDenied".into(),
        message: "injected".into(),
    };

    // The send refused: the event stays, visible at once for the next run.
    proxy.set_for_next("SendMessage", refuse(), 1);
    let err = dlq::redrive_subscription(&sqs, &q.url, None, &dlq_url)
        .await
        .expect_err("send refused");
    assert!(err.to_string().contains("SendMessage"), "{err}");
    assert_eq!(st.depth(&dlq_url).await, (1, 0), "lost with its send");
    assert_eq!(st.depth(&q.url).await, (0, 0));

    // Sent, the delete refused: the event is in both queues.
    proxy.set_for_next("DeleteMessage", refuse(), 1);
    let err = dlq::redrive_subscription(&sqs, &q.url, None, &dlq_url)
        .await
        .expect_err("delete refused");
    assert!(
        err.to_string().contains("DeleteMessage") && err.to_string().contains("still in the DLQ"),
        "{err}"
    );
    assert_eq!(st.depth(&dlq_url).await, (1, 0));
    assert_eq!(st.depth(&q.url).await, (1, 0));

    // Run again: sent again, deleted.
    let report = dlq::redrive_subscription(&sqs, &q.url, None, &dlq_url)
        .await
        .expect("redrive again");
    assert_eq!(report.moved, 1);
    assert_eq!(st.depth(&dlq_url).await, (0, 0));
    assert_eq!(st.depth(&q.url).await, (2, 0));
    applied_once(&st, &q, pedido_id, 2).await;
}

#[test]
fn subscription_commands_name_their_missing_setting() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqs-worker"))
        .args(["dlq", "peek", "--subscription"])
        .env_clear()
        .env("SQS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/q")
        .output()
        .expect("run sqs-worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SQS_SUBSCRIPTION_DLQ_URL is required"),
        "{stderr}"
    );
}
