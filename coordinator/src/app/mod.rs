//! The coordinator's application layer: what each call of the public API
//! does — lifecycle rules, validation that reports every problem, leader-only
//! fenced writes — as one service per area, each taking and returning domain
//! types and failing with one [`CoordinatorError`]. Its doors are
//! `crate::grpc` (`ControlService`) and `crate::http` (the JSON API and the
//! dashboard's routes); wire types are made there (`crate::wire`,
//! `crate::json`), never here.
//!
//! ```text
//! app.campaigns()  create, validate, get, list, act, update, clone, set_rate, delete, watch
//! app.sessions()   list (filtered, paged), get
//! app.library()    apply, get, list, delete personas, journeys and sites
//! app.scenarios()  list, apply, stop, reset a stream run's scenarios
//! app.streams()    subscribe, history, external events, inject events
//! app.insight()    analytics, error groups, node logs
//! app.cluster()    status, target checks
//! app.behaviour()  the bot detector's sessions: create, append, status, analyse, list, delete
//! ```

pub mod behaviour;
pub mod campaigns;
pub mod cluster;
pub mod insight;
pub mod library;
pub mod scenarios;
pub mod sessions;
pub mod streams;

use std::sync::Arc;

use throng_engine::analytics::AnalyticsSource;
use throng_engine::spec::ValidationContext;
use throng_engine::workload::Workload;
use throng_state::{Keys, StateStore};
use tokio::sync::Notify;

use crate::campaign::{Campaign, CampaignStatus};
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use crate::stats::StatsHub;
use crate::view::{ClusterView, LiveView};

pub use campaigns::{CampaignView, Campaigns, LiveStats};
pub use cluster::{AgentStatus, Cluster, ClusterStatus};
pub use insight::{Insight, NodeLogs};
pub use library::Library;
pub use scenarios::{ScenarioChange, ScenarioState, Scenarios};
pub use sessions::Sessions;
pub use streams::{Injection, Streams, SubscribeAsk};

/// What every service of the application reads and writes: the cluster
/// state, leadership, the agents' stats, the telemetry store.
#[derive(Clone)]
pub struct App {
    pub cluster: String,
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    /// The cluster as of the latest change, kept current by a watch.
    pub view: LiveView,
    pub leadership: Leadership,
    pub hub: StatsHub,
    pub validation: ValidationContext,
    /// Wakes the reconciler after a change, so agents hear of it at once.
    pub nudge: Arc<Notify>,
    /// Where analytics are read (none: sessions, errors and analytics are unavailable).
    pub analytics: Option<Arc<dyn AnalyticsSource>>,
    /// The reconcile loop's placement counts, for `/metrics`.
    pub placements: Arc<crate::reconcile::PlacementCounts>,
    pub coordinator_id: String,
    /// Clients of the agents, for what only an agent knows (its logs).
    pub agents: crate::agents::AgentClients,
    /// Stream runs' 30-day hourly baselines, made once per run.
    pub baselines: Arc<crate::stream_history::BaselineCache>,
    /// Answers read from the telemetry store, kept while its rows stay.
    pub answers: Arc<crate::answers::StoredAnswers>,
    /// The bot detector's rules in force.
    pub behaviour_rules: throng_engine::behaviour::rules_file::BehaviourRules,
    /// The live feeds of watched campaigns, one per campaign.
    pub feeds: Arc<campaigns::LiveFeeds>,
}

impl App {
    pub fn campaigns(&self) -> Campaigns<'_> {
        Campaigns { app: self }
    }

    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { app: self }
    }

    pub fn library(&self) -> Library<'_> {
        Library { app: self }
    }

    pub fn scenarios(&self) -> Scenarios<'_> {
        Scenarios { app: self }
    }

    pub fn streams(&self) -> Streams<'_> {
        Streams { app: self }
    }

    pub fn behaviour(&self) -> behaviour::BehaviourSessions<'_> {
        behaviour::BehaviourSessions { app: self }
    }

    pub fn insight(&self) -> Insight<'_> {
        Insight { app: self }
    }

    pub fn cluster(&self) -> Cluster<'_> {
        Cluster { app: self }
    }

    /// This coordinator's writes, each under its fence and each seen by
    /// the view before it returns, so the next read shows it.
    pub(crate) fn writes(&self) -> crate::writes::Writes<'_> {
        crate::writes::Writes::new(&*self.store, &self.keys, &self.leadership).seen_by(&self.view)
    }

    /// The cluster as of now.
    pub(crate) async fn cluster_view(&self) -> Result<Arc<ClusterView>> {
        self.view.current().await
    }

    /// Writes go through the leader only: others answer who leads.
    pub(crate) async fn require_leader(&self) -> Result<()> {
        if self.leadership.is_leader() {
            return Ok(());
        }
        let leader = self
            .leadership
            .current(&*self.store)
            .await?
            .map(|l| format!("{} at {}", l.coordinator_id, l.address))
            .unwrap_or_else(|| "none elected yet".to_string());
        Err(CoordinatorError::NotLeader { leader })
    }

    /// A campaign (or stream run) by id.
    pub(crate) async fn load(&self, id: &str) -> Result<Campaign> {
        self.cluster_view().await?.campaign(id).cloned()
    }

    /// Writes a campaign's new status if it is still `old` and this
    /// coordinator still leads (compare-and-set).
    pub(crate) async fn replace_status(
        &self,
        id: &str,
        old: &CampaignStatus,
        new: &CampaignStatus,
    ) -> Result<()> {
        let written = self.writes().replace_status(id, old, new).await?;
        if written {
            Ok(())
        } else {
            Err(CoordinatorError::Conflict(format!(
                "campaign {id} changed meanwhile; retry"
            )))
        }
    }

    pub(crate) fn analytics_source(&self) -> Result<&Arc<dyn AnalyticsSource>> {
        self.analytics.as_ref().ok_or_else(|| {
            CoordinatorError::Conflict(
                "this coordinator has no telemetry store to read: start it with --clickhouse URL".into(),
            )
        })
    }

    /// A spec document checked, with its library references resolved into
    /// snapshots of the items it uses.
    pub(crate) async fn parse_workload(&self, document: &str) -> Result<Workload> {
        let value = crate::library::resolve(&*self.store, &self.keys, document).await?;
        Workload::from_value(&value, &self.validation).map_err(CoordinatorError::InvalidSpec)
    }
}

/// An optional simulated instant (RFC 3339; empty: none) as epoch ms.
pub(crate) fn instant(field: &str, text: &str) -> Result<Option<i64>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|e| CoordinatorError::Invalid(format!("{field}: not an RFC 3339 instant: {e}")))
}

/// The stream run a campaign id names; a traffic campaign is refused.
pub(crate) fn stream_run(campaign: &Campaign) -> Result<Arc<throng_engine::streams::StreamRunSpec>> {
    crate::subscribe::stream_run(campaign).map_err(CoordinatorError::Conflict)
}
