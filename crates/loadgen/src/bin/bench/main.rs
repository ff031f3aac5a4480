//! `bench`: measures what the pipeline costs on the local AWS stack, each
//! figure side by side with its baseline in the same run, and writes a
//! Markdown table and a JSON file (`bench/results.{md,json}` by default).
//!
//! Figures, one module each, in this order: [`startup`] (process start to
//! ready), [`drain`] (the worker against the `floor` binary at 0/0 and at
//! the round trips of real AWS), [`api`] (each build's API against a direct
//! conditional `PutItem` of its intake record), [`end_to_end`] (through both
//! workers at a fixed rate, each build in turn, with the requests and
//! capacity units counted by [`meter`] and priced by [`cost`]) and [`idle`]
//! (SQS requests of an idle worker); [`report`] writes them. See
//! [`options::USAGE`] for the flags.
//!
//! Two builds side by side ([`builds`]): this one, and with `--baseline DIR`
//! the previous one (`scripts/bench.sh` builds it from a git worktree), so
//! a change is measured against what it replaces in the same run, on the
//! same emulators.
//!
//! Needs the stack's environment (`make bench` sources `.local/stack.env`)
//! and release builds of `order-api`, `sqs-worker` and `floor` beside this
//! binary (`scripts/bench.sh` builds them).

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

mod api;
mod builds;
mod cost;
mod drain;
mod end_to_end;
mod idle;
mod intake;
mod meter;
mod options;
mod process;
mod report;
mod startup;

use std::process::ExitCode;

use serde_json::json;
pub(crate) use testkit::process::{api_env, worker_env};
use testkit::{QueuePair, Stack, stack};

use crate::options::{Command, Figure, Options, USAGE};
use crate::report::Report;

#[tokio::main]
async fn main() -> ExitCode {
    let o = match Options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => *o,
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
    let builds = builds::builds(&o);
    for b in &builds {
        eprintln!(
            "bench: build {}: {}, {}",
            b.describe(),
            b.order_api.display(),
            b.sqs_worker.display()
        );
    }
    report.json.insert(
        "builds".into(),
        json!(
            builds
                .iter()
                .map(|b| json!({"label": b.label, "orderApi": b.order_api,
            "sqsWorker": b.sqs_worker, "relay": b.relay}))
                .collect::<Vec<_>>()
        ),
    );
    if o.measures(Figure::Startup) {
        startup::measure(&st, &mut report).await;
    }
    let mut drain_sqs = None;
    if o.measures(Figure::Drain) {
        drain_sqs = Some(drain::measure(&st, &o, &mut report).await);
    }
    let mut intakes = Vec::new();
    if o.measures(Figure::Api) || o.measures(Figure::EndToEnd) {
        for (i, b) in builds.iter().enumerate() {
            intakes.push(intake::capture(&st, b, i).await);
        }
    }
    if o.measures(Figure::Api) {
        api::measure(
            &st,
            &builds,
            &intakes,
            o.requests,
            o.concurrency,
            o.api_blocks,
            &mut report,
        )
        .await;
    }
    if o.measures(Figure::EndToEnd) {
        end_to_end::measure(&st, &o, &builds, &intakes, drain_sqs, &mut report).await;
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

/// A topic of its own (`it-<name>-<suffix>`; `Stack::topic` names one topic
/// per stack, so every figure's subscriptions would pile up on it) fanning
/// out to `queues` as in production: raw delivery, the `eventType` filter.
async fn topic(st: &Stack, name: &str, queues: &[&QueuePair]) -> String {
    let arn = st
        .clients
        .sns
        .create_topic()
        .name(format!("it-{name}-{}", st.suffix))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("arn");
    st.subscribe(&arn, queues).await;
    arn
}

/// Deletes a topic made by [`topic`] (and so its subscriptions).
async fn delete_topic(st: &Stack, arn: &str) {
    if let Err(e) = st.clients.sns.delete_topic().topic_arn(arn).send().await {
        eprintln!("bench: could not delete topic {arn}: {e}");
    }
}
