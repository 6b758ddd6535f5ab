//! The ClickHouse sink: a writer task per agent that batches rows (by count
//! and by time) into RowBinary inserts. With a spill directory, a batch
//! ClickHouse cannot take is written to disk and replayed in order once it
//! can; a batch ClickHouse refuses is quarantined with the reason. Without
//! one (or when the disk is full), a failed batch is retried with backoff
//! while held in bounded memory, and the queue applies backpressure.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::rows::{
    ActionRow, BrowserSessionRow, RequestRow, SessionRow, StreamEventRow, event_row, session_rows,
};
use super::spill::SpillDir;
use super::{SessionRecord, StreamRecord, TelemetryError, TelemetrySink};

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
    /// Where batches wait while ClickHouse is unreachable (none: in memory).
    pub spill_dir: Option<PathBuf>,
}

/// What the writer has done, for metrics and tests.
#[derive(Debug, Default)]
pub struct WriterMetrics {
    pub rows_written: AtomicU64,
    pub rows_spilled: AtomicU64,
    pub rows_replayed: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub corrupt_files: AtomicU64,
    /// The writer's current problem, empty once a batch goes through again.
    error: std::sync::Mutex<String>,
}

impl WriterMetrics {
    fn set_error(&self, error: String) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    pub fn error(&self) -> String {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Rows of every table, written table by table in this order; also the
/// form a batch is spilled to disk in.
#[derive(Default, Serialize, Deserialize)]
struct Batch {
    sessions: Vec<SessionRow>,
    requests: Vec<RequestRow>,
    // Added after the first release: batches spilled before have none.
    #[serde(default)]
    actions: Vec<ActionRow>,
    events: Vec<StreamEventRow>,
    #[serde(default)]
    browser_sessions: Vec<BrowserSessionRow>,
}

impl Batch {
    fn rows(&self) -> u64 {
        (self.sessions.len()
            + self.requests.len()
            + self.actions.len()
            + self.events.len()
            + self.browser_sessions.len()) as u64
    }

    fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Inserts the tables from the `done`-th on, counting each one written,
    /// so a retry resumes where the last attempt failed. Sessions go last:
    /// once a session's row is stored, so is everything else it made, which
    /// is what [`AnalyticsSource::version`](crate::analytics::AnalyticsSource::version)
    /// stands on.
    async fn insert(
        &self,
        client: &Client,
        config: &ClickHouseConfig,
        done: &mut usize,
    ) -> Result<(), TelemetryError> {
        if *done < 1 {
            insert(client, config, "requests", &self.requests).await?;
            *done = 1;
        }
        if *done < 2 {
            insert(client, config, "actions", &self.actions).await?;
            *done = 2;
        }
        if *done < 3 {
            insert(client, config, "stream_events", &self.events).await?;
            *done = 3;
        }
        if *done < 4 {
            insert(client, config, "browser_sessions", &self.browser_sessions).await?;
            *done = 4;
        }
        if *done < 5 {
            insert(client, config, "sessions", &self.sessions).await?;
            *done = 5;
        }
        Ok(())
    }
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
            spill_dir: None,
        }
    }
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
    metrics: Arc<WriterMetrics>,
}

