//! Campaigns and stream runs over their life: created from a spec (its
//! library references snapshotted), started, paused, resumed, stopped,
//! edited (`crate::campaign_update` says what may change when), cloned,
//! given a new rate, deleted; and their live stats.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_engine::campaign::thresholds::ThresholdResult;
use throng_engine::clock::epoch_ms;
use throng_engine::spec::{FieldError, SpecErrors};
use throng_engine::stats::ShardCounters;
use throng_engine::workload::Workload;
use throng_node::trace_context;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::App;
use crate::campaign::{Action, Campaign, CampaignState, CampaignStatus};
use crate::error::{CoordinatorError, Result};
use crate::view::ClusterView;

/// Samples (about one a second) that live rates are averaged over.
const RATE_WINDOW: usize = 5;

/// A campaign with how far its shards have come.
#[derive(Clone, Debug)]
pub struct CampaignView {
    pub campaign: Campaign,
    pub shards_done: u32,
    pub sessions_checkpointed: u64,
}

impl CampaignView {
    fn of(campaign: Campaign, view: &ClusterView) -> CampaignView {
        let shards = campaign.shard_count();
        CampaignView {
            shards_done: view.shards_done(&campaign.id, shards),
            sessions_checkpointed: view.sessions_checkpointed(&campaign.id, shards),
            campaign,
        }
    }
}

/// A campaign's live figures, merged from its agents' last reports.
#[derive(Clone, Debug)]
pub struct LiveStats {
    pub campaign_id: String,
    pub at_ms: u64,
    pub state: CampaignState,
    /// Sessions the plan makes (`None`: bounded by time, a closed model).
    pub sessions_planned: Option<u64>,
    pub totals: ShardCounters,
    /// Rates averaged over the last few samples (reports arrive once a
    /// second, so a one-second rate would alias).
    pub sessions_per_second: f64,
    pub requests_per_second: f64,
    pub events_per_second: f64,
    /// A stream run's simulated window and its slowest shard's watermark
    /// (all 0 for traffic).
    pub sim_from_ms: i64,
    pub sim_until_ms: i64,
    pub sim_watermark_ms: i64,
    pub shards: u32,
    pub shards_done: u32,
    pub thresholds: Vec<ThresholdResult>,
    pub stop_reason: Option<String>,
    /// The agents running its shards that are generator-limited now.
    pub limited_agents: Vec<String>,
}

/// When a sample was taken, and the sessions started, requests and stream events by then.
type RateSample = (Instant, u64, u64, u64);

pub struct Campaigns<'a> {
    pub(crate) app: &'a App,
}

