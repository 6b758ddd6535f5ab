//! The ClickHouse sink: a writer task per agent that batches rows (by count
//! and by time) into RowBinary inserts, retries a failed batch with backoff
//! while holding it in bounded memory, and applies backpressure when full.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row, RowOwned, RowWrite};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::{SessionRecord, StreamRecord, TelemetryError, TelemetrySink, epoch_day};
use crate::ids;

/// Where and how to write.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    /// Sessions per batch before a flush is forced.
    pub batch_sessions: usize,
    /// Stream events per batch before a flush is forced.
    pub batch_events: usize,
    /// Longest a row waits in memory before it is sent.
    pub batch_period: Duration,
    /// Sessions queued between shards and the writer before they wait.
    pub queue_capacity: usize,
}

impl ClickHouseConfig {
    pub fn new(url: &str) -> Self {
        ClickHouseConfig {
            url: url.trim_end_matches('/').to_string(),
            database: "throng".to_string(),
            batch_sessions: 2_000,
            batch_events: 50_000,
            batch_period: Duration::from_secs(1),
            queue_capacity: 20_000,
        }
    }
}

#[derive(Debug, Row, Serialize)]
struct SessionRow {
    event_date: u16,
    campaign_id: String,
    session_id: u64,
    shard: u32,
    seq: u64,
    agent_id: String,
    epoch: u64,
    intended_ms: u64,
    started_ms: u64,
    ended_ms: u64,
    persona: String,
    journey: String,
    target: u32,
    requests: u32,
    errors: u32,
    ok: u8,
    error: String,
}

#[derive(Debug, Row, Serialize)]
struct RequestRow {
    event_date: u16,
    campaign_id: String,
    session_id: u64,
    request_id: u64,
    idx: u32,
    name: String,
    action: String,
    path: String,
    status: u16,
    latency_us: u64,
    intended_ms: u64,
    error: String,
}

#[derive(Debug, Row, Serialize)]
struct StreamEventRow {
    event_date: u16,
    run_id: String,
    stream: String,
    event_id: u64,
    at_ms: i64,
    parent_id: u64,
    entities: String,
    data: String,
    shard: u32,
    epoch: u64,
}

enum WriterMsg {
    Record(Box<SessionRecord>),
    Events(Vec<StreamRecord>),
    Flush(oneshot::Sender<Result<(), TelemetryError>>),
}

/// A handle on the agent's ClickHouse writer task.
#[derive(Clone)]
pub struct ClickHouseSink {
    sender: mpsc::Sender<WriterMsg>,
}

fn client(config: &ClickHouseConfig) -> Client {
    // Validation uses a format ClickHouse 18.16 lacks; the row types here are
    // checked against the DDL by the integration tests instead.
    Client::default()
        .with_url(config.url.clone())
        .with_validation(false)
}

fn unavailable(config: &ClickHouseConfig, error: clickhouse::error::Error) -> TelemetryError {
    TelemetryError::Unavailable {
        endpoint: config.url.clone(),
        reason: error.to_string(),
    }
}

impl ClickHouseSink {
    /// Checks ClickHouse answers, applies the `migrations` not applied yet
    /// (version = position + 1, recorded in `schema_migrations`), then starts
    /// the writer task.
    pub async fn start(config: ClickHouseConfig, migrations: &[&str]) -> Result<Self, TelemetryError> {
        let admin = client(&config);
        admin
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map_err(|e| unavailable(&config, e))?;
        admin
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", config.database))
            .execute()
            .await
            .map_err(|e| unavailable(&config, e))?;
        let db = admin.clone().with_database(config.database.clone());
        apply_migrations(&db, migrations).await?;
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        tokio::spawn(Writer::new(config, db).run(receiver));
        Ok(ClickHouseSink { sender })
    }
}

#[async_trait::async_trait]
impl TelemetrySink for ClickHouseSink {
    async fn record(&self, record: SessionRecord) -> Result<(), TelemetryError> {
        self.sender
            .send(WriterMsg::Record(Box::new(record)))
            .await
            .map_err(|_| TelemetryError::Closed)
    }

    async fn record_stream_events(&self, events: Vec<StreamRecord>) -> Result<(), TelemetryError> {
        self.sender
            .send(WriterMsg::Events(events))
            .await
            .map_err(|_| TelemetryError::Closed)
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(WriterMsg::Flush(reply))
            .await
            .map_err(|_| TelemetryError::Closed)?;
        answer.await.map_err(|_| TelemetryError::Closed)?
    }
}

struct Writer {
    config: ClickHouseConfig,
    client: Client,
    sessions: Vec<SessionRow>,
    requests: Vec<RequestRow>,
    events: Vec<StreamEventRow>,
    /// Tables of the current batch already written (a batch is up to three
    /// inserts; a retry resumes where it failed).
    sessions_written: bool,
    requests_written: bool,
    /// When the oldest buffered row arrived.
    oldest: Option<Instant>,
}

