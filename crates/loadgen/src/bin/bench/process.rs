//! The processes the bench measures: spawning them, their CPU time and peak
//! memory from `/proc`, their Prometheus counters, the emulators' CPU.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use testkit::process::sum_samples;

/// A child process, killed when dropped.
pub struct Proc(Child);

impl Proc {
    /// Starts `program` with this process's environment plus `env`, output discarded.
    pub fn spawn(program: &Path, env: &[(&str, String)]) -> Self {
        Self::spawn_with_args(program, &[], env)
    }

    /// [`Proc::spawn`] with arguments (e.g. `order-api relay`).
    pub fn spawn_with_args(program: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        Self(
            command(program, env)
                .args(args)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display())),
        )
    }

    /// Starts the `floor` binary; its progress lines update the returned counts.
    pub fn spawn_floor(program: &Path, env: &[(&str, String)]) -> (Self, Arc<FloorProgress>) {
        let mut child = command(program, env)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        let progress = Arc::new(FloorProgress::default());
        if let Some(stdout) = child.stdout.take() {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if let Some((deleted, calls)) = parse_floor_line(&line) {
                        progress.sqs_calls.store(calls, Ordering::Relaxed);
                        progress.deleted.store(deleted, Ordering::Relaxed);
                    }
                }
            });
        }
        (Self(child), progress)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// User + system CPU time so far.
    pub fn cpu(&self) -> Duration {
        cpu_of(&self.pid().to_string()).unwrap_or_default()
    }

    /// Peak resident set size, bytes.
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(program: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(program);
    command
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// What the `floor` binary reported last.
#[derive(Debug, Default)]
pub struct FloorProgress {
    /// Messages deleted so far.
    pub deleted: AtomicU64,
    /// SQS requests so far.
    pub sqs_calls: AtomicU64,
}

/// `(deleted, sqs_calls)` from a `floor` progress line
/// (`deleted <n> sqs_calls <m>`).
pub fn parse_floor_line(line: &str) -> Option<(u64, u64)> {
    let mut words = line.split_whitespace();
    let (Some("deleted"), Some(deleted), Some("sqs_calls"), Some(calls), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return None;
    };
    Some((deleted.parse().ok()?, calls.parse().ok()?))
}

/// CPU time so far of an emulator started by `scripts/stack.sh` (pid file in `.local/run`).
pub fn emulator_cpu(name: &str) -> Option<Duration> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/run");
    let pid = std::fs::read_to_string(root.join(format!("{name}.pid"))).ok()?;
    cpu_of(pid.trim())
}

/// This process's CPU time so far.
pub fn own_cpu() -> Duration {
    cpu_of("self").unwrap_or_default()
}

/// User + system CPU time of process `pid` (or `self`) so far.
pub fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU the two emulators (LocalStack, DynamoDB Local) spent so far, when known.
#[derive(Debug, Clone, Copy)]
pub struct EmulatorCpu {
    localstack: Option<Duration>,
    dynamodb: Option<Duration>,
}

impl EmulatorCpu {
    /// Their CPU time now.
    pub fn now() -> Self {
        Self {
            localstack: emulator_cpu("localstack"),
            dynamodb: emulator_cpu("dynamodb"),
        }
    }

    /// Seconds each spent since `earlier`: (LocalStack, DynamoDB Local).
    pub fn since(&self, earlier: &Self) -> (Option<f64>, Option<f64>) {
        let delta =
            |a: Option<Duration>, b: Option<Duration>| Some(a?.saturating_sub(b?).as_secs_f64());
        (
            delta(self.localstack, earlier.localstack),
            delta(self.dynamodb, earlier.dynamodb),
        )
    }
}

/// Seconds as "1.23 s", or "n/a".
pub fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s"))
}

/// Waits until `url` answers 2xx; how long it took.
pub async fn wait_ok(url: &str, limit: Duration) -> Duration {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{url} not OK within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The Prometheus page of the process whose health server is `base` (empty when it does not answer).
pub async fn page(http: &reqwest::Client, base: &str) -> String {
    match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Sum of every sample of `metric` on the Prometheus page of `base` (0 when it does not answer).
pub async fn metric(http: &reqwest::Client, base: &str, metric: &str) -> f64 {
    sum_samples(&page(http, base).await, metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_lines_parse_and_others_do_not() {
        assert_eq!(
            parse_floor_line("deleted 4000 sqs_calls 812"),
            Some((4000, 812))
        );
        assert_eq!(parse_floor_line("deleted 10 sqs_calls"), None);
        assert_eq!(parse_floor_line("deleted x sqs_calls 1"), None);
        assert_eq!(parse_floor_line("deleted 1 sqs_calls 2 more"), None);
        assert_eq!(parse_floor_line("floor: receive failed"), None);
    }

    #[test]
    fn own_cpu_grows_with_work() {
        let before = own_cpu();
        let started = Instant::now();
        let mut x = 0_u64;
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(own_cpu() > before, "CPU time read from /proc/self/stat");
    }
}
