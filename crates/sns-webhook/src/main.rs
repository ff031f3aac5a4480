//! sns-webhook binary: `sns-webhook` serves; `sns-webhook healthcheck`
//! probes a running instance (container health checks); `--version`.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use shared::config::EnvSource;
use sns_webhook::{Application, Settings};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("sns-webhook {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("healthcheck") => shared::process::healthcheck("sns-webhook", &["PORT"]),
        Some(other) => {
            eprintln!("unknown argument {other:?}; usage: sns-webhook [--version | healthcheck]");
            ExitCode::from(2)
        }
        None => serve(),
    }
}

fn serve() -> ExitCode {
    let settings = match Settings::from_env(&EnvSource::from_process()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("sns-webhook: {e}");
            return ExitCode::from(2);
        }
    };
    // The project's logs: JSON in containers (or LOG_FORMAT=json), panics logged.
    shared::telemetry::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sns-webhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until_stopped(shared::process::shutdown_signal())
            .await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sns-webhook failed");
            eprintln!("sns-webhook: {e:#}");
            ExitCode::FAILURE
        }
    }
}
