//! A node's recent log lines, kept in memory so that the API and `throng
//! logs` can show them without a shell on the machine: a bounded ring the
//! process's tracing subscriber writes into (through [`RingLayer`]) and
//! queries read with level and text filters.
//!
//! Logging is process-wide (one tracing subscriber per process), so the ring
//! is too: [`LogRing::global`]. On `throng up` every node runs in one
//! process and shares it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Lines a ring keeps.
pub const CAPACITY: usize = 2_000;
/// The longest line kept; longer ones are cut (a whole response body in a
/// field would otherwise crowd out everything else).
const MAX_LINE_BYTES: usize = 2_048;
/// The most lines one query answers.
pub const MAX_LIMIT: usize = 1_000;

/// One logged line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Increases by one per line in this process: where a follower resumes.
    pub seq: u64,
    pub at_ms: u64,
    pub level: Level,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields, `key=value`.
    pub text: String,
}

/// Which lines a query wants.
#[derive(Clone, Debug)]
pub struct LogQuery {
    /// This level and the more severe ones.
    pub min_level: Level,
    /// Only lines whose target or text contain this (empty: all).
    pub grep: String,
    /// Only lines after this sequence number.
    pub after_seq: u64,
    /// The newest this many of them.
    pub limit: usize,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            min_level: Level::INFO,
            grep: String::new(),
            after_seq: 0,
            limit: 200,
        }
    }
}

/// Parses a level name as users write it (`warn`, `WARN`, `warning`).
pub fn parse_level(name: &str) -> Result<Level, String> {
    match name.to_ascii_lowercase().as_str() {
        "" | "info" => Ok(Level::INFO),
        "error" => Ok(Level::ERROR),
        "warn" | "warning" => Ok(Level::WARN),
        "debug" => Ok(Level::DEBUG),
        "trace" => Ok(Level::TRACE),
        other => Err(format!(
            "level: unknown `{other}`; use error, warn, info, debug or trace"
        )),
    }
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    next_seq: u64,
}

/// A bounded ring of log lines.
#[derive(Clone)]
pub struct LogRing {
    ring: Arc<Mutex<Ring>>,
    capacity: usize,
}

impl LogRing {
    pub fn new(capacity: usize) -> Self {
        LogRing {
            ring: Arc::default(),
            capacity,
        }
    }

    /// The process's ring.
    pub fn global() -> &'static LogRing {
        static GLOBAL: OnceLock<LogRing> = OnceLock::new();
        GLOBAL.get_or_init(|| LogRing::new(CAPACITY))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a line, forgetting the oldest once full.
    pub fn push(&self, at_ms: u64, level: Level, target: &str, mut text: String) {
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let mut ring = self.lock();
        ring.next_seq += 1;
        let seq = ring.next_seq;
        ring.lines.push_back(LogLine {
            seq,
            at_ms,
            level,
            target: target.to_string(),
            text,
        });
        while ring.lines.len() > self.capacity {
            ring.lines.pop_front();
        }
    }

    /// The lines that match, oldest first: the newest `limit` of them, or,
    /// for a follower (`after_seq` set), the first `limit` after its last
    /// line, so that it misses none however fast they come.
    pub fn query(&self, query: &LogQuery) -> Vec<LogLine> {
        let ring = self.lock();
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let matches = |line: &&LogLine| {
            // tracing orders levels by verbosity: ERROR is the smallest.
            line.level <= query.min_level
                && (query.grep.is_empty()
                    || line.text.contains(&query.grep)
                    || line.target.contains(&query.grep))
        };
        if query.after_seq > 0 {
            return ring
                .lines
                .iter()
                .filter(|line| line.seq > query.after_seq)
                .filter(matches)
                .take(limit)
                .cloned()
                .collect();
        }
        let mut newest: Vec<LogLine> = ring
            .lines
            .iter()
            .rev()
            .filter(matches)
            .take(limit)
            .cloned()
            .collect();
        newest.reverse();
        newest
    }
}

/// Writes every event the process logs into a [`LogRing`].
pub struct RingLayer {
    ring: LogRing,
}

impl RingLayer {
    pub fn new(ring: LogRing) -> Self {
        RingLayer { ring }
    }
}

/// Renders an event's message and fields as one line.
#[derive(Default)]
struct LineWriter {
    message: String,
    fields: String,
}

impl Visit for LineWriter {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let mut line = LineWriter::default();
        event.record(&mut line);
        let metadata = event.metadata();
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.ring.push(
            at_ms,
            *metadata.level(),
            metadata.target(),
            line.message + &line.fields,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn ring_with(lines: &[(Level, &str)]) -> LogRing {
        let ring = LogRing::new(5);
        for (i, (level, text)) in lines.iter().enumerate() {
            ring.push(i as u64, *level, "throng", text.to_string());
        }
        ring
    }

    #[test]
    fn keeps_the_newest_lines_and_filters_by_level_text_and_position() {
        let ring = ring_with(&[
            (Level::INFO, "started"),
            (Level::WARN, "session failed a"),
            (Level::INFO, "tick"),
            (Level::ERROR, "disk full"),
            (Level::WARN, "session failed b"),
            (Level::DEBUG, "detail"),
        ]);
        let all = ring.query(&LogQuery {
            min_level: Level::TRACE,
            ..LogQuery::default()
        });
        assert_eq!(all.len(), 5, "the oldest line went");
        assert_eq!(all[0].text, "session failed a");
        let warnings = ring.query(&LogQuery {
            min_level: Level::WARN,
            ..LogQuery::default()
        });
        let texts: Vec<&str> = warnings.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["session failed a", "disk full", "session failed b"]);
        let grep = ring.query(&LogQuery {
            grep: "failed".into(),
            ..LogQuery::default()
        });
        assert_eq!(grep.len(), 2);
        let after = ring.query(&LogQuery {
            after_seq: warnings[1].seq,
            min_level: Level::TRACE,
            ..LogQuery::default()
        });
        let texts: Vec<&str> = after.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            ["session failed b", "detail"],
            "a follower resumes after its last line"
        );
        let page = ring.query(&LogQuery {
            after_seq: warnings[0].seq,
            min_level: Level::TRACE,
            limit: 1,
            ..LogQuery::default()
        });
        assert_eq!(page[0].text, "tick", "a follower pages forward, missing nothing");
        let newest = ring.query(&LogQuery {
            limit: 1,
            ..LogQuery::default()
        });
        assert_eq!(newest[0].text, "session failed b", "the newest of the matches");
    }

    #[test]
    fn long_lines_are_cut_and_levels_parse_as_users_write_them() {
        let ring = LogRing::new(2);
        ring.push(0, Level::INFO, "t", "é".repeat(5_000));
        let line = &ring.query(&LogQuery::default())[0];
        assert!(
            line.text.len() <= MAX_LINE_BYTES + '…'.len_utf8(),
            "{}",
            line.text.len()
        );
        assert_eq!(parse_level("WARNING"), Ok(Level::WARN));
        assert_eq!(parse_level(""), Ok(Level::INFO));
        assert!(parse_level("loud").unwrap_err().contains("unknown `loud`"));
    }

    #[test]
    fn the_layer_records_messages_with_their_fields() {
        let ring = LogRing::new(10);
        let subscriber = tracing_subscriber::registry().with(RingLayer::new(ring.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(session_id = 7u64, persona = "shopper", "session failed");
        });
        let lines = ring.query(&LogQuery::default());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, Level::WARN);
        assert_eq!(lines[0].text, "session failed session_id=7 persona=shopper");
    }
}
