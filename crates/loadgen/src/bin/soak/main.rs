//! `soak` (`make soak`): a seeded chaos soak of the whole pipeline.
//!
//! Runs the real processes from the built binaries (`order-api`, `order-api
//! relay`, `sqs-worker --role procesamiento|logistica`) on a table, topic,
//! queues and DLQs of its own, each process reaching AWS through testkit's
//! fault proxies; posts `SOAK_RATE` orders a second for `SOAK_SECONDS` with
//! a client that retries as the API's contract says and writes every answer
//! to a ledger ([`client`], [`ledger`]); injects the faults of a plan drawn
//! from `SOAK_SEED` ([`schedule`], [`faults`]) and poison messages; samples
//! the workers' readiness and progress ([`monitor`]); then lets the system
//! settle and checks it with a checker that reads only the ledger, the table
//! and the queues ([`checker`]). Exit status 0 when every check passed, 1
//! when one failed, 2 on invalid settings. See [`options::USAGE`].

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

mod checker;
mod client;
mod faults;
mod ledger;
mod monitor;
mod options;
mod processes;
mod schedule;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::config::EnvSource;
use shared::orders_table::attr;
use testkit::Stack;
use testkit::fault_proxy::FaultProxy;
use tokio::sync::{Mutex, mpsc, watch};
use uuid::Uuid;

use crate::checker::{Findings, Outcome, WorkerQueues};
use crate::faults::{Applied, Injector, Proxies};
use crate::options::{Options, Sabotage, USAGE};
use crate::processes::{Endpoints, Fleet, Termination};
use crate::schedule::{Plan, Process};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(other) = args
        .iter()
        .find(|a| !["--help", "-h", "--plan"].contains(&a.as_str()))
    {
        eprintln!("soak: unknown argument {other:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let started = chrono::Utc::now();
    // The repository's .local/soak (this crate is crates/loadgen).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or_else(|| Path::new("."))
        .join(".local/soak");
    let run_name = started.format("%Y%m%dT%H%M%SZ").to_string();
    let o = match Options::from_env(&EnvSource::from_process(), &root, &run_name) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let plan = schedule::plan(o.seed, o.seconds);
    if args.iter().any(|a| a == "--plan") {
        println!("{}", plan.table());
        return ExitCode::SUCCESS;
    }
    let missing = testkit::missing_stack();
    if !missing.is_empty() {
        eprintln!(
            "soak: the local stack is not configured ({} unset): run `make soak`, or `make stack-up` and `set -a; . .local/stack.env; set +a`",
            missing.join(", ")
        );
        return ExitCode::from(2);
    }
    println!(
        "soak: seed {}{} · {} s at {} orders/s ({} orders) · replay: SOAK_SEED={} SOAK_SECONDS={} make soak",
        o.seed,
        if o.seed_given { "" } else { " (random)" },
        o.seconds,
        o.rate,
        o.orders(),
        o.seed,
        o.seconds
    );
    println!("{}", plan.table());
    // SIGTERM too (a CI timeout): the processes are stopped as the run's
    // future is dropped, not left polling on fixed ports.
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        code = run(o, plan, run_name) => code,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("soak: interrupted; processes stopped, resources left in place");
            ExitCode::from(130)
        }
        () = terminated => {
            eprintln!("soak: terminated; processes stopped, resources left in place");
            ExitCode::from(143)
        }
    }
}