pub(crate) fn client(config: &ClickHouseConfig) -> Client {
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
    pub async fn start(
        config: ClickHouseConfig,
        migrations: &[impl AsRef<str>],
    ) -> Result<Self, TelemetryError> {
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
        let spill = match &config.spill_dir {
            Some(dir) => Some(SpillDir::open(dir).map_err(|e| TelemetryError::Unavailable {
                endpoint: dir.display().to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let metrics = Arc::new(WriterMetrics::default());
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        tokio::spawn(Writer::new(config, db, spill, metrics.clone()).run(receiver));
        Ok(ClickHouseSink { sender, metrics })
    }

    /// What the writer has done so far.
    pub fn metrics(&self) -> &WriterMetrics {
        &self.metrics
    }

    /// Records waiting between shards and the writer.
    pub fn queue_depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
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

    fn health(&self) -> super::TelemetryHealth {
        let m = &self.metrics;
        super::TelemetryHealth {
            store: "clickhouse".to_string(),
            queue_depth: self.queue_depth() as u64,
            rows_written: m.rows_written.load(Ordering::Relaxed),
            rows_spilled: m.rows_spilled.load(Ordering::Relaxed),
            rows_replayed: m.rows_replayed.load(Ordering::Relaxed),
            rows_rejected: m.rows_rejected.load(Ordering::Relaxed),
            corrupt_files: m.corrupt_files.load(Ordering::Relaxed),
            error: m.error(),
        }
    }
}

struct Writer {
    config: ClickHouseConfig,
    client: Client,
    batch: Batch,
    /// Tables of the current batch already written.
    tables_done: usize,
    /// When the oldest buffered row arrived.
    oldest: Option<Instant>,
    spill: Option<SpillDir>,
    /// Spilled batches not replayed yet, and when a replay was last tried.
    spilled: usize,
    last_replay: Instant,
    metrics: Arc<WriterMetrics>,
}

impl Writer {
    fn new(
        config: ClickHouseConfig,
        client: Client,
        spill: Option<SpillDir>,
        metrics: Arc<WriterMetrics>,
    ) -> Self {
        Writer {
            spilled: spill
                .as_ref()
                .and_then(|s| s.pending().ok())
                .map_or(0, |p| p.len()),
            last_replay: Instant::now(),
            spill,
            metrics,
            config,
            client,
            batch: Batch::default(),
            tables_done: 0,
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
            // Spilled batches are retried at the batch period, not per message.
            let replay_due = self.spilled > 0 && self.last_replay.elapsed() >= self.config.batch_period;
            if self.is_full() || due || replay_due {
                match self.write_batch().await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(error) => {
                        if self.spill.is_none() {
                            // With a spill directory, spilling says what went wrong.
                            self.metrics.set_error(error.to_string());
                        }
                        tracing::warn!(%error, rows = self.batch.rows(), "telemetry batch failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    fn is_full(&self) -> bool {
        self.batch.sessions.len() >= self.config.batch_sessions
            || self.batch.events.len() >= self.config.batch_events
    }

    fn push_events(&mut self, events: Vec<StreamRecord>) {
        self.oldest.get_or_insert_with(Instant::now);
        self.batch.events.extend(events.into_iter().map(event_row));
    }

    fn push(&mut self, record: SessionRecord) {
        self.oldest.get_or_insert_with(Instant::now);
        let rows = session_rows(record);
        self.batch.sessions.push(rows.session);
        self.batch.requests.extend(rows.requests);
        self.batch.actions.extend(rows.actions);
        self.batch.browser_sessions.extend(rows.browser);
    }

    /// Writes the current batch. With a spill directory, older spilled
    /// batches go first; if ClickHouse is unreachable the batch is spilled
    /// (and the call succeeds: the rows are safe on disk); if it refuses the
    /// batch, the batch is quarantined with the reason.
    async fn write_batch(&mut self) -> Result<(), TelemetryError> {
        if self.spill.is_none() {
            return self.insert_current().await;
        }
        let caught_up = self.replay().await;
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = if caught_up {
            self.insert_current().await
        } else {
            Err(TelemetryError::Closed)
        };
        match result {
            Ok(()) => Ok(()),
            Err(TelemetryError::Rejected { table, reason }) => {
                let batch = self.take_batch();
                tracing::error!(%table, %reason, rows = batch.rows(), "ClickHouse refused a batch; quarantined");
                self.metrics
                    .rows_rejected
                    .fetch_add(batch.rows(), Ordering::Relaxed);
                let payload = serde_json::to_vec(&batch).unwrap_or_default();
                if let Some(spill) = &self.spill
                    && let Err(error) = spill.quarantine(&payload, &format!("table {table}: {reason}"))
                {
                    tracing::error!(%error, "cannot quarantine the refused batch");
                }
                Ok(())
            }
            Err(_) => self.spill_current(),
        }
    }

    fn take_batch(&mut self) -> Batch {
        self.tables_done = 0;
        self.oldest = None;
        std::mem::take(&mut self.batch)
    }

    /// Writes the current batch to the spill directory; a full disk is a
    /// loud error, and the batch stays in memory (backpressure).
    fn spill_current(&mut self) -> Result<(), TelemetryError> {
        let held = (self.oldest, self.tables_done);
        let batch = self.take_batch();
        let payload = serde_json::to_vec(&batch).unwrap_or_default();
        let Some(spill) = self.spill.as_mut() else {
            return Err(TelemetryError::Closed);
        };
        match spill.append(&payload) {
            Ok(path) => {
                self.spilled += 1;
                self.metrics
                    .rows_spilled
                    .fetch_add(batch.rows(), Ordering::Relaxed);
                tracing::warn!(rows = batch.rows(), file = %path.display(), "ClickHouse unreachable; batch spilled to disk");
                self.metrics.set_error(format!(
                    "ClickHouse at {} unreachable: batches wait on disk in {}",
                    self.config.url,
                    spill.path().display()
                ));
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "cannot spill telemetry to disk; holding the batch in memory");
                self.metrics.set_error(format!(
                    "ClickHouse at {} unreachable and the spill directory {} refuses the batch ({error}): \
                     new rows wait (backpressure)",
                    self.config.url,
                    spill.path().display()
                ));
                (self.oldest, self.tables_done) = held;
                self.batch = batch;
                Err(TelemetryError::Unavailable {
                    endpoint: spill.path().display().to_string(),
                    reason: error.to_string(),
                })
            }
        }
    }

    /// Replays spilled batches, oldest first; true once none is left.
    async fn replay(&mut self) -> bool {
        let Some(spill) = &self.spill else { return true };
        if self.spilled == 0 {
            return true;
        }
        self.last_replay = Instant::now();
        let Ok(pending) = spill.pending() else {
            return false;
        };
        self.spilled = pending.len();
        for path in pending {
            let payload = match SpillDir::read(&path) {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::error!(%error, "skipping a corrupt spill file");
                    self.metrics.corrupt_files.fetch_add(1, Ordering::Relaxed);
                    let _ = spill.set_aside_corrupt(&path);
                    self.spilled -= 1;
                    continue;
                }
            };
            let Ok(batch) = serde_json::from_slice::<Batch>(&payload) else {
                tracing::error!(file = %path.display(), "spill file does not hold a batch; set aside");
                self.metrics.corrupt_files.fetch_add(1, Ordering::Relaxed);
                let _ = spill.set_aside_corrupt(&path);
                self.spilled -= 1;
                continue;
            };
            match batch.insert(&self.client, &self.config, &mut 0).await {
                Ok(()) => {
                    self.metrics
                        .rows_replayed
                        .fetch_add(batch.rows(), Ordering::Relaxed);
                    let _ = spill.remove(&path);
                    self.spilled -= 1;
                }
                Err(TelemetryError::Rejected { table, reason }) => {
                    tracing::error!(%table, %reason, "ClickHouse refused a spilled batch; quarantined");
                    self.metrics
                        .rows_rejected
                        .fetch_add(batch.rows(), Ordering::Relaxed);
                    let _ = spill.quarantine(&payload, &format!("table {table}: {reason}"));
                    let _ = spill.remove(&path);
                    self.spilled -= 1;
                }
                Err(_) => return false,
            }
        }
        true
    }

    async fn insert_current(&mut self) -> Result<(), TelemetryError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch
            .insert(&self.client, &self.config, &mut self.tables_done)
            .await?;
        let written = self.take_batch();
        self.metrics
            .rows_written
            .fetch_add(written.rows(), Ordering::Relaxed);
        self.metrics.set_error(String::new());
        Ok(())
    }
}

/// The statements of a migration file: `--` comment lines dropped (they may
/// hold `;`), split on `;`.
fn statements(migration: &str) -> Vec<String> {
    let code: Vec<&str> = migration
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect();
    code.join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Applies, in order, the migrations whose version `schema_migrations` does
/// not record yet, and records each once it is applied. Two nodes may start
/// at once, so every statement is idempotent: tables are created `IF NOT
/// EXISTS`, and a column another node added already counts as added.
async fn apply_migrations(db: &Client, migrations: &[impl AsRef<str>]) -> Result<(), TelemetryError> {
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
    for (index, migration) in migrations.iter().enumerate() {
        let version = index as u32 + 1;
        let mut attempt = 1;
        loop {
            if migration_applied(db, version).await.map_err(rejected)? {
                break;
            }
            match apply_migration(db, migration.as_ref()).await {
                Ok(()) => {
                    db.query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)")
                        .bind(version)
                        .bind(crate::clock::epoch_ms())
                        .execute()
                        .await
                        .map_err(rejected)?;
                    tracing::info!(version, "ClickHouse migration applied");
                    break;
                }
                // Nodes that start together apply the same migration at the
                // same moment, and ClickHouse fails one of two concurrent
                // ALTERs of a table with errors of its own. The statements
                // tolerate their work being done already, so the losing node
                // waits for the other and tries again.
                Err(e) if attempt < MIGRATION_ATTEMPTS => {
                    tracing::warn!(version, attempt, error = %e, "ClickHouse migration failed; trying again");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(TelemetryError::Rejected {
                        table: format!("(migration {version})"),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// How often a node tries a migration that fails before it gives up.
const MIGRATION_ATTEMPTS: u32 = 5;

async fn migration_applied(db: &Client, version: u32) -> Result<bool, clickhouse::error::Error> {
    let count: u64 = db
        .query("SELECT count() FROM schema_migrations WHERE version = ?")
        .bind(version)
        .fetch_one()
        .await?;
    Ok(count > 0)
}

async fn apply_migration(db: &Client, migration: &str) -> Result<(), clickhouse::error::Error> {
    for statement in statements(migration) {
        match db.query(&statement).execute().await {
            Ok(()) => {}
            Err(e) if statement.contains("ADD COLUMN") && e.to_string().contains("already exists") => {}
            Err(e) => return Err(e),
        }
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
