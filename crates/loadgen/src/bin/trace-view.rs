//! `trace-view`: a local stand-in for a tracing back end. It receives the
//! services' spans over OTLP/HTTP (as the ADOT collector does on AWS) and
//! prints each trace as a tree once it has been quiet for a moment.
//!
//! ```text
//! cargo run -p loadgen --bin trace-view [-- --port 4318]
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make run
//! ```

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use testkit::otlp::{OtlpReceiver, ReceivedSpan};

/// A trace is printed once no span of it arrived for this long.
const QUIET: Duration = Duration::from_millis(1500);

/// Attributes worth a glance, in this order.
const SHOWN: [&str; 5] = [
    "pedido_id",
    "role",
    "outcome",
    "http.response.status_code",
    "event_type",
];

fn port() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(4318),
        [flag, port] if flag == "--port" => port
            .parse()
            .map_err(|_| format!("--port {port:?}: not a port number")),
        _ => Err("usage: trace-view [--port PORT]".into()),
    }
}

/// One line per span, children under their parent, siblings by start time.
fn render(spans: &[ReceivedSpan]) -> String {
    let ids: std::collections::HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&ReceivedSpan>> = HashMap::new();
    for span in spans {
        // A parent outside this process's view (the caller's span) counts as none.
        let parent = if ids.contains(span.parent_span_id.as_str()) {
            span.parent_span_id.as_str()
        } else {
            ""
        };
        children.entry(parent).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_unix_nano);
    }
    let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
    let mut out = String::new();
    let mut stack: Vec<(&ReceivedSpan, usize)> = children
        .get("")
        .map(|roots| roots.iter().rev().map(|s| (*s, 0)).collect())
        .unwrap_or_default();
    while let Some((span, depth)) = stack.pop() {
        let offset = span.start_unix_nano.saturating_sub(start) as f64 / 1e6;
        let _ = write!(
            out,
            "  {:>8.1} ms {:indent$}{} {} [{}] {:.1} ms",
            offset,
            "",
            span.service,
            span.name,
            span.kind,
            span.duration().as_secs_f64() * 1000.0,
            indent = depth * 2
        );
        for key in SHOWN {
            if let Some(value) = span.attribute(key) {
                let _ = write!(out, " {key}={value}");
            }
        }
        if span.error {
            out.push_str(" ERROR");
        }
        out.push('\n');
        if let Some(kids) = children.get(span.span_id.as_str()) {
            stack.extend(kids.iter().rev().map(|s| (*s, depth + 1)));
        }
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let port = match port() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("trace-view: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let receiver = match OtlpReceiver::start_on(([127, 0, 0, 1], port).into()).await {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("trace-view: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "trace-view: receiving OTLP/HTTP on {}; start the services with OTEL_EXPORTER_OTLP_ENDPOINT={}",
        receiver.endpoint(),
        receiver.endpoint()
    );
    // Trace id -> (its spans, when the last one arrived), oldest first.
    let mut pending: BTreeMap<String, (Vec<ReceivedSpan>, Instant)> = BTreeMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for span in receiver.take_spans() {
            let entry = pending
                .entry(span.trace_id.clone())
                .or_insert_with(|| (Vec::new(), Instant::now()));
            entry.0.push(span);
            entry.1 = Instant::now();
        }
        let quiet: Vec<String> = pending
            .iter()
            .filter(|(_, (_, last))| last.elapsed() >= QUIET)
            .map(|(id, _)| id.clone())
            .collect();
        for id in quiet {
            if let Some((spans, _)) = pending.remove(&id) {
                let services: std::collections::BTreeSet<&str> =
                    spans.iter().map(|s| s.service.as_str()).collect();
                println!(
                    "trace {id}: {} spans from {}\n{}",
                    spans.len(),
                    services.into_iter().collect::<Vec<_>>().join(", "),
                    render(&spans)
                );
            }
        }
    }
}