impl Campaigns<'_> {
    /// A spec checked as `create` would check it, nothing written.
    pub async fn validate(&self, document: &str) -> Result<Workload> {
        self.app.parse_workload(document).await
    }

    pub async fn get(&self, id: &str) -> Result<CampaignView> {
        let campaign = self.app.load(id).await?;
        self.view(campaign).await
    }

    /// Every campaign and stream run, by id.
    pub async fn list(&self) -> Result<Vec<CampaignView>> {
        let view = self.app.cluster_view().await?;
        Ok(view
            .campaigns
            .values()
            .map(|c| CampaignView::of(c.clone(), &view))
            .collect())
    }

    async fn view(&self, campaign: Campaign) -> Result<CampaignView> {
        let view = self.app.cluster_view().await?;
        Ok(CampaignView::of(campaign, &view))
    }

    pub async fn create(&self, document: &str, start: bool) -> Result<CampaignView> {
        let app = self.app;
        app.require_leader().await?;
        let workload = app
            .parse_workload(document)
            .instrument(tracing::info_span!("validate spec"))
            .await?;
        let now = epoch_ms();
        let suffix = throng_engine::ids::stable_hash(&[
            throng_engine::ids::Part::Str(workload.name()),
            throng_engine::ids::Part::U64(now),
            throng_engine::ids::Part::U64(u64::from(std::process::id())),
        ]);
        let id = format!("{}-{:08x}", workload.name(), suffix as u32);
        let status = CampaignStatus {
            state: if start {
                CampaignState::Running
            } else {
                CampaignState::Created
            },
            started_at_ms: start.then_some(now),
            trace: if start { trace_context::current() } else { None },
            ..CampaignStatus::created(now)
        };
        let spec_json = workload.to_json();
        // One transaction: the spec and status appear together or not at all.
        let written = app.writes().create_campaign(&id, &spec_json, &status).await?;
        if !written {
            return Err(CoordinatorError::Conflict(format!(
                "campaign {id} could not be created (leadership changed or id taken); retry"
            )));
        }
        tracing::info!(campaign = %id, kind = workload.kind(), start, "campaign created");
        app.nudge.notify_one();
        self.view(Campaign {
            id,
            workload: workload.into(),
            spec_json: spec_json.into(),
            status,
        })
        .await
    }

    /// Start, pause, resume or stop, where the campaign's state allows it.
    pub async fn act(&self, id: &str, action: Action) -> Result<CampaignView> {
        let app = self.app;
        app.require_leader().await?;
        let mut campaign = app.load(id).await?;
        let old = campaign.status.clone();
        let next = old.state.after(action).map_err(CoordinatorError::Conflict)?;
        let now = epoch_ms();
        campaign.status.state = next;
        if action == Action::Start {
            campaign.status.started_at_ms = Some(now);
            campaign.status.trace = trace_context::current();
        }
        match action {
            Action::Pause => campaign.status.paused_at_ms = Some(now),
            Action::Resume => {
                let since = campaign.status.paused_at_ms.take().unwrap_or(now);
                campaign.status.paused_ms += now.saturating_sub(since);
            }
            Action::Start | Action::Stop => {}
        }
        if next.is_terminal() {
            campaign.status.ended_at_ms = Some(now);
            campaign.status.stop_reason = Some("stopped by request".to_string());
        }
        app.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(campaign = %id, ?action, state = ?next, "campaign state changed");
        app.nudge.notify_one();
        self.view(campaign).await
    }

    /// A new revision of a campaign's spec (`crate::campaign_update` says
    /// what may change when).
    pub async fn update(&self, id: &str, document: &str) -> Result<CampaignView> {
        use crate::campaign_update::{Edit, plan_edit, unredact};
        let app = self.app;
        app.require_leader().await?;
        let campaign = app.load(id).await?;
        let old: serde_json::Value = serde_json::from_str(&campaign.spec_json)
            .map_err(|e| CoordinatorError::Internal(format!("stored spec of {id}: {e}")))?;
        let resolved = crate::library::resolve(&*app.store, &app.keys, document).await?;
        let resolved = unredact(&resolved, &old);
        let workload =
            Workload::from_value(&resolved, &app.validation).map_err(CoordinatorError::InvalidSpec)?;
        if workload.kind() != campaign.workload.kind() {
            return Err(CoordinatorError::InvalidSpec(SpecErrors(vec![FieldError {
                path: "kind".into(),
                message: format!(
                    "a {} cannot become a {}",
                    campaign.workload.kind(),
                    workload.kind()
                ),
            }])));
        }
        let new: serde_json::Value = serde_json::from_str(&workload.to_json())
            .map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        match plan_edit(campaign.status.state, &old, &new) {
            Err(refused) => Err(CoordinatorError::InvalidSpec(SpecErrors(refused))),
            Ok(Edit::Unchanged) => self.view(campaign).await,
            Ok(Edit::Rate(rate)) => {
                let mut updated = self.change_rate(id, rate).await?;
                let before = updated.status.clone();
                updated.status.edits += 1;
                app.replace_status(id, &before, &updated.status).await?;
                self.view(updated).await
            }
            Ok(Edit::Replace) => {
                let mut status = campaign.status.clone();
                status.edits += 1;
                let spec_json = workload.to_json();
                // Only while it is still the campaign that was read: not
                // started meanwhile, not edited by another call.
                let written = app
                    .writes()
                    .revise_campaign(id, &campaign.status, &spec_json, &status)
                    .await?;
                if !written {
                    return Err(CoordinatorError::Conflict(format!(
                        "campaign {id} changed meanwhile; read it again and retry"
                    )));
                }
                tracing::info!(campaign = %id, revision = status.edits + 1, "campaign spec updated");
                self.view(Campaign {
                    id: id.to_string(),
                    workload: workload.into(),
                    spec_json: spec_json.into(),
                    status,
                })
                .await
            }
        }
    }

    /// A new campaign from another's stored spec, under its name or `name`.
    pub async fn clone_campaign(&self, id: &str, name: &str, start: bool) -> Result<CampaignView> {
        let campaign = self.app.load(id).await?;
        let mut document: serde_json::Value = serde_json::from_str(&campaign.spec_json)
            .map_err(|e| CoordinatorError::Internal(format!("stored spec of {id}: {e}")))?;
        if !name.is_empty() {
            document["name"] = serde_json::Value::String(name.to_string());
        }
        let clone = self.create(&document.to_string(), start).await?;
        tracing::info!(campaign = %clone.campaign.id, from = %id, "campaign cloned");
        Ok(clone)
    }

    /// A running campaign's arrival rate from now on (at one plan instant on
    /// every agent).
    pub async fn set_rate(&self, id: &str, rate: f64) -> Result<CampaignView> {
        let campaign = self.change_rate(id, rate).await?;
        self.view(campaign).await
    }

    async fn change_rate(&self, id: &str, rate: f64) -> Result<Campaign> {
        let app = self.app;
        app.require_leader().await?;
        let max = throng_engine::spec::limits::MAX_RATE;
        if !(rate > 0.0 && rate <= max) {
            return Err(CoordinatorError::InvalidSpec(SpecErrors(vec![FieldError {
                path: "rate".into(),
                message: format!("must be above 0 and at most {max}"),
            }])));
        }
        let mut campaign = app.load(id).await?;
        let Some(spec) = campaign.spec() else {
            return Err(CoordinatorError::Conflict(
                "a stream run has no rate to change; its catalog sets the rates".into(),
            ));
        };
        if spec.load.closed.is_some() {
            return Err(CoordinatorError::Conflict(
                "a closed-model campaign has users, not a rate".into(),
            ));
        }
        if !campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(
                format!(
                    "cannot change the rate of a campaign that is {:?}",
                    campaign.status.state
                )
                .to_lowercase(),
            ));
        }
        let old = campaign.status.clone();
        let at_seconds = old.plan_seconds(epoch_ms());
        campaign
            .status
            .rate_changes
            .push(throng_engine::campaign::load::RateChange { at_seconds, rate });
        app.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(campaign = %id, rate, at_seconds, "campaign rate changed");
        app.nudge.notify_one();
        Ok(campaign)
    }

    /// Removes a campaign that is not running (`crate::archive::remove`);
    /// answers how many keys went.
    pub async fn delete(&self, id: &str) -> Result<u64> {
        let app = self.app;
        app.require_leader().await?;
        let campaign = app.load(id).await?;
        if campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(format!(
                "campaign {id} is {}: stop it first (`throng campaign stop {id}`)",
                format!("{:?}", campaign.status.state).to_lowercase()
            )));
        }
        crate::archive::remove(&*app.store, &app.keys, &app.writes(), &app.hub, &campaign).await
    }

    /// The campaign's live stats about once a second until a few seconds
    /// after it ends (agents report once a second: their last reports make
    /// the final figures complete). Ends with an error if the campaign goes.
    /// Everyone watching one campaign shares one feed (`LiveFeeds`): its
    /// figures are worked out once a second however many watch.
    pub async fn watch(&self, id: &str) -> Result<mpsc::Receiver<Result<LiveStats>>> {
        self.app.load(id).await?;
        let mut feed = self.app.feeds.subscribe(self.app, id);
        let (sender, receiver) = mpsc::channel(8);
        let id = id.to_string();
        tokio::spawn(async move {
            // The latest figures at once (a feed already running has some),
            // then each new one; a watcher that falls behind skips to the latest.
            let mut latest = feed.borrow_and_update().clone();
            loop {
                let item = match latest {
                    Some(FeedItem::Stats(stats)) => Some(Ok((*stats).clone())),
                    Some(FeedItem::Gone) => Some(Err(CoordinatorError::NotFound(format!("campaign {id}")))),
                    None => None,
                };
                if let Some(item) = item {
                    let gone = item.is_err();
                    if sender.send(item).await.is_err() || gone {
                        return;
                    }
                }
                if feed.changed().await.is_err() {
                    return;
                }
                latest = feed.borrow_and_update().clone();
            }
        });
        Ok(receiver)
    }
}

