//! Where a run's events are delivered besides the telemetry store: a
//! run's `sinks:`, each taking the streams its patterns name.
//!
//! ```yaml
//! sinks:
//!   - kind: kafka
//!     brokers: "127.0.0.1:9092"
//!     topic: "events.{stream}"     # a topic per stream; without `{stream}`, one
//!                                  # topic, the stream in a `stream` header
//!     streams: ["customer.*"]      # patterns as subscriptions take; default all
//!   - kind: webhook
//!     url: https://hooks.example.com/throng
//!     secret_env: THRONG_WEBHOOK_SECRET   # or `secret:`; signs each batch
//!     batch: 500
//!   - kind: postgres
//!     url: postgres://throng@127.0.0.1/lake
//!     table: stream_events         # or "events_{stream}": a table per stream
//!   - kind: files
//!     path: /var/lib/throng/out
//!     format: jsonl                # or parquet
//! ```
//!
//! A campaign takes `sinks:` too: its session and request rows, as two
//! streams named `sessions` and `requests` ([`CAMPAIGN_STREAMS`]).
//!
//! Only the document is checked here; the agents that run the shards open
//! the connections (`throng-delivery`).

use serde_json::{Map, Value};

use super::catalog::Catalog;
use super::pattern::{StreamPattern, select};
use crate::spec::Secret;
use crate::spec::reader::Reader;

const SINK_FIELDS: &[&str] = &[
    "name",
    "kind",
    "streams",
    "brokers",
    "topic",
    "url",
    "secret",
    "secret_env",
    "batch",
    "table",
    "path",
    "format",
];
/// The fields each kind takes besides `name`, `kind` and `streams`.
const KAFKA_FIELDS: &[&str] = &["brokers", "topic"];
const WEBHOOK_FIELDS: &[&str] = &["url", "secret", "secret_env", "batch"];
const POSTGRES_FIELDS: &[&str] = &["url", "table"];
const FILES_FIELDS: &[&str] = &["path", "format"];
/// Most sinks a run may have.
pub const MAX_SINKS: usize = 16;
/// Most events in one webhook POST.
pub const MAX_WEBHOOK_BATCH: u64 = 10_000;
const DEFAULT_WEBHOOK_BATCH: u64 = 500;
/// Where a per-stream topic or table name takes the stream's name.
pub const STREAM_PLACEHOLDER: &str = "{stream}";

/// The key a webhook batch is signed with: given in the document, or
/// named as an environment variable of the agents.
#[derive(Clone, Debug, PartialEq)]
pub enum SigningKey {
    Given(Secret),
    Env(String),
}

/// The file format of a files sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    JsonLines,
    Parquet,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::JsonLines => "jsonl",
            FileFormat::Parquet => "parquet",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SinkKind {
    Kafka {
        /// `host:port` of each bootstrap broker.
        brokers: Vec<String>,
        /// A topic name, or a pattern with [`STREAM_PLACEHOLDER`].
        topic: String,
    },
    Webhook {
        url: String,
        key: SigningKey,
        /// Most events in one POST.
        batch: u32,
    },
    Postgres {
        url: String,
        /// A table name, or a pattern with [`STREAM_PLACEHOLDER`].
        table: String,
    },
    Files {
        path: String,
        format: FileFormat,
    },
}

impl SinkKind {
    pub fn name(&self) -> &'static str {
        match self {
            SinkKind::Kafka { .. } => "kafka",
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Postgres { .. } => "postgres",
            SinkKind::Files { .. } => "files",
        }
    }
}

/// One validated sink of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkSpec {
    /// Unique in the run: its health and its spill directory go by it.
    pub name: String,
    pub kind: SinkKind,
    /// Whether it takes each stream of the catalog, by index.
    pub takes: Vec<bool>,
}

impl SinkSpec {
    pub fn takes(&self, stream: usize) -> bool {
        self.takes.get(stream).copied().unwrap_or(false)
    }
}

/// A topic or table name for `stream`: the pattern with the stream's name
/// in place of [`STREAM_PLACEHOLDER`], its dots as `replace_dot` (Kafka
/// topics keep them; SQL tables take `_`).
pub fn name_for(pattern: &str, stream: &str, replace_dot: Option<char>) -> String {
    let stream = match replace_dot {
        Some(c) => stream.replace('.', &c.to_string()),
        None => stream.to_string(),
    };
    pattern.replace(STREAM_PLACEHOLDER, &stream)
}

/// The streams a campaign's sinks take: its session and request rows.
pub const CAMPAIGN_STREAMS: [&str; 2] = ["sessions", "requests"];

/// What a run's sinks choose their streams from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SinkSource<'a> {
    /// A stream run's catalog, by the patterns subscriptions use; `None`
    /// when the catalog is invalid (its own errors are reported).
    Streams(Option<&'a Catalog>),
    /// A campaign: [`CAMPAIGN_STREAMS`].
    CampaignRows,
}

