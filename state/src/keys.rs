//! The whole key schema of a Throng cluster, in one place.
//!
//! Every key lives under `/throng/<cluster>`:
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `/agents/<agent>` | agent registration (JSON: address, capacity) | leased by the agent |
//! | `/leader` | id and address of the leading coordinator | leased by the leader |
//! | `/campaigns/<campaign>/spec` | normalised campaign spec (JSON) | until deleted |
//! | `/campaigns/<campaign>/status` | campaign state (JSON) | written by the leader |
//! | `/assignments/<agent>/<shard>` | shard assignment with its fencing epoch (JSON) | written by the leader |
//! | `/checkpoints/<shard>` | shard progress watermark (JSON) | written by the shard's owner, fenced |
//! | `/library/<kind>/<name>/<version>` | one version of a persona, journey or site (JSON) | until the item is deleted |
//!
//!
//! The bot detector's sessions live beside the cluster's root, under
//! `/throng-behaviour/<cluster>`, so the cluster view's watch of the root
//! does not carry their behaviour data:
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `/sessions/<id>` | the session (JSON: created, site) | until deleted |
//! | `/data/<id>/<chunk>` | one append of behaviour data (JSON) | until the session is deleted |
//! | `/results/<id>` | its latest analysis (JSON) | until the session is deleted |
//!
//! A shard id is `<campaign>:<index>`; campaign ids never contain `/` or `:`. The Rust type
//! of each value is named in `throng_engine::records`.

/// Typed keys of one cluster.
#[derive(Clone, Debug)]
pub struct Keys {
    root: String,
}

impl Keys {
    /// Keys of cluster `cluster` under the standard `/throng/` root.
    pub fn new(cluster: &str) -> Self {
        Keys {
            root: format!("/throng/{cluster}"),
        }
    }

    /// The cluster's root prefix, e.g. `/throng/default`.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn agents_prefix(&self) -> String {
        format!("{}/agents/", self.root)
    }

    pub fn agent(&self, agent_id: &str) -> String {
        format!("{}/agents/{agent_id}", self.root)
    }

    pub fn leader(&self) -> String {
        format!("{}/leader", self.root)
    }

    pub fn campaigns_prefix(&self) -> String {
        format!("{}/campaigns/", self.root)
    }

    pub fn campaign_spec(&self, campaign_id: &str) -> String {
        format!("{}/campaigns/{campaign_id}/spec", self.root)
    }

    pub fn campaign_status(&self, campaign_id: &str) -> String {
        format!("{}/campaigns/{campaign_id}/status", self.root)
    }

    pub fn assignments_prefix(&self) -> String {
        format!("{}/assignments/", self.root)
    }

    pub fn assignments_of(&self, agent_id: &str) -> String {
        format!("{}/assignments/{agent_id}/", self.root)
    }

    pub fn assignment(&self, agent_id: &str, shard_id: &str) -> String {
        format!("{}/assignments/{agent_id}/{shard_id}", self.root)
    }

    pub fn checkpoints_prefix(&self) -> String {
        format!("{}/checkpoints/", self.root)
    }

    pub fn checkpoint(&self, shard_id: &str) -> String {
        format!("{}/checkpoints/{shard_id}", self.root)
    }

    /// Every library item of every kind.
    pub fn library_prefix(&self) -> String {
        format!("{}/library/", self.root)
    }

    /// Every version of one library item.
    pub fn library_item(&self, kind: &str, name: &str) -> String {
        format!("{}/library/{kind}/{name}/", self.root)
    }

    /// One version of a library item; zero-padded so versions list in order.
    pub fn library_version(&self, kind: &str, name: &str, version: u32) -> String {
        format!("{}/library/{kind}/{name}/{version:010}", self.root)
    }

    /// The root of the bot detector's sessions (beside the cluster's root).
    fn behaviour_root(&self) -> String {
        self.root.replacen("/throng/", "/throng-behaviour/", 1)
    }

    pub fn behaviour_sessions_prefix(&self) -> String {
        format!("{}/sessions/", self.behaviour_root())
    }

    pub fn behaviour_session(&self, id: &str) -> String {
        format!("{}/sessions/{id}", self.behaviour_root())
    }

    /// Every append of one session; chunks list in the order they came.
    pub fn behaviour_data_prefix(&self, id: &str) -> String {
        format!("{}/data/{id}/", self.behaviour_root())
    }

    pub fn behaviour_data(&self, id: &str, chunk: &str) -> String {
        format!("{}/data/{id}/{chunk}", self.behaviour_root())
    }

    pub fn behaviour_results_prefix(&self) -> String {
        format!("{}/results/", self.behaviour_root())
    }

    pub fn behaviour_result(&self, id: &str) -> String {
        format!("{}/results/{id}", self.behaviour_root())
    }

    /// Splits an assignment key back into (agent, shard).
    pub fn parse_assignment<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str)> {
        let rest = key.strip_prefix(&self.assignments_prefix())?;
        rest.split_once('/')
    }

    /// The campaign id of a `/campaigns/<id>/...` key.
    pub fn parse_campaign<'k>(&self, key: &'k str) -> Option<&'k str> {
        let rest = key.strip_prefix(&self.campaigns_prefix())?;
        rest.split('/').next()
    }
}

/// The id of shard `index` of `campaign_id`.
pub fn shard_id(campaign_id: &str, index: u32) -> String {
    format!("{campaign_id}:{index:05}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_keys_round_trip() {
        let keys = Keys::new("c1");
        let key = keys.assignment("agent-1", &shard_id("camp", 3));
        assert_eq!(key, "/throng/c1/assignments/agent-1/camp:00003");
        assert_eq!(keys.parse_assignment(&key), Some(("agent-1", "camp:00003")));
        assert_eq!(keys.parse_campaign(&keys.campaign_status("camp")), Some("camp"));
        assert_eq!(keys.behaviour_session("b1"), "/throng-behaviour/c1/sessions/b1");
        assert!(
            !keys
                .behaviour_data("b1", "0")
                .starts_with(&format!("{}/", keys.root())),
            "outside the watched root"
        );
    }
}
