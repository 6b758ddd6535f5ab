//! The bot detector's rules as a node uses them: the defaults, or a rules
//! file (`--behaviour-rules FILE`, the same file on the coordinator and the
//! agents) read at start and read again whenever it changes, without a
//! restart. A file that no longer reads keeps the rules in force, and the
//! problem (every field path) is logged and shown by the coordinator's
//! `GET /api/v1/behaviour/rules`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::rules::Rules;
use crate::clock::epoch_ms;
use crate::spec::{FieldError, SpecErrors};

/// How often the rules file is looked at for a change.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The rules in force and where they came from.
#[derive(Clone, Debug, Serialize)]
pub struct RulesInForce {
    pub rules: Rules,
    /// The rules file (none: the defaults).
    pub source: Option<PathBuf>,
    /// Counts the readings that changed the rules (1: the first).
    pub version: u64,
    pub loaded_ms: u64,
    /// Why the file's latest change was not taken, field by field.
    pub rejected: Vec<String>,
}

/// Shared by whoever judges (the API, the browsers) and the file's watcher.
#[derive(Clone, Debug)]
pub struct BehaviourRules {
    current: Arc<RwLock<RulesInForce>>,
}

fn read(path: &Path) -> Result<Rules, SpecErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SpecErrors(vec![FieldError {
            path: "(document)".into(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    Rules::parse(&text)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Default for BehaviourRules {
    fn default() -> Self {
        BehaviourRules::defaults()
    }
}

impl BehaviourRules {
    /// The defaults.
    pub fn defaults() -> BehaviourRules {
        BehaviourRules {
            current: Arc::new(RwLock::new(RulesInForce {
                rules: Rules::default(),
                source: None,
                version: 1,
                loaded_ms: epoch_ms(),
                rejected: Vec::new(),
            })),
        }
    }

    /// The rules of `path`; a file that does not read is an error at start.
    pub fn from_file(path: &Path) -> Result<BehaviourRules, SpecErrors> {
        let rules = read(path)?;
        Ok(BehaviourRules {
            current: Arc::new(RwLock::new(RulesInForce {
                rules,
                source: Some(path.to_path_buf()),
                version: 1,
                loaded_ms: epoch_ms(),
                rejected: Vec::new(),
            })),
        })
    }

    pub fn current(&self) -> RulesInForce {
        self.current.read().expect("rules lock").clone()
    }

    pub fn rules(&self) -> Rules {
        self.current.read().expect("rules lock").rules.clone()
    }

    /// Reads the file again: new rules are taken, bad ones are recorded
    /// and leave the rules in force.
    pub fn reload(&self) {
        let Some(path) = self.current().source else {
            return;
        };
        let mut current = self.current.write().expect("rules lock");
        match read(&path) {
            Ok(rules) => {
                current.rejected.clear();
                if rules != current.rules {
                    current.rules = rules;
                    current.version += 1;
                    current.loaded_ms = epoch_ms();
                    tracing::info!(file = %path.display(), version = current.version, "behaviour rules reloaded");
                }
            }
            Err(errors) => {
                let rejected: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                if rejected != current.rejected {
                    tracing::error!(file = %path.display(), problems = %rejected.join("; "), "behaviour rules not reloaded; the previous rules stay");
                }
                current.rejected = rejected;
            }
        }
    }

    /// Until `stop` resolves: reloads the file whenever its modification
    /// time changes.
    pub async fn follow(self, stop: impl std::future::Future<Output = ()>) {
        let Some(path) = self.current().source else {
            return;
        };
        let mut seen = modified(&path);
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            let now = modified(&path);
            if now != seen {
                seen = now;
                self.reload();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_taken_and_a_bad_one_keeps_the_rules_in_force() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("rules.yaml");
        std::fs::write(&path, "risk: { high_from: 0.8 }\n").expect("write");
        let rules = BehaviourRules::from_file(&path).expect("valid");
        assert_eq!(rules.rules().risk.high_from, 0.8);
        std::fs::write(&path, "risk: { high_from: 0.75 }\n").expect("write");
        rules.reload();
        assert_eq!((rules.rules().risk.high_from, rules.current().version), (0.75, 2));
        std::fs::write(&path, "risk: { high_from: 0.1 }\nweights: { ears: 1 }\n").expect("write");
        rules.reload();
        let current = rules.current();
        assert_eq!(current.rules.risk.high_from, 0.75, "the rules in force stay");
        assert_eq!(current.version, 2);
        assert_eq!(current.rejected.len(), 2, "{:?}", current.rejected);
        assert!(current.rejected.iter().any(|e| e.starts_with("weights.ears")));
        assert!(BehaviourRules::from_file(&dir.path().join("none.yaml")).is_err());
    }
}
