//! The trace and span ids on every log line written inside a traced span:
//! a JSON line gets `"trace_id"` and `"span_id"` first, a human-readable one
//! a `trace_id=` prefix. Installed only while tracing is on.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The subscriber the OpenTelemetry layer is part of: its span contexts are
/// looked up through it. (Inside an event, `dispatcher::get_default` may
/// answer with no subscriber at all.)
static DISPATCH: OnceLock<WeakDispatch> = OnceLock::new();

/// A layer that only remembers the subscriber it was installed in.
pub(super) struct RememberDispatch;

impl<S: Subscriber> Layer<S> for RememberDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = DISPATCH.set(subscriber.downgrade());
    }
}

/// Wraps a formatter, adding the ids of the event's span.
pub(super) struct WithTraceIds<F> {
    pub(super) inner: F,
    pub(super) json: bool,
}

/// The trace id and span id (hex) of the innermost span around `event`.
/// Looked up in the subscriber, not in the log layer's view: a span can be
/// traced while `RUST_LOG` keeps it out of the log lines.
fn ids(event: &Event<'_>) -> Option<(String, String)> {
    let dispatch = DISPATCH.get()?.upgrade()?;
    let span = match event.parent() {
        Some(parent) => parent.clone(),
        None if event.is_contextual() => dispatch.current_span().id()?.clone(),
        None => return None,
    };
    let context = tracing_opentelemetry::get_otel_context(&span, &dispatch)?;
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some((trace_id, span_id)) = ids(event) else {
            return self.inner.format_event(ctx, writer, event);
        };
        if !self.json {
            write!(writer, "trace_id={trace_id} ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(512);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}
