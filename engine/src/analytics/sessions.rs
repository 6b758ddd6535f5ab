//! One campaign's sessions, one at a time: a filtered list, newest first,
//! paged with an opaque cursor, and one session in full (who made it, every
//! request with its timing and answer, and for browser sessions how the bot
//! detector judged it).
//!
//! Both stores build their answers from the same rows (`telemetry::rows`),
//! through the functions here, so ClickHouse and the embedded store answer
//! alike.

use serde::{Deserialize, Serialize};

use crate::ids::{self, Part};
use crate::telemetry::rows::{BrowserSessionRow, RequestRow, SessionRow};

/// The most sessions one page holds.
pub const MAX_PAGE: u32 = 1_000;
/// Sessions per page when the caller names no limit.
pub const DEFAULT_PAGE: u32 = 50;

/// Whether a session succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
}

impl Outcome {
    pub fn parse(name: &str) -> Option<Outcome> {
        match name {
            "ok" => Some(Outcome::Ok),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// Which sessions a list keeps; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFilter {
    pub persona: Option<String>,
    pub journey: Option<String>,
    /// Index into the campaign's targets.
    pub target: Option<u32>,
    pub agent: Option<String>,
    pub outcome: Option<Outcome>,
    /// The class of the session's first failure ([`error_class`]).
    pub error_class: Option<String>,
    /// Intended start at or after, epoch ms.
    pub from_ms: Option<u64>,
    /// Intended start before, epoch ms.
    pub to_ms: Option<u64>,
    pub min_duration_ms: Option<u64>,
}

impl SessionFilter {
    /// Whether a session with these facts passes.
    pub fn keeps(&self, s: &SessionSummary) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.persona, &s.persona)
            && eq(&self.journey, &s.journey)
            && self.target.is_none_or(|t| t == s.target)
            && eq(&self.agent, &s.agent)
            && self.outcome.is_none_or(|o| (o == Outcome::Ok) == s.ok)
            && eq(&self.error_class, &s.error_class)
            && self.from_ms.is_none_or(|from| s.intended_ms >= from)
            && self.to_ms.is_none_or(|to| s.intended_ms < to)
            && self.min_duration_ms.is_none_or(|min| s.duration_ms >= min)
    }

    /// A stable text of the filter, so a cursor can only be used with the
    /// filter it was made for.
    fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where the next page starts: after this session in newest-first order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub intended_ms: u64,
    pub session_id: u64,
}

impl Position {
    /// Whether `s` comes after this position, newest first.
    pub fn is_before(&self, s: &SessionSummary) -> bool {
        (s.intended_ms, s.session_id) < (self.intended_ms, self.session_id)
    }
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this campaign's session list gave with this filter")]
pub struct BadCursor;

/// Opaque cursors: the position and a check over it, the campaign and the
/// filter, so an edited cursor, or one used with another filter or
/// campaign, is refused rather than silently skipping sessions.
pub fn encode_cursor(campaign_id: &str, filter: &SessionFilter, at: Position) -> String {
    let check = cursor_check(campaign_id, filter, at);
    format!("{:016x}{:016x}{check:016x}", at.intended_ms, at.session_id)
}

pub fn decode_cursor(campaign_id: &str, filter: &SessionFilter, cursor: &str) -> Result<Position, BadCursor> {
    if cursor.len() != 48 || !cursor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadCursor);
    }
    let field = |i: usize| u64::from_str_radix(&cursor[i * 16..(i + 1) * 16], 16).map_err(|_| BadCursor);
    let at = Position {
        intended_ms: field(0)?,
        session_id: field(1)?,
    };
    if field(2)? != cursor_check(campaign_id, filter, at) {
        return Err(BadCursor);
    }
    Ok(at)
}

fn cursor_check(campaign_id: &str, filter: &SessionFilter, at: Position) -> u64 {
    ids::stable_hash(&[
        Part::Str("session cursor"),
        Part::Str(campaign_id),
        Part::Str(&filter.fingerprint()),
        Part::U64(at.intended_ms),
        Part::U64(at.session_id),
    ])
}

