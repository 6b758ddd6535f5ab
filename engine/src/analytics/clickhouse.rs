//! Analytics from ClickHouse: grouped queries (sessions, requests, browser
//! sessions) whose rows become tallies (read by position; aggregates carry
//! no alias, since an alias named like a column would shadow it). `FINAL`
//! makes them exact before merges: a session run again after a failover
//! counts once. Request rows, five or more to a session, are read without
//! it when none is stored twice ([`ClickHouseAnalytics::requests_table`]).

use clickhouse::Row;
use serde::Deserialize;

use super::errors::{ErrorGroups, ErrorReport, Example, MAX_GROUPS, classify};
use super::sessions::{ERROR_CLASS_SQL, Outcome, Position, SessionDetail, SessionFilter, SessionSummary};
use super::{
    AnalyticsError, AnalyticsSource, CellKey, DetectionTally, LATENCY_BUCKET_SQL, Marginals, Spans, Tally,
    active_by_bucket,
};
use crate::telemetry::ClickHouseConfig;
use crate::telemetry::clickhouse::client;
use crate::telemetry::rows::{BrowserSessionRow, RequestRow, SessionRow};

/// Reads analytics from the `sessions` and `requests` tables.
#[derive(Clone)]
pub struct ClickHouseAnalytics {
    config: ClickHouseConfig,
}

#[derive(Row, Deserialize)]
struct SessionCell {
    persona: String,
    journey: String,
    target: u32,
    agent_id: String,
    bucket: u64,
    sessions: u64,
    failed_sessions: u64,
    bounces: u64,
    page_views: u64,
    actions: u64,
    duration_ms: u64,
    conversions: u64,
    revenue_cents: u64,
    late_sessions: u64,
}

#[derive(Row, Deserialize)]
struct RequestCell {
    persona: String,
    journey: String,
    target: u32,
    agent_id: String,
    latency: u64,
    requests: u64,
    failed: u64,
}

#[derive(Row, Deserialize)]
struct RequestBucketCell {
    bucket: u64,
    latency: u64,
    requests: u64,
    failed: u64,
}

#[derive(Row, Deserialize)]
struct StoredOnce {
    once: u8,
}

#[derive(Row, Deserialize)]
struct BrowserCell {
    persona: String,
    journey: String,
    target: u32,
    agent_id: String,
    bucket: u64,
    sessions: u64,
    humans: u64,
    humans_low: u64,
    bots: u64,
    bots_high: u64,
    retried: u64,
}

#[derive(Row, Deserialize)]
struct ErrorRow {
    error: String,
    code: u16,
    requests: u64,
    first_ms: u64,
    last_ms: u64,
    path: String,
    status: u16,
    excerpt: String,
}

#[derive(Row, Deserialize)]
struct SpanCell {
    first_bucket: u64,
    last_bucket: u64,
    sessions: u64,
    started_ms: u64,
    ended_ms: u64,
}

#[derive(Row, Deserialize)]
struct NameCell {
    name: String,
    latency: u64,
    requests: u64,
    failed: u64,
}

#[derive(Row, Deserialize)]
struct VersionRow {
    rows: u64,
    ids: u64,
}

#[derive(Row, Deserialize)]
struct PositionRow {
    intended_ms: u64,
    session_id: u64,
}

/// What makes a request failed, as the engines count it.
const FAILED_SQL: &str = "(status = 0 OR status >= 400 OR error != '')";

/// The cell a grouped row of any table belongs to.
fn cell_key(persona: String, journey: String, target: u32, agent: String, bucket_ms: u64) -> CellKey {
    CellKey {
        persona,
        journey,
        target,
        agent,
        bucket_ms,
    }
}

fn bucket_sql(column: &str, resolution_ms: u64) -> String {
    if resolution_ms == 0 {
        "toUInt64(0)".to_string()
    } else {
        format!("intDiv({column}, {resolution_ms}) * {resolution_ms}")
    }
}

