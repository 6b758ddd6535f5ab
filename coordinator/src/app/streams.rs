//! A stream run's events, history and external events: live subscriptions,
//! history in blocks against the 30-day baseline, external events and what
//! they moved, and events injected into a running run.

use std::sync::Arc;

use throng_engine::clock::epoch_ms;
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::external::ExternalEvent;
use tokio::sync::mpsc;

use super::{App, instant, stream_run};
use crate::error::{CoordinatorError, Result};
use crate::external_events::ExternalEvents;
use crate::scenarios;
use crate::stream_history::LiveScores;
use crate::stream_history::{HistoryQuery, StreamHistory};
use crate::subscribe::Message;
pub use crate::subscribe::SubscribeAsk;

/// A subscription being served: its messages, and the run whose catalog
/// names their streams.
pub struct Subscribed {
    pub run: Arc<StreamRunSpec>,
    pub messages: mpsc::Receiver<Message>,
}

/// An external event to inject: a library template, at a simulated
/// instant (RFC 3339; empty: the run's now).
#[derive(Clone, Debug)]
pub struct Injection {
    pub template: String,
    pub at: String,
}

/// A window of external events: RFC 3339 bounds (empty: the run's first
/// 30 days), narrowed to one stream's or one event's correlations.
#[derive(Clone, Debug, Default)]
pub struct EventsQuery {
    pub from: String,
    pub until: String,
    pub stream: String,
    pub event: String,
}

pub struct Streams<'a> {
    pub(crate) app: &'a App,
}

impl Streams<'_> {
    /// The run's events as they are made, in batches with resume tokens,
    /// until the subscriber drops the receiver or the run ends.
    pub async fn subscribe(&self, id: &str, ask: &SubscribeAsk) -> Result<Subscribed> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        let query = crate::subscribe::parse_query(&run, ask).map_err(CoordinatorError::Invalid)?;
        // A few batches of room: a slower consumer holds its own subscription only.
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(crate::subscribe::serve(
            self.app.view.clone(),
            id.to_string(),
            run.clone(),
            query,
            sender,
        ));
        Ok(Subscribed {
            run,
            messages: receiver,
        })
    }

    /// The run's history in blocks against its baseline.
    pub async fn history(&self, id: &str, query: HistoryQuery) -> Result<StreamHistory> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        let started = campaign.status.origin_ms() as i64;
        let timeline = campaign.status.scenario_runs;
        // The same window of the same timeline generates the same history.
        let key = format!(
            "{id}/{:?}/{:?}/{}/{}",
            query.from_ms,
            query.until_ms,
            query.block_ms,
            query.patterns.join(",")
        );
        let version = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            serde_json::to_string(&timeline)
                .unwrap_or_default()
                .hash(&mut hasher);
            started.hash(&mut hasher);
            hasher.finish()
        };
        let id = id.to_string();
        let history = self
            .app
            .answers
            .histories
            .get(key, version, false, move || {
                off_runtime(move || crate::stream_history::history(&id, &run, started, &timeline, &query))
            })
            .await?;
        Ok(StreamHistory::clone(&history))
    }

    /// Each stream's last complete simulated hour scored against its
    /// baseline (`crate::stream_history::live_scores`).
    pub async fn live_scores(&self, id: &str) -> Result<LiveScores> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        let now = scenarios::sim_now_ms(&run, &campaign.status, epoch_ms()).ok_or_else(|| {
            CoordinatorError::Conflict(format!("stream run {id} has no live clock (a backfill)"))
        })?;
        let started = campaign.status.origin_ms() as i64;
        let spreads = self
            .app
            .spreads
            .cell(id)
            .get_or_try_init(|| {
                let run = run.clone();
                off_runtime(move || Ok(Arc::new(crate::stream_history::baseline_spreads(&run, started))))
            })
            .await?
            .clone();
        let timeline = campaign.status.scenario_runs;
        off_runtime(move || Ok(crate::stream_history::live_scores(&run, &timeline, now, &spreads))).await
    }

    /// The external event templates a run's catalog can inject.
    pub async fn event_templates(
        &self,
        id: &str,
    ) -> Result<Vec<throng_engine::streams::external::EventTemplate>> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        Ok(run.catalog.external_events.library.clone())
    }

    /// External events of a window of the run's history, and what they moved.
    pub async fn external_events(&self, id: &str, query: EventsQuery) -> Result<ExternalEvents> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        let (from, until) = (instant("from", &query.from)?, instant("until", &query.until)?);
        let started = campaign.status.origin_ms() as i64;
        let timeline = campaign.status.scenario_runs;
        let id = id.to_string();
        off_runtime(move || {
            crate::external_events::external_events(
                &id,
                &run,
                started,
                &timeline,
                from,
                until,
                &query.stream,
                &query.event,
            )
        })
        .await
    }

    /// Injects external events from the run's library into a running run:
    /// all of them, or none when one is wrong.
    pub async fn inject(&self, id: &str, events: &[Injection]) -> Result<ExternalEvents> {
        let app = self.app;
        app.require_leader().await?;
        let mut campaign = app.load(id).await?;
        let run = stream_run(&campaign)?;
        if !campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(format!(
                "stream run {id} is not running; events are injected into running runs"
            )));
        }
        if events.is_empty() {
            return Err(CoordinatorError::Invalid(
                "events: give at least one event to inject".into(),
            ));
        }
        let library = &run.catalog.external_events.library;
        let now = epoch_ms();
        let old = campaign.status.clone();
        let mut injected = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let Some(template) = library.iter().position(|t| t.id == event.template) else {
                let known: Vec<&str> = library.iter().map(|t| t.id.as_str()).collect();
                return Err(CoordinatorError::Invalid(format!(
                    "events[{i}].template: unknown `{}`; the library has: {}",
                    event.template,
                    known.join(", ")
                )));
            };
            let at_ms = match instant(&format!("events[{i}].at"), &event.at)? {
                Some(at_ms) => at_ms,
                None => scenarios::effective_ms(&run, &campaign.status, now).ok_or_else(|| {
                    CoordinatorError::Invalid(format!(
                        "events[{i}].at: a backfill has no clock to follow; give an instant"
                    ))
                })?,
            };
            campaign
                .status
                .scenario_runs
                .push(scenarios::injected_event(&event.template, at_ms));
            injected.push((
                ExternalEvent::injected(template, &event.template, at_ms),
                Vec::new(),
            ));
        }
        app.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(run = %id, events = injected.len(), "external events injected");
        app.nudge.notify_one();
        Ok(ExternalEvents {
            run_id: id.to_string(),
            catalog: run.catalog.clone(),
            events: injected,
        })
    }
}

/// Generates history on the blocking pool: a month of events takes seconds
/// of CPU that would otherwise hold an async thread. The generator's error
/// names the bad part of the request.
async fn off_runtime<T: Send + 'static>(
    generate: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(generate)
        .await
        .map_err(|e| CoordinatorError::Internal(e.to_string()))?
        .map_err(CoordinatorError::Invalid)
}