/// The class of a session's first failure as recorded: `http` for an error
/// status, else the engine's class before `: `; empty when it succeeded.
/// [`ERROR_CLASS_SQL`] computes the same in ClickHouse.
pub fn error_class(error: &str) -> String {
    if error.is_empty() {
        String::new()
    } else if error.starts_with("http ") {
        "http".to_string()
    } else {
        match error.split_once(": ") {
            Some((class, _)) => class.to_string(),
            None => error.to_string(),
        }
    }
}

/// [`error_class`] of the `error` column, in SQL that runs on ClickHouse
/// 18.16 and current releases.
pub const ERROR_CLASS_SQL: &str = "multiIf(error = '', '', substring(error, 1, 5) = 'http ', 'http', \
     position(error, ': ') > 0, substring(error, 1, position(error, ': ') - 1), error)";

/// One line of a session list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Written as a decimal string: 64-bit ids do not survive JavaScript's numbers.
    #[serde(with = "id_text")]
    pub session_id: u64,
    pub intended_ms: u64,
    pub duration_ms: u64,
    pub persona: String,
    pub journey: String,
    pub target: u32,
    pub agent: String,
    pub requests: u32,
    pub failed_requests: u32,
    pub page_views: u32,
    pub actions: u32,
    pub conversions: u32,
    pub revenue_cents: u64,
    pub ok: bool,
    /// The first failure, empty when it succeeded.
    pub error: String,
    pub error_class: String,
}

impl SessionSummary {
    pub(crate) fn of(row: &SessionRow) -> Self {
        SessionSummary {
            session_id: row.session_id,
            intended_ms: row.intended_ms,
            duration_ms: row.ended_ms.saturating_sub(row.started_ms),
            persona: row.persona.clone(),
            journey: row.journey.clone(),
            target: row.target,
            agent: row.agent_id.clone(),
            requests: row.requests,
            failed_requests: row.errors,
            page_views: row.page_views,
            actions: row.actions,
            conversions: row.conversions,
            revenue_cents: row.revenue_cents,
            ok: row.ok != 0,
            error: row.error.clone(),
            error_class: error_class(&row.error),
        }
    }

    pub fn position(&self) -> Position {
        Position {
            intended_ms: self.intended_ms,
            session_id: self.session_id,
        }
    }
}

/// One page of a session list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    /// Give it back for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl SessionPage {
    /// The page from up to `limit + 1` matching sessions, newest first: the
    /// extra one only says that another page follows.
    pub fn of(
        campaign_id: &str,
        filter: &SessionFilter,
        mut sessions: Vec<SessionSummary>,
        limit: u32,
    ) -> SessionPage {
        let more = sessions.len() > limit as usize;
        sessions.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                sessions
                    .last()
                    .map(|s| encode_cursor(campaign_id, filter, s.position()))
            })
            .flatten();
        SessionPage {
            sessions,
            next_cursor,
        }
    }
}

/// Why a session list could not be given.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    BadCursor(#[from] BadCursor),
    #[error(transparent)]
    Store(#[from] super::AnalyticsError),
}

/// The page of `campaign_id`'s sessions that `filter` keeps, from `cursor`
/// (none: the newest), of at most `limit` sessions ([`page_size`]).
pub async fn list(
    store: &dyn super::AnalyticsSource,
    campaign_id: &str,
    filter: &SessionFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<SessionPage, ListError> {
    let after = cursor
        .map(|c| decode_cursor(campaign_id, filter, c))
        .transpose()?;
    let sessions = store.sessions(campaign_id, filter, after, limit).await?;
    Ok(SessionPage::of(campaign_id, filter, sessions, limit))
}

/// The page size asked for, checked: 0 means the default.
pub fn page_size(limit: u32) -> Result<u32, String> {
    match limit {
        0 => Ok(DEFAULT_PAGE),
        1..=MAX_PAGE => Ok(limit),
        _ => Err(format!("must be 1 to {MAX_PAGE} (got {limit})")),
    }
}

/// Who made a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// 16 hex digits, as Matomo's `_id`.
    pub visitor_id: String,
    pub visit_count: u32,
    pub device: String,
    pub country: String,
    pub referrer: String,
}

