//! Delivering runs to their sinks from the agents that generate them
//! (stream runs' events, campaigns' session and request rows): Kafka ([`kafka`]), webhooks ([`webhook`]), PostgreSQL
//! ([`postgres`]) and files ([`files`]), each behind one [`writer`] that
//! batches, keeps order, and spills to disk while its destination is down.
//!
//! [`AgentDelivery`] is the agent's [`EventDelivery`]: it opens a run's
//! writers when the first of its shards hands it events, and gives each
//! writer the events of the streams its sink takes.

pub mod files;
pub mod kafka;
pub mod parquet_file;
pub mod postgres;
pub mod webhook;
pub mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use throng_engine::delivery::{EventDelivery, SinkHealth, SinkPlan};
use throng_engine::streams::sinks::{SinkKind, SinkSpec};
use throng_engine::telemetry::{StreamRecord, TelemetryError};

use crate::writer::{Destination, Writer};

/// An agent's deliveries.
pub struct AgentDelivery {
    /// Where each sink's batches wait while it is down:
    /// `<spill_root>/deliveries/<run>/<sink>`. None: in memory (and the
    /// shards wait).
    spill_root: Option<PathBuf>,
    runs: Mutex<HashMap<String, Arc<RunSinks>>>,
    /// Serialises opening a run's writers (two shards of one run start together).
    opening: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AgentDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentDelivery")
            .field("spill_root", &self.spill_root)
            .field("runs", &self.runs.lock().unwrap_or_else(|e| e.into_inner()).len())
            .finish()
    }
}

/// One run's writers on this agent.
struct RunSinks {
    writers: Vec<(SinkSpec, Writer)>,
    /// Stream name to catalog index.
    streams: HashMap<String, usize>,
}

impl AgentDelivery {
    pub fn new(spill_root: Option<PathBuf>) -> AgentDelivery {
        AgentDelivery {
            spill_root,
            runs: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    fn run(&self, run_id: &str) -> Option<Arc<RunSinks>> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(run_id)
            .cloned()
    }

    async fn open(&self, run_id: &str, plan: &SinkPlan) -> Result<Arc<RunSinks>, TelemetryError> {
        let _one_at_a_time = self.opening.lock().await;
        if let Some(open) = self.run(run_id) {
            return Ok(open);
        }
        let mut writers = Vec::new();
        for sink in &plan.sinks {
            let spill = self
                .spill_root
                .as_ref()
                .map(|root| root.join("deliveries").join(run_id).join(&sink.name));
            let writer = Writer::start(
                run_id,
                &sink.name,
                sink.kind.name(),
                destination(run_id, plan, sink)?,
                spill,
            )?;
            tracing::info!(run = run_id, sink = %sink.name, kind = sink.kind.name(), "sink opened");
            writers.push((sink.clone(), writer));
        }
        let streams = plan
            .streams
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        let open = Arc::new(RunSinks { writers, streams });
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_string(), open.clone());
        Ok(open)
    }
}

/// The destination of one sink.
fn destination(
    run_id: &str,
    plan: &SinkPlan,
    sink: &SinkSpec,
) -> Result<Box<dyn Destination>, TelemetryError> {
    let streams: Vec<String> = plan
        .streams
        .iter()
        .enumerate()
        .filter(|(i, _)| sink.takes(*i))
        .map(|(_, name)| name.clone())
        .collect();
    Ok(match &sink.kind {
        SinkKind::Kafka { brokers, topic } => {
            Box::new(kafka::KafkaDestination::new(brokers, topic, &streams)?)
        }
        SinkKind::Webhook { url, key, batch } => Box::new(webhook::WebhookDestination::new(
            run_id, &sink.name, url, key, *batch,
        )?),
        SinkKind::Postgres { url, table } => Box::new(postgres::PostgresDestination::new(url, table)),
        SinkKind::Files { path, format } => Box::new(files::FilesDestination::new(path, run_id, *format)),
    })
}

#[async_trait::async_trait]
impl EventDelivery for AgentDelivery {
    async fn deliver(
        &self,
        run_id: &str,
        plan: &Arc<SinkPlan>,
        events: &[StreamRecord],
    ) -> Result<(), TelemetryError> {
        let sinks = match self.run(run_id) {
            Some(open) => open,
            None => self.open(run_id, plan).await?,
        };
        for (spec, writer) in &sinks.writers {
            let taken: Vec<StreamRecord> = events
                .iter()
                .filter(|e| sinks.streams.get(&e.stream).is_some_and(|i| spec.takes(*i)))
                .cloned()
                .collect();
            writer.send(taken).await?;
        }
        Ok(())
    }

    async fn flush(&self, run_id: &str, finished_shard: Option<u32>) -> Result<(), TelemetryError> {
        let Some(sinks) = self.run(run_id) else {
            return Ok(());
        };
        for (_, writer) in &sinks.writers {
            writer.flush(finished_shard).await?;
        }
        Ok(())
    }

    fn health(&self) -> Vec<SinkHealth> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let mut health: Vec<SinkHealth> = runs
            .values()
            .flat_map(|run| run.writers.iter().map(|(_, writer)| writer.health()))
            .collect();
        health.sort_by(|a, b| (&a.run_id, &a.sink).cmp(&(&b.run_id, &b.sink)));
        health
    }
}