async fn run(o: Options, plan: Plan, run_name: String) -> ExitCode {
    let began = Instant::now();
    if let Err(e) = std::fs::create_dir_all(&o.run_dir) {
        eprintln!("soak: cannot create {}: {e}", o.run_dir.display());
        return ExitCode::from(2);
    }
    let st = testkit::stack().await;
    let pipeline = st.pipeline().await;
    let proxies = Arc::new(Proxies {
        dynamodb: Mutex::new(FaultProxy::start(&testkit::endpoint("DYNAMODB")).await),
        sns: Mutex::new(FaultProxy::start(&testkit::endpoint("SNS")).await),
        sqs: Mutex::new(FaultProxy::start(&testkit::endpoint("SQS")).await),
    });
    let endpoints = Endpoints {
        dynamodb: proxies.dynamodb.lock().await.url(),
        sns: proxies.sns.lock().await.url(),
        sqs: proxies.sqs.lock().await.url(),
    };
    let fleet = Arc::new(Fleet::new(
        &st,
        &pipeline,
        &endpoints,
        o.bin_dir.as_deref(),
        &o.run_dir,
    ));
    println!(
        "resources: table {}, topic {}, queues {} and {} (+ -dlq); logs in {}; ledger {}",
        st.table.name(),
        pipeline.topic,
        pipeline.procesamiento.url,
        pipeline.logistica.url,
        o.run_dir.display(),
        o.ledger.display()
    );
    if let Err(e) = fleet.start(Duration::from_secs(60)).await {
        eprintln!("soak: the processes did not start: {e}");
        return ExitCode::from(2);
    }
    let ledger = match ledger::Ledger::create(&o.ledger) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("soak: cannot write the ledger {}: {e}", o.ledger.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "processes ready after {:.1} s; soaking",
        began.elapsed().as_secs_f64()
    );

    let queues = [
        (Process::Procesamiento, pipeline.procesamiento.url.clone()),
        (Process::Logistica, pipeline.logistica.url.clone()),
    ];
    let t0 = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let monitor = tokio::spawn({
        let (fleet, sqs, queues, stop) = (
            Arc::clone(&fleet),
            st.clients.sqs.clone(),
            queues.clone(),
            stop_rx.clone(),
        );
        async move { monitor::run(&fleet, &sqs, queues, t0, stop).await }
    });
    let supervisor = tokio::spawn({
        let (fleet, stop) = (Arc::clone(&fleet), stop_rx.clone());
        async move { fleet.supervise(stop).await }
    });
    let (burst_tx, burst_rx) = mpsc::channel(4);
    let injector = Arc::new(Injector {
        fleet: Arc::clone(&fleet),
        proxies: Arc::clone(&proxies),
        bursts: burst_tx,
        burst_size: (o.rate * 2.0).ceil() as u64,
        t0,
    });
    let faults = tokio::spawn(Arc::clone(&injector).run(plan.faults.clone()));
    let deny = o.sabotage.contains(&Sabotage::DenyDeletes).then(|| {
        let injector = Arc::clone(&injector);
        let at = t0 + Duration::from_secs(o.seconds - schedule::quiet_tail(o.seconds));
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            println!(
                "SABOTAGE: the workers' deletes denied for {} s from t+{:.0}s",
                Sabotage::DENY_SECS,
                t0.elapsed().as_secs_f64()
            );
            injector
                .apply(
                    &schedule::Kind::SqsDeletesDenied,
                    Duration::from_secs(Sabotage::DENY_SECS),
                )
                .await
        })
    });
    let poison = tokio::spawn(faults::inject_poison(
        st.clients.sqs.clone(),
        queues.clone(),
        run_name.clone(),
        plan.poison.clone(),
        t0,
    ));
    let sent = client::run(
        &fleet.get(Process::Api).base,
        o.rate,
        o.orders(),
        Arc::clone(&ledger),
        burst_rx,
    )
    .await;
    let applied = faults.await.unwrap_or_default();
    let poison = poison.await.unwrap_or_default();
    if let Err(e) = ledger.flush() {
        eprintln!("soak: could not write the ledger: {e}");
    }
    println!(
        "posted {} orders ({} in bursts) in {:.0} s; waiting for the system to settle (at most {} s)",
        sent.steady + sent.burst,
        sent.burst,
        t0.elapsed().as_secs_f64(),
        o.settle.as_secs()
    );

    let worker_queues: Vec<WorkerQueues> = [
        (Process::Procesamiento, &pipeline.procesamiento),
        (Process::Logistica, &pipeline.logistica),
    ]
    .into_iter()
    .map(|(worker, q)| WorkerQueues {
        worker,
        url: q.url.clone(),
        dlq_url: q.dlq_url.clone(),
        poison: poison
            .iter()
            .filter(|p| p.worker == worker)
            .copied()
            .collect(),
    })
    .collect();
    let accepted: BTreeSet<Uuid> = match ledger::read(&o.ledger) {
        Ok(orders) => orders
            .iter()
            .filter(|(_, attempts)| checker::outcome(attempts) == Outcome::Accepted)
            .map(|(id, _)| *id)
            .collect(),
        Err(e) => {
            eprintln!("soak: cannot read the ledger back: {e}");
            return ExitCode::from(2);
        }
    };
    let settled = checker::settle(&st, &worker_queues, &accepted, o.settle).await;
    if let Some(deny) = deny {
        let note = deny.await.unwrap_or_default();
        println!("SABOTAGE: deletes allowed again ({note})");
    }
    let _ = stop_tx.send(true);
    let readings = monitor.await.unwrap_or_default();
    let exits = supervisor.await.unwrap_or_default();
    let samples = o.run_dir.join("samples.jsonl");
    if let Err(e) = readings.write_samples(&samples) {
        eprintln!("soak: cannot write {}: {e}", samples.display());
    }
    // Everything stopped (SIGTERM, each within its limit) before the
    // sabotages and the checks: what the checks read no longer moves.
    let stopped = fleet.stop().await;
    for (victim, sabotage) in accepted.iter().zip(&o.sabotage) {
        if *sabotage != Sabotage::DenyDeletes {
            match sabotage_run(
                &st,
                *sabotage,
                *victim,
                (&pipeline.procesamiento.url, &pipeline.procesamiento.dlq_url),
                &o.ledger,
            )
            .await
            {
                Ok(done) | Err(done) => println!("SABOTAGE: {done}"),
            }
        }
    }
    let findings =
        match checker::check(&st, &o.ledger, &run_name, &worker_queues, &readings.workers).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("soak: cannot read the ledger {}: {e}", o.ledger.display());
                return ExitCode::from(2);
            }
        };
    let mut findings = findings;
    findings
        .checks
        .push(checker::processes_check(&exits, &stopped));
    print_report(
        &o,
        &plan,
        &findings,
        &Extra {
            settled,
            applied: &applied,
            exits: &exits,
            stopped: &stopped,
            readings: &readings,
            poison: poison.len(),
            took: began.elapsed(),
        },
    );
    if findings.passed() {
        delete_resources(&st, &pipeline).await;
        println!(
            "soak: PASSED (resources deleted; ledger and logs kept in {})",
            o.run_dir.display()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "soak: FAILED — replay with SOAK_SEED={} SOAK_SECONDS={}; table {} and queues left for inspection; ledger {}, logs in {}",
            o.seed,
            o.seconds,
            st.table.name(),
            o.ledger.display(),
            o.run_dir.display()
        );
        ExitCode::from(1)
    }
}