/// Reads `sinks` of a run document; problems go to `r` with their paths.
pub(crate) fn read_sinks(r: &mut Reader, value: Option<&Value>, source: SinkSource<'_>) -> Vec<SinkSpec> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        r.error("sinks", "must be a list of sinks");
        return Vec::new();
    };
    if list.len() > MAX_SINKS {
        r.error("sinks", format!("at most {MAX_SINKS} sinks"));
    }
    let mut sinks: Vec<SinkSpec> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = format!("sinks[{i}]");
        let Some(sink) = read_sink(r, item, &path, source, i) else {
            continue;
        };
        if sinks.iter().any(|s| s.name == sink.name) {
            r.error(
                &format!("{path}.name"),
                format!("`{}` names another sink too; give each its own name", sink.name),
            );
            continue;
        }
        sinks.push(sink);
    }
    sinks
}

fn read_sink(
    r: &mut Reader,
    value: &Value,
    path: &str,
    source: SinkSource<'_>,
    index: usize,
) -> Option<SinkSpec> {
    let map = r.object(value, path, SINK_FIELDS)?;
    let kind_name = r.required_str(map, path, "kind")?;
    let own: &[&str] = match kind_name.as_str() {
        "kafka" => KAFKA_FIELDS,
        "webhook" => WEBHOOK_FIELDS,
        "postgres" => POSTGRES_FIELDS,
        "files" => FILES_FIELDS,
        other => {
            r.error(
                &format!("{path}.kind"),
                format!("unknown sink kind `{other}`; expected kafka, webhook, postgres or files"),
            );
            return None;
        }
    };
    for field in map.keys() {
        let common = ["name", "kind", "streams"].contains(&field.as_str());
        if !common && !own.contains(&field.as_str()) && SINK_FIELDS.contains(&field.as_str()) {
            r.error(
                &format!("{path}.{field}"),
                format!(
                    "does not apply to a {kind_name} sink (it takes {})",
                    own.join(", ")
                ),
            );
        }
    }
    let name = match r.optional_str(map, path, "name") {
        Some(name) => {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                r.error(
                    &format!("{path}.name"),
                    "must be 1-64 letters, digits, `-` or `_`",
                );
            }
            name
        }
        None => format!("{kind_name}-{index}"),
    };
    let takes = read_streams(r, map, path, source);
    let kind = match kind_name.as_str() {
        "kafka" => read_kafka(r, map, path),
        "webhook" => read_webhook(r, map, path),
        "postgres" => read_postgres(r, map, path),
        _ => read_files(r, map, path),
    };
    Some(SinkSpec {
        name,
        kind: kind?,
        takes: takes?,
    })
}

/// The streams a sink takes, by the patterns subscriptions use; every
/// stream when none are given. A pattern that takes no stream is an error.
fn read_streams(
    r: &mut Reader,
    map: &Map<String, Value>,
    path: &str,
    source: SinkSource<'_>,
) -> Option<Vec<bool>> {
    let texts: Vec<String> = match map.get("streams") {
        None => vec!["*".into()],
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut texts = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(text) => texts.push(text.to_string()),
                    None => r.error(&format!("{path}.streams[{i}]"), "must be a stream pattern"),
                }
            }
            texts
        }
        Some(_) => {
            r.error(
                &format!("{path}.streams"),
                "must be a pattern or a non-empty list of them (`*`, `customer.*`, a stream name)",
            );
            return None;
        }
    };
    let many = matches!(map.get("streams"), Some(Value::Array(_)));
    let at = |i: usize| {
        if many {
            format!("{path}.streams[{i}]")
        } else {
            format!("{path}.streams")
        }
    };
    let catalog = match source {
        // Without a valid catalog the patterns cannot be checked; its own
        // errors are reported already.
        SinkSource::Streams(catalog) => catalog?,
        SinkSource::CampaignRows => {
            let mut takes = vec![false; CAMPAIGN_STREAMS.len()];
            for (i, text) in texts.iter().enumerate() {
                match CAMPAIGN_STREAMS.iter().position(|s| s == text) {
                    Some(stream) => takes[stream] = true,
                    None if text == "*" => takes.fill(true),
                    None => r.error(
                        &at(i),
                        format!("a campaign's sinks take `sessions`, `requests` or `*`, not `{text}`"),
                    ),
                }
            }
            return Some(takes);
        }
    };
    let mut patterns = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let at = at(i);
        match StreamPattern::parse(text, catalog) {
            Ok(StreamPattern::Anomalies) => r.error(
                &at,
                "`anomalies` filters what subscribers see; a sink takes streams (`*`, a domain, a tier or a name)",
            ),
            Ok(StreamPattern::Cadence(cadence))
                if select(catalog, &[StreamPattern::Cadence(cadence)]).is_empty() =>
            {
                r.error(&at, format!("no stream of this catalog is {}-frequency", cadence.name()))
            }
            Ok(pattern) => patterns.push(pattern),
            Err(message) => r.error(&at, message),
        }
    }
    let chosen = select(catalog, &patterns);
    let mut takes = vec![false; catalog.streams.len()];
    for stream in chosen {
        takes[stream] = true;
    }
    Some(takes)
}

