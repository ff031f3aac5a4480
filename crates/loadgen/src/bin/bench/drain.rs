//! The worker against the floor: each run drains N prefilled `PedidoCreado`
//! from a fresh queue into a fresh table, with the `sqs-worker` binary, the
//! `floor` binary (the same work per message, written directly against the
//! SDK, see `src/bin/floor.rs`) or an older worker (`--compare-worker`).
//!
//! Two settings in the same run: 0/0 (straight to the emulators), then the
//! round trips of real AWS (`--sqs-latency-ms`, default 20, on every SQS
//! answer; `--dynamodb-latency-ms`, default 8, on every DynamoDB answer),
//! through testkit's latency lines, which the processes reach through
//! `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_DYNAMODB`. The second setting
//! always goes through the lines, so `--sqs-latency-ms 0
//! --dynamodb-latency-ms 0` measures what the lines themselves cost.
//!
//! A run is done when the queue is empty (visible + in flight = 0) and, for
//! the worker, its `sqs_worker_messages_deleted_total` reached N (the floor's
//! progress lines say the same; an older worker has no deleted counter: its
//! processed + duplicate counters open the same queue check). The clock runs
//! from spawning the process to done; CPU time and peak RSS are the
//! process's own, read from `/proc` just before it is killed.
//!
//! Order: at each setting, `--rounds` rounds; odd rounds run floor → worker
//! (→ older worker), even rounds the reverse (ABBA), so a steady drift of the
//! emulators (LocalStack slows as queues accumulate; each run's queue and
//! table are deleted after it) weighs on each consumer alike. Medians of the
//! rounds are reported (peak RSS: the largest).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use shared::orders_table::OrdersTable;
use testkit::fault_proxy::FaultProxy;
use testkit::{QueuePair, Stack, binary, creado, endpoint, free_port};
use uuid::Uuid;

use crate::options::Options;
use crate::process::{EmulatorCpu, FloorProgress, Proc, own_cpu, page, seconds, sum_samples};
use crate::report::{Report, Row, checked, info, median, table};

/// The longest a run may take.
const DEADLINE: Duration = Duration::from_secs(600);
/// How often a run's progress is checked.
const POLL: Duration = Duration::from_millis(10);

/// Targets.
const MIN_OVER_FLOOR: f64 = 0.9;
const MAX_CPU_MICROS: f64 = 150.0;
const MAX_CPU_OVER_FLOOR: f64 = 1.1;
const MAX_RSS_MIB: f64 = 15.0;
const MAX_SQS_PER_MESSAGE: f64 = 0.25;
const MIN_LATENCY_RATIO: f64 = 0.8;

/// The delays added to every answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// On every SQS answer.
    pub sqs: Duration,
    /// On every DynamoDB answer.
    pub dynamodb: Duration,
    /// Straight to the emulators, no latency lines.
    pub direct: bool,
}

impl Latency {
    /// How the report names it.
    pub fn label(&self) -> String {
        if self.direct {
            "0/0 ms (direct)".into()
        } else {
            format!(
                "+{}/+{} ms",
                self.sqs.as_millis(),
                self.dynamodb.as_millis()
            )
        }
    }
}

/// Who drains the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Consumer {
    /// `src/bin/floor.rs`.
    Floor,
    /// This build's `sqs-worker`.
    Worker,
    /// An older `sqs-worker` binary.
    Older(PathBuf),
}

impl Consumer {
    /// How the report names it.
    pub fn label(&self) -> &'static str {
        match self {
            Consumer::Floor => "floor",
            Consumer::Worker => "worker",
            Consumer::Older(_) => "older worker",
        }
    }
}