/// `record-refused`: a copy of `victim`'s item under a new id that the
/// ledger says was refused for certain (422), and a 500 among `victim`'s
/// answers.
async fn record_refused(
    st: &Stack,
    victim: Uuid,
    ledger: &std::path::Path,
) -> Result<String, String> {
    use std::io::Write as _;
    let table = st.table.name();
    let item = st
        .item(victim)
        .await
        .ok_or_else(|| format!("no item for {victim}"))?;
    let refused = Uuid::new_v4();
    let mut copy = item;
    copy.insert(
        attr::PEDIDO_ID.to_owned(),
        AttributeValue::S(refused.to_string()),
    );
    st.clients
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(copy))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let lines = [
        ledger::Entry {
            pedido_id: refused,
            status: ledger::Status::Code(422),
            attempt: 1,
            at: chrono::Utc::now(),
            problem: Some("validation".into()),
        },
        ledger::Entry {
            pedido_id: victim,
            status: ledger::Status::Code(500),
            attempt: 99,
            at: chrono::Utc::now(),
            problem: Some("internal".into()),
        },
    ];
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(ledger)
        .map_err(|e| e.to_string())?;
    for line in &lines {
        let text = serde_json::to_string(line).map_err(|e| e.to_string())?;
        writeln!(file, "{text}").map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "put an item for {refused}, refused for certain in the ledger, and a 500 among {victim}'s answers"
    ))
}

/// Breaks the run on purpose (`SOAK_SABOTAGE`); what was done.
async fn sabotage_run(
    st: &Stack,
    sabotage: Sabotage,
    victim: Uuid,
    (queue, dlq): (&str, &str),
    ledger: &std::path::Path,
) -> Result<String, String> {
    let key = AttributeValue::S(victim.to_string());
    let table = st.table.name();
    let done = match sabotage {
        Sabotage::DeleteOrder => st
            .clients
            .dynamodb
            .delete_item()
            .table_name(table)
            .key(attr::PEDIDO_ID, key)
            .send()
            .await
            .map(|_| format!("deleted the item of accepted order {victim}"))
            .map_err(|e| e.to_string()),
        Sabotage::ApplyTwice => st
            .clients
            .dynamodb
            .update_item()
            .table_name(table)
            .key(attr::PEDIDO_ID, key)
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", attr::APLICACIONES_LOGISTICA)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map(|_| format!("raised the logistica counter of order {victim} by one"))
            .map_err(|e| e.to_string()),
        Sabotage::StrayDlq => st
            .clients
            .sqs
            .send_message()
            .queue_url(dlq)
            .message_body(testkit::creado(victim))
            .send()
            .await
            .map(|_| format!("sent a valid PedidoCreado of {victim} to the procesamiento DLQ"))
            .map_err(|e| e.to_string()),
        Sabotage::DenyDeletes => Ok("deletes denied during the run".into()),
        Sabotage::RecordRefused => record_refused(st, victim, ledger).await,
        Sabotage::LeaveMessage => st
            .clients
            .sqs
            .send_message()
            .queue_url(queue)
            .message_body(testkit::creado(Uuid::new_v4()))
            .send()
            .await
            .map(|_| "left a PedidoCreado in the procesamiento queue".to_owned())
            .map_err(|e| e.to_string()),
    };
    done.map_err(|e| format!("{sabotage:?} failed: {e}"))
}

