//! Fuzz harnesses. Each takes arbitrary bytes, feeds them to one of the
//! places where outside input enters Throng, and panics only if a promise
//! is broken: a parser that panics, an error without a field path, an
//! encoder whose output does not decode back to what it was given.
//!
//! The same functions run under libFuzzer (`fuzz/targets`, `cargo fuzz`)
//! and, on a stable toolchain, over the seed corpus and its mutations
//! (`tests/corpus.rs`), so CI checks them either way.

use serde_json::Value;
use throng_engine::behaviour::score::score;
use throng_engine::behaviour::signals::BehaviourData;
use throng_engine::campaign::plan::CampaignPlan;
use throng_engine::campaign::session::SessionPlan;
use throng_engine::campaign::traffic::ga4::Ga4Visit;
use throng_engine::campaign::traffic::matomo::{MatomoSettings, MatomoVisit, bulk_body};
use throng_engine::campaign::traffic::visit::query_string;
use throng_engine::spec::{CampaignSpec, SpecErrors, ValidationContext};
use throng_engine::streams::catalog::Catalog;
use throng_engine::streams::pattern::StreamPattern;
use throng_engine::streams::subscription::ResumeToken;
use throng_engine::workload::Workload;

/// A harness: panics only when a promise is broken.
pub type Harness = fn(&[u8]);

/// The targets, by name: the names of `fuzz/targets/fuzz_targets/*.rs` and
/// of the lines of `fuzz/seeds.txt`.
pub const TARGETS: &[(&str, Harness)] = &[
    ("workload", workload),
    ("catalog", catalog),
    ("subscription", subscription),
    ("matomo", matomo),
    ("ga4", ga4),
    ("behaviour", behaviour),
];

/// Sessions of a fuzzed campaign that are planned and encoded.
const SESSIONS: u64 = 3;
/// When the encoded visits start (epoch ms); their steps follow a second apart.
const VISIT_START_MS: u64 = 1_700_000_000_000;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Every rejection names at least one problem, each with a message.
fn assert_explained(errors: &SpecErrors) {
    assert!(!errors.0.is_empty(), "a rejection without a problem");
    for error in &errors.0 {
        assert!(
            !error.message.is_empty(),
            "a problem without a message: {error:?}"
        );
    }
}

/// Campaign specs and stream runs, as submitted: parsed and validated, and
/// a valid campaign planned (its shards and first sessions).
pub fn workload(data: &[u8]) {
    let Some(document) = text(data) else { return };
    match Workload::parse(document, &ValidationContext::default()) {
        Ok(Workload::Campaign(spec)) => {
            plan_sessions(&spec);
        }
        Ok(Workload::Streams(_)) => {}
        Err(errors) => assert_explained(&errors),
    }
}

fn plan_sessions(spec: &CampaignSpec) -> Vec<SessionPlan> {
    let plan = CampaignPlan::of(spec);
    assert!(plan.shards >= 1, "a campaign without shards");
    let shard = plan.shard(0);
    let _ = plan.expected_duration();
    (0..shard.sessions().min(SESSIONS))
        .map(|seq| SessionPlan::new(spec, 0, seq))
        .collect()
}

/// Stream catalogs with their scenario definitions.
pub fn catalog(data: &[u8]) {
    let Some(document) = text(data) else { return };
    match Catalog::parse(document) {
        Ok(catalog) => {
            let all = StreamPattern::parse("*", &catalog).expect("`*` is a pattern of any catalog");
            let selected = throng_engine::streams::pattern::select(&catalog, &[all]);
            assert_eq!(selected.len(), catalog.streams.len(), "`*` selects every stream");
        }
        Err(errors) => assert_explained(&errors),
    }
}

