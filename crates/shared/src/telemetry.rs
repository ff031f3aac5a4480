//! Logging setup shared by the binaries.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log filter from `RUST_LOG` (`info` when unset), in the simple
/// `level` / `target=level,...` syntax. An invalid value falls back to `info`
/// and says so, rather than silencing the logs.
fn filter() -> Targets {
    let Ok(spec) = std::env::var("RUST_LOG") else {
        return Targets::new().with_default(LevelFilter::INFO);
    };
    Targets::from_str(&spec).unwrap_or_else(|e| {
        eprintln!("RUST_LOG={spec:?} is invalid ({e}); logging at info");
        Targets::new().with_default(LevelFilter::INFO)
    })
}

/// Installs the global `tracing` subscriber: JSON lines when `LOG_FORMAT=json`
/// or when stdout is not a terminal (containers), human-readable otherwise.
/// Safe to call twice.
pub fn init_tracing() {
    let json = match std::env::var("LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("pretty" | "text") => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter());
    let _already_set = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
}