/// The rest of what the report shows.
struct Extra<'a> {
    settled: Option<Duration>,
    applied: &'a [Applied],
    exits: &'a [String],
    stopped: &'a [(Process, Termination)],
    readings: &'a monitor::Readings,
    poison: usize,
    took: Duration,
}

fn print_report(o: &Options, plan: &Plan, f: &Findings, x: &Extra<'_>) {
    let c = &f.client;
    println!(
        "\n=== soak report: seed {}, {} s at {} orders/s ===",
        o.seed, o.seconds, o.rate
    );
    println!(
        "settle      {}",
        x.settled.map_or_else(
            || format!(
                "did not settle within {} s (checked anyway)",
                o.settle.as_secs()
            ),
            |d| format!("settled {:.1} s after the last answer", d.as_secs_f64())
        )
    );
    println!(
        "orders      {} posted: {} accepted (202), {} refused for certain, {} outcome unknown to the client; {} in the table",
        c.outcomes.len(),
        c.count(Outcome::Accepted),
        c.count(Outcome::Refused),
        c.count(Outcome::Unknown),
        f.orders_in_table
    );
    println!(
        "attempts    {} ({} retries; {} orders posted more than once)",
        c.attempts,
        c.attempts - c.outcomes.len(),
        c.retried_orders
    );
    println!(
        "answers     {}",
        c.answers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "publishes   order-api {} + outbox-relay {} (their /metrics sampled each second, summed over restarts; a killed process's last second is missed)",
        x.readings.published(Process::Api),
        x.readings.published(Process::Relay)
    );
    println!(
        "poison      {} injected ({} planned), dead-lettered more than once: {}",
        x.poison,
        plan.poison.len(),
        f.poison_repeated
    );
    for (worker, samples) in &x.readings.workers {
        let not_ready = samples.iter().filter(|s| s.ready != Some(200)).count();
        println!(
            "readiness   {}: {not_ready} of {} samples not ready",
            worker.name(),
            samples.len()
        );
    }
    println!(
        "faults      {} of {} planned carried out:",
        x.applied.len(),
        plan.faults.len()
    );
    for a in x.applied {
        println!(
            "  t+{:>5.1}s..{:>5.1}s  {:<52} {:<36} {}",
            a.began,
            a.ended,
            a.fault.kind.describe(),
            a.fault.kind.target(),
            a.note
        );
    }
    if x.exits.is_empty() {
        println!("exits       no process exited unless a fault stopped it");
    } else {
        println!("exits       processes that exited by themselves (restarted):");
        x.exits.iter().for_each(|e| println!("  {e}"));
    }
    let stopped: Vec<String> = x
        .stopped
        .iter()
        .map(|(p, t)| match t {
            Termination::Exited(status, took) => {
                format!("{} {status} in {:.1} s", p.name(), took.as_secs_f64())
            }
            Termination::Killed => format!(
                "{} still running {} s after SIGTERM",
                p.name(),
                processes::EXIT_LIMIT.as_secs()
            ),
            Termination::NotRunning => format!("{} not running", p.name()),
        })
        .collect();
    println!("stop        {}", stopped.join("; "));
    println!("checks");
    for check in &f.checks {
        println!(
            "  {}  {}",
            if check.passed() { "ok  " } else { "FAIL" },
            check.name
        );
        for problem in &check.problems {
            println!("          {problem}");
        }
    }
    println!("took        {:.0} s in all", x.took.as_secs_f64());
}

/// Deletes the run's topic, queues and table (after a passing run).
async fn delete_resources(st: &Stack, pipeline: &testkit::Pipeline) {
    let _ = st
        .clients
        .sns
        .delete_topic()
        .topic_arn(&pipeline.topic)
        .send()
        .await;
    for q in [&pipeline.procesamiento, &pipeline.logistica] {
        for url in [&q.url, &q.dlq_url] {
            let _ = st.clients.sqs.delete_queue().queue_url(url).send().await;
        }
    }
    let _ = st
        .clients
        .dynamodb
        .delete_table()
        .table_name(st.table.name())
        .send()
        .await;
}
