//! sqs-worker binary.
//!
//! ```text
//! sqs-worker [--role procesamiento|logistica]     consume SQS_QUEUE_URL
//! sqs-worker dlq peek [--max N]                    show DLQ messages and why they failed
//! sqs-worker dlq redrive [--manual | --rate N]     move DLQ messages back to the queue
//!                                                  (never by hand beside a running move task)
//! sqs-worker dlq peek --subscription [--max N]     show the events SNS could not deliver
//! sqs-worker dlq redrive --subscription            deliver them to the queue
//! sqs-worker healthcheck                           probe a running worker (container health check)
//! sqs-worker --version
//! ```

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use shared::aws::AwsClients;
use shared::config::EnvSource;
use sqs_worker::{Application, Settings, dlq};

const USAGE: &str = "usage: sqs-worker [--role procesamiento|logistica] | dlq peek [--subscription] [--max N] | dlq redrive [--manual | --rate N] | dlq redrive --subscription | healthcheck | --version
  dlq: SQS_QUEUE_URL and SQS_DLQ_URL (--subscription: SQS_SUBSCRIPTION_DLQ_URL, the role's SNS subscription DLQ)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--version" | "-V"] => {
            println!("sqs-worker {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["healthcheck"] => shared::process::healthcheck("sqs-worker", &["HEALTH_PORT", "PORT"]),
        [] => run(None),
        ["--role", role] => run(Some(role)),
        ["dlq", rest @ ..] => dlq(rest),
        _ => {
            eprintln!("sqs-worker: unexpected arguments {args:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn settings(role: Option<&str>) -> Result<Settings, ExitCode> {
    Settings::from_env(&EnvSource::from_process(), role).map_err(|e| {
        eprintln!("sqs-worker: {e}");
        ExitCode::from(2)
    })
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, ExitCode> {
    let built = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    built.map_err(|e| {
        eprintln!("sqs-worker: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

fn run(role: Option<&str>) -> ExitCode {
    let settings = match settings(role) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let telemetry =
        match shared::telemetry::init(settings.tracing.as_ref(), env!("CARGO_PKG_VERSION")) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("sqs-worker: {e}");
                return ExitCode::from(2);
            }
        };
    let runtime = match runtime(settings.runtime_threads) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until_stopped(shared::process::shutdown_signal())
            .await?;
        Ok(())
    });
    // The worker bounded its own shutdown; whatever is still running (an
    // abandoned SDK call's connection) must not delay the exit.
    runtime.shutdown_timeout(sqs_worker::consumer::RUNTIME_STOP);
    // The drained messages' spans go out before the process ends (within
    // the exit deadline: what a slow collector has not taken is lost).
    telemetry.shutdown_within(sqs_worker::consumer::SPAN_FLUSH);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sqs-worker failed");
            eprintln!("sqs-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dlq(args: &[&str]) -> ExitCode {
    shared::telemetry::init_tracing();
    let command = match dlq::Command::parse(args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("sqs-worker dlq: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // The DLQ tools need the queue URLs, not the worker's settings.
    let settings = match dlq::DlqSettings::from_env(&EnvSource::from_process(), command.target()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sqs-worker dlq: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime(1) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let clients = AwsClients::load(&settings.aws).await;
        dlq::run(&clients.sqs, &settings, command).await
    });
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sqs-worker dlq: {e}");
            ExitCode::FAILURE
        }
    }
}
