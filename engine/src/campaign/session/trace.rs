//! Sampled traces of simulated sessions. A share of a campaign's sessions
//! (its `trace_sessions`) each become one trace: a `session` span with a
//! client span per request, sent through the process's OpenTelemetry
//! tracer (nowhere when the node exports no traces). When the target also
//! gets `traceparent` headers, a traced session's requests carry their own
//! span's context, so the target's server spans join the session's trace;
//! other sessions' requests carry a context drawn from the session's id.
//!
//! Which sessions are traced follows from their ids, so a rerun with the
//! same seed traces the same sessions.

use std::time::{Instant, SystemTime};

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};

use super::plan::SessionPlan;
use crate::ids::{self, Part};

/// Whether session `session_id` is among the `share` (0 to 1) traced.
pub fn is_traced(session_id: u64, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let draw = ids::stable_hash(&[Part::Str("trace-sample"), Part::U64(session_id)]);
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// The W3C `traceparent` naming `context`, when it is a real span's (a
/// node that exports no traces has only invalid ones).
pub fn traceparent_of(context: &SpanContext) -> Option<String> {
    context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )
    })
}

/// The `traceparent` of request `index` of a session that is not traced
/// (or whose node exports no traces): one trace per session, one span id
/// per request, sampled, all drawn from the session's id.
pub fn untraced(session_id: u64, index: usize) -> String {
    let high = ids::stable_hash(&[Part::Str("trace"), Part::U64(session_id), Part::U64(0)]);
    let low = ids::stable_hash(&[Part::Str("trace"), Part::U64(session_id), Part::U64(1)]);
    let span = ids::stable_hash(&[Part::Str("span"), Part::U64(session_id), Part::U64(index as u64)]);
    format!("00-{high:016x}{low:016x}-{span:016x}-01")
}

/// One reading of the wall clock beside the monotonic one, so every time
/// of a session converts the same way (its spans nest exactly).
#[derive(Clone, Copy)]
struct WallAnchor {
    wall: SystemTime,
    instant: Instant,
}

impl WallAnchor {
    fn now() -> WallAnchor {
        WallAnchor {
            wall: SystemTime::now(),
            instant: Instant::now(),
        }
    }

    /// `instant` on the wall clock, to the nanosecond.
    fn wall(&self, instant: Instant) -> SystemTime {
        if instant >= self.instant {
            self.wall + (instant - self.instant)
        } else {
            self.wall - (self.instant - instant)
        }
    }
}

/// A traced session while it runs: the context its request spans hang from.
pub struct SessionTrace {
    tracer: BoxedTracer,
    context: Context,
    anchor: WallAnchor,
}

impl SessionTrace {
    /// Opens the `session` span of `plan`, begun at `started`.
    pub fn start(campaign: &str, plan: &SessionPlan, persona: &str, started: Instant) -> SessionTrace {
        let tracer = global::tracer("throng-sessions");
        let anchor = WallAnchor::now();
        let span = tracer
            .span_builder("session")
            .with_kind(SpanKind::Internal)
            .with_start_time(anchor.wall(started))
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
            tracer,
            context: Context::new().with_span(span),
            anchor,
        }
    }

    /// Opens the client span of a request about to leave, due at `due`.
    pub fn request(&self, name: &str, method: &str, path: &str, due: Instant) -> RequestTrace {
        let span = self
            .tracer
            .span_builder(format!("{method} {name}"))
            .with_kind(SpanKind::Client)
            .with_start_time(self.anchor.wall(due))
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
                KeyValue::new("throng.request", name.to_string()),
            ])
            .start_with_context(&self.tracer, &self.context);
        RequestTrace {
            context: self.context.with_span(span),
            anchor: self.anchor,
        }
    }

    /// Closes the session span now, marked failed with `error`.
    pub fn end(self, error: &str) {
        let span = self.context.span();
        if !error.is_empty() {
            span.set_status(Status::error(error.to_string()));
        }
        span.end_with_timestamp(self.anchor.wall(Instant::now()));
    }
}

/// One request's span while the request is out.
pub struct RequestTrace {
    context: Context,
    anchor: WallAnchor,
}

impl RequestTrace {
    /// The W3C `traceparent` naming this span (the target's server span
    /// becomes its child); none when the node exports no traces.
    pub fn traceparent(&self) -> Option<String> {
        traceparent_of(self.context.span().span_context())
    }

    /// Closes the span now with the answer's status (0: none came) or error.
    pub fn end(self, status: u16, error: &str) {
        let span = self.context.span();
        if status > 0 {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        }
        if !error.is_empty() {
            span.set_status(Status::error(error.to_string()));
        } else if status >= 400 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
        span.end_with_timestamp(self.anchor.wall(Instant::now()));
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
