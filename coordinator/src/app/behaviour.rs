//! The bot detector as a service: sessions a page (or any client) creates,
//! appends behaviour data to as it arrives, asks whether it is ready, and
//! has analysed; each analysis is stored with the session. Sessions are kept
//! in the state store beside the cluster's keys (`throng_state::keys`)
//! until deleted; the judging is `throng_engine::behaviour::sessions`.

use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};
use throng_engine::behaviour::sessions::{
    Analysis, Append, EventCounts, MAX_SESSION_EVENTS, Readiness, analyse, assemble, readiness,
};
use throng_engine::behaviour::signals::BehaviourData;
use throng_engine::clock::epoch_ms;
use throng_engine::spec::{FieldError, SpecErrors};

use super::App;
use crate::error::{CoordinatorError, Result};

/// A session as created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    pub created_ms: u64,
    /// What the session is of (a page, a site, a test's label); optional.
    pub site: String,
}

/// A session now: what it holds, whether it is ready, its latest analysis.
#[derive(Clone, Debug, Serialize)]
pub struct SessionStatus {
    #[serde(flatten)]
    pub info: SessionInfo,
    pub appends: usize,
    pub counts: EventCounts,
    pub readiness: Readiness,
    pub result: Option<Analysis>,
}

/// What an append did.
#[derive(Clone, Debug, Serialize)]
pub struct Appended {
    pub id: String,
    pub events_received: usize,
    pub counts: EventCounts,
    pub ready: bool,
}

pub struct BehaviourSessions<'a> {
    pub(crate) app: &'a App,
}

/// A new session id: 128 random bits, so an id is also the right to
/// append to its session (a page holds no token).
fn new_id() -> String {
    let mut bits = [0u64; 2];
    for (i, slot) in bits.iter_mut().enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(epoch_ms());
        hasher.write_usize(i);
        *slot = hasher.finish();
    }
    format!("bs-{:016x}{:016x}", bits[0], bits[1])
}

fn invalid(path: &str, message: impl Into<String>) -> CoordinatorError {
    CoordinatorError::InvalidFields(SpecErrors(vec![FieldError {
        path: path.into(),
        message: message.into(),
    }]))
}

