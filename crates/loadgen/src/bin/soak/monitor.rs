//! Once a second: each worker's `/health/ready` status and progress
//! counters and its queue's depth (read directly from SQS, not through the
//! proxies), for the checker's watchdog check; and the publish counters of
//! the API and the relay, for the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use testkit::process::sum_samples;

use crate::processes::{Fleet, Managed};
use crate::schedule::Process;

/// One reading of one worker.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t: f64,
    /// Whether its process was running.
    pub running: bool,
    /// Which start of the process (counters restart with it).
    pub incarnation: u32,
    /// `/health/ready`'s status; `None` when it did not answer within 1 s.
    pub ready: Option<u16>,
    /// `sqs_worker_messages_received_total`, when `/metrics` answered.
    pub received: Option<f64>,
    /// `sqs_worker_messages_deleted_total`, when `/metrics` answered.
    pub deleted: Option<f64>,
    /// Visible + in-flight messages of its queue, when SQS answered.
    pub depth: Option<u64>,
}

/// What the monitor gathered.
#[derive(Debug, Default)]
pub struct Readings {
    /// Each worker's samples, in time order.
    pub workers: BTreeMap<Process, Vec<Sample>>,
    /// The last publish count seen of each start of the API and the relay.
    publishes: BTreeMap<(Process, u32), f64>,
}

impl Readings {
    /// Writes every worker sample to `path`, one JSON line each (`worker`
    /// added), for a look after the run.
    pub fn write_samples(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (worker, samples) in &self.workers {
            for sample in samples {
                let mut line = serde_json::to_value(sample).unwrap_or_default();
                line["worker"] = worker.name().into();
                writeln!(out, "{line}")?;
            }
        }
        out.flush()
    }

    /// Publishes SNS took, summed over the starts of `process` (what a
    /// process did in the second before it was killed is missed).
    pub fn published(&self, process: Process) -> u64 {
        self.publishes
            .iter()
            .filter(|((p, _), _)| *p == process)
            .map(|(_, n)| *n)
            .sum::<f64>() as u64
    }
}

/// The page at `base`/metrics, when it answers within a second.
async fn metrics_page(http: &reqwest::Client, base: &str) -> Option<String> {
    let response = http.get(format!("{base}/metrics")).send().await.ok()?;
    response.text().await.ok()
}

/// Publishes a process reports on its page: the API's publishes that did not
/// fail, or the relay's.
fn publishes(process: Process, page: &str) -> f64 {
    match process {
        Process::Api => (sum_samples(page, "order_api_sns_publish_duration_seconds_count")
            - sum_samples(page, "order_api_sns_publish_failures_total"))
        .max(0.0),
        _ => sum_samples(page, "outbox_relay_published_total"),
    }
}

async fn sample_worker(
    http: &reqwest::Client,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    m: &Managed,
    t: f64,
) -> Sample {
    let (running, incarnation) = m.state();
    let ready = http
        .get(format!("{}/health/ready", m.base))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16());
    let page = metrics_page(http, &m.base).await;
    let counter = |name: &str| page.as_deref().map(|p| sum_samples(p, name));
    let depth = testkit::try_depth(sqs, queue_url)
        .await
        .ok()
        .map(|(visible, in_flight)| visible + in_flight);
    Sample {
        t,
        running,
        incarnation,
        ready,
        received: counter("sqs_worker_messages_received_total"),
        deleted: counter("sqs_worker_messages_deleted_total"),
        depth,
    }
}

/// Samples every second from `t0` until `stop` fires.
pub async fn run(
    fleet: &Fleet,
    sqs: &aws_sdk_sqs::Client,
    queues: [(Process, String); 2],
    t0: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Readings {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    let mut readings = Readings::default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop.borrow() {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let t = t0.elapsed().as_secs_f64();
        let workers = futures::future::join_all(
            queues
                .iter()
                .map(|(process, url)| sample_worker(&http, sqs, url, fleet.get(*process), t)),
        )
        .await;
        for ((process, _), sample) in queues.iter().zip(workers) {
            readings.workers.entry(*process).or_default().push(sample);
        }
        for process in [Process::Api, Process::Relay] {
            let m = fleet.get(process);
            let incarnation = m.state().1;
            if let Some(page) = metrics_page(&http, &m.base).await {
                readings
                    .publishes
                    .insert((process, incarnation), publishes(process, &page));
            }
        }
    }
    readings
}