fn read_kafka(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<SinkKind> {
    let brokers = r.required_str(map, path, "brokers");
    let topic = r.required_str(map, path, "topic");
    let brokers: Option<Vec<String>> = brokers.and_then(|text| {
        let list: Vec<String> = text
            .split(',')
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        let bad: Vec<&String> = list.iter().filter(|b| !is_host_port(b)).collect();
        if list.is_empty() || !bad.is_empty() {
            r.error(
                &format!("{path}.brokers"),
                "must list brokers as host:port, separated by commas (e.g. \"127.0.0.1:9092\")",
            );
            return None;
        }
        Some(list)
    });
    let topic = topic.and_then(|topic| {
        // Kafka's own rule for topic names; the stream's name (letters,
        // digits, dots, `_`, `-`) fits it.
        let bare = topic.replace(STREAM_PLACEHOLDER, "s");
        let valid = !bare.is_empty()
            && bare.len() <= 200
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            r.error(
                &format!("{path}.topic"),
                "must be letters, digits, `.`, `_` or `-` (and `{stream}` for a topic per stream)",
            );
            return None;
        }
        Some(topic)
    });
    Some(SinkKind::Kafka {
        brokers: brokers?,
        topic: topic?,
    })
}

fn is_host_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

fn read_webhook(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<SinkKind> {
    let url = r.required_str(map, path, "url").and_then(|url| {
        let parsed = url.parse::<http::Uri>().ok().filter(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
        });
        if parsed.is_none() {
            r.error(
                &format!("{path}.url"),
                format!("`{url}` is not an http:// or https:// URL with a host"),
            );
            return None;
        }
        Some(url)
    });
    let given = r.optional_str(map, path, "secret");
    let env = r.optional_str(map, path, "secret_env");
    let key = match (given, env) {
        (Some(_), Some(_)) => {
            r.error(&format!("{path}.secret"), "give secret or secret_env, not both");
            None
        }
        (Some(secret), None) if secret.len() < 16 => {
            r.error(&format!("{path}.secret"), "must be at least 16 characters");
            None
        }
        (Some(secret), None) => Some(SigningKey::Given(Secret::new(secret))),
        (None, Some(name)) if name.is_empty() || name.contains('=') || name.contains('\0') => {
            r.error(&format!("{path}.secret_env"), "must name an environment variable");
            None
        }
        (None, Some(name)) => Some(SigningKey::Env(name)),
        (None, None) => {
            r.error(
                &format!("{path}.secret"),
                "is required (or secret_env): every batch is signed so the receiver can check it",
            );
            None
        }
    };
    let batch = r
        .optional_u64(map, path, "batch", 1, MAX_WEBHOOK_BATCH)
        .unwrap_or(DEFAULT_WEBHOOK_BATCH);
    Some(SinkKind::Webhook {
        url: url?,
        key: key?,
        batch: batch as u32,
    })
}

fn read_postgres(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<SinkKind> {
    let url = r.required_str(map, path, "url").and_then(|url| {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
            r.error(
                &format!("{path}.url"),
                format!("`{url}` is not a postgres://[user[:password]@]host[:port]/database URL"),
            );
            return None;
        }
        Some(url)
    });
    let table = r
        .optional_str(map, path, "table")
        .unwrap_or_else(|| "stream_events".into());
    let bare = table.replace(STREAM_PLACEHOLDER, "s");
    let valid = !bare.is_empty()
        && bare.len() <= 48
        && bare.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && bare
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        r.error(
            &format!("{path}.table"),
            "must be lower-case letters, digits and `_`, starting with a letter (and `{stream}` for a table per stream)",
        );
    }
    Some(SinkKind::Postgres {
        url: url?,
        table: valid.then_some(table)?,
    })
}