/// What a campaign's feed says each second.
#[derive(Clone, Debug)]
pub enum FeedItem {
    Stats(Arc<LiveStats>),
    /// The campaign was deleted.
    Gone,
}

/// One live feed per watched campaign: a task that works out the campaign's
/// figures once a second and publishes them to every watcher, ending when
/// the last watcher leaves or a few seconds after the campaign ends. A
/// hundred watchers cost what one does (each working them out on its own
/// took a whole core at 2,000 shards).
#[derive(Default)]
pub struct LiveFeeds {
    feeds: std::sync::Mutex<HashMap<String, watch::Sender<Option<FeedItem>>>>,
}

impl LiveFeeds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Option<FeedItem>>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver of campaign `id`'s feed, starting the feed if none runs.
    fn subscribe(&self, app: &App, id: &str) -> watch::Receiver<Option<FeedItem>> {
        let mut feeds = self.lock();
        if let Some(sender) = feeds.get(id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        feeds.insert(id.to_string(), sender.clone());
        tokio::spawn(run_feed(app.clone(), id.to_string(), sender));
        receiver
    }

    /// Ends `id`'s feed unless someone still watches it; whether it ended.
    fn end_if_unwatched(&self, id: &str, sender: &watch::Sender<Option<FeedItem>>) -> bool {
        let mut feeds = self.lock();
        if sender.receiver_count() > 0 {
            return false;
        }
        feeds.remove(id);
        true
    }

    /// Ends `id`'s feed: its watchers see the end after its last item.
    fn end(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// A campaign's feed: its figures once a second (rates averaged over the
/// samples before), until nobody watches or a few seconds after it ends.
async fn run_feed(app: App, id: String, sender: watch::Sender<Option<FeedItem>>) {
    let mut window: VecDeque<RateSample> = VecDeque::new();
    let mut reports_since_end = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        if app.feeds.end_if_unwatched(&id, &sender) {
            return;
        }
        let (view, campaign) = match app.cluster_view().await {
            Ok(view) => match view.campaigns.get(&id).cloned() {
                Some(campaign) => (view, campaign),
                None => {
                    app.feeds.end(&id);
                    sender.send_replace(Some(FeedItem::Gone));
                    return;
                }
            },
            // The store may come back: skip this tick, keep the feed.
            Err(error) => {
                tracing::debug!(%error, "watch: cluster view unavailable");
                continue;
            }
        };
        let stats = live_stats(&app, &campaign, &view, &window);
        let sample = (
            Instant::now(),
            stats.totals.sessions_started,
            stats.totals.requests,
            stats.totals.stream_events,
        );
        sender.send_replace(Some(FeedItem::Stats(Arc::new(stats))));
        if campaign.status.state.is_terminal() {
            reports_since_end += 1;
            if reports_since_end > 2 {
                app.feeds.end(&id);
                return;
            }
        }
        window.push_back(sample);
        if window.len() > RATE_WINDOW {
            window.pop_front();
        }
    }
}

/// Current stats; rates are averaged over the window of earlier samples.
fn live_stats(
    app: &App,
    campaign: &Campaign,
    view: &ClusterView,
    window: &VecDeque<RateSample>,
) -> LiveStats {
    let totals = app.hub.campaign_totals(&campaign.id);
    let thresholds = campaign
        .spec()
        .map(|spec| spec.thresholds.iter().map(|t| t.evaluate(&totals)).collect())
        .unwrap_or_default();
    let shards = campaign.shard_count();
    let planned = campaign.plan().map_or(0, |plan| plan.sessions);
    let (sessions_per_second, requests_per_second, events_per_second) = match window.front() {
        Some((at, sessions, requests, events)) => {
            let elapsed = at.elapsed().as_secs_f64().max(0.001);
            (
                totals.sessions_started.saturating_sub(*sessions) as f64 / elapsed,
                totals.requests.saturating_sub(*requests) as f64 / elapsed,
                totals.stream_events.saturating_sub(*events) as f64 / elapsed,
            )
        }
        None => (0.0, 0.0, 0.0),
    };
    let (sim_watermark_ms, sim_until_ms, sim_from_ms) = match &*campaign.workload {
        Workload::Streams(run) => {
            let slowest = (0..shards)
                .map(|i| {
                    view.checkpoints
                        .get(&throng_state::keys::shard_id(&campaign.id, i))
                        .and_then(|c| c.watermark_ms)
                        .unwrap_or(0)
                })
                .min()
                .unwrap_or(0);
            let started = campaign.status.origin_ms() as i64;
            (
                slowest,
                run.clock.until_ms().unwrap_or(0),
                run.clock.start_ms(started),
            )
        }
        Workload::Campaign(_) => (0, 0, 0),
    };
    LiveStats {
        campaign_id: campaign.id.clone(),
        at_ms: epoch_ms(),
        state: campaign.status.state,
        sessions_planned: (planned != u64::MAX).then_some(planned),
        totals,
        sessions_per_second,
        requests_per_second,
        events_per_second,
        sim_from_ms,
        sim_until_ms,
        sim_watermark_ms,
        shards,
        shards_done: view.shards_done(&campaign.id, shards),
        thresholds,
        stop_reason: campaign.status.stop_reason.clone(),
        limited_agents: app.hub.limited_agents(&campaign.id),
    }
}
