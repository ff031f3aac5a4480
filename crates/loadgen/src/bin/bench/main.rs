//! `bench`: measures what the pipeline costs on the local AWS stack, each
//! figure side by side with its baseline in the same run, and writes a
//! Markdown table and a JSON file (`bench/results.{md,json}` by default).
//!
//! Figures, one module each, in this order: [`startup`] (process start to
//! ready), [`drain`] (the worker against the `floor` binary at 0/0 and at
//! the round trips of real AWS), [`api`] (the API against a direct intake
//! write + publish), [`end_to_end`] (through both workers at a fixed rate)
//! and [`idle`] (SQS requests of an idle worker); [`report`] writes them.
//! See [`options::USAGE`] for the flags.
//!
//! Needs the stack's environment (`make bench` sources `.local/stack.env`)
//! and release builds of `order-api`, `sqs-worker` and `floor` beside this
//! binary (`scripts/bench.sh` builds them).

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

mod api;
mod drain;
mod end_to_end;
mod idle;
mod options;
mod process;
mod report;
mod startup;

use std::process::ExitCode;

use serde_json::json;
use testkit::{QueuePair, Stack, stack};

use crate::options::{Command, Figure, Options, USAGE};
use crate::report::Report;

#[tokio::main]
async fn main() -> ExitCode {
    let o = match Options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    testkit::require_stack();
    let st = stack().await;
    let mut report = Report::default();
    if o.measures(Figure::Startup) {
        startup::measure(&st, &mut report).await;
    }
    if o.measures(Figure::Drain) {
        drain::measure(&st, &o, &mut report).await;
    }
    if o.measures(Figure::Api) {
        api::measure(&st, o.requests, o.concurrency, &mut report).await;
    }
    if o.measures(Figure::EndToEnd) {
        end_to_end::measure(&st, o.e2e_orders, o.e2e_rate, &mut report).await;
    }
    if o.measures(Figure::Idle) {
        idle::measure(&st, o.idle_secs, &mut report).await;
    }
    write_report(&o, report)
}

/// Adds the date and the machine, prints the Markdown and writes both files.
fn write_report(o: &Options, mut report: Report) -> ExitCode {
    let machine = machine();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    report.json.insert("date".into(), json!(date));
    report.json.insert("machine".into(), json!(machine));
    let header = format!(
        "Measured {date} on {machine}, local stack (LocalStack host mode + DynamoDB Local), release builds."
    );
    match report.write(&o.out, &header) {
        Ok(md) => {
            println!("{md}");
            eprintln!("bench: wrote {}.md and {}.json", o.out, o.out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: cannot write {}.{{md,json}}: {e}", o.out);
            ExitCode::FAILURE
        }
    }
}

/// "2 cores, <CPU model>".
fn machine() -> String {
    format!(
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
    )
}

/// The environment of an `order-api` publishing to `topic`, listening on `port`.
fn api_env(st: &Stack, topic: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SNS_TOPIC_ARN", topic.to_owned()),
        ("ORDERS_TABLE", st.table.name().to_owned()),
        ("PORT", port.to_string()),
        ("HOST", "127.0.0.1".into()),
    ]
}

/// The environment of a `role` worker on queue `q`, with its health server on `port`.
fn worker_env(st: &Stack, role: &str, q: &QueuePair, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("WORKER_ROLE", role.to_owned()),
        ("SQS_QUEUE_URL", q.url.clone()),
        ("SQS_DLQ_URL", q.dlq_url.clone()),
        ("ORDERS_TABLE", st.table.name().to_owned()),
        ("HEALTH_PORT", port.to_string()),
    ]
}
