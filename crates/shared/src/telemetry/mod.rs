//! Logging and tracing set up by the binaries: JSON log lines (or
//! human-readable ones on a terminal), panics logged, and, when the
//! `OTEL_*` variables ask for it, OpenTelemetry spans made from the
//! `tracing` spans and exported over OTLP/HTTP, with the trace id on every
//! log line. While tracing is off no OpenTelemetry code runs at all.

mod log_format;
pub mod propagation;
mod settings;

use std::io::IsTerminal;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterFn, LevelFilter, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use settings::{Sampling, TracingSettings};

/// Whether spans are being exported (set once, by [`init`]).
static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether tracing is on in this process: code that only exists for traces
/// (child spans, trace context in messages) checks this first.
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// A span made only while tracing is on (a disabled span otherwise, which
/// costs nothing): `traced(|| tracing::info_span!("publish", ...))`.
pub fn traced(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    if tracing_enabled() {
        make()
    } else {
        tracing::Span::none()
    }
}

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TelemetryError(#[from] opentelemetry_otlp::ExporterBuildError);

/// Handle on the installed telemetry: call [`Telemetry::shutdown`] before
/// exiting, so the spans still buffered are sent.
#[derive(Debug)]
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the buffered spans (bounded by the exporter's timeout) and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "flushing the last spans failed");
        }
    }

    /// [`Telemetry::shutdown`], waiting for the exporter at most `timeout`
    /// (for a process with an exit deadline).
    pub fn shutdown_within(self, timeout: Duration) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown_with_timeout(timeout)
        {
            tracing::warn!(error = %e, "flushing the last spans failed");
        }
    }
}

fn sampler(sampling: Sampling) -> Sampler {
    match sampling {
        Sampling::AlwaysOn => Sampler::AlwaysOn,
        Sampling::AlwaysOff => Sampler::AlwaysOff,
        Sampling::Ratio(r) => Sampler::TraceIdRatioBased(r),
        Sampling::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        Sampling::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        Sampling::ParentBasedRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

/// The tracer provider exporting to `settings.traces_endpoint`, its spans
/// batched on the SDK's own thread (a blocking HTTP client: it needs no
/// async runtime and outlives the application's).
fn provider(
    settings: &TracingSettings,
    version: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.traces_endpoint.clone())
        .build()?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", version.to_owned()))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(settings.sampling))
        .with_resource(resource)
        .build())
}

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

/// What becomes part of a trace, whatever `RUST_LOG` says: this
/// workspace's spans down to `info` (the request, intake, publish, message,
/// apply and delete spans) and its warnings and errors, as span events.
/// Dependencies (the AWS SDK, hyper) add nothing. Decided once per callsite.
fn traced_callsites() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    filter_fn(|meta| {
        let krate = meta.target().split("::").next().unwrap_or_default();
        let ours = ["order_api", "sqs_worker", "shared"].contains(&krate);
        let level = if meta.is_span() {
            tracing::Level::INFO
        } else {
            tracing::Level::WARN
        };
        ours && *meta.level() <= level
    })
    .with_max_level_hint(LevelFilter::INFO)
}

/// Installs the global `tracing` subscriber with logs only (the command-line
/// tools). Safe to call twice.
pub fn init_tracing() {
    let _logs_only = install(None);
}

/// Installs the global `tracing` subscriber: JSON lines when `LOG_FORMAT=json`
/// or when stdout is not a terminal (containers), human-readable otherwise;
/// panics logged through it; and, with `tracing` settings, spans exported
/// over OTLP with the trace id on every log line. `version` becomes the
/// spans' `service.version`. Only the first call in a process installs
/// anything.
pub fn init(tracing: Option<&TracingSettings>, version: &str) -> Result<Telemetry, TelemetryError> {
    let provider = tracing.map(|s| provider(s, version)).transpose()?;
    Ok(install(provider))
}

fn install(provider: Option<SdkTracerProvider>) -> Telemetry {
    log_panics();
    let json = match std::env::var("LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("pretty" | "text") => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let installed = match &provider {
        None => install_logs(json),
        Some(provider) => install_logs_and_traces(json, provider),
    };
    if installed && provider.is_some() {
        TRACING.store(true, Ordering::Relaxed);
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

/// JSON lines: the event's fields flat, the current span's fields under `span`.
fn json_format() -> tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json> {
    tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
}

/// Logs only, `RUST_LOG` filtering everything: with tracing off the
/// subscriber is exactly this, and tracing costs nothing.
fn install_logs(json: bool) -> bool {
    let registry = tracing_subscriber::registry().with(filter());
    if json {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .event_format(json_format());
        registry.with(layer).try_init().is_ok()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer())
            .try_init()
            .is_ok()
    }
}

/// Logs and traces, each output with its own filter: `RUST_LOG` chooses the
/// log lines, not which spans are traced. Log lines get the trace id.
fn install_logs_and_traces(json: bool, provider: &SdkTracerProvider) -> bool {
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ecomexpress"))
        .with_threads(false)
        .with_location(false)
        .with_filter(traced_callsites());
    let (json_logs, text_logs) = if json {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .event_format(log_format::WithTraceIds {
                inner: json_format(),
                json: true,
            })
            .with_filter(filter());
        (Some(layer), None)
    } else {
        let layer = tracing_subscriber::fmt::layer()
            .event_format(log_format::WithTraceIds {
                inner: tracing_subscriber::fmt::format(),
                json: false,
            })
            .with_filter(filter());
        (None, Some(layer))
    };
    tracing_subscriber::registry()
        .with(otel)
        .with(log_format::RememberDispatch)
        .with(json_logs)
        .with(text_logs)
        .try_init()
        .is_ok()
}
