//! `GetAnalytics`: campaign analytics from the telemetry store the
//! coordinator was given (ClickHouse, or the embedded store of `throng up`),
//! one report per campaign so several compare side by side.

use std::sync::Arc;

use crate::error::CoordinatorError;
use throng_engine::analytics::errors::ErrorReport;
use throng_engine::analytics::{
    AnalyticsError, AnalyticsSource, CampaignAnalytics, Digest, Dimension, Query,
};
use throng_proto::v1;

use crate::answers::StoredAnswers;
use crate::campaign::Campaign;

/// The most campaigns one request compares.
const MAX_CAMPAIGNS: usize = 20;
/// The finest time series resolution.
const MIN_RESOLUTION_MS: u64 = 1_000;

/// What a request asks, checked: every problem at once.
pub fn parse(request: &v1::AnalyticsRequest) -> Result<Query, CoordinatorError> {
    let mut problems = Vec::new();
    if request.campaign_ids.is_empty() {
        problems.push("campaign_ids: give at least one campaign".to_string());
    }
    if request.campaign_ids.len() > MAX_CAMPAIGNS {
        problems.push(format!(
            "campaign_ids: at most {MAX_CAMPAIGNS} campaigns at once, got {}",
            request.campaign_ids.len()
        ));
    }
    let by = match request.by.as_str() {
        "" => None,
        name => Dimension::parse(name).or_else(|| {
            problems.push(format!("by: unknown `{name}`; use {}", Dimension::NAMES));
            None
        }),
    };
    if request.resolution_ms != 0 && request.resolution_ms < MIN_RESOLUTION_MS {
        problems.push(format!(
            "resolution_ms: at least {MIN_RESOLUTION_MS} (one second), got {}",
            request.resolution_ms
        ));
    }
    if !problems.is_empty() {
        return Err(CoordinatorError::Invalid(problems.join("; ")));
    }
    Ok(Query {
        by,
        resolution_ms: request.resolution_ms,
        target_labels: Vec::new(),
    })
}

/// How current an answer about a running campaign must be (one that has
/// ended is always read from its rows as they are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Currency {
    /// The last answer at once, brought up to date in the background: for
    /// pages and scripts that ask again within seconds.
    AtOnce,
    /// Read from the rows as they are now: for a report, made once and
    /// kept as a file.
    AsOfNow,
}

impl Currency {
    /// Whether a kept answer may be given at once for `campaign`.
    fn at_once(self, campaign: &Campaign) -> bool {
        self == Currency::AtOnce && campaign.status.state.is_active()
    }
}

/// The report of one traffic campaign, from its store's rows as they are
/// (see [`crate::answers`] for when they are read again).
pub async fn report(
    source: &Arc<dyn AnalyticsSource>,
    answers: &StoredAnswers,
    campaign: &Campaign,
    query: &Query,
    currency: Currency,
) -> Result<CampaignAnalytics, CoordinatorError> {
    let Some(spec) = campaign.spec() else {
        return Err(CoordinatorError::Conflict(format!(
            "{} is a stream run; its history is `throng stream history --run {}`",
            campaign.id, campaign.id
        )));
    };
    let labels: Vec<String> = spec.targets.iter().map(|t| t.url.clone()).collect();
    let version = source.version(&campaign.id).await.map_err(store_error)?;
    let key = format!("{}/{}/{}", campaign.id, query.resolution_ms, labels.join(" "));
    let (source, id, resolution_ms) = (source.clone(), campaign.id.clone(), query.resolution_ms);
    let digest = answers
        .digests
        .get(key, version, currency.at_once(campaign), move || async move {
            let tallies = source.tallies(&id, resolution_ms).await?;
            Ok(Digest::of(&tallies, resolution_ms, &labels))
        })
        .await
        .map_err(store_error)?;
    Ok(digest.answer(&campaign.id, &spec.name, query.by))
}

/// A traffic campaign's failed requests, grouped by class and message.
pub async fn errors(
    source: &Arc<dyn AnalyticsSource>,
    answers: &StoredAnswers,
    campaign: &Campaign,
    currency: Currency,
) -> Result<ErrorReport, CoordinatorError> {
    if campaign.spec().is_none() {
        return Err(CoordinatorError::Conflict(format!(
            "{} is a stream run: it sends no requests",
            campaign.id
        )));
    }
    let version = source.version(&campaign.id).await.map_err(store_error)?;
    let (source, id) = (source.clone(), campaign.id.clone());
    let report = answers
        .errors
        .get(
            campaign.id.clone(),
            version,
            currency.at_once(campaign),
            move || async move { source.errors(&id).await },
        )
        .await
        .map_err(store_error)?;
    Ok(ErrorReport::clone(&report))
}

/// What a store's failure tells a caller.
pub fn store_error(e: AnalyticsError) -> CoordinatorError {
    match e {
        AnalyticsError::Unavailable { .. } => CoordinatorError::Unavailable(e.to_string()),
        AnalyticsError::NotKept { .. } => CoordinatorError::Conflict(e.to_string()),
    }
}

pub fn errors_to_wire(campaign_id: &str, report: &ErrorReport) -> v1::CampaignErrors {
    v1::CampaignErrors {
        campaign_id: campaign_id.to_string(),
        groups: report
            .groups
            .iter()
            .map(|g| v1::ErrorGroup {
                class: g.class.clone(),
                message: g.message.clone(),
                requests: g.requests,
                first_ms: g.first_ms,
                last_ms: g.last_ms,
                example_path: g.example_path.clone(),
                example_status: u32::from(g.example_status),
                example_excerpt: g.example_excerpt.clone(),
            })
            .collect(),
        other_requests: report.other_requests,
        failed_requests: report.failed_requests,
    }
}
