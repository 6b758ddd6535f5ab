//! Webhooks: batches POSTed as JSON, in order, each signed so the receiver
//! can tell it came from the run.
//!
//! The body is `{"run": …, "sink": …, "events": [event, …]}` with events
//! as every sink writes them. Headers:
//! - `X-Throng-Timestamp`: the Unix second the batch was sent;
//! - `X-Throng-Signature`: `sha256=` and the hex HMAC-SHA256, under the
//!   sink's secret, of `<timestamp>.<body>` (check it, and reject old
//!   timestamps, to refuse forgeries and replays);
//! - `X-Throng-Events`: how many events the batch holds.
//!
//! A 2xx answer takes the batch; 408, 429 and 5xx (or no answer) mean "not
//! now": the batch is tried again with backoff (spilled meanwhile); any
//! other answer refuses it (quarantined). A batch may come twice after an
//! outage or a failover: receivers drop events by `id`.

use std::time::Duration;

use http::HeaderName;
use ring::hmac;
use throng_engine::delivery::write_event_json;
use throng_engine::http::{HttpEngine, HttpRequest, RequestError};
use throng_engine::streams::sinks::SigningKey;
use throng_engine::telemetry::{StreamRecord, TelemetryError};

use crate::writer::{Destination, SendError};

const TIMEOUT: Duration = Duration::from_secs(15);
pub const SIGNATURE_HEADER: &str = "x-throng-signature";
pub const TIMESTAMP_HEADER: &str = "x-throng-timestamp";
pub const EVENTS_HEADER: &str = "x-throng-events";

pub struct WebhookDestination {
    client: HttpEngine,
    url: String,
    key: hmac::Key,
    /// The body's start: `{"run":…,"sink":…,"events":[`.
    preamble: String,
    batch: usize,
}

impl WebhookDestination {
    pub fn new(
        run_id: &str,
        sink: &str,
        url: &str,
        key: &SigningKey,
        batch: u32,
    ) -> Result<WebhookDestination, TelemetryError> {
        let secret = match key {
            SigningKey::Given(secret) => secret.expose().to_string(),
            SigningKey::Env(name) => std::env::var(name).map_err(|_| TelemetryError::Unavailable {
                endpoint: url.to_string(),
                reason: format!("the signing key's environment variable {name} is not set on this agent"),
            })?,
        };
        let preamble = format!(
            "{{\"run\":{},\"sink\":{},\"events\":[",
            serde_json::Value::from(run_id),
            serde_json::Value::from(sink)
        );
        Ok(WebhookDestination {
            client: HttpEngine::new(),
            url: url.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            preamble,
            batch: batch as usize,
        })
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(key: &hmac::Key, timestamp: u64, body: &[u8]) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[async_trait::async_trait]
impl Destination for WebhookDestination {
    async fn send(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        let mut body = String::with_capacity(self.preamble.len() + batch.len() * 400);
        body.push_str(&self.preamble);
        for (i, record) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            write_event_json(&mut body, record);
        }
        body.push_str("]}");
        let timestamp = jiff::Timestamp::now().as_second().max(0) as u64;
        let request = HttpRequest::post(&self.url, "application/json", body.clone())
            .header(
                HeaderName::from_static(SIGNATURE_HEADER),
                signature(&self.key, timestamp, body.as_bytes()),
            )
            .header(HeaderName::from_static(TIMESTAMP_HEADER), timestamp.to_string())
            .header(HeaderName::from_static(EVENTS_HEADER), batch.len().to_string());
        match self.client.send(request, TIMEOUT).await {
            Ok(answer) if (200..300).contains(&answer.status) => Ok(()),
            Ok(answer) if matches!(answer.status, 408 | 429) || answer.status >= 500 => {
                Err(SendError::Unavailable(format!("answered {}", answer.status)))
            }
            Ok(answer) => {
                let excerpt = answer
                    .body
                    .map(|b| String::from_utf8_lossy(&b).chars().take(200).collect::<String>())
                    .unwrap_or_default();
                Err(SendError::Rejected(format!(
                    "answered {}: {excerpt}",
                    answer.status
                )))
            }
            Err(RequestError::InvalidUrl(url)) => Err(SendError::Rejected(format!("invalid url {url}"))),
            Err(error) => Err(SendError::Unavailable(error.to_string())),
        }
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn describe(&self) -> String {
        format!("webhook {}", self.url)
    }
}