/// One drain, measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its place in the whole bench (1-based).
    pub index: usize,
    /// Its round at its latency (1-based).
    pub round: usize,
    /// Who drained.
    pub consumer: Consumer,
    /// Messages drained.
    pub messages: usize,
    /// Spawn to done.
    pub wall: Duration,
    /// The process's CPU time.
    pub cpu: Duration,
    /// The process's peak RSS, bytes.
    pub peak_rss: u64,
    /// SQS requests the process made.
    pub sqs_calls: f64,
    /// Seconds of CPU LocalStack and DynamoDB Local spent meanwhile.
    pub emulators: (Option<f64>, Option<f64>),
    /// CPU the bench process spent meanwhile (its polling, and the latency lines).
    pub bench_cpu: Duration,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }

    fn cpu_micros(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.messages as f64
    }

    fn rss_mib(&self) -> f64 {
        self.peak_rss as f64 / (1024.0 * 1024.0)
    }

    fn sqs_per_message(&self) -> f64 {
        self.sqs_calls / self.messages as f64
    }

    fn bench_cpu_micros(&self) -> f64 {
        self.bench_cpu.as_secs_f64() * 1e6 / self.messages as f64
    }
}

/// One consumer's runs at one latency, summarized.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Median messages per second.
    pub throughput: f64,
    /// Every run's messages per second, in run order.
    pub throughputs: Vec<f64>,
    /// Median CPU per message, µs.
    pub cpu_micros_per_message: f64,
    /// Largest peak RSS, MiB.
    #[serde(rename = "peakRssMiB")]
    pub peak_rss_mib: f64,
    /// Median SQS requests per message.
    pub sqs_requests_per_message: f64,
}

/// The summary of `runs` (`None` when there are none).
pub fn summarize<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Option<Summary> {
    let runs: Vec<&Run> = runs.into_iter().collect();
    if runs.is_empty() {
        return None;
    }
    let of = |f: fn(&Run) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<f64>>();
    Some(Summary {
        throughput: median(&of(Run::throughput)),
        throughputs: of(Run::throughput),
        cpu_micros_per_message: median(&of(Run::cpu_micros)),
        peak_rss_mib: of(Run::rss_mib).into_iter().fold(0.0, f64::max),
        sqs_requests_per_message: median(&of(Run::sqs_per_message)),
    })
}

