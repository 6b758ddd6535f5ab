//! Campaign specs: the typed model, parsed from YAML or JSON documents with
//! every problem reported at its field path (not just the first one).
//!
//! A spec travels between nodes as its canonical JSON document
//! ([`CampaignSpec::to_document`]); parsing that document gives the same spec
//! back, so there is one format and one parser.

mod allowlist;
mod reader;
mod targets;
mod traffic;

use std::time::Duration;

use serde_json::Value;

pub use allowlist::Allowlist;
use reader::Reader;
pub use targets::{Secret, TargetKind, TargetSpec, redact};

use crate::thresholds::Threshold;
use crate::traffic::Weighted;
use crate::traffic::journey::{Journey, Site};
use crate::traffic::persona::Persona;

/// The largest values a spec may ask for; beyond them a spec is rejected as absurd.
pub mod limits {
    pub const MAX_RATE: f64 = 1_000_000.0;
    pub const MAX_SESSIONS: u64 = 10_000_000_000;
    pub const MAX_PAGES: usize = 1_000;
    pub const MAX_PAGES_PER_SESSION: u64 = 1_000;
    pub const MAX_SHARDS: u64 = 4_096;
    pub const MAX_DURATION_SECS: u64 = 31 * 24 * 3600;
    pub const MAX_THINK_SECS: u64 = 3600;
    pub const MAX_NAME_LEN: usize = 128;
}

/// One problem of a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `load.rate` or `pages[2]`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<FieldError>);

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("; "))
    }
}

impl std::error::Error for SpecErrors {}

/// A campaign: visitor sessions, drawn from personas walking journeys,
/// against one or more targets at an open arrival rate.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignSpec {
    /// Human name; also the key of every derived id, with the seed.
    pub name: String,
    pub seed: u64,
    pub targets: Vec<TargetSpec>,
    /// Sessions' share of each target, in `targets` order.
    pub target_shares: Weighted<usize>,
    /// Paths of the site a `{page}` in a journey picks from.
    pub pages: Vec<String>,
    /// Defaults for personas that do not say otherwise.
    pub session: SessionSpec,
    pub personas: Vec<Persona>,
    /// Sessions' share of each persona, in `personas` order.
    pub persona_shares: Weighted<usize>,
    /// Built-in and custom journeys, by name.
    pub journeys: Vec<Journey>,
    /// The public URL of the simulated site (what tracking hits report).
    pub site_url: String,
    pub site: Site,
    pub load: LoadSpec,
    pub request_timeout: Duration,
    /// Pass/fail rules over the merged stats.
    pub thresholds: Vec<Threshold>,
    /// Stop the campaign as soon as a threshold fails.
    pub abort_on_fail: bool,
    /// The validated document this spec was read from: its canonical form.
    document: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SessionSpec {
    pub pages_min: u64,
    pub pages_max: u64,
    pub think_min: Duration,
    pub think_max: Duration,
}

/// The open load model: sessions arrive at `rate` per second until `sessions` have arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    pub rate: f64,
    pub sessions: u64,
    /// How many shards the campaign is cut into; fixed by the spec so the
    /// output does not depend on how many agents run it.
    pub shards: u32,
}

/// How a spec is checked beyond its own fields.
#[derive(Clone, Debug, Default)]
pub struct ValidationContext {
    pub allowlist: Allowlist,
}

impl CampaignSpec {
    /// Parses a YAML or JSON document and checks it.
    pub fn parse(document: &str, context: &ValidationContext) -> Result<Self, SpecErrors> {
        let value: Value = serde_yaml::from_str(document).map_err(|e| {
            let path = e
                .location()
                .map(|l| format!("(line {}, column {})", l.line(), l.column()))
                .unwrap_or_else(|| "(document)".to_string());
            SpecErrors(vec![FieldError {
                path,
                message: format!("not valid YAML or JSON: {e}"),
            }])
        })?;
        Self::from_value(&value, context)
    }

    /// Checks an already-parsed document.
    pub fn from_value(value: &Value, context: &ValidationContext) -> Result<Self, SpecErrors> {
        let mut reader = Reader::default();
        let spec = read_spec(&mut reader, value, context);
        match (spec, reader.into_errors()) {
            (Some(spec), errors) if errors.is_empty() => Ok(spec),
            (_, errors) => Err(SpecErrors(errors)),
        }
    }

