//! Prometheus text exposition: what a node's `/metrics` answers. Samples are
//! gathered by family and written family by family (a family's samples must
//! be contiguous), with `# HELP` and `# TYPE` once each.

use std::collections::BTreeMap;
use std::fmt::Write;

use throng_engine::delivery::SinkHealth;
use throng_engine::generator::{GeneratorLoad, generator_errors};
use throng_engine::stats::{LatencyHistogram, ShardCounters};
use throng_engine::telemetry::TelemetryHealth;

/// Upper bounds of latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

struct Family {
    kind: &'static str,
    help: &'static str,
    lines: Vec<String>,
}

/// Metrics being written for one scrape.
#[derive(Default)]
pub struct Exposition {
    families: BTreeMap<&'static str, Family>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else if value.is_nan() {
        "NaN".into()
    } else if value > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

impl Exposition {
    fn family(&mut self, name: &'static str, kind: &'static str, help: &'static str) -> &mut Vec<String> {
        &mut self
            .families
            .entry(name)
            .or_insert(Family {
                kind,
                help,
                lines: Vec::new(),
            })
            .lines
    }

    pub fn gauge(&mut self, name: &'static str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        let line = format!("{name}{} {}", label_text(labels), number(value));
        self.family(name, "gauge", help).push(line);
    }

    /// A counter; its name ends in `_total`.
    pub fn counter(&mut self, name: &'static str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        let line = format!("{name}{} {}", label_text(labels), number(value));
        self.family(name, "counter", help).push(line);
    }

