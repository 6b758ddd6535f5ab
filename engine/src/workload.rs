//! What a shard runs: a traffic campaign or a stream run. Both are submitted
//! as documents, stored, placed, fenced and checkpointed the same way; the
//! document's `kind` tells them apart (`streams`, or a campaign).

use std::sync::Arc;

use serde_json::Value;

use crate::spec::{CampaignSpec, SpecErrors, ValidationContext};
use crate::streams::StreamRunSpec;

#[derive(Clone, Debug)]
pub enum Workload {
    Campaign(Arc<CampaignSpec>),
    Streams(Arc<StreamRunSpec>),
}

impl Workload {
    /// Parses and validates a YAML or JSON document of either kind.
    pub fn parse(document: &str, context: &ValidationContext) -> Result<Workload, SpecErrors> {
        let value: Value = crate::spec::parse_document(document)?;
        Self::from_value(&value, context)
    }

    /// Validates an already-parsed document of either kind.
    pub fn from_value(value: &Value, context: &ValidationContext) -> Result<Workload, SpecErrors> {
        let value = value.clone();
        match value.get("kind").and_then(Value::as_str) {
            Some("streams") => Ok(Workload::Streams(Arc::new(StreamRunSpec::from_value(&value)?))),
            _ => Ok(Workload::Campaign(Arc::new(CampaignSpec::from_value(
                &value, context,
            )?))),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Workload::Campaign(spec) => &spec.name,
            Workload::Streams(run) => &run.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Campaign(_) => "campaign",
            Workload::Streams(_) => "streams",
        }
    }

    pub fn shard_count(&self) -> u32 {
        match self {
            Workload::Campaign(spec) => spec.load.shards,
            Workload::Streams(run) => run.shard_count(),
        }
    }

    pub fn campaign(&self) -> Option<&Arc<CampaignSpec>> {
        match self {
            Workload::Campaign(spec) => Some(spec),
            Workload::Streams(_) => None,
        }
    }

    /// The canonical document, secrets included: only for sending to agents.
    pub fn to_json(&self) -> String {
        match self {
            Workload::Campaign(spec) => spec.to_json(),
            Workload::Streams(run) => run.to_document().to_string(),
        }
    }

    /// The canonical document with secrets redacted, for showing.
    pub fn to_redacted_json(&self) -> String {
        match self {
            Workload::Campaign(spec) => spec.to_redacted_json(),
            Workload::Streams(run) => run.to_document().to_string(),
        }
    }
}
