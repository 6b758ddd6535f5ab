//! A stream run's events, history and external events: live subscriptions,
//! history in blocks against the 30-day baseline, external events and what
//! they moved, and events injected into a running run.

use std::sync::Arc;

use throng_engine::clock::epoch_ms;
use throng_engine::ids::{Part, stable_hash};
use throng_engine::spec::{FieldError, SpecErrors};
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::external::{ExternalEvent, read_own_event};
use throng_engine::streams::scenario::ScenarioRun;
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

/// An external event to inject at a simulated instant (RFC 3339; empty:
/// the run's now): a library template, or an event of the user's own in a
/// template's shape (`id` optional).
#[derive(Clone, Debug, Default)]
pub struct Injection {
    pub template: String,
    pub at: String,
    pub event: Option<serde_json::Value>,
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
            self.app.baselines.clone(),
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
        let baselines = self.app.baselines.clone();
        let history = self
            .app
            .answers
            .histories
            .get(key, version, false, move || async move {
                let baseline = baselines.get(&id, &run, started).await?;
                off_runtime(move || {
                    crate::stream_history::history(&id, &run, started, &timeline, &query, &baseline.month)
                })
                .await
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
        let baseline = self.app.baselines.get(id, &run, started).await?;
        let timeline = campaign.status.scenario_runs;
        off_runtime(move || {
            Ok(crate::stream_history::live_scores(
                &run, &timeline, now, &baseline,
            ))
        })
        .await
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
        let now = epoch_ms();
        let old = campaign.status.clone();
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let at_ms = match instant(&format!("events[{i}].at"), &event.at) {
                Ok(Some(at_ms)) => Some(at_ms),
                Ok(None) => scenarios::effective_ms(&run, &campaign.status, now).or_else(|| {
                    problems.push(problem(
                        format!("events[{i}].at"),
                        "a backfill has no clock to follow; give an instant",
                    ));
                    None
                }),
                Err(e) => {
                    let path = format!("events[{i}].at");
                    let message = e.to_string();
                    let message = message
                        .strip_prefix(&format!("{path}: "))
                        .unwrap_or(&message)
                        .to_string();
                    problems.push(problem(path, message));
                    None
                }
            };
            let entry = match own_or_template(&run, i, event, at_ms.unwrap_or(0)) {
                Ok(entry) => entry,
                Err(mut found) => {
                    problems.append(&mut found);
                    continue;
                }
            };
            if at_ms.is_some() {
                entries.push(entry);
            }
        }
        if !problems.is_empty() {
            return Err(CoordinatorError::InvalidFields(SpecErrors(problems)));
        }
        campaign.status.scenario_runs.extend(entries.iter().cloned());
        let timeline = &campaign.status.scenario_runs;
        let library = run.catalog.event_library(timeline).into_owned();
        let injected: Vec<(ExternalEvent, Vec<_>)> =
            crate::external_events::injected_from(&library, &entries)
                .into_iter()
                .map(|e| (e, Vec::new()))
                .collect();
        app.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(run = %id, events = injected.len(), "external events injected");
        app.nudge.notify_one();
        Ok(ExternalEvents {
            run_id: id.to_string(),
            catalog: run.catalog.clone(),
            library,
            events: injected,
        })
    }
}

/// The timeline entry of injection `i` (its instant set by the caller): a
/// library template by id, or an event of the user's own, read against
/// the catalog with its problems named by field path.
fn own_or_template(
    run: &StreamRunSpec,
    i: usize,
    event: &Injection,
    at_ms: i64,
) -> std::result::Result<ScenarioRun, Vec<FieldError>> {
    let library = &run.catalog.external_events.library;
    match (&event.event, event.template.is_empty()) {
        (Some(_), false) => Err(vec![problem(
            format!("events[{i}]"),
            "give a `template` or an `event` of your own, not both",
        )]),
        (None, true) => Err(vec![problem(
            format!("events[{i}]"),
            "give a `template` from the library or an `event` of your own",
        )]),
        (None, false) => {
            if library.iter().any(|t| t.id == event.template) {
                Ok(scenarios::injected_event(&event.template, at_ms))
            } else {
                let known: Vec<&str> = library.iter().map(|t| t.id.as_str()).collect();
                Err(vec![problem(
                    format!("events[{i}].template"),
                    format!(
                        "unknown `{}`; the library has: {}",
                        event.template,
                        known.join(", ")
                    ),
                )])
            }
        }
        (Some(definition), true) => {
            let mut definition = definition.clone();
            // An event without an id is named by what it is and when.
            if let Some(map) = definition.as_object_mut()
                && !map.contains_key("id")
            {
                let text = serde_json::to_string(&map).unwrap_or_default();
                let hash = stable_hash(&[Part::Str(&text), Part::U64(at_ms as u64)]);
                map.insert("id".into(), format!("own-{:08x}", hash >> 32).into());
            }
            let path = format!("events[{i}].event");
            let own = read_own_event(&definition, &path, &run.catalog.streams, library)
                .map_err(|errors| errors.0)?;
            Ok(ScenarioRun {
                event: Some(definition),
                ..scenarios::injected_event(&own.id, at_ms)
            })
        }
    }
}

fn problem(path: String, message: impl Into<String>) -> FieldError {
    FieldError {
        path,
        message: message.into(),
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
