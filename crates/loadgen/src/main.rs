//! `loadgen --url URL --orders N [--rate R | --concurrency C] [--deadline-secs S] [--retries N] [--json FILE] [--quiet]`
//!
//! Exits 1 when any accepted order was lost (not processed within the deadline).
//! `--retries N` posts an order answered 503, 429 or another 5xx, 409 (its
//! key still in progress), or not answered at all (connection refused or
//! reset, timeout) again, up to N more times, with the same body and
//! `Idempotency-Key`, after its `Retry-After` or a backoff
//! (`loadgen::answer`).

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use loadgen::{LoadConfig, Pace};

const USAGE: &str = "usage: loadgen --url URL --orders N [--rate ORDERS_PER_SEC | --concurrency C] [--deadline-secs S] [--retries N] [--json FILE] [--quiet]";

fn parse(args: &[String]) -> Result<(LoadConfig, Option<String>), String> {
    let mut config = LoadConfig {
        base_url: "http://127.0.0.1:8080".into(),
        orders: 100,
        pace: Pace::Concurrency(16),
        deadline: Duration::from_secs(60),
        progress: true,
        retries: 0,
    };
    let mut json = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--url" => config.base_url = value()?,
            "--orders" => {
                config.orders = value()?
                    .parse()
                    .map_err(|_| "--orders must be a whole number")?
            }
            "--rate" => {
                config.pace = Pace::Rate(value()?.parse().map_err(|_| "--rate must be a number")?)
            }
            "--concurrency" => {
                config.pace = Pace::Concurrency(
                    value()?
                        .parse()
                        .map_err(|_| "--concurrency must be a whole number")?,
                )
            }
            "--deadline-secs" => {
                config.deadline = Duration::from_secs(
                    value()?
                        .parse()
                        .map_err(|_| "--deadline-secs must be a whole number")?,
                )
            }
            "--retries" => {
                config.retries = value()?
                    .parse()
                    .map_err(|_| "--retries must be a whole number")?
            }
            "--json" => json = Some(value()?),
            "--quiet" => config.progress = false,
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok((config, json))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, json) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(loadgen::run(&config)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", report.summary());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("loadgen: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.lost.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "loadgen: {} accepted order(s) were not processed within the deadline",
            report.lost.len()
        );
        ExitCode::FAILURE
    }
}
