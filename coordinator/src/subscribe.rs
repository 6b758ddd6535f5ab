//! Serving a subscription: follows a stream run's clock and scenario
//! timeline, and sends batches, heartbeats and missed-event reports to one
//! consumer over a bounded channel (gRPC or WebSocket).
//!
//! The consumer's pace only affects its own subscription: a full channel
//! holds this loop, never the agents; once it is behind the run's clock by
//! more than its allowed lag, events are skipped and reported as missed,
//! with the token to come back for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use throng_engine::clock::epoch_ms;
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::history::HourlySpreads;
use throng_engine::streams::pattern::StreamPattern;
use throng_engine::streams::subscription::{ResumeToken, ScoredEvent, Subscription};
use throng_engine::workload::Workload;
use throng_proto::v1;

use tokio::sync::mpsc;

use crate::campaign::Campaign;
use crate::scenarios;
use crate::stream_history::BaselineCache;
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
        events: Vec<ScoredEvent>,
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

fn event_message(run: &StreamRunSpec, scored: &ScoredEvent) -> v1::StreamEventMessage {
    let event = &scored.event;
    let json = event.to_json(&run.catalog);
    v1::StreamEventMessage {
        normalized_value: scored.score,
        anomaly_flag: scored.flag.name().to_string(),
        id: format!("{:016x}", event.id),
        stream: run.catalog.streams[usize::from(event.stream)].name.to_string(),
        at_ms: event.at_ms,
        parent: event.parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        entities_json: json["entities"].to_string(),
        data_json: json["data"].to_string(),
    }
}

/// Where the run's clock is; a backfill has none, so it is "as far as the
/// consumer goes". An emulated run's events are followed batch by batch:
/// up to its last release.
fn clock_ms(run: &StreamRunSpec, campaign: &Campaign) -> Option<i64> {
    let now = scenarios::sim_now_ms(run, &campaign.status, epoch_ms())?;
    Some(match run.clock.cadence() {
        Some(cadence) => now.div_euclid(cadence.interval_ms) * cadence.interval_ms,
        None => now,
    })
}

/// Simulated milliseconds per wall millisecond.
fn speed(run: &StreamRunSpec) -> f64 {
    match run.clock {
        throng_engine::streams::SimClock::Accelerated { factor, .. } => factor,
        _ => 1.0,
    }
}

/// Serves one subscriber until it goes away or the run ends. Events are
/// scored against the run's baseline, made first if no one has yet.
pub async fn serve(
    view: LiveView,
    id: String,
    run: Arc<StreamRunSpec>,
    query: SubscribeQuery,
    baselines: Arc<BaselineCache>,
    sender: mpsc::Sender<Message>,
) {
    let Some(campaign) = current(&view, &id).await else {
        return;
    };
    let max_lag_ms = (query.max_lag.as_millis() as f64 * speed(&run)) as i64;
    // Events are scored only where the run's timeline bends something (the
    // rest are the baseline's own): until then no baseline is needed.
    let bent = !campaign.status.scenario_runs.is_empty();
    let spreads = if bent {
        match spreads_of(&baselines, &id, &run, &campaign).await {
            Some(spreads) => spreads,
            None => return,
        }
    } else {
        Arc::new(HourlySpreads::new())
    };
    let Some(subscription) = open(&run, &campaign, query, spreads, &sender).await else {
        return;
    };
    let mut follower = Follower {
        until: run.clock.until_ms().unwrap_or(i64::MAX),
        view,
        id,
        run,
        campaign,
        subscription: Arc::new(Mutex::new(subscription)),
        sender,
        max_lag_ms,
        refreshed: Instant::now(),
        last_sent: Instant::now(),
        baselines,
        scored: bent,
    };
    follower.follow().await;
}

/// The run's spreads by hour over its 30-day baseline.
async fn spreads_of(
    baselines: &BaselineCache,
    id: &str,
    run: &Arc<StreamRunSpec>,
    campaign: &Campaign,
) -> Option<Arc<HourlySpreads>> {
    let started = campaign.status.origin_ms() as i64;
    let baseline = baselines.get(id, run, started).await.ok()?;
    Some(baseline.spreads.clone())
}

/// The run as the cluster view has it now; `None` once it is gone.
async fn current(view: &LiveView, id: &str) -> Option<Campaign> {
    view.current().await.ok()?.campaigns.get(id).cloned()
}

