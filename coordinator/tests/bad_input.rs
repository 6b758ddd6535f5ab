//! The bad-input corpus (`testdata/bad-input/`): every invalid document
//! there is refused with the errors its `# expect:` lines name, by the same
//! validation `CreateCampaign`, `ValidateCampaign` and `ScoreBehaviour` use.

use std::path::PathBuf;

use throng_actors::spec::ValidationContext;
use throng_actors::workload::Workload;
use throng_coordinator::service::score_behaviour_json;

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

#[test]
fn every_bad_document_is_refused_with_its_errors() {
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
            let expect = std::fs::read_to_string(path.with_extension("expect")).expect("a .expect beside it");
            match score_behaviour_json(&text) {
                Ok(_) => misses.push(format!("{name} was accepted")),
                Err(error) => {
                    for fragment in expected(&expect) {
                        if !error.contains(&fragment) {
                            misses.push(format!("{name}: `{fragment}` not in `{error}`"));
                        }
                    }
                }
            }
            cases += 1;
        } else if name.ends_with(".yaml") {
            let expectations = expected(&text);
            assert!(!expectations.is_empty(), "{name} expects nothing");
            let errors = match Workload::parse(&text, &ValidationContext::default()) {
                Ok(_) => {
                    misses.push(format!("{name} was accepted"));
                    continue;
                }
                Err(errors) => errors.0,
            };
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
            cases += 1;
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(cases >= 12, "only {cases} cases found");
}