/// One request of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub index: u32,
    /// What latency is reported under (`journey.step`, `matomo.bulk`, …).
    pub name: String,
    pub action: String,
    /// The path or URL requested; for a tracking hit, the hit it sent.
    pub path: String,
    /// 0 when no answer came.
    pub status: u16,
    /// When it was meant to start, from the session's intended start.
    pub offset_ms: u64,
    /// From its intended start to the end of the answer.
    pub latency_us: u64,
    pub error: String,
    /// The size of the answer's body (for a browser page, the document's).
    pub bytes: u64,
    /// The start of an error answer's body.
    pub excerpt: String,
}

/// The behaviour signals the bot detector judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub mouse_events: u32,
    pub clicks: u32,
    pub straightness: f64,
    pub keystrokes: u32,
    pub correction_ratio: f64,
    pub scroll_events: u32,
    pub blurs: u32,
    pub duration_ms: f64,
}

/// One page of a browser visit and its Web Vitals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageVitals {
    pub url: String,
    pub status: u16,
    pub ttfb_ms: f64,
    pub load_ms: f64,
    pub lcp_ms: f64,
    pub cls: f64,
    pub inp_ms: f64,
}

/// How a browser session went and how the detector judged it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BrowserDetail {
    pub bot_persona: bool,
    /// Times the visit ran (more than 1: its browser died or hung under it).
    pub attempts: u32,
    /// `LOW`, `MEDIUM` or `HIGH`; empty when the visit failed before it.
    pub risk: String,
    pub score: f64,
    pub confidence: f64,
    pub reasons: Vec<String>,
    pub signals: Signals,
    pub pages: Vec<PageVitals>,
    pub js_errors: u32,
    /// Where the agent saved a screenshot of a failed visit.
    pub screenshot: String,
}

/// One session in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub shard: u32,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub visit: Visit,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserDetail>,
}

impl SessionDetail {
    pub(crate) fn of(
        session: &SessionRow,
        mut requests: Vec<RequestRow>,
        browser: Option<BrowserSessionRow>,
    ) -> Self {
        requests.sort_by_key(|r| r.idx);
        SessionDetail {
            summary: SessionSummary::of(session),
            shard: session.shard,
            started_ms: session.started_ms,
            ended_ms: session.ended_ms,
            visit: Visit {
                visitor_id: format!("{:016x}", session.visitor_id),
                visit_count: session.visit_count,
                device: session.device.clone(),
                country: session.country.clone(),
                referrer: session.referrer.clone(),
            },
            steps: requests
                .into_iter()
                .map(|r| Step {
                    index: r.idx,
                    name: r.name,
                    action: r.action,
                    path: r.path,
                    status: r.status,
                    offset_ms: r.intended_ms.saturating_sub(session.intended_ms),
                    latency_us: r.latency_us,
                    error: r.error,
                    bytes: r.bytes,
                    excerpt: r.excerpt,
                })
                .collect(),
            browser: browser.map(|b| BrowserDetail {
                bot_persona: b.bot_persona != 0,
                attempts: b.attempts,
                risk: b.risk,
                score: b.score,
                confidence: b.confidence,
                reasons: b.reasons,
                signals: Signals {
                    mouse_events: b.mouse_events,
                    clicks: b.clicks,
                    straightness: b.straightness,
                    keystrokes: b.keystrokes,
                    correction_ratio: b.correction_ratio,
                    scroll_events: b.scroll_events,
                    blurs: b.blurs,
                    duration_ms: b.duration_ms,
                },
                pages: (0..b.page_urls.len())
                    .map(|i| PageVitals {
                        url: b.page_urls[i].clone(),
                        status: b.status.get(i).copied().unwrap_or_default(),
                        ttfb_ms: b.ttfb_ms.get(i).copied().unwrap_or_default(),
                        load_ms: b.load_ms.get(i).copied().unwrap_or_default(),
                        lcp_ms: b.lcp_ms.get(i).copied().unwrap_or_default(),
                        cls: b.cls.get(i).copied().unwrap_or_default(),
                        inp_ms: b.inp_ms.get(i).copied().unwrap_or_default(),
                    })
                    .collect(),
                js_errors: b.js_errors,
                screenshot: b.screenshot,
            }),
        }
    }
}

