//! W3C trace context across process and actor boundaries: the `traceparent`
//! of the current span, carried in gRPC metadata between coordinator and
//! agents, in a campaign's record (so placement, long after the API call,
//! continues its trace) and in actor messages. Without an OpenTelemetry
//! layer installed there is no current trace and nothing is carried.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const HEADER: &str = "traceparent";

/// The `traceparent` of the current span, if it is traced.
pub fn current() -> Option<String> {
    let context = tracing::Span::current().context();
    throng_engine::campaign::session::trace::traceparent_of(context.span().span_context())
}

fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let context = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// Makes `span` a child of the remote span `traceparent` names (a malformed
/// or absent one leaves the span where it is).
pub fn adopt(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(remote) = traceparent.and_then(parse) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
}

/// Adds the current span's `traceparent` to an outgoing call.
pub fn inject<T>(request: &mut tonic::Request<T>) {
    if let Some(traceparent) = current()
        && let Ok(value) = traceparent.parse()
    {
        request.metadata_mut().insert(HEADER, value);
    }
}

/// The `traceparent` an incoming call carries.
pub fn extract<T>(request: &tonic::Request<T>) -> Option<String> {
    request
        .metadata()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_parse_or_are_ignored() {
        let parsed = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(parsed.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(parsed.is_sampled() && parsed.is_remote());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-zz-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert_eq!(current(), None, "no tracer installed: nothing to carry");
    }
}