    /// The canonical document of this spec (what [`CampaignSpec::parse`]
    /// reads back), secrets included: only for sending to agents.
    pub fn to_document(&self) -> Value {
        self.document.clone()
    }

    /// The canonical document as a JSON string (secrets included).
    pub fn to_json(&self) -> String {
        self.document.to_string()
    }

    /// The document with every secret replaced by `***`, for showing.
    pub fn to_redacted_json(&self) -> String {
        redact(&self.document).to_string()
    }

    /// A journey by name.
    pub fn journey(&self, name: &str) -> Option<&Journey> {
        self.journeys.iter().find(|j| j.name == name)
    }
}

fn read_spec(r: &mut Reader, value: &Value, context: &ValidationContext) -> Option<CampaignSpec> {
    const FIELDS: &[&str] = &[
        "name",
        "seed",
        "target",
        "targets",
        "pages",
        "session",
        "personas",
        "journeys",
        "site",
        "load",
        "request_timeout",
        "thresholds",
    ];
    let root = r.object(value, "", FIELDS)?;
    let name = r.required_str(root, "", "name");
    if let Some(name) = &name {
        let valid = !name.is_empty()
            && name.len() <= limits::MAX_NAME_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            r.error(
                "name",
                format!(
                    "must be 1 to {} characters of letters, digits, '-', '_' or '.'",
                    limits::MAX_NAME_LEN
                ),
            );
        }
    }
    let seed = r.optional_u64(root, "", "seed", 0, u64::MAX).unwrap_or(0);
    let targets = targets::read_targets(r, root, context);
    let pages = read_pages(r, root);
    let session = read_session(r, root);
    let journeys = traffic::read_journeys(r, root);
    let personas = session
        .as_ref()
        .map(|s| traffic::read_personas(r, root, s, &journeys));
    let (site_url, site) = traffic::read_site(r, root, pages.as_deref().unwrap_or(&[]));
    let load = read_load(r, root);
    let request_timeout = r
        .optional_duration(
            root,
            "",
            "request_timeout",
            Duration::from_millis(1),
            Duration::from_secs(300),
        )
        .unwrap_or(Duration::from_secs(10));
    let (thresholds, abort_on_fail) = read_thresholds(r, root);
    let targets = targets?;
    let personas = personas?;
    Some(CampaignSpec {
        name: name?,
        seed,
        target_shares: Weighted::new(targets.iter().enumerate().map(|(i, t)| (i, t.share)).collect()),
        targets,
        pages: pages?,
        session: session?,
        persona_shares: Weighted::new(personas.iter().enumerate().map(|(i, p)| (i, p.weight)).collect()),
        personas,
        journeys,
        site_url,
        site,
        load: load?,
        request_timeout,
        thresholds,
        abort_on_fail,
        document: value.clone(),
    })
}

/// `thresholds: ["p99 < 500ms", …]` or `thresholds: { rules: […], abort_on_fail: true }`.
fn read_thresholds(r: &mut Reader, root: &serde_json::Map<String, Value>) -> (Vec<Threshold>, bool) {
    let Some(value) = root.get("thresholds") else {
        return (Vec::new(), false);
    };
    let (rules, path, abort) = match value {
        Value::Array(rules) => (rules, "thresholds".to_string(), false),
        Value::Object(_) => {
            let Some(map) = r.object(value, "thresholds", &["rules", "abort_on_fail"]) else {
                return (Vec::new(), false);
            };
            let abort = match map.get("abort_on_fail") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    r.error("thresholds.abort_on_fail", "must be true or false");
                    false
                }
            };
            match map.get("rules").and_then(Value::as_array) {
                Some(rules) => (rules, "thresholds.rules".to_string(), abort),
                None => {
                    r.error(
                        "thresholds.rules",
                        "must be a list of rules such as \"p99 < 500ms\"",
                    );
                    return (Vec::new(), abort);
                }
            }
        }
        _ => {
            r.error("thresholds", "must be a list of rules such as \"p99 < 500ms\"");
            return (Vec::new(), false);
        }
    };
    let mut thresholds = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        match rule.as_str().map(Threshold::parse) {
            Some(Ok(threshold)) => thresholds.push(threshold),
            Some(Err(message)) => r.error(&format!("{path}[{i}]"), message),
            None => r.error(
                &format!("{path}[{i}]"),
                "must be a string such as \"p99 < 500ms\"",
            ),
        }
    }
    (thresholds, abort)
}

