//! order-api binary: `order-api` serves; `order-api relay` runs the outbox
//! relay; `order-api healthcheck` probes a running instance (container health
//! checks, either mode); `order-api --version`.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use order_api::relay::{Relay, RelaySettings};
use order_api::{Application, Settings};
use shared::config::EnvSource;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("order-api {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("healthcheck") => shared::process::healthcheck("order-api", &["PORT"]),
        Some("relay") => relay(),
        Some(other) => {
            eprintln!(
                "unknown argument {other:?}; usage: order-api [--version | relay | healthcheck]"
            );
            ExitCode::from(2)
        }
        None => serve(),
    }
}

fn serve() -> ExitCode {
    let settings = match Settings::from_env(&EnvSource::from_process()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("order-api: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry =
        match shared::telemetry::init(settings.tracing.as_ref(), env!("CARGO_PKG_VERSION")) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("order-api: {e}");
                return ExitCode::from(2);
            }
        };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("order-api: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until_stopped(shared::process::shutdown_signal())
            .await?;
        Ok(())
    });
    // The last spans (the drain's requests) go out before the process ends.
    telemetry.shutdown();
    match result {
        Ok(()) => {
            tracing::info!("order-api stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "order-api failed");
            eprintln!("order-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn relay() -> ExitCode {
    let settings = match RelaySettings::from_env(&EnvSource::from_process()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("order-api relay: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry =
        match shared::telemetry::init(settings.tracing.as_ref(), env!("CARGO_PKG_VERSION")) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("order-api relay: {e}");
                return ExitCode::from(2);
            }
        };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("order-api relay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        let relay = Relay::build(settings).await?;
        relay
            .run_until_stopped(shared::process::shutdown_signal())
            .await?;
        Ok(())
    });
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "order-api relay failed");
            eprintln!("order-api relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}
