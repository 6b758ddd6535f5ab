//! The crate layers of `docs/architecture.md`, enforced: each workspace
//! crate may depend (for building, not only for tests) on the crates listed
//! here and no others, and no shipped crate builds on the test kit. A new
//! edge between crates is a design change: make it here and in the docs.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each crate and the workspace crates it may build on.
const LAYERS: &[(&str, &[&str])] = &[
    ("throng-proto", &[]),
    ("throng-state", &[]),
    ("throng-engine", &["throng-state"]),
    ("throng-browser", &["throng-engine"]),
    ("throng-delivery", &["throng-engine"]),
    ("throng-node", &["throng-engine"]),
    (
        "throng-agent-api",
        &["throng-engine", "throng-node", "throng-proto"],
    ),
    (
        "throng-agent",
        &[
            "throng-engine",
            "throng-agent-api",
            "throng-node",
            "throng-proto",
            "throng-state",
        ],
    ),
    (
        "throng-coordinator",
        &[
            "throng-engine",
            "throng-agent-api",
            "throng-node",
            "throng-proto",
            "throng-state",
        ],
    ),
    (
        "throng-ops",
        &[
            "throng-engine",
            "throng-agent",
            "throng-browser",
            "throng-coordinator",
            "throng-delivery",
            "throng-node",
            "throng-proto",
            "throng-state",
        ],
    ),
    ("throng-testkit", &[]),
    // Not shipped: benchmarks and fuzzing may reach anything, the kit included.
    (
        "throng-benches",
        &[
            "throng-engine",
            "throng-agent",
            "throng-browser",
            "throng-coordinator",
            "throng-delivery",
            "throng-proto",
            "throng-state",
            "throng-testkit",
        ],
    ),
    ("throng-fuzz", &["throng-engine"]),
];

/// Each workspace crate's build dependencies on other workspace crates.
fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let members: BTreeSet<String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let edges = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                // `kind` is null for normal dependencies, "build" for build scripts.
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().expect("name").to_string())
                .filter(|name| members.contains(name))
                .collect();
            (package["name"].as_str().expect("name").to_string(), edges)
        })
        .collect()
}

#[test]
fn every_crate_builds_only_on_the_layers_below_it() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(name, below)| (*name, below.iter().copied().collect()))
        .collect();
    let edges = workspace_edges();
    let mut problems = Vec::new();
    for (name, depends_on) in &edges {
        let Some(may) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "{name} is not in the layer table: add it with what it may use"
            ));
            continue;
        };
        for dependency in depends_on {
            if !may.contains(dependency.as_str()) {
                problems.push(format!("{name} must not depend on {dependency}"));
            }
        }
    }
    for name in allowed.keys() {
        if !edges.contains_key(*name) {
            problems.push(format!("{name} is in the layer table but not in the workspace"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn coordinator_and_agent_meet_only_through_the_agent_api() {
    let edges = workspace_edges();
    assert!(!edges["throng-coordinator"].contains("throng-agent"));
    assert!(!edges["throng-agent"].contains("throng-coordinator"));
    assert!(edges["throng-coordinator"].contains("throng-agent-api"));
    assert!(edges["throng-agent"].contains("throng-agent-api"));
    // The engine knows no wire types and no node concerns.
    for below in ["throng-proto", "throng-node", "throng-agent-api"] {
        assert!(
            !edges["throng-engine"].contains(below),
            "the engine depends on {below}"
        );
    }
}
