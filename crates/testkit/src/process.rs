//! The pipeline's processes run from the workspace's built binaries
//! (`order-api`, `order-api relay`, `sqs-worker`): their environments, a
//! child process with its log, and reading their health and metrics pages.
//! Used by the fault suite, the bench and the chaos soak.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::QueuePair;

/// A child process, killed when dropped.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Its name in messages.
    pub name: String,
    /// Where its stdout (the log lines) and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program` with exactly `env` (nothing inherited), its output in
    /// a new file in the temporary directory.
    pub fn spawn(program: &Path, args: &[&str], env: Vec<(String, String)>, name: &str) -> Self {
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("testkit-{name}-{}-{n}.log", std::process::id()));
        Self::spawn_logged(program, args, env, name, log)
    }

    /// [`Proc::spawn`] with its output in `log` (created or truncated).
    pub fn spawn_logged(
        program: &Path,
        args: &[&str],
        env: Vec<(String, String)>,
        name: &str,
        log: PathBuf,
    ) -> Self {
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

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` ("TERM", "KILL", ...) with `kill`; panics when that fails.
    pub fn signal(&self, signal: &str) {
        assert!(self.try_signal(signal), "kill -{signal} {}", self.name);
    }

    /// Sends `signal` with `kill`; whether it was delivered.
    pub fn try_signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits for it to exit; panics after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let name = self.name.clone();
        self.exit_within(limit)
            .await
            .unwrap_or_else(|| panic!("{name} did not exit within {limit:?}"))
    }

    /// Waits up to `limit` for it to exit: its status, or `None` if it is still running.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether it is still running.
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

/// The environment of an `order-api` (or `order-api relay`) on `table`,
/// publishing to `topic`, listening on 127.0.0.1:`port`.
pub fn api_env(table: &str, topic: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SNS_TOPIC_ARN", topic.to_owned()),
        ("ORDERS_TABLE", table.to_owned()),
        ("PORT", port.to_string()),
        ("HOST", "127.0.0.1".into()),
    ]
}

/// The environment of a `role` worker on queue `q` and `table`, with its health server on `port`.
pub fn worker_env(
    table: &str,
    role: &str,
    q: &QueuePair,
    port: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("WORKER_ROLE", role.to_owned()),
        ("SQS_QUEUE_URL", q.url.clone()),
        ("SQS_DLQ_URL", q.dlq_url.clone()),
        ("ORDERS_TABLE", table.to_owned()),
        ("HEALTH_PORT", port.to_string()),
    ]
}

/// Whether `url` answers 2xx within 2 s.
pub async fn http_ok(url: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .no_proxy()
        .build()
    else {
        return false;
    };
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The samples of `name` on the Prometheus page at `base`/metrics, summed
/// over their labels; 0 when the page or the metric is absent.
pub async fn metric(base: &str, name: &str) -> f64 {
    let Ok(response) = reqwest::get(format!("{base}/metrics")).await else {
        return 0.0;
    };
    sum_samples(&response.text().await.unwrap_or_default(), name)
}

/// Sum of every sample of `metric` (any labels) in a Prometheus text page.
pub fn sum_samples(page: &str, metric: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_a_metric_are_summed_whatever_their_labels() {
        let page = "\
# HELP sqs_worker_sqs_calls SQS API calls.
# TYPE sqs_worker_sqs_calls counter
sqs_worker_sqs_calls_total{name=\"receive\"} 12
sqs_worker_sqs_calls_total{name=\"delete_batch\"} 30
sqs_worker_messages_deleted_total 4000
sqs_worker_messages_deleted_total_other 7
# EOF";
        assert_eq!(sum_samples(page, "sqs_worker_sqs_calls_total"), 42.0);
        assert_eq!(
            sum_samples(page, "sqs_worker_messages_deleted_total"),
            4000.0
        );
        assert_eq!(
            sum_samples(page, "sqs_worker_messages_processed_total"),
            0.0
        );
    }
}
