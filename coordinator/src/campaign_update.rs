//! What an edited campaign spec may change, and when.
//!
//! A campaign that has not started takes any valid spec with its name: a
//! new revision replaces the old. Once it runs, its shards have planned
//! from the spec (who visits, when, what), so the only change that can
//! reach every agent at one plan instant is the open model's arrival rate,
//! which becomes a rate change like `set-rate`; every other changed field
//! is refused, each with its path. A finished campaign changes no more.

use serde_json::Value;
use throng_engine::spec::FieldError;

use crate::campaign::CampaignState;

/// What an accepted edit does.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Nothing differs.
    Unchanged,
    /// A campaign not yet started: the new spec replaces the old.
    Replace,
    /// A running or paused campaign: its arrival rate from now on.
    Rate(f64),
}

/// The paths of the fields that differ between two documents (objects are
/// compared field by field, anything else as a whole).
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    walk("", old, new, &mut paths);
    paths
}

fn walk(path: &str, old: &Value, new: &Value, paths: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(
                    &child,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    paths,
                );
            }
        }
        _ if old != new => paths.push(if path.is_empty() {
            "(document)".into()
        } else {
            path.to_string()
        }),
        _ => {}
    }
}

/// `new` with every `***` (how secrets are shown) that stands where `old`
/// has a text put back to that text, so a spec read back from the API and
/// edited keeps its secrets.
pub fn unredact(new: &Value, old: &Value) -> Value {
    match (new, old) {
        (Value::String(s), Value::String(secret)) if s == "***" => Value::String(secret.clone()),
        // A URL shown without its password.
        (Value::String(s), Value::String(url))
            if s != url && throng_engine::spec::redact_url_password(url) == s.as_str() =>
        {
            Value::String(url.clone())
        }
        (Value::Object(n), Value::Object(o)) => Value::Object(
            n.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        o.get(k).map_or_else(|| v.clone(), |ov| unredact(v, ov)),
                    )
                })
                .collect(),
        ),
        (Value::Array(n), Value::Array(o)) => Value::Array(
            n.iter()
                .enumerate()
                .map(|(i, v)| o.get(i).map_or_else(|| v.clone(), |ov| unredact(v, ov)))
                .collect(),
        ),
        _ => new.clone(),
    }
}

/// Whether a campaign in `state` whose stored document is `old` may take
/// `new`, and how; refused with every field that cannot change and why.
pub fn plan_edit(state: CampaignState, old: &Value, new: &Value) -> Result<Edit, Vec<FieldError>> {
    let changed = changed_paths(old, new);
    if changed.is_empty() {
        return Ok(Edit::Unchanged);
    }
    if changed.iter().any(|p| p == "name") {
        return Err(vec![FieldError {
            path: "name".into(),
            message: "a campaign keeps its name; clone it to run the spec under another".into(),
        }]);
    }
    match state {
        CampaignState::Created => Ok(Edit::Replace),
        CampaignState::Running | CampaignState::Paused => {
            let refused: Vec<FieldError> = changed
                .iter()
                .filter(|p| p.as_str() != "load.rate")
                .map(|p| FieldError {
                    path: p.clone(),
                    message: "cannot change while the campaign runs: its shards have planned from it \
                              (only load.rate changes live; stop and clone it for the rest)"
                        .into(),
                })
                .collect();
            if !refused.is_empty() {
                return Err(refused);
            }
            match new.pointer("/load/rate").and_then(Value::as_f64) {
                Some(rate) if old.pointer("/load/rate").is_some() => Ok(Edit::Rate(rate)),
                _ => Err(vec![FieldError {
                    path: "load.rate".into(),
                    message: "only a campaign started with a rate can change it live".into(),
                }]),
            }
        }
        CampaignState::Stopped | CampaignState::Completed => Err(vec![FieldError {
            path: "(document)".into(),
            message: format!(
                "the campaign is {}: clone it to run it again",
                format!("{state:?}").to_lowercase()
            ),
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(rate: f64, duration: &str) -> Value {
        json!({"name": "shop", "target": {"url": "http://127.0.0.1:1"}, "load": {"rate": rate, "duration": duration}})
    }

    #[test]
    fn only_the_rate_changes_while_a_campaign_runs() {
        let old = spec(10.0, "5m");
        assert_eq!(plan_edit(CampaignState::Running, &old, &old), Ok(Edit::Unchanged));
        assert_eq!(
            plan_edit(CampaignState::Paused, &old, &spec(25.0, "5m")),
            Ok(Edit::Rate(25.0))
        );
        let refused = plan_edit(CampaignState::Running, &old, &spec(25.0, "9m")).expect_err("duration");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].path, "load.duration");
        let mut more = spec(10.0, "5m");
        more["seed"] = json!(9);
        more["target"]["url"] = json!("http://127.0.0.1:2");
        let paths: Vec<String> = plan_edit(CampaignState::Running, &old, &more)
            .expect_err("refused")
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["seed", "target.url"]);
    }

    #[test]
    fn a_campaign_not_started_takes_any_spec_and_a_finished_one_none() {
        let old = spec(10.0, "5m");
        assert_eq!(
            plan_edit(CampaignState::Created, &old, &spec(3.0, "1h")),
            Ok(Edit::Replace)
        );
        let done = plan_edit(CampaignState::Completed, &old, &spec(3.0, "5m")).expect_err("finished");
        assert!(done[0].message.contains("clone"), "{done:?}");
        let mut renamed = old.clone();
        renamed["name"] = json!("other");
        assert_eq!(
            plan_edit(CampaignState::Created, &old, &renamed).expect_err("name")[0].path,
            "name"
        );
    }

    #[test]
    fn a_url_password_is_shown_as_stars_and_comes_back_from_the_stored_spec() {
        let old = json!({"sinks": [{"kind": "postgres", "url": "postgres://app:s3cret@db:5432/events"}]});
        let shown = throng_engine::spec::redact(&old);
        assert_eq!(shown["sinks"][0]["url"], "postgres://app:***@db:5432/events");
        assert_eq!(unredact(&shown, &old), old);
        let mut moved = shown.clone();
        moved["sinks"][0]["url"] = json!("postgres://app:***@other:5432/events");
        assert_eq!(
            unredact(&moved, &old)["sinks"][0]["url"],
            "postgres://app:***@other:5432/events",
            "a changed URL is not given the old password"
        );
    }

    #[test]
    fn secrets_shown_as_stars_come_back_from_the_stored_spec() {
        let old = json!({"targets": [{"url": "u", "token_auth": "tok"}], "name": "a"});
        let shown =
            json!({"targets": [{"url": "u", "token_auth": "***"}, {"token_auth": "***"}], "name": "a"});
        let back = unredact(&shown, &old);
        assert_eq!(back["targets"][0]["token_auth"], "tok");
        assert_eq!(
            back["targets"][1]["token_auth"], "***",
            "nothing stored there to restore"
        );
    }

    #[test]
    fn a_rate_cannot_appear_on_a_campaign_that_had_none() {
        let old = json!({"name": "shop", "load": {"per_day": 1000}});
        let new = json!({"name": "shop", "load": {"per_day": 1000, "rate": 5}});
        let refused = plan_edit(CampaignState::Running, &old, &new).expect_err("no rate before");
        assert_eq!(refused[0].path, "load.rate");
    }
}