/// The consumers of round `round` (0-based): in the given order in even
/// rounds, reversed in odd ones.
pub fn round_order<T: Clone>(consumers: &[T], round: usize) -> Vec<T> {
    let mut order = consumers.to_vec();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// The rows of one latency: the worker against the floor, and an older worker's figures.
pub fn latency_rows(
    label: &str,
    worker: &Summary,
    floor: &Summary,
    older: Option<(&str, &Summary)>,
) -> Vec<Row> {
    let over_floor = worker.throughput / floor.throughput;
    let cpu_over_floor = worker.cpu_micros_per_message / floor.cpu_micros_per_message;
    let mut rows = vec![
        checked(
            format!("Worker / floor throughput, {label}"),
            format!(
                "{over_floor:.2}× (worker {:.0} msg/s, floor {:.0} msg/s)",
                worker.throughput, floor.throughput
            ),
            "≥ 0.9×",
            over_floor >= MIN_OVER_FLOOR,
        ),
        checked(
            format!("CPU per message, {label}"),
            format!(
                "worker {:.0} µs, floor {:.0} µs ({cpu_over_floor:.2}×)",
                worker.cpu_micros_per_message, floor.cpu_micros_per_message
            ),
            "≤ 150 µs and ≤ 1.1× floor",
            worker.cpu_micros_per_message <= MAX_CPU_MICROS && cpu_over_floor <= MAX_CPU_OVER_FLOOR,
        ),
        checked(
            format!("Peak RSS, {label}"),
            format!(
                "worker {:.1} MiB, floor {:.1} MiB",
                worker.peak_rss_mib, floor.peak_rss_mib
            ),
            "≤ 15 MiB",
            worker.peak_rss_mib <= MAX_RSS_MIB,
        ),
        checked(
            format!("SQS requests per message, {label}"),
            format!(
                "worker {:.3}, floor {:.3}",
                worker.sqs_requests_per_message, floor.sqs_requests_per_message
            ),
            "≤ 0.25",
            worker.sqs_requests_per_message <= MAX_SQS_PER_MESSAGE,
        ),
    ];
    if let Some((path, older)) = older {
        rows.push(info(
            format!("Older worker ({path}), {label}"),
            format!(
                "{:.0} msg/s ({:.2}× floor), {:.0} µs CPU/msg, {:.1} MiB, {:.3} SQS req/msg",
                older.throughput,
                older.throughput / floor.throughput,
                older.cpu_micros_per_message,
                older.peak_rss_mib,
                older.sqs_requests_per_message
            ),
        ));
    }
    rows
}

/// The worker's throughput with the latencies against its own in a baseline setting.
pub fn latency_ratio_row(label: &str, base_label: &str, base: &Summary, remote: &Summary) -> Row {
    let ratio = remote.throughput / base.throughput;
    checked(
        format!("Worker throughput, {label} ÷ {base_label}"),
        format!(
            "{ratio:.2}× ({:.0} vs {:.0} msg/s)",
            remote.throughput, base.throughput
        ),
        "≥ 0.8×",
        ratio >= MIN_LATENCY_RATIO,
    )
}

/// The latency lines of one setting, on a current-thread runtime of their
/// own (one thread: the cheapest way to relay, and the bench's polling does
/// not wait behind them).
struct Lines {
    sqs: FaultProxy,
    dynamodb: FaultProxy,
    /// Ends the lines' runtime when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Lines {
    async fn start(latency: &Latency) -> Self {
        let (sqs_delay, dynamodb_delay) = (latency.sqs, latency.dynamodb);
        let (started, proxies) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the latency lines' runtime");
            runtime.block_on(async move {
                let sqs = FaultProxy::with_latency(&endpoint("SQS"), sqs_delay).await;
                let dynamodb =
                    FaultProxy::with_latency(&endpoint("DYNAMODB"), dynamodb_delay).await;
                if started.send((sqs, dynamodb)).is_ok() {
                    let _ = stopped.await;
                }
            });
        });
        let (sqs, dynamodb) = proxies.await.expect("the latency lines started");
        Self {
            sqs,
            dynamodb,
            _stop: stop,
        }
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ENDPOINT_URL_SQS", self.sqs.url()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.url()),
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "sqs": {"requests": self.sqs.seen_total(), "upstreamConnections": self.sqs.upstream_connections()},
            "dynamodb": {"requests": self.dynamodb.seen_total(), "upstreamConnections": self.dynamodb.upstream_connections()},
        })
    }
}

/// SQS requests per message of the worker and of the older worker, drained
/// straight from the emulators (0/0): what the cost per order counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SqsPerMessage {
    /// This build's worker.
    pub worker: f64,
    /// The older worker (`--compare-worker` or the baseline's), when measured.
    pub older: Option<f64>,
}

