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

/// Logs every panic as an error event first (a JSON line in containers,
/// inside the current span: a worker's message id and order id), then runs
/// the default hook. Release builds abort on panic (`panic = "abort"`), so
/// this line is what the logs keep of it.
fn log_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            tracing::error!(panic = %message, location = %location, "panicked");
            previous(info);
        }));
    });
}

/// Installs the global `tracing` subscriber: JSON lines when `LOG_FORMAT=json`
/// or when stdout is not a terminal (containers), human-readable otherwise,
/// and logs panics through it. Safe to call twice.
pub fn init_tracing() {
    log_panics();
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
