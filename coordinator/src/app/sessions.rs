//! A traffic campaign's sessions, read from the telemetry store: a filtered
//! page, newest first, and one session in full.

use throng_engine::analytics::sessions::{self, SessionDetail, SessionPage};

use super::App;
use crate::campaign::Campaign;
use crate::error::{CoordinatorError, Result};
use crate::sessions::ListQuery;

pub struct Sessions<'a> {
    pub(crate) app: &'a App,
}

impl Sessions<'_> {
    /// A page of a traffic campaign's sessions.
    pub async fn list(&self, query: &ListQuery) -> Result<SessionPage> {
        let source = self.app.analytics_source()?;
        let campaign = self.app.load(&query.campaign_id).await?;
        traffic_only(&campaign)?;
        sessions::list(
            source.as_ref(),
            &campaign.id,
            &query.filter,
            query.cursor.as_deref(),
            query.limit,
        )
        .await
        .map_err(|e| match e {
            sessions::ListError::BadCursor(bad) => CoordinatorError::Invalid(format!("cursor: {bad}")),
            sessions::ListError::Store(e) => crate::analytics::store_error(e),
        })
    }

    /// One session of a traffic campaign in full.
    pub async fn get(&self, campaign_id: &str, session_id: u64) -> Result<SessionDetail> {
        let source = self.app.analytics_source()?;
        let campaign = self.app.load(campaign_id).await?;
        traffic_only(&campaign)?;
        source
            .session(&campaign.id, session_id)
            .await
            .map_err(crate::analytics::store_error)?
            .ok_or_else(|| {
                CoordinatorError::Missing(format!("campaign {campaign_id} has no session {session_id}"))
            })
    }
}

impl Sessions<'_> {
    /// The screenshot a failed browser visit left, as PNG, fetched from
    /// the agent that ran the visit (screenshots stay on its disk).
    pub async fn screenshot(&self, campaign_id: &str, session_id: u64) -> Result<Vec<u8>> {
        let detail = self.get(campaign_id, session_id).await?;
        let Some(path) = detail
            .browser
            .as_ref()
            .map(|b| b.screenshot.clone())
            .filter(|p| !p.is_empty())
        else {
            return Err(CoordinatorError::Missing(format!(
                "session {session_id} left no screenshot (only failed browser visits do)"
            )));
        };
        let name = std::path::Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let agent_id = &detail.summary.agent;
        let view = self.app.cluster_view().await?;
        let gone = || {
            CoordinatorError::Unavailable(format!(
                "agent {agent_id}, which ran session {session_id}, is not in the cluster now; \
                 its screenshot stays on that agent's disk at {path}"
            ))
        };
        let agent = view.agent(agent_id).ok_or_else(gone)?;
        let client = self.app.agents.get(&agent.record).ok_or_else(gone)?;
        client
            .screenshot(&name)
            .await
            .map_err(|e| CoordinatorError::Unavailable(format!("agent {agent_id}: {e}")))?
            .ok_or_else(|| CoordinatorError::Missing(format!("agent {agent_id} no longer keeps {path}")))
    }
}

/// Sessions belong to traffic campaigns; a stream run has events instead.
fn traffic_only(campaign: &Campaign) -> Result<()> {
    match campaign.spec() {
        Some(_) => Ok(()),
        None => Err(CoordinatorError::Conflict(format!(
            "{} is a stream run: it has events, not sessions (`throng stream history --run {}`)",
            campaign.id, campaign.id
        ))),
    }
}