impl BehaviourSessions<'_> {
    /// A new, empty session; `site` says what it is of. A client may name
    /// it with an id of its own making (`bs-` and 32 random hex digits: a
    /// page names its session before the answer comes, so a visitor who
    /// moves on at once keeps one session); creating it again answers the
    /// session as it is.
    pub async fn create(&self, site: &str, id: Option<&str>) -> Result<SessionInfo> {
        if site.len() > 200 {
            return Err(invalid("site", "must be at most 200 characters"));
        }
        if let Some(id) = id {
            let hex = id.strip_prefix("bs-").unwrap_or_default();
            if hex.len() != 32
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(invalid("id", "must be `bs-` and 32 random lowercase hex digits"));
            }
            if let Ok(existing) = self.info(id).await {
                return Ok(existing);
            }
        }
        let info = SessionInfo {
            id: id.map_or_else(new_id, str::to_string),
            created_ms: epoch_ms(),
            site: site.to_string(),
        };
        let json = serde_json::to_vec(&info).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        self.app
            .store
            .put(&self.app.keys.behaviour_session(&info.id), json, None)
            .await?;
        Ok(info)
    }

    async fn info(&self, id: &str) -> Result<SessionInfo> {
        let Some(kv) = self.app.store.get(&self.app.keys.behaviour_session(id)).await? else {
            return Err(CoordinatorError::NotFound(format!("behaviour session {id}")));
        };
        serde_json::from_slice(&kv.value)
            .map_err(|e| CoordinatorError::Internal(format!("behaviour session {id}: {e}")))
    }

    /// The session's appends, in the order they came.
    async fn parts(&self, id: &str) -> Result<Vec<Append>> {
        let chunks = self
            .app
            .store
            .list(&self.app.keys.behaviour_data_prefix(id))
            .await?;
        chunks
            .iter()
            .map(|kv| {
                serde_json::from_slice(&kv.value)
                    .map_err(|e| CoordinatorError::Internal(format!("behaviour data of {id}: {e}")))
            })
            .collect()
    }

    /// Appends behaviour data (JSON, every part optional); a bad one is
    /// refused whole with every problem at its path, and nothing is kept.
    pub async fn append(&self, id: &str, json: &str) -> Result<Appended> {
        self.info(id).await?;
        let append =
            Append::parse(json).map_err(|errors| CoordinatorError::InvalidFields(SpecErrors(errors)))?;
        let mut parts = self.parts(id).await?;
        let held: usize = parts.iter().map(Append::events).sum();
        if held + append.events() > MAX_SESSION_EVENTS {
            return Err(CoordinatorError::Conflict(format!(
                "behaviour session {id} holds {held} events and takes at most {MAX_SESSION_EVENTS}: analyse it, or start another"
            )));
        }
        // Chunks are named by arrival (time, then a random tail), so they
        // list in order and two appends at once never meet.
        let chunk = format!("{:013}-{}", epoch_ms(), &new_id()[3..11]);
        let value = serde_json::to_vec(&append).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        self.app
            .store
            .put(&self.app.keys.behaviour_data(id, &chunk), value, None)
            .await?;
        let events_received = append.events();
        parts.push(append);
        let data = assemble(&parts);
        Ok(Appended {
            id: id.to_string(),
            events_received,
            counts: EventCounts::of(&data),
            ready: readiness(&data).ready,
        })
    }

    async fn data(&self, id: &str) -> Result<(SessionInfo, usize, BehaviourData)> {
        let info = self.info(id).await?;
        let parts = self.parts(id).await?;
        Ok((info, parts.len(), assemble(&parts)))
    }

    /// What the session holds, whether it is ready, and its latest analysis.
    pub async fn status(&self, id: &str) -> Result<SessionStatus> {
        let (info, appends, data) = self.data(id).await?;
        let result = match self.app.store.get(&self.app.keys.behaviour_result(id)).await? {
            Some(kv) => serde_json::from_slice(&kv.value).ok(),
            None => None,
        };
        Ok(SessionStatus {
            info,
            appends,
            counts: EventCounts::of(&data),
            readiness: readiness(&data),
            result,
        })
    }

    pub async fn readiness(&self, id: &str) -> Result<Readiness> {
        let (_, _, data) = self.data(id).await?;
        Ok(readiness(&data))
    }

    /// Judges the session by the rules in force and stores the result.
    pub async fn analyse(&self, id: &str) -> Result<Analysis> {
        let (_, _, data) = self.data(id).await?;
        let analysis = analyse(&data, &self.app.behaviour_rules.rules(), epoch_ms());
        let json = serde_json::to_vec(&analysis).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        self.app
            .store
            .put(&self.app.keys.behaviour_result(id), json, None)
            .await?;
        Ok(analysis)
    }

    /// Every session, newest first, with its latest analysis.
    pub async fn list(&self) -> Result<Vec<(SessionInfo, Option<Analysis>)>> {
        let keys = &self.app.keys;
        let store = &self.app.store;
        let mut sessions: Vec<SessionInfo> = store
            .list(&keys.behaviour_sessions_prefix())
            .await?
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        sessions.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| a.id.cmp(&b.id)));
        // Every result in one read, by the key each session's would have.
        let mut results: std::collections::HashMap<String, Analysis> = store
            .list(&keys.behaviour_results_prefix())
            .await?
            .into_iter()
            .filter_map(|kv| Some((kv.key.clone(), serde_json::from_slice(&kv.value).ok()?)))
            .collect();
        Ok(sessions
            .into_iter()
            .map(|info| {
                let result = results.remove(&keys.behaviour_result(&info.id));
                (info, result)
            })
            .collect())
    }

    /// Removes the session, its data and its result.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.info(id).await?;
        let keys = &self.app.keys;
        self.app
            .store
            .delete_prefix(&keys.behaviour_data_prefix(id))
            .await?;
        self.app.store.delete(&keys.behaviour_result(id)).await?;
        self.app.store.delete(&keys.behaviour_session(id)).await?;
        Ok(())
    }
}
