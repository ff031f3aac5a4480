//! The `floor` binary, the bench's baseline consumer, does the worker's work:
//! each message applied once for procesamiento (a duplicate changes
//! nothing), then deleted; its progress lines count the deletes. Needs the
//! local AWS stack.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::orders_table::{WorkerRole, attr};
use testkit::{binary, creado, eventually, stack};
use uuid::Uuid;

/// The floor process, killed when dropped.
struct Floor(Child);

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_floor_applies_each_message_once_and_deletes_it() {
    let st = stack().await;
    let queue = st.queue("floor", 5, false).await;
    let ids: Vec<Uuid> = (0..25).map(|_| Uuid::new_v4()).collect();
    let bodies: Vec<String> = ids.iter().map(|id| creado(*id)).collect();
    st.send_all(&queue, &bodies).await;
    // The same event again: applied already, so only deleted.
    st.send(&queue, &bodies[0]).await;

    let mut child = Command::new(binary("floor"))
        .env_clear()
        .envs(st.child_env(&[
            ("SQS_QUEUE_URL", queue.url.clone()),
            ("ORDERS_TABLE", st.table.name().to_owned()),
            ("WORKER_POLLERS", "2".into()),
            ("SQS_WAIT_TIME_SECS", "1".into()),
        ]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn floor");
    let stdout = child.stdout.take().expect("piped stdout");
    let _floor = Floor(child);
    let last_line = Arc::new(Mutex::new(String::new()));
    std::thread::spawn({
        let last_line = Arc::clone(&last_line);
        move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                *last_line.lock().expect("lock") = line;
            }
        }
    });

    eventually(
        Duration::from_secs(30),
        "the floor reports 26 deletes",
        || {
            let line = last_line.lock().expect("lock").clone();
            async move { line.starts_with("deleted 26 sqs_calls ").then_some(()) }
        },
    )
    .await;
    assert_eq!(st.depth(&queue.url).await, (0, 0), "every message deleted");
    let calls: u64 = last_line
        .lock()
        .expect("lock")
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count of SQS requests");
    assert!(
        (2..=26).contains(&calls),
        "{calls} SQS requests: batches of up to 10"
    );
    for id in &ids {
        assert_eq!(
            st.applications(*id, WorkerRole::Procesamiento).await,
            1,
            "{id} applied once"
        );
        let item = st.item(*id).await.expect("the order's item");
        assert_eq!(
            item.get(attr::ESTADO),
            Some(&AttributeValue::S("PROCESADO".into())),
            "{id}"
        );
    }
}