/// Every run at both latencies, then the rows, the run table and the JSON.
pub async fn measure(st: &Stack, o: &Options, report: &mut Report) -> SqsPerMessage {
    let mut sqs_per_message = None;
    let latencies = [
        Latency {
            sqs: Duration::ZERO,
            dynamodb: Duration::ZERO,
            direct: true,
        },
        // Through the latency lines with no delay: what the lines cost,
        // so the next setting's ratio to it is the latency's effect alone.
        Latency {
            sqs: Duration::ZERO,
            dynamodb: Duration::ZERO,
            direct: false,
        },
        Latency {
            sqs: o.sqs_latency,
            dynamodb: o.dynamodb_latency,
            direct: false,
        },
    ];
    let older_worker = o.older_worker();
    let mut consumers = vec![Consumer::Floor, Consumer::Worker];
    if let Some(path) = &older_worker {
        consumers.push(Consumer::Older(path.clone()));
    }
    // The baseline's worker is named by the baseline's label, another by its path.
    let older_path = match (&o.compare_worker, &o.baseline) {
        (None, Some(_)) => o.baseline_label.clone(),
        _ => older_worker
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    let mut index = 0;
    let mut run_rows = Vec::new();
    let mut latencies_json = Vec::new();
    let mut worker_at = Vec::new();
    for latency in &latencies {
        let lines = if latency.direct {
            None
        } else {
            Some(Lines::start(latency).await)
        };
        let mut runs = Vec::new();
        for round in 0..o.rounds {
            for consumer in round_order(&consumers, round) {
                index += 1;
                eprintln!(
                    "bench: drain {index}: {} at {}, round {}, {} messages",
                    consumer.label(),
                    latency.label(),
                    round + 1,
                    o.messages
                );
                let run = drain(st, o, &consumer, lines.as_ref(), index, round + 1).await;
                eprintln!(
                    "bench: drain {index}: {:.0} msg/s, {:.0} µs CPU/msg",
                    run.throughput(),
                    run.cpu_micros()
                );
                runs.push(run);
            }
        }
        let of = |c: &Consumer| summarize(runs.iter().filter(|r| r.consumer == *c));
        let (Some(worker), Some(floor)) = (of(&Consumer::Worker), of(&Consumer::Floor)) else {
            unreachable!("every round runs the worker and the floor")
        };
        let older = older_worker
            .as_ref()
            .and_then(|p| of(&Consumer::Older(p.clone())));
        if latency.direct {
            sqs_per_message = Some(SqsPerMessage {
                worker: worker.sqs_requests_per_message,
                older: older.as_ref().map(|s| s.sqs_requests_per_message),
            });
        }
        let label = latency.label();
        report.rows.extend(latency_rows(
            &label,
            &worker,
            &floor,
            older.as_ref().map(|s| (older_path.as_str(), s)),
        ));
        run_rows.extend(runs.iter().map(|r| run_row(&label, r)));
        latencies_json.push(json!({
            "label": label,
            "direct": latency.direct,
            "sqsLatencyMs": latency.sqs.as_millis(),
            "dynamodbLatencyMs": latency.dynamodb.as_millis(),
            "worker": worker,
            "floor": floor,
            "olderWorker": older,
            "workerOverFloor": worker.throughput / floor.throughput,
            "latencyLines": lines.as_ref().map(Lines::json),
            "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
        }));
        worker_at.push((label, worker));
    }
    let ratio = match worker_at.as_slice() {
        [(_, direct), (lines_label, lines), (label, remote)] => {
            report
                .rows
                .push(latency_ratio_row(label, "0/0", direct, remote));
            report
                .rows
                .push(latency_ratio_row(label, lines_label, lines, remote));
            remote.throughput / lines.throughput
        }
        _ => unreachable!("three latency settings"),
    };
    let order = format!(
        "0/0 first, then {} (the lines' own cost), then {}; at each, {} round(s): {} in odd rounds, reversed in even ones",
        latencies[1].label(),
        latencies[2].label(),
        o.rounds,
        consumers
            .iter()
            .map(Consumer::label)
            .collect::<Vec<_>>()
            .join(" → ")
    );
    report.sections.push(format!(
        "### Drain runs\n\nEach run drains {} prefilled `PedidoCreado` from a fresh queue into a fresh table; \
         done = queue empty and (worker) `sqs_worker_messages_deleted_total` = N; the clock runs from process \
         spawn to done. Order: {order}. WORKER_POLLERS: {}. \"bench CPU/msg\" is the bench process meanwhile \
         (progress polling, and the latency lines when there are some).\n\n{}",
        o.messages,
        o.pollers
            .map_or_else(|| "default".to_owned(), |p| p.to_string()),
        table(
            &[
                "#",
                "Latency",
                "Round",
                "Consumer",
                "Wall",
                "msg/s",
                "CPU/msg",
                "Peak RSS",
                "SQS req/msg",
                "LocalStack CPU",
                "DynamoDB Local CPU",
                "bench CPU/msg",
            ],
            &run_rows,
        )
    ));
    report.json.insert(
        "drain".into(),
        json!({
            "messages": o.messages,
            "rounds": o.rounds,
            "pollers": o.pollers,
            "order": order,
            "compareWorker": older_worker,
            "latencies": latencies_json,
            "workerLatencyRatio": ratio,
        }),
    );
    sqs_per_message.unwrap_or_else(|| unreachable!("the first setting is direct"))
}

fn run_row(label: &str, r: &Run) -> Vec<String> {
    vec![
        r.index.to_string(),
        label.to_owned(),
        r.round.to_string(),
        r.consumer.label().to_owned(),
        format!("{:.2} s", r.wall.as_secs_f64()),
        format!("{:.0}", r.throughput()),
        format!("{:.0} µs", r.cpu_micros()),
        format!("{:.1} MiB", r.rss_mib()),
        format!("{:.3}", r.sqs_per_message()),
        seconds(r.emulators.0),
        seconds(r.emulators.1),
        format!("{:.0} µs", r.bench_cpu_micros()),
    ]
}

fn run_json(r: &Run) -> serde_json::Value {
    json!({
        "index": r.index,
        "round": r.round,
        "consumer": r.consumer.label(),
        "messages": r.messages,
        "wallSecs": r.wall.as_secs_f64(),
        "throughput": r.throughput(),
        "cpuMicrosPerMessage": r.cpu_micros(),
        "peakRssMiB": r.rss_mib(),
        "sqsRequestsPerMessage": r.sqs_per_message(),
        "localstackCpuSecs": r.emulators.0,
        "dynamodbLocalCpuSecs": r.emulators.1,
        "benchCpuMicrosPerMessage": r.bench_cpu_micros(),
    })
}

/// How a run's progress is read.
enum Progress {
    /// The floor's progress lines.
    Floor(Arc<FloorProgress>),
    /// The worker's `sqs_worker_messages_deleted_total`.
    Deleted,
    /// An older worker's processed + duplicate counters.
    Handled,
}

/// One drain of `o.messages` by `consumer`.
async fn drain(
    st: &Stack,
    o: &Options,
    consumer: &Consumer,
    lines: Option<&Lines>,
    index: usize,
    round: usize,
) -> Run {
    let n = o.messages;
    let queue = st.queue(&format!("bench-drain-{index}"), 5, false).await;
    let table = OrdersTable::new(
        st.clients.dynamodb.clone(),
        format!("bench-{}-{index}", st.suffix),
    );
    table.create().await.expect("create the run's table");
    prefill(st, &queue, n).await;

    let port = free_port();
    let health = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("WORKER_ROLE", "procesamiento".to_owned()),
        ("SQS_QUEUE_URL", queue.url.clone()),
        ("SQS_DLQ_URL", queue.dlq_url.clone()),
        ("ORDERS_TABLE", table.name().to_owned()),
        ("HEALTH_PORT", port.to_string()),
    ];
    if let Some(pollers) = o.pollers {
        env.push(("WORKER_POLLERS", pollers.to_string()));
    }
    if let Some(lines) = lines {
        env.extend(lines.env());
    }

    let http = reqwest::Client::new();
    let (emulators_before, bench_before) = (EmulatorCpu::now(), own_cpu());
    let started = Instant::now();
    let (process, progress) = match consumer {
        Consumer::Floor => {
            let (process, progress) = Proc::spawn_floor(&binary("floor"), &env);
            (process, Progress::Floor(progress))
        }
        Consumer::Worker => (Proc::spawn(&binary("sqs-worker"), &env), Progress::Deleted),
        Consumer::Older(path) => (Proc::spawn(path, &env), Progress::Handled),
    };
    loop {
        let done = match &progress {
            Progress::Floor(floor) => floor.deleted.load(Ordering::Relaxed) as f64,
            Progress::Deleted => sum_samples(
                &page(&http, &health).await,
                "sqs_worker_messages_deleted_total",
            ),
            Progress::Handled => {
                let metrics = page(&http, &health).await;
                sum_samples(&metrics, "sqs_worker_messages_processed_total")
                    + sum_samples(&metrics, "sqs_worker_messages_duplicate_total")
            }
        };
        if done >= n as f64 && st.depth(&queue.url).await == (0, 0) {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} did not drain {n} messages within {DEADLINE:?} ({done} done)",
            consumer.label()
        );
        tokio::time::sleep(POLL).await;
    }
    let wall = started.elapsed();
    let (cpu, peak_rss) = (process.cpu(), process.peak_rss());
    let sqs_calls = match &progress {
        Progress::Floor(floor) => floor.sqs_calls.load(Ordering::Relaxed) as f64,
        Progress::Deleted | Progress::Handled => {
            sum_samples(&page(&http, &health).await, "sqs_worker_sqs_calls_total")
        }
    };
    let emulators = EmulatorCpu::now().since(&emulators_before);
    let bench_cpu = own_cpu().saturating_sub(bench_before);
    drop(process);
    cleanup(st, &queue, table.name()).await;
    Run {
        index,
        round,
        consumer: consumer.clone(),
        messages: n,
        wall,
        cpu,
        peak_rss,
        sqs_calls,
        emulators,
        bench_cpu,
    }
}

