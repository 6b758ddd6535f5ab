//! One sink's writer: a task that batches a run's events, sends each batch
//! to its destination in order, and, while the destination is down, keeps
//! the batches in its spill directory (oldest first) and sends them before
//! anything newer once it is back, so each stream's events arrive in order.
//!
//! The same files as the ClickHouse writer's spill ([`SpillDir`]): written
//! whole or not at all, checked on the way back; a batch the destination
//! refuses (not one it cannot take now) is quarantined with the reason.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use throng_engine::delivery::SinkHealth;
use throng_engine::telemetry::spill::SpillDir;
use throng_engine::telemetry::{StreamRecord, TelemetryError};
use tokio::sync::{mpsc, oneshot};

/// Why a destination did not take a batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// It cannot now (down, unreachable, overloaded): retried later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// It never will (a value it refuses): quarantined.
    #[error("refused: {0}")]
    Rejected(String),
}

/// Where one sink's batches go.
#[async_trait::async_trait]
pub trait Destination: Send + 'static {
    /// Sends one batch, whole, after every earlier one.
    async fn send(&mut self, batch: &[StreamRecord]) -> Result<(), SendError>;
    /// Shard `shard` generated its last event (a files sink closes its hour).
    async fn shard_finished(&mut self, _shard: u32) -> Result<(), SendError> {
        Ok(())
    }
    /// Most events in one batch.
    fn batch_size(&self) -> usize {
        2_000
    }
    /// Where it sends, for messages.
    fn describe(&self) -> String;
}

/// How a writer is doing; read by [`Writer::health`].
#[derive(Default)]
struct Metrics {
    queued: AtomicU64,
    written: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
    rejected: AtomicU64,
    error: Mutex<String>,
}