impl Writer {
    fn new(config: ClickHouseConfig, client: Client) -> Self {
        Writer {
            config,
            client,
            sessions: Vec::new(),
            requests: Vec::new(),
            events: Vec::new(),
            sessions_written: false,
            requests_written: false,
            oldest: None,
        }
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<WriterMsg>) {
        let mut ticker = tokio::time::interval(self.config.batch_period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut backoff = Duration::from_millis(100);
        loop {
            // While a batch is failing, stop taking new rows (backpressure) so
            // memory stays bounded.
            let full = self.is_full();
            tokio::select! {
                message = receiver.recv(), if !full => match message {
                    Some(WriterMsg::Record(record)) => self.push(*record),
                    Some(WriterMsg::Events(events)) => self.push_events(events),
                    Some(WriterMsg::Flush(reply)) => {
                        let _ = reply.send(self.write_batch().await);
                    }
                    None => {
                        let _ = self.write_batch().await;
                        return;
                    }
                },
                _ = ticker.tick() => {}
            }
            let due = self
                .oldest
                .is_some_and(|t| t.elapsed() >= self.config.batch_period);
            if self.is_full() || due {
                match self.write_batch().await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(error) => {
                        tracing::warn!(%error, rows = self.sessions.len(), "telemetry batch failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    fn is_full(&self) -> bool {
        self.sessions.len() >= self.config.batch_sessions || self.events.len() >= self.config.batch_events
    }

    fn push_events(&mut self, events: Vec<StreamRecord>) {
        self.oldest.get_or_insert_with(Instant::now);
        self.events.extend(events.into_iter().map(|e| StreamEventRow {
            event_date: epoch_day(e.at_ms.max(0) as u64),
            run_id: e.run_id,
            stream: e.stream,
            event_id: e.event_id,
            at_ms: e.at_ms,
            parent_id: e.parent_id,
            entities: e.entities,
            data: e.data,
            shard: e.shard,
            epoch: e.epoch,
        }));
    }

    fn push(&mut self, record: SessionRecord) {
        self.oldest.get_or_insert_with(Instant::now);
        let outcome = record.outcome;
        let day = epoch_day(outcome.intended_ms);
        for request in &outcome.requests {
            self.requests.push(RequestRow {
                event_date: day,
                campaign_id: record.campaign_id.clone(),
                session_id: outcome.session_id,
                request_id: ids::request_id(outcome.session_id, request.index),
                idx: request.index,
                name: request.name.clone(),
                action: request.action.clone(),
                path: request.path.clone(),
                status: request.status,
                latency_us: request.latency_us,
                intended_ms: request.intended_ms,
                error: request.error.clone(),
            });
        }
        let errors = outcome.requests.iter().filter(|r| r.failed()).count();
        self.sessions.push(SessionRow {
            event_date: day,
            campaign_id: record.campaign_id,
            session_id: outcome.session_id,
            shard: outcome.shard,
            seq: outcome.seq,
            agent_id: record.agent_id,
            epoch: record.epoch,
            intended_ms: outcome.intended_ms,
            started_ms: outcome.started_ms,
            ended_ms: outcome.ended_ms,
            persona: outcome.persona,
            journey: outcome.journey,
            target: outcome.target,
            requests: outcome.requests.len() as u32,
            errors: errors as u32,
            ok: u8::from(!outcome.failed),
            error: outcome.error,
        });
    }

    async fn write_batch(&mut self) -> Result<(), TelemetryError> {
        if self.sessions.is_empty() && self.requests.is_empty() && self.events.is_empty() {
            return Ok(());
        }
        if !self.sessions_written {
            insert(&self.client, &self.config, "sessions", &self.sessions).await?;
            self.sessions_written = true;
        }
        if !self.requests_written {
            insert(&self.client, &self.config, "requests", &self.requests).await?;
            self.requests_written = true;
        }
        insert(&self.client, &self.config, "stream_events", &self.events).await?;
        self.sessions.clear();
        self.requests.clear();
        self.events.clear();
        self.sessions_written = false;
        self.requests_written = false;
        self.oldest = None;
        Ok(())
    }
}

/// Applies, in order, the migrations whose version `schema_migrations` does
/// not record yet, and records each once it is applied. Every statement is
/// idempotent too (`IF NOT EXISTS`), so two nodes starting at once are safe.
async fn apply_migrations(db: &Client, migrations: &[&str]) -> Result<(), TelemetryError> {
    let rejected = |e: clickhouse::error::Error| TelemetryError::Rejected {
        table: "schema_migrations".to_string(),
        reason: e.to_string(),
    };
    db.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_ms UInt64) \
         ENGINE = MergeTree() ORDER BY version",
    )
    .execute()
    .await
    .map_err(rejected)?;
    let applied: Vec<u32> = db
        .query("SELECT DISTINCT version FROM schema_migrations")
        .fetch_all()
        .await
        .map_err(rejected)?;
    for (index, migration) in migrations.iter().enumerate() {
        let version = index as u32 + 1;
        if applied.contains(&version) {
            continue;
        }
        for statement in migration.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            db.query(statement)
                .execute()
                .await
                .map_err(|e| TelemetryError::Rejected {
                    table: format!("(migration {version})"),
                    reason: e.to_string(),
                })?;
        }
        db.query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)")
            .bind(version)
            .bind(crate::clock::epoch_ms())
            .execute()
            .await
            .map_err(rejected)?;
        tracing::info!(version, "ClickHouse migration applied");
    }
    Ok(())
}

async fn insert<T: RowOwned + RowWrite>(
    client: &Client,
    config: &ClickHouseConfig,
    table: &str,
    rows: &[T],
) -> Result<(), TelemetryError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client
        .insert::<T>(table)
        .await
        .map_err(|e| unavailable(config, e))?;
    for row in rows {
        insert.write(row).await.map_err(|e| unavailable(config, e))?;
    }
    insert.end().await.map_err(|e| match e {
        clickhouse::error::Error::BadResponse(reason) => TelemetryError::Rejected {
            table: table.to_string(),
            reason,
        },
        other => unavailable(config, other),
    })
}