/// The subscription asked for: from its resume token, or from a snapshot
/// of the day so far, which is sent first.
async fn open(
    run: &StreamRunSpec,
    campaign: &Campaign,
    query: SubscribeQuery,
    spreads: Arc<HourlySpreads>,
    sender: &mpsc::Sender<Message>,
) -> Option<Subscription> {
    let timeline = campaign.status.scenario_runs.clone();
    if let Some(token) = query.resume {
        return Some(Subscription::new(
            run.catalog.clone(),
            run.scale,
            query.patterns,
            &timeline,
            token,
            spreads,
        ));
    }
    let until = run.clock.until_ms().unwrap_or(i64::MAX);
    let start_clock = clock_ms(run, campaign).unwrap_or_else(|| run.clock.start_ms(0));
    let (catalog, scale) = (run.catalog.clone(), run.scale);
    let (snapshot, live) = off_runtime(move || {
        Subscription::snapshot(
            catalog,
            scale,
            query.patterns,
            &timeline,
            start_clock.min(until),
            spreads,
        )
    })
    .await?;
    let first = Message::Batch {
        events: snapshot,
        token: live.position(),
        snapshot: true,
    };
    sender.send(first).await.ok()?;
    Some(live)
}

/// One subscription following its run. Each step answers `None` when the
/// subscriber has gone or the run has ended.
struct Follower {
    view: LiveView,
    id: String,
    run: Arc<StreamRunSpec>,
    campaign: Campaign,
    /// Shared with the blocking pool's generation steps, one at a time.
    subscription: Arc<Mutex<Subscription>>,
    sender: mpsc::Sender<Message>,
    /// The run's end on its simulated clock.
    until: i64,
    /// How far behind the run's clock the subscriber may fall (simulated ms).
    max_lag_ms: i64,
    refreshed: Instant,
    last_sent: Instant,
    baselines: Arc<BaselineCache>,
    /// Whether events are scored against the run's baseline yet (only
    /// needed once the timeline bends something).
    scored: bool,
}

impl Follower {
    async fn follow(&mut self) -> Option<()> {
        loop {
            if self.sender.is_closed() {
                return None;
            }
            self.refresh().await?;
            let clock = clock_ms(&self.run, &self.campaign).map(|now| now.min(self.until));
            if let Some(now) = clock {
                self.skip_if_lagging(now).await?;
            }
            let behind = self.send_next(clock.unwrap_or(self.until)).await?;
            // A completed run can still be read to its end; a stopped one ends here.
            let ended = self.campaign.status.state == crate::campaign::CampaignState::Stopped
                || self.position().at_ms >= self.until - 1;
            if ended {
                return None;
            }
            if !behind {
                tokio::time::sleep(BATCH_EVERY).await;
            }
        }
    }

    /// Reads the run's status again (its clock, scenarios, state) every
    /// [`REFRESH_EVERY`].
    async fn refresh(&mut self) -> Option<()> {
        if self.refreshed.elapsed() >= REFRESH_EVERY {
            self.refreshed = Instant::now();
            self.campaign = current(&self.view, &self.id).await?;
            let timeline = &self.campaign.status.scenario_runs;
            if !self.scored && !timeline.is_empty() {
                let spreads = spreads_of(&self.baselines, &self.id, &self.run, &self.campaign).await?;
                lock(&self.subscription).set_spreads(spreads);
                self.scored = true;
            }
            lock(&self.subscription).set_timeline(&self.campaign.status.scenario_runs);
        }
        Some(())
    }

    /// A subscriber further behind `now` than it may be skips ahead to half
    /// its allowed lag and is told what it missed.
    async fn skip_if_lagging(&mut self, now: i64) -> Option<()> {
        let from = self.position();
        if now - from.at_ms <= self.max_lag_ms {
            return Some(());
        }
        let skip_to = now - self.max_lag_ms / 2;
        let missed = self
            .step(move |subscription| subscription.skip_to(skip_to))
            .await?;
        let report = Message::Missed {
            events: missed,
            from,
            to: self.position(),
        };
        self.sender.send(report).await.ok()
    }

    /// Sends the events up to `clock` (at most one catch-up step of them),
    /// or a heartbeat when there were none for a while; answers whether the
    /// subscription is still behind the clock.
    async fn send_next(&mut self, clock: i64) -> Option<bool> {
        let target = clock.min(self.position().at_ms + CATCH_UP_STEP_MS);
        let events = self
            .step(move |subscription| subscription.next_batch(target))
            .await?;
        let message = if !events.is_empty() {
            Message::Batch {
                events,
                token: self.position(),
                snapshot: false,
            }
        } else if self.last_sent.elapsed() >= HEARTBEAT_EVERY {
            Message::Heartbeat {
                sim_now_ms: target,
                token: self.position(),
            }
        } else {
            return Some(clock > target);
        };
        // A slow consumer holds this send, and only this subscription.
        self.sender.send(message).await.ok()?;
        self.last_sent = Instant::now();
        Some(clock > target)
    }

    /// Runs one generation step on the subscription off the async runtime.
    async fn step<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Subscription) -> T + Send + 'static,
    ) -> Option<T> {
        let subscription = self.subscription.clone();
        off_runtime(move || work(&mut lock(&subscription))).await
    }

    fn position(&self) -> ResumeToken {
        lock(&self.subscription).position()
    }
}

fn lock(subscription: &Mutex<Subscription>) -> std::sync::MutexGuard<'_, Subscription> {
    subscription.lock().unwrap_or_else(|p| p.into_inner())
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