/// Sends `n` fresh `PedidoCreado` to `queue`.
async fn prefill(st: &Stack, queue: &QueuePair, n: usize) {
    let bodies: Vec<String> = (0..n).map(|_| creado(Uuid::new_v4())).collect();
    st.send_all(queue, &bodies).await;
    assert_eq!(
        st.depth(&queue.url).await,
        (n as u64, 0),
        "the queue holds the {n} messages before the run"
    );
}

/// Deletes a run's queue, DLQ and table, so the emulators do not slow down as they accumulate.
async fn cleanup(st: &Stack, queue: &QueuePair, table: &str) {
    for url in [&queue.url, &queue.dlq_url] {
        if let Err(e) = st.clients.sqs.delete_queue().queue_url(url).send().await {
            eprintln!("bench: could not delete {url}: {e}");
        }
    }
    if let Err(e) = st
        .clients
        .dynamodb
        .delete_table()
        .table_name(table)
        .send()
        .await
    {
        eprintln!("bench: could not delete table {table}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(consumer: Consumer, wall_ms: u64, cpu_ms: u64, rss_mib: u64, calls: f64) -> Run {
        Run {
            index: 1,
            round: 1,
            consumer,
            messages: 1000,
            wall: Duration::from_millis(wall_ms),
            cpu: Duration::from_millis(cpu_ms),
            peak_rss: rss_mib * 1024 * 1024,
            sqs_calls: calls,
            emulators: (None, None),
            bench_cpu: Duration::ZERO,
        }
    }

    fn summary(throughput: f64, cpu: f64, rss: f64, sqs: f64) -> Summary {
        Summary {
            throughput,
            throughputs: vec![throughput],
            cpu_micros_per_message: cpu,
            peak_rss_mib: rss,
            sqs_requests_per_message: sqs,
        }
    }

    #[test]
    fn rounds_alternate_the_order() {
        let consumers = ["floor", "worker", "older"];
        assert_eq!(round_order(&consumers, 0), ["floor", "worker", "older"]);
        assert_eq!(round_order(&consumers, 1), ["older", "worker", "floor"]);
        assert_eq!(round_order(&consumers, 2), ["floor", "worker", "older"]);
    }

    #[test]
    fn a_summary_takes_medians_and_the_largest_rss() {
        let runs = [
            run(Consumer::Worker, 2000, 100, 10, 200.0),
            run(Consumer::Worker, 1000, 300, 12, 250.0),
        ];
        let s = summarize(&runs).expect("two runs");
        assert_eq!(s.throughputs, vec![500.0, 1000.0]);
        assert_eq!(s.throughput, 750.0);
        assert_eq!(s.cpu_micros_per_message, 200.0);
        assert_eq!(s.peak_rss_mib, 12.0);
        assert_eq!(s.sqs_requests_per_message, 0.225);
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn latency_rows_check_each_target_against_the_floor() {
        let floor = summary(1000.0, 100.0, 9.0, 0.2);
        let good = summary(950.0, 105.0, 12.0, 0.21);
        let rows = latency_rows("+20/+8 ms", &good, &floor, None);
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|r| r.met == Some(true)), "{rows:#?}");
        assert_eq!(rows[0].figure, "Worker / floor throughput, +20/+8 ms");
        assert_eq!(rows[0].value, "0.95× (worker 950 msg/s, floor 1000 msg/s)");
        assert_eq!(rows[1].value, "worker 105 µs, floor 100 µs (1.05×)");

        // Each target missed by a little.
        let slow = summary(890.0, 105.0, 12.0, 0.21);
        let costly = summary(950.0, 111.0, 12.0, 0.21);
        let absolute = summary(950.0, 151.0, 12.0, 0.21);
        let big = summary(950.0, 105.0, 15.5, 0.21);
        let chatty = summary(950.0, 105.0, 12.0, 0.26);
        for (worker, missed) in [
            (slow, 0),
            (costly, 1),
            (summary(950.0, 151.0, 12.0, 0.21), 1),
            (big, 2),
            (chatty, 3),
        ] {
            let rows = latency_rows("0/0 ms (direct)", &worker, &floor, None);
            let met: Vec<Option<bool>> = rows.iter().map(|r| r.met).collect();
            let mut expected = vec![Some(true); 4];
            expected[missed] = Some(false);
            assert_eq!(met, expected, "{worker:?}");
        }
        // 151 µs misses the absolute target even with a floor as costly.
        let costly_floor = summary(1000.0, 150.0, 9.0, 0.2);
        assert_eq!(
            latency_rows("x", &absolute, &costly_floor, None)[1].met,
            Some(false)
        );

        let older = summary(800.0, 130.0, 11.0, 0.25);
        let rows = latency_rows("x", &good, &floor, Some(("/tmp/old", &older)));
        assert_eq!(rows[4].figure, "Older worker (/tmp/old), x");
        assert_eq!(
            rows[4].value,
            "800 msg/s (0.80× floor), 130 µs CPU/msg, 11.0 MiB, 0.250 SQS req/msg"
        );
        assert_eq!(rows[4].met, None);
    }

    #[test]
    fn the_latency_ratio_is_the_worker_against_itself() {
        let direct = summary(1000.0, 100.0, 9.0, 0.2);
        let row = latency_ratio_row(
            "+20/+8 ms",
            "0/0",
            &direct,
            &summary(800.0, 100.0, 9.0, 0.2),
        );
        assert_eq!(row.figure, "Worker throughput, +20/+8 ms ÷ 0/0");
        assert_eq!(row.value, "0.80× (800 vs 1000 msg/s)");
        assert_eq!(row.met, Some(true));
        let row = latency_ratio_row("x", "0/0", &direct, &summary(790.0, 100.0, 9.0, 0.2));
        assert_eq!(row.met, Some(false));
    }

    #[test]
    fn latencies_are_labelled() {
        let direct = Latency {
            sqs: Duration::ZERO,
            dynamodb: Duration::ZERO,
            direct: true,
        };
        assert_eq!(direct.label(), "0/0 ms (direct)");
        let remote = Latency {
            sqs: Duration::from_millis(20),
            dynamodb: Duration::from_millis(8),
            direct: false,
        };
        assert_eq!(remote.label(), "+20/+8 ms");
    }
}