fn read_pages(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    let Some(value) = root.get("pages") else {
        return Some(vec!["/".to_string()]);
    };
    let Some(items) = value.as_array() else {
        r.error("pages", "must be a list of paths");
        return None;
    };
    if items.is_empty() {
        r.error("pages", "must list at least one path");
        return None;
    }
    if items.len() > limits::MAX_PAGES {
        r.error("pages", format!("lists more than {} paths", limits::MAX_PAGES));
        return None;
    }
    let mut pages = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(path) if path.starts_with('/') && !path.contains(char::is_whitespace) => {
                pages.push(path.to_string());
            }
            _ => {
                r.error(
                    &format!("pages[{i}]"),
                    "must be a path starting with '/' and without spaces",
                );
                ok = false;
            }
        }
    }
    ok.then_some(pages)
}

fn read_session(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<SessionSpec> {
    let default = SessionSpec {
        pages_min: 1,
        pages_max: 3,
        think_min: Duration::from_millis(500),
        think_max: Duration::from_secs(2),
    };
    let Some(value) = root.get("session") else {
        return Some(default);
    };
    let session = r.object(value, "session", &["pages", "think_time"])?;
    let (mut pages_min, mut pages_max) = (default.pages_min, default.pages_max);
    if let Some(pages) = session.get("pages")
        && let Some(range) = r.object(pages, "session.pages", &["min", "max"])
    {
        let max = limits::MAX_PAGES_PER_SESSION;
        pages_min = r
            .optional_u64(range, "session.pages", "min", 1, max)
            .unwrap_or(pages_min);
        pages_max = r
            .optional_u64(range, "session.pages", "max", 1, max)
            .unwrap_or(pages_min.max(pages_max));
        if pages_min > pages_max {
            r.error(
                "session.pages",
                format!("min ({pages_min}) is above max ({pages_max})"),
            );
        }
    }
    let (mut think_min, mut think_max) = (default.think_min, default.think_max);
    if let Some(think) = session.get("think_time")
        && let Some(range) = r.object(think, "session.think_time", &["min", "max"])
    {
        let max = Duration::from_secs(limits::MAX_THINK_SECS);
        think_min = r
            .optional_duration(range, "session.think_time", "min", Duration::ZERO, max)
            .unwrap_or(think_min);
        think_max = r
            .optional_duration(range, "session.think_time", "max", Duration::ZERO, max)
            .unwrap_or(think_min.max(think_max));
        if think_min > think_max {
            r.error(
                "session.think_time",
                format!("min ({think_min:?}) is above max ({think_max:?})"),
            );
        }
    }
    Some(SessionSpec {
        pages_min,
        pages_max,
        think_min,
        think_max,
    })
}

fn read_load(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<LoadSpec> {
    let Some(value) = root.get("load") else {
        r.error("load", "is required (rate, and sessions or duration)");
        return None;
    };
    let load = r.object(value, "load", &["rate", "sessions", "duration", "shards"])?;
    let rate = r.required_f64(load, "load", "rate");
    if let Some(rate) = rate
        && !(rate > 0.0 && rate <= limits::MAX_RATE)
    {
        r.error(
            "load.rate",
            format!(
                "must be above 0 and at most {} sessions per second",
                limits::MAX_RATE
            ),
        );
    }
    let sessions = r.optional_u64(load, "load", "sessions", 1, limits::MAX_SESSIONS);
    let duration = r.optional_duration(
        load,
        "load",
        "duration",
        Duration::from_millis(1),
        Duration::from_secs(limits::MAX_DURATION_SECS),
    );
    let shards = r
        .optional_u64(load, "load", "shards", 1, limits::MAX_SHARDS)
        .unwrap_or(8) as u32;
    let rate = rate.filter(|r| *r > 0.0 && *r <= limits::MAX_RATE)?;
    let sessions = match (load.contains_key("sessions"), load.contains_key("duration")) {
        (true, true) => {
            r.error("load", "give either sessions or duration, not both");
            return None;
        }
        (false, false) => {
            r.error("load", "needs sessions or duration to bound the campaign");
            return None;
        }
        (true, false) => sessions?,
        (false, true) => {
            let total = (rate * duration?.as_secs_f64()).ceil() as u64;
            if total > limits::MAX_SESSIONS {
                r.error(
                    "load.duration",
                    format!("rate × duration exceeds {} sessions", limits::MAX_SESSIONS),
                );
                return None;
            }
            total.max(1)
        }
    };
    Some(LoadSpec {
        rate,
        sessions,
        shards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: demo
seed: 7
target: { url: "http://127.0.0.1:8080/" }
pages: ["/", "/products"]
session:
  pages: { min: 2, max: 4 }
  think_time: { min: 100ms, max: 1s }
load: { rate: 20, duration: 30s, shards: 4 }
"#;

    fn context() -> ValidationContext {
        ValidationContext::default()
    }

    #[test]
    fn a_good_spec_parses_and_round_trips() {
        let spec = CampaignSpec::parse(GOOD, &context()).expect("valid");
        assert_eq!(spec.targets[0].url, "http://127.0.0.1:8080");
        assert_eq!(spec.targets[0].kind, TargetKind::Http);
        assert_eq!(spec.personas.len(), 1, "a default persona");
        assert_eq!(spec.load.sessions, 600);
        assert_eq!(spec.load.shards, 4);
        assert_eq!(spec.session.think_max, Duration::from_secs(1));
        let again = CampaignSpec::parse(&spec.to_json(), &context()).expect("canonical form parses");
        assert_eq!(again, spec);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = r#"
name: "bad name!"
colour: blue
target: { url: "ftp://127.0.0.1/" }
pages: ["/", "nope", 3]
session:
  pages: { min: 5, max: 2 }
  think_time: { min: soon }
load: { rate: -3, sessions: 0, shards: 100000 }
"#;
        let errors = CampaignSpec::parse(bad, &context()).expect_err("invalid").0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "name",
            "colour",
            "target.url",
            "pages[1]",
            "pages[2]",
            "session.pages",
            "session.think_time.min",
            "load.rate",
            "load.sessions",
            "load.shards",
        ] {
            assert!(paths.contains(&expected), "missing {expected} in {errors:?}");
        }
    }

    #[test]
    fn missing_fields_and_disallowed_hosts_are_rejected() {
        let errors = CampaignSpec::parse("name: x\n", &context())
            .expect_err("invalid")
            .0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"target") && paths.contains(&"load"), "{errors:?}");

        let outside = GOOD.replace("127.0.0.1:8080", "example.com");
        let errors = CampaignSpec::parse(&outside, &context())
            .expect_err("not allowed")
            .0;
        assert_eq!(errors[0].path, "target.url");
        assert!(errors[0].message.contains("allowlist"), "{errors:?}");

        let allowing = ValidationContext {
            allowlist: Allowlist::parse(&["example.com".to_string()]).expect("allowlist"),
        };
        assert!(CampaignSpec::parse(&outside, &allowing).is_ok());
    }

    #[test]
    fn syntax_errors_and_absurd_sizes_are_clear() {
        let errors = CampaignSpec::parse("name: [unclosed", &context())
            .expect_err("bad yaml")
            .0;
        assert!(errors[0].message.contains("not valid YAML"), "{errors:?}");
        let huge = GOOD.replace("rate: 20, duration: 30s", "rate: 1e12, sessions: 5");
        let errors = CampaignSpec::parse(&huge, &context()).expect_err("absurd").0;
        assert_eq!(errors[0].path, "load.rate");
        let both = GOOD.replace("duration: 30s", "duration: 30s, sessions: 4");
        let errors = CampaignSpec::parse(&both, &context()).expect_err("both bounds").0;
        assert_eq!(errors[0].path, "load");
    }
}