    /// A latency histogram in seconds, from microseconds.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        latency: &LatencyHistogram,
    ) {
        let mut lines = Vec::with_capacity(LATENCY_BUCKETS.len() + 3);
        for bound in LATENCY_BUCKETS {
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            let le = number(*bound);
            with_le.push(("le", &le));
            let count = latency.count_at_most((bound * 1e6) as u64);
            lines.push(format!("{name}_bucket{} {count}", label_text(&with_le)));
        }
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        with_le.push(("le", "+Inf"));
        lines.push(format!(
            "{name}_bucket{} {}",
            label_text(&with_le),
            latency.count()
        ));
        lines.push(format!(
            "{name}_sum{} {}",
            label_text(labels),
            number(latency.sum_us() / 1e6)
        ));
        lines.push(format!("{name}_count{} {}", label_text(labels), latency.count()));
        self.family(name, "histogram", help).extend(lines);
    }

    /// The traffic and stream counters of one campaign (or stream run).
    pub fn campaign(&mut self, labels: &[(&str, &str)], c: &ShardCounters) {
        let active = c
            .sessions_started
            .saturating_sub(c.sessions_completed + c.sessions_failed);
        self.counter(
            "throng_sessions_started_total",
            "Sessions started.",
            labels,
            c.sessions_started as f64,
        );
        self.counter(
            "throng_sessions_completed_total",
            "Sessions that ended without a failure.",
            labels,
            c.sessions_completed as f64,
        );
        self.counter(
            "throng_sessions_failed_total",
            "Sessions with a failed request, or that could not run.",
            labels,
            c.sessions_failed as f64,
        );
        self.gauge(
            "throng_sessions_active",
            "Sessions running now.",
            labels,
            active as f64,
        );
        self.counter(
            "throng_requests_total",
            "Requests sent.",
            labels,
            c.requests as f64,
        );
        self.counter(
            "throng_request_errors_total",
            "Requests without an answer or with a 4xx/5xx status.",
            labels,
            c.request_errors as f64,
        );
        self.counter(
            "throng_generator_request_errors_total",
            "Failed requests the generator caused itself (waiting for one of its own connection slots until their time ran out); part of throng_request_errors_total, and not the target's errors.",
            labels,
            generator_errors(&c.errors_by_class) as f64,
        );
        self.histogram(
            "throng_request_latency_seconds",
            "Request latency from its intended start (no coordinated omission).",
            labels,
            &c.latency,
        );
        if c.sessions_completed + c.sessions_failed > 0 {
            self.histogram(
                "throng_session_start_lag_seconds",
                "How late sessions started after their intended start: beyond a few milliseconds the agent is falling behind its arrivals.",
                labels,
                &c.start_lag,
            );
        }
        self.counter(
            "throng_stream_events_total",
            "Stream events generated.",
            labels,
            c.stream_events as f64,
        );
    }

    /// Whether an agent keeps up with what it is asked (as it or the coordinator sees it).
    pub fn generator(&mut self, labels: &[(&str, &str)], g: &GeneratorLoad) {
        self.gauge(
            "throng_agent_generator_limited",
            "1 while the agent, not the target, limits its traffic: two seconds in a row, over 1 % of sessions started over 250 ms late, or its runtime lagged over 250 ms.",
            labels,
            f64::from(u8::from(g.limited)),
        );
        self.gauge(
            "throng_agent_start_lag_max_seconds",
            "The latest session start after its intended start in the agent's last second.",
            labels,
            g.max_start_lag_ms / 1000.0,
        );
        self.gauge(
            "throng_agent_runtime_lag_seconds",
            "How late the agent's runtime fired a timer at worst in its last second.",
            labels,
            g.runtime_lag_ms / 1000.0,
        );
    }

    /// Each stream-run sink's health on an agent (as it or the coordinator
    /// sees it), labelled by run, sink and kind besides `labels`.
    pub fn sinks(&mut self, labels: &[(&str, &str)], sinks: &[SinkHealth]) {
        for s in sinks {
            let mut own: Vec<(&str, &str)> = labels.to_vec();
            own.extend([
                ("run", s.run_id.as_str()),
                ("sink", s.sink.as_str()),
                ("kind", s.kind.as_str()),
            ]);
            self.gauge(
                "throng_sink_events_queued",
                "Stream events waiting between the shards and the sink.",
                &own,
                s.queued as f64,
            );
            for (name, help, value) in [
                (
                    "throng_sink_events_written_total",
                    "Stream events the sink took.",
                    s.written,
                ),
                (
                    "throng_sink_events_spilled_total",
                    "Stream events kept on disk while the sink was down.",
                    s.spilled,
                ),
                (
                    "throng_sink_events_replayed_total",
                    "Spilled stream events sent once the sink was back.",
                    s.replayed,
                ),
                (
                    "throng_sink_events_rejected_total",
                    "Stream events of batches the sink refused (quarantined).",
                    s.rejected,
                ),
            ] {
                self.counter(name, help, &own, value as f64);
            }
            self.gauge(
                "throng_sink_healthy",
                "1 when the sink reports no problem.",
                &own,
                if s.error.is_empty() { 1.0 } else { 0.0 },
            );
        }
    }

    /// A telemetry writer's health (an agent's, as it or the coordinator sees it).
    pub fn telemetry(&mut self, labels: &[(&str, &str)], t: &TelemetryHealth) {
        self.gauge(
            "throng_telemetry_queue_depth",
            "Records waiting for the telemetry writer.",
            labels,
            t.queue_depth as f64,
        );
        self.counter(
            "throng_telemetry_rows_written_total",
            "Rows the telemetry writer stored.",
            labels,
            t.rows_written as f64,
        );
        self.counter(
            "throng_telemetry_rows_spilled_total",
            "Rows spilled to disk while the store was unreachable.",
            labels,
            t.rows_spilled as f64,
        );
        self.counter(
            "throng_telemetry_rows_replayed_total",
            "Spilled rows replayed into the store.",
            labels,
            t.rows_replayed as f64,
        );
        self.counter(
            "throng_telemetry_rows_rejected_total",
            "Rows of batches the store refused (quarantined).",
            labels,
            t.rows_rejected as f64,
        );
        self.gauge(
            "throng_telemetry_healthy",
            "1 when the telemetry writer reports no problem.",
            labels,
            f64::from(u8::from(t.error.is_empty())),
        );
    }

    /// This process's own health: resident memory, open file descriptors,
    /// threads and the async tasks alive in its runtime; what a soak run
    /// watches for leaks.
    pub fn process(&mut self, labels: &[(&str, &str)]) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse::<f64>().ok())
        };
        if let Some(kib) = field("VmRSS:") {
            self.gauge(
                "process_resident_memory_bytes",
                "Resident memory of this process.",
                labels,
                kib * 1024.0,
            );
        }
        if let Some(threads) = field("Threads:") {
            self.gauge("process_threads", "Threads of this process.", labels, threads);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.gauge(
                "process_open_fds",
                "Open file descriptors of this process.",
                labels,
                fds.count() as f64,
            );
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.gauge(
                "throng_runtime_alive_tasks",
                "Async tasks alive in this process's runtime.",
                labels,
                runtime.metrics().num_alive_tasks() as f64,
            );
        }
    }

    /// The text, family by family.
    pub fn finish(self) -> String {
        let mut text = String::new();
        for (name, family) in self.families {
            let _ = writeln!(text, "# HELP {name} {}", family.help);
            let _ = writeln!(text, "# TYPE {name} {}", family.kind);
            for line in family.lines {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_contiguous_and_histograms_cumulative() {
        let mut counters = ShardCounters {
            sessions_started: 5,
            sessions_completed: 3,
            ..ShardCounters::default()
        };
        for us in [500, 3_000, 40_000, 2_000_000] {
            counters.latency.record_us(us);
        }
        let mut exposition = Exposition::default();
        exposition.campaign(&[("campaign", "a\"b")], &counters);
        exposition.gauge("throng_up", "Up.", &[], 1.0);
        exposition.campaign(&[("campaign", "c")], &ShardCounters::default());
        let text = exposition.finish();
        let types = text
            .matches("# TYPE throng_sessions_started_total counter")
            .count();
        assert_eq!(types, 1, "{text}");
        let started: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("throng_sessions_started_total{"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(started.len(), 2);
        assert_eq!(started[1], started[0] + 1, "contiguous: {text}");
        assert!(
            text.contains("throng_sessions_active{campaign=\"a\\\"b\"} 2"),
            "{text}"
        );
        let bucket = |le: &str| {
            let prefix = format!("throng_request_latency_seconds_bucket{{campaign=\"a\\\"b\",le=\"{le}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(bucket("0.001"), Some(1));
        assert_eq!(bucket("0.005"), Some(2));
        assert_eq!(bucket("0.05"), Some(3));
        assert_eq!(bucket("+Inf"), Some(4));
    }
}