/// A subscription's patterns (first line, comma-separated, against the
/// built-in catalog) and resume token (second line): the token decodes
/// only to what encodes back to an equal token.
pub fn subscription(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let (patterns, token) = input.split_once('\n').unwrap_or((input, ""));
    let catalog = Catalog::builtin_shared();
    for pattern in patterns.split(',') {
        if let Err(message) = StreamPattern::parse(pattern, &catalog) {
            assert!(!message.is_empty(), "a pattern refused without a reason");
        }
    }
    if let Ok(decoded) = ResumeToken::decode(token) {
        assert_eq!(
            ResumeToken::decode(&decoded.encode()),
            Ok(decoded),
            "token {token:?}"
        );
    }
    // Any position encodes to a token that decodes to it.
    let mut bytes = [0u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(data) {
        *slot = *byte;
    }
    let position = ResumeToken {
        at_ms: i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        id: u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes")),
    };
    assert_eq!(ResumeToken::decode(&position.encode()), Ok(position));
}

/// Percent-decodes one side of `key=value`.
fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII escape");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits after %"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn campaign(data: &[u8]) -> Option<CampaignSpec> {
    CampaignSpec::parse(text(data)?, &ValidationContext::default()).ok()
}

/// Matomo tracking hits of a fuzzed campaign's sessions: every hit's query
/// string decodes back to its parameters, and a bulk body is JSON.
pub fn matomo(data: &[u8]) {
    let Some(spec) = campaign(data) else { return };
    let settings = MatomoSettings {
        site_id: 1,
        authenticated: false,
    };
    for plan in plan_sessions(&spec) {
        let visit = plan.visit_context(&spec, VISIT_START_MS);
        let mut tracker = MatomoVisit::new(&settings, &visit);
        let mut all = Vec::new();
        for (index, step) in plan.steps.iter().enumerate() {
            for hit in tracker.hits(step, VISIT_START_MS + index as u64 * 1_000) {
                let query = query_string(&hit);
                let decoded: Vec<(Vec<u8>, Vec<u8>)> = query
                    .split('&')
                    .map(|pair| {
                        let (key, value) = pair.split_once('=').expect("key=value");
                        (decode(key), decode(value))
                    })
                    .collect();
                let expected: Vec<(Vec<u8>, Vec<u8>)> = hit
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect();
                assert_eq!(decoded, expected, "query {query}");
                all.push(hit);
            }
        }
        let body: Value = serde_json::from_str(&bulk_body(&all, Some("token"))).expect("bulk body is JSON");
        assert_eq!(body["requests"].as_array().map(Vec::len), Some(all.len()));
    }
}

/// GA4 Measurement Protocol payloads of a fuzzed campaign's sessions: each
/// is JSON that reads back as itself.
pub fn ga4(data: &[u8]) {
    let Some(spec) = campaign(data) else { return };
    for plan in plan_sessions(&spec) {
        let visit = plan.visit_context(&spec, VISIT_START_MS);
        let mut tracker = Ga4Visit::new(&visit);
        for (index, step) in plan.steps.iter().enumerate() {
            let payload = tracker.payload(step, VISIT_START_MS + index as u64 * 1_000);
            let written = serde_json::to_string(&payload).expect("payload serialises");
            let read: Value = serde_json::from_str(&written).expect("payload is JSON");
            assert!(same_json(&read, &payload), "{written} reads back as {read}");
            assert!(payload["client_id"].is_string(), "a client id: {payload}");
        }
    }
}

/// Whether two JSON values are the same, numbers within a part in 10^12
/// (a decimal with 17 digits may read back one unit in the last place off).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Behaviour data posted to the detector: whatever it holds, the verdict's
/// score and confidence are numbers between 0 and 1.
pub fn behaviour(data: &[u8]) {
    let Ok(data) = serde_json::from_slice::<BehaviourData>(data) else {
        return;
    };
    let verdict = score(&data);
    for (name, value) in [("score", verdict.score), ("confidence", verdict.confidence)] {
        assert!((0.0..=1.0).contains(&value), "{name} {value} for {data:?}");
    }
    serde_json::to_string(&verdict).expect("a verdict serialises");
}
