//! Carrying the W3C trace context (`traceparent`, `tracestate`) across
//! process boundaries: HTTP headers into the API, SNS message attributes from
//! the API to the workers. Everything here does nothing while tracing is off.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::contract::{ATTR_TRACEPARENT, ATTR_TRACESTATE};

/// The trace context a caller sent, borrowed from wherever it travelled.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceCarrier<'a> {
    /// The `traceparent` value.
    pub traceparent: Option<&'a str>,
    /// The `tracestate` value.
    pub tracestate: Option<&'a str>,
}

impl Extractor for TraceCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            ATTR_TRACEPARENT => self.traceparent,
            ATTR_TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![ATTR_TRACEPARENT, ATTR_TRACESTATE]
    }
}

/// Makes `span` (a new root span: an HTTP request, a received message)
/// continue the caller's trace. A missing or malformed `traceparent` starts
/// a new trace, as the W3C specification asks.
pub fn continue_trace(span: &tracing::Span, carrier: TraceCarrier<'_>) {
    if !super::tracing_enabled() || carrier.traceparent.is_none() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_remote() {
        // Fails only for a disabled span or one already started: nothing to continue then.
        let _ = span.set_parent(parent);
    }
}

#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        let name = match key {
            ATTR_TRACEPARENT => ATTR_TRACEPARENT,
            ATTR_TRACESTATE if !value.is_empty() => ATTR_TRACESTATE,
            _ => return,
        };
        self.0.push((name, value));
    }
}

/// The current span's trace context as `(attribute, value)` pairs to send
/// along: `traceparent`, and `tracestate` when non-empty. Empty while
/// tracing is off.
pub fn current_trace_fields() -> Vec<(&'static str, String)> {
    if !super::tracing_enabled() {
        return Vec::new();
    }
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut fields = Fields::default();
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    fields.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carrier_answers_for_the_two_w3c_fields_only() {
        let carrier = TraceCarrier {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            tracestate: Some("congo=t61rcWkgMzE"),
        };
        let parent = TraceContextPropagator::new().extract(&carrier);
        let span = parent.span();
        let context = span.span_context();
        assert!(context.is_valid() && context.is_remote() && context.is_sampled());
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(context.trace_state().header(), "congo=t61rcWkgMzE");
        assert_eq!(carrier.get("baggage"), None);
    }

    #[test]
    fn a_malformed_traceparent_gives_no_parent() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let carrier = TraceCarrier {
                traceparent: Some(bad),
                tracestate: None,
            };
            let parent = TraceContextPropagator::new().extract(&carrier);
            assert!(!parent.span().span_context().is_valid(), "{bad:?}");
        }
    }

    #[test]
    fn nothing_is_sent_while_tracing_is_off() {
        assert!(current_trace_fields().is_empty());
    }
}