impl ClickHouseAnalytics {
    pub fn new(config: ClickHouseConfig) -> Self {
        ClickHouseAnalytics { config }
    }

    /// Up to `limit` positions of the campaign's sessions whose stored rows
    /// `filter` keeps, newest first, after `after`; a session stored twice
    /// and not yet merged may show twice.
    async fn session_positions(
        &self,
        campaign_id: &str,
        filter: &SessionFilter,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Position>, AnalyticsError> {
        let db = client(&self.config).with_database(self.config.database.clone());
        // Conditions and their values in order; every value is bound, never
        // spliced into the text.
        let mut conditions = vec!["campaign_id = ?".to_string()];
        let mut texts = vec![campaign_id.to_string()];
        let mut numbers = Vec::new();
        for (column, value) in [
            ("persona", &filter.persona),
            ("journey", &filter.journey),
            ("agent_id", &filter.agent),
            (ERROR_CLASS_SQL, &filter.error_class),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = ?"));
                texts.push(value.clone());
            }
        }
        if let Some(target) = filter.target {
            conditions.push("target = ?".to_string());
            numbers.push(u64::from(target));
        }
        if let Some(outcome) = filter.outcome {
            conditions.push(format!("ok = {}", u8::from(outcome == Outcome::Ok)));
        }
        if let Some(from) = filter.from_ms {
            conditions.push("intended_ms >= ?".to_string());
            numbers.push(from);
        }
        if let Some(to) = filter.to_ms {
            conditions.push("intended_ms < ?".to_string());
            numbers.push(to);
        }
        if let Some(min) = filter.min_duration_ms {
            conditions.push("if(ended_ms > started_ms, ended_ms - started_ms, 0) >= ?".to_string());
            numbers.push(min);
        }
        if let Some(at) = after {
            conditions.push("(intended_ms < ? OR (intended_ms = ? AND session_id < ?))".to_string());
            numbers.extend([at.intended_ms, at.intended_ms, at.session_id]);
        }
        let mut query = db.query(&format!(
            "SELECT intended_ms, session_id FROM sessions WHERE {} \
             ORDER BY intended_ms DESC, session_id DESC LIMIT {limit}",
            conditions.join(" AND "),
        ));
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows: Vec<PositionRow> = query.fetch_all().await.map_err(|e| self.unavailable(e))?;
        Ok(rows
            .into_iter()
            .map(|r| Position {
                intended_ms: r.intended_ms,
                session_id: r.session_id,
            })
            .collect())
    }

