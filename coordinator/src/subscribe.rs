//! Serving a subscription: follows a stream run's clock and scenario
//! timeline, and sends batches, heartbeats and missed-event reports to one
//! consumer over a bounded channel (gRPC or WebSocket).
//!
//! The consumer's pace only affects its own subscription: a full channel
//! holds this loop, never the agents; once it is behind the run's clock by
//! more than its allowed lag, events are skipped and reported as missed,
//! with the token to come back for them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_engine::clock::epoch_ms;
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::generate::StreamEvent;
use throng_engine::streams::pattern::StreamPattern;
use throng_engine::streams::subscription::{ResumeToken, Subscription};
use throng_engine::workload::Workload;
use throng_proto::v1;

use tokio::sync::mpsc;

use crate::campaign::Campaign;
use crate::scenarios;
use crate::view::LiveView;

/// How often events are sent: batches about this far apart.
const BATCH_EVERY: Duration = Duration::from_millis(100);
/// A heartbeat when nothing else was sent for this long.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How often the run's status (clock, scenarios, state) is read again.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// How far a subscription moves per step when it is behind (a backfill, a
/// resume from long ago): keeps every message small.
const CATCH_UP_STEP_MS: i64 = 5 * 60_000;

/// The longest a consumer may fall behind: a day of wall time.
const MAX_LAG_SECONDS: f64 = 86_400.0;

/// What a subscriber asks for: streams by pattern (none: all), where to
/// resume, and how far behind the run's clock it may fall.
#[derive(Clone, Debug, Default)]
pub struct SubscribeAsk {
    pub patterns: Vec<String>,
    pub resume_token: String,
    pub max_lag_seconds: f64,
}

/// A parsed subscription request.
pub struct SubscribeQuery {
    pub patterns: Vec<StreamPattern>,
    pub resume: Option<ResumeToken>,
    pub max_lag: Duration,
}

/// Checks a request against the run's catalog; the error says what is wrong.
pub fn parse_query(run: &StreamRunSpec, request: &SubscribeAsk) -> Result<SubscribeQuery, String> {
    let patterns = if request.patterns.is_empty() {
        vec![StreamPattern::All]
    } else {
        request
            .patterns
            .iter()
            .map(|p| StreamPattern::parse(p, &run.catalog).map_err(|e| format!("patterns: {e}")))
            .collect::<Result<Vec<_>, _>>()?
    };
    let resume = if request.resume_token.is_empty() {
        None
    } else {
        Some(ResumeToken::decode(&request.resume_token).map_err(|e| format!("resume_token: {e}"))?)
    };
    let lag = request.max_lag_seconds;
    let max_lag = if lag == 0.0 {
        Duration::from_secs(60)
    } else if lag.is_finite() && lag > 0.0 && lag <= MAX_LAG_SECONDS {
        Duration::from_secs_f64(lag)
    } else {
        return Err(format!(
            "max_lag_seconds: between 0 (the default, 60) and {MAX_LAG_SECONDS}, got {lag}"
        ));
    };
    Ok(SubscribeQuery {
        patterns,
        resume,
        max_lag,
    })
}

/// What a subscriber is sent.
#[derive(Clone, Debug)]
pub enum Message {
    /// Events in order; `snapshot` for the first batch of a fresh
    /// subscription (the day before the run's clock).
    Batch {
        events: Vec<StreamEvent>,
        token: ResumeToken,
        snapshot: bool,
    },
    /// Nothing new, and where the subscription stands.
    Heartbeat { sim_now_ms: i64, token: ResumeToken },
    /// Events skipped because the subscriber fell too far behind, per
    /// stream, with the tokens to come back for them.
    Missed {
        events: std::collections::BTreeMap<String, u64>,
        from: ResumeToken,
        to: ResumeToken,
    },
}

/// A message in its wire form (a stream run's events need its catalog).
pub fn message_to_wire(run: &StreamRunSpec, message: &Message) -> v1::SubscribeMessage {
    use v1::subscribe_message::Kind;
    let kind = match message {
        Message::Batch {
            events,
            token,
            snapshot,
        } => Kind::Batch(v1::EventBatch {
            events: events.iter().map(|e| event_message(run, e)).collect(),
            resume_token: token.encode(),
            snapshot: *snapshot,
        }),
        Message::Heartbeat { sim_now_ms, token } => Kind::Heartbeat(v1::Heartbeat {
            sim_now_ms: *sim_now_ms,
            resume_token: token.encode(),
        }),
        Message::Missed { events, from, to } => Kind::Missed(v1::Missed {
            events: events.clone().into_iter().collect(),
            from_token: from.encode(),
            to_token: to.encode(),
        }),
    };
    v1::SubscribeMessage { kind: Some(kind) }
}

fn event_message(run: &StreamRunSpec, event: &StreamEvent) -> v1::StreamEventMessage {
    let json = event.to_json(&run.catalog);
    v1::StreamEventMessage {
        id: format!("{:016x}", event.id),
        stream: run.catalog.streams[usize::from(event.stream)].name.to_string(),
        at_ms: event.at_ms,
        parent: event.parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        entities_json: json["entities"].to_string(),
        data_json: json["data"].to_string(),
    }
}

