//! Thresholds: pass/fail rules over a campaign's merged stats, such as
//! `p99 < 500ms`, `error_rate < 1%`, or `p95 < 300ms for buyer.cart`.

use crate::stats::{LatencyHistogram, ShardCounters};

/// What a rule measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// A latency quantile (0.5 for p50 …), in milliseconds.
    Latency(f64),
    /// The largest latency, in milliseconds.
    Max,
    /// Failed requests over requests, in percent.
    ErrorRate,
    /// Failed sessions over finished sessions, in percent.
    SessionFailureRate,
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The rule as written, for reports.
    pub rule: String,
    pub metric: Metric,
    /// `<` (strict) or `<=`.
    pub inclusive: bool,
    /// In the metric's unit: milliseconds or percent.
    pub limit: f64,
    /// Restrict to one request name (`journey.step`).
    pub name: Option<String>,
}

/// The outcome of one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdResult {
    pub rule: String,
    pub value: f64,
    pub passed: bool,
    /// Whether there were requests to judge; a rule with no data passes.
    pub samples: u64,
}

fn parse_limit(text: &str, metric: Metric) -> Result<f64, String> {
    let text = text.trim();
    let percent = matches!(metric, Metric::ErrorRate | Metric::SessionFailureRate);
    if percent {
        let number = text
            .strip_suffix('%')
            .ok_or("a rate limit is a percentage, e.g. `1%`")?;
        return number
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{text}` is not a percentage"));
    }
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!("`{text}` needs a unit: ms, s or us"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration"))?;
    Ok(value * scale)
}

impl Threshold {
    /// Parses `METRIC (<|<=) LIMIT [for NAME]`.
    pub fn parse(rule: &str) -> Result<Threshold, String> {
        let (body, name) = match rule.split_once(" for ") {
            Some((body, name)) => (body, Some(name.trim().to_string())),
            None => (rule, None),
        };
        let (metric_text, inclusive, limit_text) = if let Some((m, l)) = body.split_once("<=") {
            (m, true, l)
        } else if let Some((m, l)) = body.split_once('<') {
            (m, false, l)
        } else {
            return Err("expected `METRIC < LIMIT`, e.g. `p99 < 500ms` or `error_rate < 1%`".into());
        };
        let metric = match metric_text.trim() {
            "p50" | "median" => Metric::Latency(0.5),
            "p90" => Metric::Latency(0.9),
            "p95" => Metric::Latency(0.95),
            "p99" => Metric::Latency(0.99),
            "p999" | "p99.9" => Metric::Latency(0.999),
            "max" => Metric::Max,
            "error_rate" => Metric::ErrorRate,
            "session_failure_rate" => Metric::SessionFailureRate,
            other => {
                return Err(format!(
                    "unknown metric `{other}`; expected p50, p90, p95, p99, p999, max, error_rate or session_failure_rate"
                ));
            }
        };
        if name.is_some() && metric == Metric::SessionFailureRate {
            return Err("session_failure_rate cannot be limited to a request name".into());
        }
        let limit = parse_limit(limit_text, metric)?;
        if !(limit.is_finite() && limit >= 0.0) {
            return Err("the limit must be a number >= 0".into());
        }
        Ok(Threshold {
            rule: rule.trim().to_string(),
            metric,
            inclusive,
            limit,
            name,
        })
    }

    /// Judges the rule on `stats`.
    pub fn evaluate(&self, stats: &ShardCounters) -> ThresholdResult {
        let empty = LatencyHistogram::default();
        let (latency, requests, errors) = match &self.name {
            Some(name) => match stats.by_name.get(name) {
                Some(n) => (&n.latency, n.requests, n.errors),
                None => (&empty, 0, 0),
            },
            None => (&stats.latency, stats.requests, stats.request_errors),
        };
        let sessions = stats.sessions_completed + stats.sessions_failed;
        let (value, samples) = match self.metric {
            Metric::Latency(q) => (latency.quantile_ms(q), latency.count()),
            Metric::Max => (latency.max_ms(), latency.count()),
            Metric::ErrorRate => (percent(errors, requests), requests),
            Metric::SessionFailureRate => (percent(stats.sessions_failed, sessions), sessions),
        };
        let within = if self.inclusive {
            value <= self.limit
        } else {
            value < self.limit
        };
        ThresholdResult {
            rule: self.rule.clone(),
            value,
            passed: samples == 0 || within,
            samples,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::session::{RequestOutcome, SessionOutcome};

    fn request(name: &str, status: u16, latency_ms: u64) -> RequestOutcome {
        RequestOutcome {
            index: 0,
            name: name.into(),
            action: "page_view".into(),
            path: "/".into(),
            status,
            latency_us: latency_ms * 1000,
            intended_ms: 0,
            error: String::new(),
            bytes: 0,
            excerpt: String::new(),
        }
    }

    fn stats() -> ShardCounters {
        let mut stats = ShardCounters::default();
        let mut requests: Vec<RequestOutcome> = (0..98).map(|_| request("a.x", 200, 10)).collect();
        requests.push(request("b.y", 500, 900));
        requests.push(request("b.y", 200, 800));
        stats.record_session(&SessionOutcome {
            session_id: 1,
            shard: 0,
            seq: 0,
            persona: "p".into(),
            journey: "j".into(),
            target: 0,
            intended_ms: 0,
            started_ms: 0,
            ended_ms: 0,
            visit: Default::default(),
            requests,
            steps: Vec::new(),
            summary: Default::default(),
            failed: true,
            error: String::new(),
            aborted: false,
            browser: None,
        });
        stats
    }

    #[test]
    fn rules_parse_and_judge() {
        let stats = stats();
        let judge = |rule: &str| Threshold::parse(rule).expect("valid rule").evaluate(&stats);
        assert!(judge("p50 < 20ms").passed);
        assert!(!judge("p99 < 500ms").passed, "the slow tail fails p99");
        assert!(judge("p99 < 1s").passed);
        assert!(!judge("error_rate < 1%").passed, "1 of 100 failed: not below 1%");
        assert!(judge("error_rate <= 1%").passed);
        assert!(!judge("p50 < 500ms for b.y").passed);
        assert!(judge("p50 < 500ms for a.x").passed);
        assert!(judge("p99 < 1ms for nobody").passed, "no data, no failure");
        assert!(!judge("session_failure_rate < 50%").passed);
        let max = judge("max <= 1s").value;
        assert!((max - 900.0).abs() < 1.0, "max is the slowest request: {max}");
    }

    #[test]
    fn bad_rules_are_explained() {
        for (rule, hint) in [
            ("p98 < 1s", "unknown metric"),
            ("p99 > 1s", "expected"),
            ("p99 < 500", "needs a unit"),
            ("error_rate < 1", "percentage"),
            ("session_failure_rate < 1% for x", "cannot be limited"),
        ] {
            let error = Threshold::parse(rule).expect_err(rule);
            assert!(error.contains(hint), "{rule}: {error}");
        }
    }
}
