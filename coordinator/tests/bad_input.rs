//! The bad-input corpus (`testdata/bad-input/`): every invalid document
//! there is refused with the errors its `# expect:` lines name, by the same
//! validation `CreateCampaign`, `ValidateCampaign` and `ScoreBehaviour` use.

use std::path::PathBuf;

use serde_json::Value;
use throng_coordinator::app::SubscribeAsk;
use throng_coordinator::app::insight::score_behaviour_json;
use throng_engine::spec::{FieldError, ValidationContext};
use throng_engine::streams::{Catalog, StreamRunSpec};
use throng_engine::workload::Workload;
use throng_proto::v1;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/bad-input")
}

/// The `# expect: …` lines of a text.
fn expected(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

/// Checks `# expect: PATH: TEXT` lines against field errors.
fn check_fields(name: &str, text: &str, errors: &[FieldError], misses: &mut Vec<String>) {
    let expectations = expected(text);
    assert!(!expectations.is_empty(), "{name} expects nothing");
    for expectation in expectations {
        let (path, fragment) = expectation
            .split_once(": ")
            .unwrap_or_else(|| panic!("{name}: `# expect: PATH: TEXT`, not `{expectation}`"));
        if !errors
            .iter()
            .any(|e| e.path == path && e.message.contains(fragment))
        {
            misses.push(format!("{name}: no `{fragment}` at `{path}` among {errors:?}"));
        }
    }
}

/// Checks `# expect: TEXT` lines of the `.expect` file beside `path` against one error message.
fn check_message(name: &str, path: &std::path::Path, outcome: Result<(), String>, misses: &mut Vec<String>) {
    let expect = std::fs::read_to_string(path.with_extension("expect")).expect("a .expect beside it");
    let expectations = expected(&expect);
    assert!(!expectations.is_empty(), "{name} expects nothing");
    match outcome {
        Ok(()) => misses.push(format!("{name} was accepted")),
        Err(error) => {
            for fragment in expectations {
                if !error.contains(&fragment) {
                    misses.push(format!("{name}: `{fragment}` not in `{error}`"));
                }
            }
        }
    }
}

/// The stream run subscriptions are checked against: the built-in catalog.
fn builtin_run() -> StreamRunSpec {
    let document = "kind: streams\nname: bad-input\ncatalog: builtin\n";
    match Workload::parse(document, &ValidationContext::default()) {
        Ok(Workload::Streams(run)) => (*run).clone(),
        other => panic!("a stream run: {other:?}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A subscription request as JSON; `max_lag_seconds` may be a string, as
/// the HTTP API's `max_lag` query parameter is.
fn subscribe_request(json: &Value) -> SubscribeAsk {
    let lag = &json["max_lag_seconds"];
    SubscribeAsk {
        patterns: strings(&json["patterns"]),
        resume_token: json["resume_token"].as_str().unwrap_or_default().to_string(),
        max_lag_seconds: lag
            .as_f64()
            .or_else(|| lag.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_default(),
    }
}

#[test]
fn every_bad_document_is_refused_with_its_errors() {
    let run = builtin_run();
    let mut cases = 0;
    let mut misses = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("testdata/bad-input")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("readable");
        if name.ends_with(".behaviour.json") {
            check_message(
                &name,
                &path,
                score_behaviour_json(&text, &Default::default()).map(|_| ()),
                &mut misses,
            );
            cases += 1;
        } else if name.ends_with(".subscribe.json") {
            let json: Value = serde_json::from_str(&text).expect("JSON");
            let outcome =
                throng_coordinator::subscribe::parse_query(&run, &subscribe_request(&json)).map(|_| ());
            check_message(&name, &path, outcome, &mut misses);
            cases += 1;
        } else if name.ends_with(".analytics.json") {
            let json: Value = serde_json::from_str(&text).expect("JSON");
            let request = v1::AnalyticsRequest {
                campaign_ids: strings(&json["campaign_ids"]),
                by: json["by"].as_str().unwrap_or_default().to_string(),
                resolution_ms: json["resolution_ms"].as_u64().unwrap_or_default(),
            };
            let outcome = throng_coordinator::analytics::parse(&request)
                .map(|_| ())
                .map_err(|error| error.to_string());
            check_message(&name, &path, outcome, &mut misses);
            cases += 1;
        } else if name.ends_with(".rules.yaml") {
            match throng_engine::behaviour::rules::Rules::parse(&text) {
                Ok(_) => misses.push(format!("{name} was accepted")),
                Err(errors) => check_fields(&name, &text, &errors.0, &mut misses),
            }
            cases += 1;
        } else if name.ends_with(".append.json") {
            let expect = std::fs::read_to_string(path.with_extension("expect")).expect("its .expect file");
            match throng_engine::behaviour::sessions::Append::parse(&text) {
                Ok(_) => misses.push(format!("{name} was accepted")),
                Err(errors) => check_fields(&name, &expect, &errors, &mut misses),
            }
            cases += 1;
        } else if name.ends_with(".catalog.yaml") {
            match Catalog::parse(&text) {
                Ok(_) => misses.push(format!("{name} was accepted")),
                Err(errors) => check_fields(&name, &text, &errors.0, &mut misses),
            }
            cases += 1;
        } else if name.ends_with(".yaml") {
            match Workload::parse(&text, &ValidationContext::default()) {
                Ok(_) => misses.push(format!("{name} was accepted")),
                Err(errors) => check_fields(&name, &text, &errors.0, &mut misses),
            }
            cases += 1;
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(cases >= 17, "only {cases} cases found");
}