    /// How a reading names the campaign's request rows: plainly when each is
    /// stored once, else with `FINAL` (a single-threaded merge of every row,
    /// most of a reading's time at a million sessions). Each is stored once
    /// when there are as many rows as the stored sessions made requests: a
    /// session's requests are written before it, so none of its rows can be
    /// missing, and any copy (a batch written again after an answer was
    /// lost, a session run again after a failover) makes more.
    async fn requests_table(&self, campaign_id: &str) -> Result<&'static str, AnalyticsError> {
        let db = client(&self.config).with_database(self.config.database.clone());
        let row: StoredOnce = db
            .query(
                "SELECT (SELECT count() FROM requests WHERE campaign_id = ?) \
                 = (SELECT sum(requests) FROM sessions FINAL WHERE campaign_id = ?)",
            )
            .bind(campaign_id)
            .bind(campaign_id)
            .fetch_one()
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(if row.once == 1 {
            "requests"
        } else {
            "requests FINAL"
        })
    }

    fn unavailable(&self, error: clickhouse::error::Error) -> AnalyticsError {
        AnalyticsError::Unavailable {
            endpoint: self.config.url.clone(),
            reason: error.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl AnalyticsSource for ClickHouseAnalytics {
    async fn tallies(&self, campaign_id: &str, resolution_ms: u64) -> Result<Marginals, AnalyticsError> {
        let db = client(&self.config).with_database(self.config.database.clone());
        let requests = self.requests_table(campaign_id).await?;
        let bucket = bucket_sql("intended_ms", resolution_ms);
        let late_ms = crate::generator::LATE_START.as_millis();
        // Six readings at once: ClickHouse runs each on its own thread.
        let sessions = db
            .query(&format!(
                "SELECT persona, journey, target, agent_id, {bucket} AS bucket, \
                 count(), sum(ok = 0), sum(actions = 1), sum(page_views), sum(actions), \
                 sum(toUInt64(if(ended_ms > started_ms, ended_ms - started_ms, 0))), \
                 sum(conversions), sum(revenue_cents), sum(started_ms > intended_ms + {late_ms}) \
                 FROM sessions FINAL WHERE campaign_id = ? \
                 GROUP BY persona, journey, target, agent_id, bucket"
            ))
            .bind(campaign_id)
            .fetch_all::<SessionCell>();
        // Requests by every dimension without time, and by time alone: the
        // latency histograms no answer cuts finer.
        let overall = db
            .query(&format!(
                "SELECT persona, journey, target, agent_id, {LATENCY_BUCKET_SQL} AS latency, \
                 count(), sum({FAILED_SQL}) FROM {requests} WHERE campaign_id = ? \
                 GROUP BY persona, journey, target, agent_id, latency"
            ))
            .bind(campaign_id)
            .fetch_all::<RequestCell>();
        let over_time = async {
            if resolution_ms == 0 {
                return Ok(Vec::new());
            }
            db.query(&format!(
                "SELECT {bucket} AS bucket, {LATENCY_BUCKET_SQL} AS latency, count(), \
                 sum({FAILED_SQL}) FROM {requests} WHERE campaign_id = ? \
                 GROUP BY bucket, latency"
            ))
            .bind(campaign_id)
            .fetch_all::<RequestBucketCell>()
            .await
        };
        let browser = db
            .query(&format!(
                "SELECT persona, journey, target, agent_id, {bucket} AS bucket, count(), \
                 sum(bot_persona = 0 AND risk != ''), sum(bot_persona = 0 AND risk = 'LOW'), \
                 sum(bot_persona = 1 AND risk != ''), sum(bot_persona = 1 AND risk = 'HIGH'), \
                 sum(attempts > 1) \
                 FROM browser_sessions FINAL WHERE campaign_id = ? \
                 GROUP BY persona, journey, target, agent_id, bucket"
            ))
            .bind(campaign_id)
            .fetch_all::<BrowserCell>();
        // Sessions by the buckets they start and end in: the time they were
        // in progress in each bucket, as `analytics::overlaps` counts it.
        let spans = async {
            if resolution_ms == 0 {
                return Ok(Vec::new());
            }
            db.query(&format!(
                "SELECT {first} AS first_bucket, {last} AS last_bucket, count(), \
                 sum(started_ms), sum(greatest(ended_ms, started_ms)) \
                 FROM sessions FINAL WHERE campaign_id = ? GROUP BY first_bucket, last_bucket",
                first = bucket_sql("started_ms", resolution_ms),
                last = bucket_sql("greatest(ended_ms, started_ms)", resolution_ms),
            ))
            .bind(campaign_id)
            .fetch_all::<SpanCell>()
            .await
        };
        let names = db
            .query(&format!(
                "SELECT name, {LATENCY_BUCKET_SQL} AS latency, count(), sum({FAILED_SQL}) \
                 FROM {requests} WHERE campaign_id = ? GROUP BY name, latency"
            ))
            .bind(campaign_id)
            .fetch_all::<NameCell>();
        let (sessions, overall, over_time, browser, spans, names) =
            tokio::try_join!(sessions, overall, over_time, browser, spans, names)
                .map_err(|e| self.unavailable(e))?;

        let mut tallies = Marginals::default();
        let spans: Vec<Spans> = spans
            .into_iter()
            .map(|s| Spans {
                first_bucket_ms: s.first_bucket,
                last_bucket_ms: s.last_bucket,
                sessions: s.sessions,
                started_ms: s.started_ms,
                ended_ms: s.ended_ms,
            })
            .collect();
        for (bucket_ms, active_ms) in active_by_bucket(&spans, resolution_ms) {
            let tally = Tally {
                active_ms,
                ..Tally::default()
            };
            tallies.add_to_series(bucket_ms, &tally, resolution_ms);
        }
        for b in browser {
            let key = cell_key(b.persona, b.journey, b.target, b.agent_id, b.bucket);
            let tally = Tally {
                detection: DetectionTally {
                    browser_sessions: b.sessions,
                    humans: b.humans,
                    humans_low: b.humans_low,
                    bots: b.bots,
                    bots_high: b.bots_high,
                    retried: b.retried,
                },
                ..Tally::default()
            };
            tallies.add_cell(&key, &tally, resolution_ms);
        }
        for s in sessions {
            let key = cell_key(s.persona, s.journey, s.target, s.agent_id, s.bucket);
            let tally = Tally {
                sessions: s.sessions,
                failed_sessions: s.failed_sessions,
                bounces: s.bounces,
                page_views: s.page_views,
                actions: s.actions,
                duration_ms: s.duration_ms,
                conversions: s.conversions,
                revenue_cents: s.revenue_cents,
                late_sessions: s.late_sessions,
                ..Tally::default()
            };
            tallies.add_cell(&key, &tally, resolution_ms);
        }
        for r in overall {
            let key = cell_key(r.persona, r.journey, r.target, r.agent_id, 0);
            let mut tally = Tally::default();
            tally.add_requests(r.latency, r.requests, r.failed);
            tallies.add_overall(&key, &tally);
        }
        // As many rows as buckets times latencies: counted in place.
        for r in over_time {
            tallies
                .series
                .entry(r.bucket)
                .or_default()
                .add_requests(r.latency, r.requests, r.failed);
        }
        for r in names {
            tallies
                .names
                .entry(r.name)
                .or_default()
                .add_requests(r.latency, r.requests, r.failed);
        }
        Ok(tallies)
    }

    async fn sessions(
        &self,
        campaign_id: &str,
        filter: &SessionFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, AnalyticsError> {
        // Two steps, because `FINAL` over a whole campaign costs a
        // single-threaded merge of every row: first the positions of the
        // next sessions the filter keeps, read without `FINAL` (a session
        // stored twice shows twice; a stale copy may match where the latest
        // does not), then those sessions' latest rows with `FINAL` narrowed
        // to their ids, checked against the filter again. While copies or
        // stale matches leave the page short, read on from where the
        // positions stopped.
        let db = client(&self.config).with_database(self.config.database.clone());
        let wanted = limit as usize + 1;
        let mut kept: Vec<SessionSummary> = Vec::with_capacity(wanted);
        let mut from = after;
        loop {
            let asked = wanted - kept.len();
            let positions = self.session_positions(campaign_id, filter, from, asked).await?;
            let Some(last) = positions.last().copied() else {
                break;
            };
            let mut ids: Vec<u64> = positions.iter().map(|p| p.session_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let id_list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let rows: Vec<SessionRow> = db
                .query(&format!(
                    "SELECT ?fields FROM sessions FINAL PREWHERE campaign_id = ? AND session_id IN ({id_list})"
                ))
                .bind(campaign_id)
                .fetch_all()
                .await
                .map_err(|e| self.unavailable(e))?;
            let mut latest: Vec<SessionSummary> = rows
                .iter()
                .map(SessionSummary::of)
                .filter(|s| filter.keeps(s) && !kept.iter().any(|k| k.session_id == s.session_id))
                .collect();
            latest.sort_by_key(|s| std::cmp::Reverse((s.intended_ms, s.session_id)));
            kept.extend(latest);
            if positions.len() < asked || kept.len() >= wanted {
                break;
            }
            from = Some(last);
        }
        kept.sort_by_key(|s| std::cmp::Reverse((s.intended_ms, s.session_id)));
        kept.truncate(wanted);
        Ok(kept)
    }

    async fn session(
        &self,
        campaign_id: &str,
        session_id: u64,
    ) -> Result<Option<SessionDetail>, AnalyticsError> {
        // `PREWHERE` on the key narrows `FINAL` to the session's own rows
        // (every copy of a row shares its key, so merging stays exact).
        let db = client(&self.config).with_database(self.config.database.clone());
        let session: Option<SessionRow> = db
            .query("SELECT ?fields FROM sessions FINAL PREWHERE campaign_id = ? AND session_id = ?")
            .bind(campaign_id)
            .bind(session_id)
            .fetch_optional()
            .await
            .map_err(|e| self.unavailable(e))?;
        let Some(session) = session else {
            return Ok(None);
        };
        let requests: Vec<RequestRow> = db
            .query(
                "SELECT ?fields FROM requests FINAL PREWHERE campaign_id = ? AND session_id = ? ORDER BY idx",
            )
            .bind(campaign_id)
            .bind(session_id)
            .fetch_all()
            .await
            .map_err(|e| self.unavailable(e))?;
        let browser: Option<BrowserSessionRow> = db
            .query("SELECT ?fields FROM browser_sessions FINAL PREWHERE campaign_id = ? AND session_id = ?")
            .bind(campaign_id)
            .bind(session_id)
            .fetch_optional()
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(Some(SessionDetail::of(&session, requests, browser)))
    }

    async fn version(&self, campaign_id: &str) -> Result<u64, AnalyticsError> {
        // Without `FINAL`: the count and the sum of ids change with every
        // batch written and with every merge that drops a re-run's rows.
        let db = client(&self.config).with_database(self.config.database.clone());
        let row: VersionRow = db
            .query("SELECT count(), sum(session_id) FROM sessions WHERE campaign_id = ?")
            .bind(campaign_id)
            .fetch_one()
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(row.rows.rotate_left(40) ^ row.ids)
    }

    async fn errors(&self, campaign_id: &str) -> Result<ErrorReport, AnalyticsError> {
        let db = client(&self.config).with_database(self.config.database.clone());
        let requests = self.requests_table(campaign_id).await?;
        // An error status without a message groups by its status.
        let rows = db
            .query(&format!(
                "SELECT error, if(error = '', status, toUInt16(0)) AS code, count(), \
                 min(intended_ms), max(intended_ms), any(path), any(status), any(excerpt) \
                 FROM {requests} WHERE campaign_id = ? AND {FAILED_SQL} \
                 GROUP BY error, code ORDER BY count() DESC, error LIMIT {MAX_GROUPS}"
            ))
            .bind(campaign_id)
            .fetch_all::<ErrorRow>();
        let failed = db
            .query(&format!(
                "SELECT count() FROM {requests} WHERE campaign_id = ? AND {FAILED_SQL}"
            ))
            .bind(campaign_id)
            .fetch_one::<u64>();
        let (rows, failed) = tokio::try_join!(rows, failed).map_err(|e| self.unavailable(e))?;
        let mut groups = ErrorGroups::default();
        let mut grouped = 0;
        for row in rows {
            let (class, message) = classify(row.code, &row.error);
            groups.add(
                &class,
                &message,
                row.requests,
                (row.first_ms, row.last_ms),
                Example {
                    path: &row.path,
                    status: row.status,
                    excerpt: &row.excerpt,
                },
            );
            grouped += row.requests;
        }
        groups.add_other(failed.saturating_sub(grouped));
        Ok(groups.report())
    }
}