impl Metrics {
    fn set_error(&self, error: String) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

enum Msg {
    Events(Vec<StreamRecord>),
    Flush {
        finished_shard: Option<u32>,
        reply: oneshot::Sender<Result<(), TelemetryError>>,
    },
}

/// A running writer: hand it events, flush it, read its health.
pub struct Writer {
    sender: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
    run_id: String,
    sink: String,
    kind: &'static str,
}

/// How long batches gather before they go (unless full first).
const BATCH_PERIOD: Duration = Duration::from_millis(200);
/// Messages (shard batches) waiting for the writer before shards wait.
const QUEUE: usize = 64;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(5);

impl Writer {
    /// Starts the writer of sink `sink` (of kind `kind`) of run `run_id`.
    /// With `spill`, batches wait on disk there while the destination is
    /// down; without, they wait in memory and shards wait for them.
    pub fn start(
        run_id: &str,
        sink: &str,
        kind: &'static str,
        destination: Box<dyn Destination>,
        spill: Option<PathBuf>,
    ) -> Result<Writer, TelemetryError> {
        let spill = match spill {
            Some(dir) => Some(SpillDir::open(&dir).map_err(|e| TelemetryError::Unavailable {
                endpoint: dir.display().to_string(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let (sender, receiver) = mpsc::channel(QUEUE);
        let task = Task {
            spilled: spill
                .as_ref()
                .and_then(|s| s.pending().ok())
                .map_or(0, |p| p.len()),
            destination,
            spill,
            metrics: metrics.clone(),
            batch: Vec::new(),
            oldest: None,
            next_retry: Instant::now(),
            retry: FIRST_RETRY,
        };
        tokio::spawn(task.run(receiver));
        Ok(Writer {
            sender,
            metrics,
            run_id: run_id.to_string(),
            sink: sink.to_string(),
            kind,
        })
    }

    /// Queues events; waits while the queue is full (backpressure).
    pub async fn send(&self, events: Vec<StreamRecord>) -> Result<(), TelemetryError> {
        if events.is_empty() {
            return Ok(());
        }
        let count = events.len() as u64;
        self.metrics.queued.fetch_add(count, Ordering::Relaxed);
        self.sender.send(Msg::Events(events)).await.map_err(|_| {
            self.metrics.queued.fetch_sub(count, Ordering::Relaxed);
            TelemetryError::Closed
        })
    }

    /// Returns once everything queued before is at the destination; fails
    /// while the destination is down (what it could not take waits in the
    /// spill directory, or in memory without one).
    pub async fn flush(&self, finished_shard: Option<u32>) -> Result<(), TelemetryError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Msg::Flush {
                finished_shard,
                reply,
            })
            .await
            .map_err(|_| TelemetryError::Closed)?;
        answer.await.map_err(|_| TelemetryError::Closed)?
    }

    pub fn health(&self) -> SinkHealth {
        let m = &self.metrics;
        SinkHealth {
            run_id: self.run_id.clone(),
            sink: self.sink.clone(),
            kind: self.kind.to_string(),
            queued: m.queued.load(Ordering::Relaxed),
            written: m.written.load(Ordering::Relaxed),
            spilled: m.spilled.load(Ordering::Relaxed),
            replayed: m.replayed.load(Ordering::Relaxed),
            rejected: m.rejected.load(Ordering::Relaxed),
            error: m.error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

struct Task {
    destination: Box<dyn Destination>,
    spill: Option<SpillDir>,
    /// Spilled batches not sent yet.
    spilled: usize,
    metrics: Arc<Metrics>,
    batch: Vec<StreamRecord>,
    /// When the oldest event of `batch` arrived.
    oldest: Option<Instant>,
    /// While the destination is down: when to try it again, and the wait
    /// after that (doubling up to [`LAST_RETRY`]).
    next_retry: Instant,
    retry: Duration,
}

impl Task {
    async fn run(mut self, mut receiver: mpsc::Receiver<Msg>) {
        let mut ticker = tokio::time::interval(BATCH_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A batch that cannot leave (no spill, destination down) stops
            // the intake, so memory stays bounded.
            let full = self.batch.len() >= self.destination.batch_size();
            tokio::select! {
                message = receiver.recv(), if !full => match message {
                    Some(Msg::Events(events)) => {
                        self.metrics.queued.fetch_sub(events.len() as u64, Ordering::Relaxed);
                        self.oldest.get_or_insert_with(Instant::now);
                        if self.batch.is_empty() {
                            self.batch = events;
                        } else {
                            self.batch.extend(events);
                        }
                    }
                    Some(Msg::Flush { finished_shard, reply }) => {
                        let _ = reply.send(self.flush(finished_shard).await);
                    }
                    None => {
                        let _ = self.write().await;
                        return;
                    }
                },
                _ = ticker.tick() => {}
            }
            let due = self.oldest.is_some_and(|t| t.elapsed() >= BATCH_PERIOD);
            let retry_due = self.spilled > 0 && Instant::now() >= self.next_retry;
            // Without a spill directory a failed batch waits here; the
            // ticker paces the next try.
            if (self.batch.len() >= self.destination.batch_size() || due || retry_due)
                && let Err(error) = self.write().await
            {
                tracing::warn!(%error, destination = %self.destination.describe(), "sink batch waits");
            }
        }
    }

    /// Sends what is spilled, then the current batch; if the destination
    /// is down, the batch is spilled (and the call succeeds: the events
    /// are safe on disk). Without a spill directory a failure is an error
    /// and the batch stays.
    async fn write(&mut self) -> Result<(), TelemetryError> {
        let caught_up = self.replay().await;
        if self.batch.is_empty() {
            return Ok(());
        }
        if caught_up {
            let size = self.destination.batch_size();
            // Sent events leave the batch once, at the end: taking each
            // chunk off its front would move the rest every time.
            let mut sent = 0;
            while sent < self.batch.len() {
                let take = (self.batch.len() - sent).min(size);
                match self.destination.send(&self.batch[sent..sent + take]).await {
                    Ok(()) => {
                        self.metrics.written.fetch_add(take as u64, Ordering::Relaxed);
                        self.metrics.set_error(String::new());
                        sent += take;
                        self.back_up();
                    }
                    Err(SendError::Rejected(reason)) => {
                        self.quarantine(&self.batch[sent..sent + take], &reason);
                        sent += take;
                    }
                    Err(SendError::Unavailable(reason)) => {
                        self.down(&reason);
                        break;
                    }
                }
            }
            if sent == self.batch.len() {
                self.batch.clear();
                self.oldest = None;
                return Ok(());
            }
            self.batch.drain(..sent);
        }
        self.spill_batch()
    }

    /// The destination is down: the next try waits, longer each time.
    fn down(&mut self, reason: &str) {
        self.next_retry = Instant::now() + self.retry;
        self.retry = (self.retry * 2).min(LAST_RETRY);
        self.metrics
            .set_error(format!("{} unavailable: {reason}", self.destination.describe()));
    }

    fn back_up(&mut self) {
        self.retry = FIRST_RETRY;
        self.next_retry = Instant::now();
    }

    fn quarantine(&self, refused: &[StreamRecord], reason: &str) {
        tracing::error!(%reason, events = refused.len(), "sink refused a batch; quarantined");
        self.metrics
            .rejected
            .fetch_add(refused.len() as u64, Ordering::Relaxed);
        self.metrics.set_error(format!(
            "{} refused a batch: {reason}",
            self.destination.describe()
        ));
        if let Some(spill) = &self.spill {
            let payload = serde_json::to_vec(refused).unwrap_or_default();
            if let Err(error) = spill.quarantine(&payload, reason) {
                tracing::error!(%error, "cannot quarantine the refused batch");
            }
        }
    }

    /// Writes the current batch to the spill directory; without one (or
    /// with a full disk) it stays in memory and the call fails.
    fn spill_batch(&mut self) -> Result<(), TelemetryError> {
        let describe = self.destination.describe();
        let Some(spill) = self.spill.as_mut() else {
            return Err(TelemetryError::Unavailable {
                endpoint: describe,
                reason: self
                    .metrics
                    .error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            });
        };
        let payload = serde_json::to_vec(&self.batch).unwrap_or_default();
        // A synced file write: off the runtime's workers.
        match tokio::task::block_in_place(|| spill.append(&payload)) {
            Ok(path) => {
                self.spilled += 1;
                self.metrics
                    .spilled
                    .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
                tracing::warn!(events = self.batch.len(), file = %path.display(), destination = %describe, "sink down; batch spilled to disk");
                self.metrics.set_error(format!(
                    "{describe} unavailable: batches wait on disk in {}",
                    spill.path().display()
                ));
                self.batch.clear();
                self.oldest = None;
                Ok(())
            }
            Err(error) => {
                self.metrics.set_error(format!(
                    "{describe} unavailable and the spill directory {} refuses the batch ({error}): \
                     new events wait (backpressure)",
                    spill.path().display()
                ));
                Err(TelemetryError::Unavailable {
                    endpoint: spill.path().display().to_string(),
                    reason: error.to_string(),
                })
            }
        }
    }

    /// Sends spilled batches, oldest first, when a try is due; true once
    /// none is left.
    async fn replay(&mut self) -> bool {
        if self.spilled == 0 {
            return true;
        }
        if Instant::now() < self.next_retry {
            return false;
        }
        let Some(Ok(pending)) = self.spill.as_ref().map(SpillDir::pending) else {
            return self.spill.is_none();
        };
        self.spilled = pending.len();
        for path in pending {
            let batch = tokio::task::block_in_place(|| SpillDir::read(&path))
                .map_err(|e| e.to_string())
                .and_then(|payload| {
                    serde_json::from_slice::<Vec<StreamRecord>>(&payload).map_err(|e| e.to_string())
                });
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(%error, file = %path.display(), "spill file unreadable; set aside");
                    if let Some(spill) = &self.spill {
                        let _ = spill.set_aside_corrupt(&path);
                    }
                    self.spilled -= 1;
                    continue;
                }
            };
            let mut sent = 0;
            let size = self.destination.batch_size();
            while sent < batch.len() {
                let take = (batch.len() - sent).min(size);
                match self.destination.send(&batch[sent..sent + take]).await {
                    Ok(()) => {
                        self.metrics.replayed.fetch_add(take as u64, Ordering::Relaxed);
                        sent += take;
                    }
                    Err(SendError::Rejected(reason)) => {
                        let refused = batch[sent..sent + take].to_vec();
                        self.quarantine(&refused, &reason);
                        sent += take;
                    }
                    Err(SendError::Unavailable(reason)) => {
                        // Part of the file may be sent again: duplicates by
                        // id only, which the sinks drop.
                        self.down(&reason);
                        return false;
                    }
                }
            }
            if let Some(spill) = &self.spill {
                let _ = spill.remove(&path);
            }
            self.spilled -= 1;
        }
        self.back_up();
        self.metrics.set_error(String::new());
        true
    }

    /// Succeeds once every event handed over so far is at the destination.
    /// Batches waiting on disk do not count: the shard's checkpoint (which
    /// waits for this) must not pass them, since an agent that never comes
    /// back takes its spill directory with it, and the shard's next agent
    /// generates again from that checkpoint.
    async fn flush(&mut self, finished_shard: Option<u32>) -> Result<(), TelemetryError> {
        self.write().await?;
        if self.spilled > 0 {
            return Err(TelemetryError::Unavailable {
                endpoint: self.destination.describe(),
                reason: format!("{} spilled batches wait to be sent", self.spilled),
            });
        }
        match finished_shard {
            Some(shard) => self.finish_shard(shard).await,
            None => Ok(()),
        }
    }

    async fn finish_shard(&mut self, shard: u32) -> Result<(), TelemetryError> {
        self.destination
            .shard_finished(shard)
            .await
            .map_err(|e| TelemetryError::Unavailable {
                endpoint: self.destination.describe(),
                reason: e.to_string(),
            })
    }
}