fn read_files(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<SinkKind> {
    let dir = r.required_str(map, path, "path").and_then(|dir| {
        if !dir.starts_with('/') {
            r.error(
                &format!("{path}.path"),
                "must be an absolute directory path on the agents",
            );
            return None;
        }
        Some(dir)
    });
    let format = match r.optional_str(map, path, "format").as_deref() {
        None | Some("jsonl") => Some(FileFormat::JsonLines),
        Some("parquet") => Some(FileFormat::Parquet),
        Some(other) => {
            r.error(
                &format!("{path}.format"),
                format!("unknown format `{other}`; expected jsonl or parquet"),
            );
            None
        }
    };
    Some(SinkKind::Files {
        path: dir?,
        format: format?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: Value) -> (Vec<SinkSpec>, Vec<String>) {
        let catalog = Catalog::builtin();
        let mut r = Reader::default();
        let sinks = read_sinks(&mut r, Some(&value), SinkSource::Streams(Some(&catalog)));
        let errors = r
            .into_errors()
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        (sinks, errors)
    }

    #[test]
    fn a_campaigns_sinks_take_its_sessions_and_requests() {
        let mut r = Reader::default();
        let value = serde_json::json!([
            { "kind": "files", "path": "/tmp/all" },
            { "kind": "files", "path": "/tmp/sessions", "streams": "sessions" },
            { "kind": "files", "path": "/tmp/bad", "streams": ["requests", "customer.*"] },
        ]);
        let sinks = read_sinks(&mut r, Some(&value), SinkSource::CampaignRows);
        assert_eq!(sinks[0].takes, [true, true]);
        assert_eq!(sinks[1].takes, [true, false]);
        let errors: Vec<String> = r
            .into_errors()
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        assert_eq!(
            errors,
            ["sinks[2].streams[1]: a campaign's sinks take `sessions`, `requests` or `*`, not `customer.*`"]
        );
    }

    #[test]
    fn each_kind_reads_with_its_streams() {
        let (sinks, errors) = read(serde_json::json!([
            { "kind": "kafka", "brokers": "127.0.0.1:9092, 127.0.0.1:9093", "topic": "events.{stream}",
              "streams": ["customer.*"] },
            { "kind": "webhook", "url": "https://hooks.example.com/in", "secret_env": "HOOK_KEY" },
            { "name": "lake", "kind": "postgres", "url": "postgres://throng@127.0.0.1/lake" },
            { "kind": "files", "path": "/tmp/out", "format": "parquet", "streams": "session.completed" },
        ]));
        assert_eq!(errors, Vec::<String>::new());
        let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["kafka-0", "webhook-1", "lake", "files-3"]);
        let catalog = Catalog::builtin();
        let customer = sinks[0].takes.iter().filter(|t| **t).count();
        assert_eq!(customer, 10, "the customer domain");
        assert_eq!(
            sinks[1].takes.iter().filter(|t| **t).count(),
            catalog.streams.len()
        );
        let completed = catalog.stream("session.completed").expect("a stream");
        assert!(sinks[3].takes(completed) && sinks[3].takes.iter().filter(|t| **t).count() == 1);
        assert_eq!(
            sinks[0].kind,
            SinkKind::Kafka {
                brokers: vec!["127.0.0.1:9092".into(), "127.0.0.1:9093".into()],
                topic: "events.{stream}".into()
            }
        );
        assert!(matches!(sinks[1].kind, SinkKind::Webhook { batch: 500, .. }));
        assert!(matches!(&sinks[2].kind, SinkKind::Postgres { table, .. } if table == "stream_events"));
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let (_, errors) = read(serde_json::json!([
            { "kind": "carrier-pigeon" },
            { "kind": "kafka", "brokers": "localhost", "streams": ["nope.*", "anomalies"] },
            { "kind": "webhook", "url": "ftp://x", "secret": "short", "topic": "t" },
            { "kind": "postgres", "url": "mysql://x/y", "table": "Bad-Name" },
            { "kind": "files", "path": "relative", "format": "csv" },
            { "name": "twice", "kind": "files", "path": "/a" },
            { "name": "twice", "kind": "files", "path": "/b" },
        ]));
        let expected = [
            "sinks[0].kind: unknown sink kind `carrier-pigeon`",
            "sinks[1].streams[0]: no stream is in domain `nope`",
            "sinks[1].streams[1]: `anomalies` filters",
            "sinks[1].brokers: must list brokers as host:port",
            "sinks[1].topic: is required",
            "sinks[2].topic: does not apply to a webhook sink",
            "sinks[2].url: `ftp://x` is not an http:// or https:// URL",
            "sinks[2].secret: must be at least 16 characters",
            "sinks[3].url: `mysql://x/y` is not a postgres://",
            "sinks[3].table: must be lower-case letters",
            "sinks[4].path: must be an absolute directory path",
            "sinks[4].format: unknown format `csv`",
            "sinks[6].name: `twice` names another sink too",
        ];
        for want in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "missing `{want}` in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    }

    #[test]
    fn per_stream_names_take_the_stream() {
        assert_eq!(
            name_for("events.{stream}", "order.placed", None),
            "events.order.placed"
        );
        assert_eq!(
            name_for("ev_{stream}", "order.placed", Some('_')),
            "ev_order_placed"
        );
        assert_eq!(name_for("all_events", "order.placed", Some('_')), "all_events");
    }
}