/// Where the run's clock is; a backfill has none, so it is "as far as the consumer goes".
fn clock_ms(run: &StreamRunSpec, campaign: &Campaign) -> Option<i64> {
    scenarios::sim_now_ms(run, &campaign.status, epoch_ms())
}

/// Simulated milliseconds per wall millisecond.
fn speed(run: &StreamRunSpec) -> f64 {
    match run.clock {
        throng_engine::streams::SimClock::Accelerated { factor, .. } => factor,
        _ => 1.0,
    }
}

/// Serves one subscriber until it goes away or the run ends.
pub async fn serve(
    view: LiveView,
    id: String,
    run: Arc<StreamRunSpec>,
    query: SubscribeQuery,
    sender: mpsc::Sender<Message>,
) {
    let load = || async {
        let cluster = view.current().await.ok()?;
        cluster.campaigns.get(&id).cloned()
    };
    let Some(mut campaign) = load().await else { return };
    let until = run.clock.until_ms().unwrap_or(i64::MAX);
    let start_clock = clock_ms(&run, &campaign).unwrap_or_else(|| run.clock.start_ms(0));
    let mut subscription = match query.resume {
        Some(token) => Subscription::new(
            run.catalog.clone(),
            run.scale,
            query.patterns,
            &campaign.status.scenario_runs,
            token,
        ),
        None => {
            let (catalog, scale, timeline) = (
                run.catalog.clone(),
                run.scale,
                campaign.status.scenario_runs.clone(),
            );
            let Some((snapshot, live)) = off_runtime(move || {
                Subscription::snapshot(catalog, scale, query.patterns, &timeline, start_clock.min(until))
            })
            .await
            else {
                return;
            };
            let first = Message::Batch {
                events: snapshot,
                token: live.position(),
                snapshot: true,
            };
            if sender.send(first).await.is_err() {
                return;
            }
            live
        }
    };
    let max_lag_ms = (query.max_lag.as_millis() as f64 * speed(&run)) as i64;
    let (mut refreshed, mut last_sent) = (Instant::now(), Instant::now());
    loop {
        if sender.is_closed() {
            return;
        }
        if refreshed.elapsed() >= REFRESH_EVERY {
            refreshed = Instant::now();
            match load().await {
                Some(fresh) => campaign = fresh,
                None => return,
            }
            subscription.set_timeline(&campaign.status.scenario_runs);
        }
        let position = subscription.position();
        let clock = clock_ms(&run, &campaign).map(|now| now.min(until));
        if let Some(now) = clock
            && now - position.at_ms > max_lag_ms
        {
            let Some((moved, missed)) = off_runtime(move || {
                let missed = subscription.skip_to(now - max_lag_ms / 2);
                (subscription, missed)
            })
            .await
            else {
                return;
            };
            subscription = moved;
            let report = Message::Missed {
                events: missed,
                from: position,
                to: subscription.position(),
            };
            if sender.send(report).await.is_err() {
                return;
            }
        }
        let position = subscription.position();
        let target = clock.unwrap_or(until).min(position.at_ms + CATCH_UP_STEP_MS);
        let behind = clock.unwrap_or(until) > target;
        let Some((moved, events)) = off_runtime(move || {
            let events = subscription.next_batch(target);
            (subscription, events)
        })
        .await
        else {
            return;
        };
        subscription = moved;
        if !events.is_empty() {
            // A slow consumer holds this send, and only this subscription.
            let batch = Message::Batch {
                events,
                token: subscription.position(),
                snapshot: false,
            };
            if sender.send(batch).await.is_err() {
                return;
            }
            last_sent = Instant::now();
        } else if last_sent.elapsed() >= HEARTBEAT_EVERY {
            let beat = Message::Heartbeat {
                sim_now_ms: target,
                token: subscription.position(),
            };
            if sender.send(beat).await.is_err() {
                return;
            }
            last_sent = Instant::now();
        }
        // A completed run can still be read to its end; a stopped one ends here.
        let ended = campaign.status.state == crate::campaign::CampaignState::Stopped
            || subscription.position().at_ms >= until - 1;
        if ended {
            return;
        }
        if !behind {
            tokio::time::sleep(BATCH_EVERY).await;
        }
    }
}

/// Runs a generation step on the blocking pool. A snapshot draws a day of
/// events and a fresh generator first replays its chains' span: CPU work
/// that would otherwise hold an async worker (and the lease keep-alives
/// queued behind it) for as long as it takes. `None` when the runtime is
/// shutting down and the step never ran.
async fn off_runtime<T: Send + 'static>(step: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(step).await {
        Ok(value) => Some(value),
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_cancelled) => None,
        },
    }
}

/// The stream run behind `id`, or why there is none.
pub fn stream_run(campaign: &Campaign) -> Result<Arc<StreamRunSpec>, String> {
    match &*campaign.workload {
        Workload::Streams(run) => Ok(run.clone()),
        Workload::Campaign(_) => Err(format!("{} is a traffic campaign, not a stream run", campaign.id)),
    }
}