/// Session ids as decimal strings in JSON.
mod id_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(intended_ms: u64, session_id: u64) -> SessionSummary {
        SessionSummary {
            session_id,
            intended_ms,
            duration_ms: 10,
            persona: "p".into(),
            journey: "j".into(),
            target: 0,
            agent: "a".into(),
            requests: 1,
            failed_requests: 0,
            page_views: 1,
            actions: 1,
            conversions: 0,
            revenue_cents: 0,
            ok: true,
            error: String::new(),
            error_class: String::new(),
        }
    }

    #[test]
    fn failures_are_classed_like_error_groups() {
        assert_eq!(error_class(""), "");
        assert_eq!(error_class("http 503 on /cart"), "http");
        assert_eq!(error_class("connect: refused on /"), "connect");
        assert_eq!(error_class("browser: click a on http://x/: none"), "browser");
        assert_eq!(error_class("odd"), "odd");
    }

    #[test]
    fn cursors_come_back_only_unchanged_and_with_their_filter() {
        let filter = SessionFilter {
            persona: Some("shopper".into()),
            ..SessionFilter::default()
        };
        let at = Position {
            intended_ms: 1_770_000_000_000,
            session_id: u64::MAX - 3,
        };
        let cursor = encode_cursor("c1", &filter, at);
        assert_eq!(decode_cursor("c1", &filter, &cursor), Ok(at));
        assert_eq!(decode_cursor("c2", &filter, &cursor), Err(BadCursor));
        assert_eq!(
            decode_cursor("c1", &SessionFilter::default(), &cursor),
            Err(BadCursor)
        );
        let mut tampered = cursor.clone().into_bytes();
        tampered[20] = if tampered[20] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).expect("hex");
        assert_eq!(decode_cursor("c1", &filter, &tampered), Err(BadCursor));
        assert_eq!(decode_cursor("c1", &filter, "not a cursor"), Err(BadCursor));
    }

    #[test]
    fn a_page_says_where_the_next_begins_only_when_there_is_one() {
        let filter = SessionFilter::default();
        let rows = vec![summary(30, 1), summary(20, 2), summary(20, 1)];
        let page = SessionPage::of("c", &filter, rows.clone(), 2);
        assert_eq!(page.sessions.len(), 2);
        let next = page.next_cursor.expect("a next page");
        let at = decode_cursor("c", &filter, &next).expect("cursor");
        assert_eq!(at, rows[1].position());
        assert!(at.is_before(&rows[2]));
        assert!(!at.is_before(&rows[0]));
        let last = SessionPage::of("c", &filter, rows, 3);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn filters_keep_only_matching_sessions() {
        let mut failed = summary(100, 7);
        failed.ok = false;
        failed.error = "timeout: no answer in 5s on /".into();
        failed.error_class = "timeout".into();
        failed.duration_ms = 5_000;
        let filter = SessionFilter {
            outcome: Some(Outcome::Failed),
            error_class: Some("timeout".into()),
            min_duration_ms: Some(1_000),
            from_ms: Some(100),
            to_ms: Some(101),
            ..SessionFilter::default()
        };
        assert!(filter.keeps(&failed));
        assert!(!filter.keeps(&summary(100, 8)));
        let later = SessionFilter {
            from_ms: Some(101),
            ..SessionFilter::default()
        };
        assert!(!later.keeps(&failed));
    }

    #[test]
    fn ids_are_written_as_text() {
        let json = serde_json::to_value(summary(1, u64::MAX)).expect("json");
        assert_eq!(json["session_id"], "18446744073709551615");
        let back: SessionSummary = serde_json::from_value(json).expect("back");
        assert_eq!(back.session_id, u64::MAX);
    }
}
