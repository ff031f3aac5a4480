//! `bench`: measures what the pipeline costs on the local AWS stack, each
//! figure side by side with its baseline in the same run, and writes a
//! Markdown table and a JSON file.
//!
//! `bench [--messages 2000] [--requests 2000] [--concurrency 2] [--e2e-orders 600]
//!        [--e2e-rate 20] [--idle-secs 60] [--out bench/results]`
//!
//! Needs the stack's environment (`make bench` sources `.local/stack.env`)
//! and release builds of `order-api` and `sqs-worker` beside this binary.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use loadgen::stats::Percentiles;
use loadgen::{LoadConfig, Pace};
use serde_json::json;
use testkit::{QueuePair, Stack, binary, creado, free_port, stack};
use uuid::Uuid;

struct Options {
    messages: usize,
    requests: usize,
    concurrency: usize,
    e2e_orders: usize,
    e2e_rate: f64,
    idle_secs: u64,
    out: String,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        messages: 2000,
        requests: 2000,
        concurrency: 2,
        e2e_orders: 600,
        e2e_rate: 20.0,
        idle_secs: 60,
        out: "bench/results".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("invalid value for {flag}: {value}");
        match flag.as_str() {
            "--messages" => o.messages = value.parse().map_err(bad)?,
            "--requests" => o.requests = value.parse().map_err(bad)?,
            "--concurrency" => o.concurrency = value.parse().map_err(bad)?,
            "--e2e-orders" => o.e2e_orders = value.parse().map_err(bad)?,
            "--e2e-rate" => {
                o.e2e_rate = value
                    .parse()
                    .map_err(|_| format!("invalid value for {flag}: {value}"))?
            }
            "--idle-secs" => o.idle_secs = value.parse().map_err(bad)?,
            "--out" => o.out = value.clone(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// A child process, killed when dropped.
struct Proc(Child);

impl Proc {
    fn spawn(name: &str, env: &[(&str, String)]) -> Self {
        let child = Command::new(binary(name))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// User + system CPU time so far.
    fn cpu(&self) -> Duration {
        cpu_of(&self.pid().to_string()).unwrap_or_default()
    }

    /// Peak resident set size, bytes.
    fn peak_rss(&self) -> u64 {
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

/// CPU time so far of an emulator started by `scripts/stack.sh` (pid file in `.local/run`).
fn emulator_cpu(name: &str) -> Option<Duration> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/run");
    let pid = std::fs::read_to_string(root.join(format!("{name}.pid"))).ok()?;
    cpu_of(pid.trim())
}

/// User + system CPU time of process `pid` so far.
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// CPU the two emulators spent while `f` ran, as "LocalStack x s, DynamoDB Local y s".
async fn with_emulator_cpu<T>(f: impl std::future::Future<Output = T>) -> (T, String) {
    let before = (emulator_cpu("localstack"), emulator_cpu("dynamodb"));
    let out = f.await;
    let after = (emulator_cpu("localstack"), emulator_cpu("dynamodb"));
    let delta = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2} s", b.saturating_sub(a).as_secs_f64()),
        _ => "n/a".to_owned(),
    };
    (
        out,
        format!(
            "LocalStack {}, DynamoDB Local {}",
            delta(before.0, after.0),
            delta(before.1, after.1)
        ),
    )
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

async fn wait_ok(url: &str, limit: Duration) -> Duration {
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

/// Sum of every sample of `metric` in a Prometheus text page.
async fn metric(base: &str, metric: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("{base}/metrics")).await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with(metric)
                && (l[metric.len()..].starts_with(' ') || l[metric.len()..].starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn api_env(st: &Stack, topic: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SNS_TOPIC_ARN", topic.to_owned()),
        ("ORDERS_TABLE", st.table.name().to_owned()),
        ("PORT", port.to_string()),
        ("HOST", "127.0.0.1".into()),
    ]
}

fn worker_env(st: &Stack, role: &str, q: &QueuePair, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("WORKER_ROLE", role.to_owned()),
        ("SQS_QUEUE_URL", q.url.clone()),
        ("SQS_DLQ_URL", q.dlq_url.clone()),
        ("ORDERS_TABLE", st.table.name().to_owned()),
        ("HEALTH_PORT", port.to_string()),
    ]
}

/// The minimal consumer: receive 10, batch-delete, repeat. The emulator's floor.
async fn raw_floor(st: &Stack, q: &QueuePair, expected: usize) -> (Duration, u64) {
    let started = Instant::now();
    let (mut done, mut calls) = (0, 0_u64);
    while done < expected {
        calls += 1;
        let out = st
            .clients
            .sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        let entries = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        calls += 1;
        st.clients
            .sqs
            .delete_message_batch()
            .queue_url(&q.url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("delete");
        done += messages.len();
    }
    (started.elapsed(), calls)
}

struct Row {
    figure: String,
    value: String,
    target: String,
    met: Option<bool>,
}

fn row(figure: &str, value: String, target: &str, met: Option<bool>) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: target.into(),
        met,
    }
}

#[tokio::main]
async fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    testkit::require_stack();
    let mut rows = Vec::new();
    let mut json = serde_json::Map::new();
    let st = stack().await;

    // Startup: process start to /health/ready, median of 5.
    eprintln!("bench: startup");
    let idle_q = st.queue("bench-idle", 5, false).await;
    let topic = st.topic(&[], false).await;
    let mut api_start = Vec::new();
    let mut worker_start = Vec::new();
    for _ in 0..5 {
        let port = free_port();
        let _api = Proc::spawn("order-api", &api_env(&st, &topic, port));
        api_start.push(
            wait_ok(
                &format!("http://127.0.0.1:{port}/health/ready"),
                Duration::from_secs(10),
            )
            .await,
        );
        let port = free_port();
        let _worker = Proc::spawn(
            "sqs-worker",
            &worker_env(&st, "procesamiento", &idle_q, port),
        );
        worker_start.push(
            wait_ok(
                &format!("http://127.0.0.1:{port}/health/ready"),
                Duration::from_secs(10),
            )
            .await,
        );
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (api_ms, worker_ms) = (
        median(&mut api_start).as_secs_f64() * 1e3,
        median(&mut worker_start).as_secs_f64() * 1e3,
    );
    rows.push(row(
        "API start to ready (median of 5)",
        format!("{api_ms:.0} ms"),
        "≤ 200 ms",
        Some(api_ms <= 200.0),
    ));
    rows.push(row(
        "Worker start to ready (median of 5)",
        format!("{worker_ms:.0} ms"),
        "≤ 200 ms",
        Some(worker_ms <= 200.0),
    ));
    json.insert(
        "startup".into(),
        json!({"apiMs": api_ms, "workerMs": worker_ms}),
    );

    // Worker cost: drain N PedidoCreado, beside the raw receive/delete floor.
    eprintln!("bench: worker drain of {} messages", o.messages);
    let wq = st.queue("bench-worker", 5, false).await;
    let fq = st.queue("bench-floor", 5, false).await;
    let bodies: Vec<String> = (0..o.messages).map(|_| creado(Uuid::new_v4())).collect();
    st.send_all(&fq, &bodies).await;
    let ((floor_a, floor_calls), floor_emulators) =
        with_emulator_cpu(raw_floor(&st, &fq, o.messages)).await;
    st.send_all(&wq, &bodies).await;
    let port = free_port();
    let health = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let worker = Proc::spawn("sqs-worker", &worker_env(&st, "procesamiento", &wq, port));
    let ((), drain_emulators) = with_emulator_cpu(async {
        loop {
            let handled = metric(&health, "sqs_worker_messages_processed_total").await
                + metric(&health, "sqs_worker_messages_duplicate_total").await;
            if handled as usize >= o.messages {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "worker did not drain in 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let worker_wall = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the last delete batch go out
    let cpu = worker.cpu();
    let rss = worker.peak_rss();
    let sqs_calls = metric(&health, "sqs_worker_sqs_calls_total").await;
    drop(worker);
    st.send_all(&fq, &bodies).await;
    let (floor_b, _) = raw_floor(&st, &fq, o.messages).await;
    let floor = (floor_a + floor_b) / 2;
    let n = o.messages as f64;
    let cpu_us = cpu.as_secs_f64() * 1e6 / n;
    let rss_mib = rss as f64 / (1024.0 * 1024.0);
    let ratio = floor.as_secs_f64() / worker_wall.as_secs_f64();
    let per_message = sqs_calls / n;
    rows.push(row(
        "Worker: drain wall time",
        format!(
            "{:.2} s ({:.0} msg/s)",
            worker_wall.as_secs_f64(),
            n / worker_wall.as_secs_f64()
        ),
        "",
        None,
    ));
    rows.push(row(
        "Raw receive/delete floor",
        format!(
            "{:.2} s ({:.0} msg/s, {} calls)",
            floor.as_secs_f64(),
            n / floor.as_secs_f64(),
            floor_calls
        ),
        "",
        None,
    ));
    rows.push(row(
        "Emulator CPU during the worker drain",
        drain_emulators.clone(),
        "",
        None,
    ));
    rows.push(row(
        "Emulator CPU during the floor",
        floor_emulators.clone(),
        "",
        None,
    ));
    rows.push(row(
        "Worker throughput / floor",
        format!("{ratio:.2}×"),
        "≥ 0.9×",
        Some(ratio >= 0.9),
    ));
    rows.push(row(
        "Worker CPU per message",
        format!("{cpu_us:.0} µs"),
        "≤ 250 µs",
        Some(cpu_us <= 250.0),
    ));
    rows.push(row(
        "Worker peak RSS",
        format!("{rss_mib:.1} MiB"),
        "≤ 15 MiB",
        Some(rss_mib <= 15.0),
    ));
    rows.push(row(
        "SQS requests per message",
        format!("{per_message:.3}"),
        "≤ 0.25",
        Some(per_message <= 0.25),
    ));
    json.insert(
        "worker".into(),
        json!({"messages": o.messages, "wallSecs": worker_wall.as_secs_f64(), "floorSecs": floor.as_secs_f64(),
               "throughputRatio": ratio, "cpuMicrosPerMessage": cpu_us, "peakRssMiB": rss_mib,
               "sqsRequestsPerMessage": per_message,
               "emulatorCpuDrain": drain_emulators, "emulatorCpuFloor": floor_emulators}),
    );

    // API cost: POST beside what it does done directly (the same conditional
    // intake write, then the same publish), interleaved, in the same run.
    eprintln!(
        "bench: API, {} requests at concurrency {}",
        o.requests, o.concurrency
    );
    let api_q = st.queue("bench-api", 5, false).await;
    let api_topic = st.topic(&[&api_q], false).await;
    let port = free_port();
    let api = Proc::spawn("order-api", &api_env(&st, &api_topic, port));
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let _ = http
            .post(format!("{base}/api/pedidos"))
            .json(&loadgen::sample_order(Uuid::new_v4()))
            .send()
            .await;
    }
    let cpu_before = api.cpu();
    let per_task = o.requests / o.concurrency.max(1);
    let tasks: Vec<_> = (0..o.concurrency.max(1))
        .map(|_| {
            let (http, base, sns, topic, table) = (
                http.clone(),
                base.clone(),
                st.clients.sns.clone(),
                api_topic.clone(),
                st.table.clone(),
            );
            tokio::spawn(async move {
                let (mut via_api, mut direct) = (Vec::new(), Vec::new());
                for _ in 0..per_task {
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/pedidos"))
                        .json(&loadgen::sample_order(Uuid::new_v4()))
                        .send()
                        .await;
                    assert!(r.is_ok_and(|r| r.status() == 202), "API request failed");
                    via_api.push(t.elapsed());
                    let body = creado(Uuid::new_v4());
                    let event = shared::contract::Event::parse_message_body(&body).expect("event");
                    let shared::contract::EventPayload::PedidoCreado(order) = &event.payload else {
                        unreachable!("creado() is a PedidoCreado")
                    };
                    let attribute = |t: &str, v: &str| {
                        MessageAttributeValue::builder()
                            .data_type(t)
                            .string_value(v)
                            .build()
                            .expect("attribute")
                    };
                    let t = Instant::now();
                    table
                        .record_intake(order, None, chrono::Utc::now())
                        .await
                        .expect("direct intake write");
                    sns.publish()
                        .topic_arn(&topic)
                        .message(body)
                        .message_attributes("eventType", attribute("String", "PedidoCreado"))
                        .message_attributes("eventVersion", attribute("Number", "1"))
                        .message_attributes("correlationId", attribute("String", "bench"))
                        .message_attributes("total", attribute("Number", "20001"))
                        .send()
                        .await
                        .expect("direct publish");
                    direct.push(t.elapsed());
                }
                (via_api, direct)
            })
        })
        .collect();
    let (mut via_api, mut direct) = (Vec::new(), Vec::new());
    for t in tasks {
        let (a, d) = t.await.expect("task");
        via_api.extend(a);
        direct.extend(d);
    }
    let api_cpu_us =
        (api.cpu().saturating_sub(cpu_before)).as_secs_f64() * 1e6 / via_api.len() as f64;
    let api_rss = api.peak_rss() as f64 / (1024.0 * 1024.0);
    drop(api);
    let (pa, pd) = (Percentiles::of(&mut via_api), Percentiles::of(&mut direct));
    let (added_p50, added_p99) = (pa.p50_ms - pd.p50_ms, pa.p99_ms - pd.p99_ms);
    rows.push(row(
        "API CPU per request",
        format!("{api_cpu_us:.0} µs"),
        "",
        None,
    ));
    rows.push(row("API peak RSS", format!("{api_rss:.1} MiB"), "", None));
    rows.push(row(
        "POST latency vs direct intake write + publish (p50)",
        format!(
            "{:.2} ms vs {:.2} ms: +{added_p50:.2} ms",
            pa.p50_ms, pd.p50_ms
        ),
        "",
        None,
    ));
    rows.push(row(
        "POST latency vs direct intake write + publish (p99)",
        format!(
            "{:.2} ms vs {:.2} ms: +{added_p99:.2} ms",
            pa.p99_ms, pd.p99_ms
        ),
        "≤ +2 ms",
        Some(added_p99 <= 2.0),
    ));
    json.insert("api".into(), json!({"requests": via_api.len(), "cpuMicrosPerRequest": api_cpu_us, "peakRssMiB": api_rss,
                                      "post": pa, "directIntakeAndPublish": pd, "addedP50Ms": added_p50, "addedP99Ms": added_p99}));

    // End to end at a fixed rate below the emulator's capacity.
    eprintln!(
        "bench: end to end, {} orders at {}/s",
        o.e2e_orders, o.e2e_rate
    );
    let p = st.queue("bench-proc", 5, false).await;
    let l = st.queue("bench-log", 5, false).await;
    let e2e_topic = st.topic(&[&p, &l], false).await;
    let port = free_port();
    let _api = Proc::spawn("order-api", &api_env(&st, &e2e_topic, port));
    let _wp = Proc::spawn(
        "sqs-worker",
        &worker_env(&st, "procesamiento", &p, free_port()),
    );
    let _wl = Proc::spawn("sqs-worker", &worker_env(&st, "logistica", &l, free_port()));
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let report = loadgen::run(&LoadConfig {
        base_url: base,
        orders: o.e2e_orders,
        pace: Pace::Rate(o.e2e_rate),
        deadline: Duration::from_secs(120),
        progress: false,
    })
    .await
    .expect("loadgen");
    let e = report.end_to_end;
    rows.push(row(
        &format!("End to end at {}/s ({} orders)", o.e2e_rate, o.e2e_orders),
        format!(
            "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms
        ),
        "",
        None,
    ));
    rows.push(row(
        "Lost orders",
        report.lost.len().to_string(),
        "0",
        Some(report.lost.is_empty()),
    ));
    json.insert(
        "endToEnd".into(),
        serde_json::to_value(&report).unwrap_or_default(),
    );

    // Idle cost: SQS requests per minute of a worker on an empty queue.
    eprintln!("bench: idle worker for {} s", o.idle_secs);
    let port = free_port();
    let health = format!("http://127.0.0.1:{port}");
    let _idle = Proc::spawn("sqs-worker", &worker_env(&st, "logistica", &idle_q, port));
    wait_ok(&format!("{health}/health/ready"), Duration::from_secs(10)).await;
    let before = metric(&health, "sqs_worker_sqs_calls_total").await;
    tokio::time::sleep(Duration::from_secs(o.idle_secs)).await;
    let after = metric(&health, "sqs_worker_sqs_calls_total").await;
    let per_minute = (after - before) * 60.0 / o.idle_secs as f64;
    rows.push(row(
        "Idle worker SQS requests per minute",
        format!("{per_minute:.1}"),
        "≤ 4",
        Some(per_minute <= 4.0),
    ));
    json.insert(
        "idle".into(),
        json!({"sqsRequestsPerMinute": per_minute, "seconds": o.idle_secs}),
    );

    // Report.
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l
                .strip_prefix("model name")?
                .split(':')
                .nth(1)
                .map(|s| s.trim().to_owned()))
            .unwrap_or_else(|| "unknown CPU".into())
    );
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut md = format!(
        "Measured {date} on {machine}, local stack (LocalStack host mode + DynamoDB Local), release builds.\n\n"
    );
    md.push_str("| Figure | Value | Target | Met |\n|---|---|---|---|\n");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        md.push_str(&format!(
            "| {} | {} | {} | {met} |\n",
            r.figure, r.value, r.target
        ));
    }
    json.insert("date".into(), json!(date.to_string()));
    json.insert("machine".into(), json!(machine));
    println!("{md}");
    if let Some(dir) = Path::new(&o.out).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::write(format!("{}.md", o.out), &md).and_then(|()| {
        std::fs::write(
            format!("{}.json", o.out),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        eprintln!("bench: cannot write {}.{{md,json}}: {e}", o.out);
        std::process::exit(1);
    }
    eprintln!("bench: wrote {}.md and {}.json", o.out, o.out);
}
