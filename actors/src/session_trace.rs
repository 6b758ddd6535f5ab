//! Sampled traces of simulated sessions. A share of a campaign's sessions
//! (its `trace_sessions`) each become one trace: a `session` span with a
//! client span per request, sent through the process's OpenTelemetry
//! tracer (nowhere when the node exports no traces). When the target also
//! gets `traceparent` headers, a traced session's requests carry their own
//! span's context, so the target's server spans join the session's trace.
//!
//! Which sessions are traced follows from their ids, so a rerun with the
//! same seed traces the same sessions.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};

use crate::ids::{self, Part};
use crate::session::SessionPlan;

/// Whether session `session_id` is among the `share` (0 to 1) traced.
pub fn is_traced(session_id: u64, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let draw = ids::stable_hash(&[Part::Str("trace-sample"), Part::U64(session_id)]);
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// When `epoch_ms` is, as the tracer takes it.
fn at(epoch_ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(epoch_ms)
}

/// A traced session while it runs: the context its request spans hang from.
pub struct SessionTrace {
    context: Context,
}

impl SessionTrace {
    /// Opens the `session` span of `plan`, begun at `started_ms`.
    pub fn start(campaign: &str, plan: &SessionPlan, persona: &str, started_ms: u64) -> SessionTrace {
        let tracer = global::tracer("throng-sessions");
        let span = tracer
            .span_builder("session")
            .with_kind(SpanKind::Internal)
            .with_start_time(at(started_ms))
            .with_attributes([
                KeyValue::new("throng.campaign", campaign.to_string()),
                KeyValue::new("throng.session", format!("{:016x}", plan.session_id)),
                KeyValue::new("throng.shard", i64::from(plan.shard)),
                KeyValue::new("throng.persona", persona.to_string()),
                KeyValue::new("throng.journey", plan.journey.clone()),
            ])
            // A root of its own, whatever context the task runs in.
            .start_with_context(&tracer, &Context::new());
        SessionTrace {
            context: Context::new().with_span(span),
        }
    }

    /// Opens the client span of a request about to leave, due at `due_ms`.
    pub fn request(&self, name: &str, method: &str, path: &str, due_ms: u64) -> RequestTrace {
        let tracer = global::tracer("throng-sessions");
        let span = tracer
            .span_builder(format!("{method} {name}"))
            .with_kind(SpanKind::Client)
            .with_start_time(at(due_ms))
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
                KeyValue::new("throng.request", name.to_string()),
            ])
            .start_with_context(&tracer, &self.context);
        RequestTrace {
            context: self.context.with_span(span),
        }
    }

    /// Closes the session span at `ended_ms`, marked failed with `error`.
    pub fn end(self, ended_ms: u64, error: &str) {
        let span = self.context.span();
        if !error.is_empty() {
            span.set_status(Status::error(error.to_string()));
        }
        span.end_with_timestamp(at(ended_ms));
    }
}

/// One request's span while the request is out.
pub struct RequestTrace {
    context: Context,
}

impl RequestTrace {
    /// The W3C `traceparent` naming this span: the target's server span
    /// becomes its child.
    pub fn traceparent(&self) -> String {
        let span = self.context.span();
        let context = span.span_context();
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )
    }

    /// Closes the span at `ended_ms` with the answer's status (0: none
    /// came) or error.
    pub fn end(self, ended_ms: u64, status: u16, error: &str) {
        let span = self.context.span();
        if status > 0 {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        }
        if !error.is_empty() {
            span.set_status(Status::error(error.to_string()));
        } else if status >= 400 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
        span.end_with_timestamp(at(ended_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_traced_follows_the_setting_and_the_ids() {
        let traced = |share: f64| (0..10_000u64).filter(|id| is_traced(id * 7919, share)).count();
        assert_eq!(traced(0.0), 0);
        assert_eq!(traced(1.0), 10_000);
        let tenth = traced(0.1);
        assert!((800..1200).contains(&tenth), "about a tenth: {tenth}");
        assert_eq!(
            (0..100).map(|id| is_traced(id, 0.3)).collect::<Vec<_>>(),
            (0..100).map(|id| is_traced(id, 0.3)).collect::<Vec<_>>(),
            "the same sessions each time"
        );
    }
}
