//! Checking that a campaign's targets answer, with a diagnosis a person can
//! act on (refused, DNS, TLS, timeout, HTTP status), before any load is sent.

use std::time::{Duration, Instant};

use throng_engine::campaign::traffic::ga4;
use throng_engine::http::{HttpEngine, HttpRequest, RequestError};
use throng_engine::spec::{TargetKind, TargetSpec};
use throng_proto::v1;

const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

fn diagnose(error: &RequestError) -> String {
    let text = error.to_string().to_lowercase();
    match error {
        RequestError::Timeout => format!("no answer within {CHECK_TIMEOUT:?}"),
        _ if text.contains("refused") => "connection refused: nothing listens there".to_string(),
        _ if text.contains("dns") || text.contains("lookup") || text.contains("resolve") => {
            "DNS lookup failed: the host name does not resolve".to_string()
        }
        _ if text.contains("tls") || text.contains("certificate") || text.contains("handshake") => {
            format!("TLS failed: {error}")
        }
        _ => error.to_string(),
    }
}

/// What probing one target found.
#[derive(Clone, Debug)]
pub struct TargetCheck {
    pub url: String,
    pub kind: &'static str,
    pub ok: bool,
    /// "answered 204 in 2.1 ms", "connection refused", "DNS lookup failed"…
    pub diagnosis: String,
    /// The HTTP status (0: none came).
    pub status: u16,
    pub latency_ms: f64,
}

/// The checks of a spec's targets, and whether all answered.
pub fn to_wire(checks: &[TargetCheck]) -> v1::TestTargetResponse {
    v1::TestTargetResponse {
        targets: checks
            .iter()
            .map(|c| v1::TargetCheck {
                url: c.url.clone(),
                kind: c.kind.to_string(),
                ok: c.ok,
                diagnosis: c.diagnosis.clone(),
                status: u32::from(c.status),
                latency_ms: c.latency_ms,
            })
            .collect(),
        ok: checks.iter().all(|c| c.ok),
    }
}

/// Probes one target the way its kind is spoken, with the TLS trust and
/// protocol its sessions would use, without recording a visit.
pub async fn check(target: &TargetSpec) -> TargetCheck {
    let engine = HttpEngine::with_trust(&target.tls, target.http2);
    let request = match &target.kind {
        TargetKind::Http | TargetKind::Browser { .. } => HttpRequest::get(format!("{}/", target.url)),
        // Matomo answers its tracker URL without parameters with a short page.
        TargetKind::Matomo { .. } => HttpRequest::get(target.url.clone()),
        // An empty event list is valid and records nothing.
        TargetKind::Ga4 {
            measurement_id,
            api_secret,
            ..
        } => HttpRequest::post(
            ga4::collect_url(&target.url, measurement_id, api_secret.expose()),
            "application/json",
            r#"{"client_id":"throng.check","events":[]}"#,
        ),
    };
    let started = Instant::now();
    let result = engine.send(request, CHECK_TIMEOUT).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (ok, status, diagnosis) = match result {
        Ok(response) if response.status < 400 => (
            true,
            response.status,
            format!("answered {} in {latency_ms:.1} ms", response.status),
        ),
        Ok(response) => {
            let hint = match (response.status, &target.kind) {
                (404, TargetKind::Matomo { .. }) => "; is the URL the tracker endpoint (…/matomo.php)?",
                (404, TargetKind::Ga4 { .. }) => "; is the URL the collect endpoint (…/mp/collect)?",
                (401 | 403, _) => "; check credentials",
                _ => "",
            };
            (
                false,
                response.status,
                format!("answered HTTP {}{hint}", response.status),
            )
        }
        Err(error) => (false, 0, diagnose(&error)),
    };
    TargetCheck {
        url: target.url.clone(),
        kind: target.kind.name(),
        ok,
        diagnosis,
        status,
        latency_ms,
    }
}
