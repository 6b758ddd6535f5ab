//! Where a process's diagnostics go: log lines to stderr, and, with an OTLP
//! endpoint, its spans to an OpenTelemetry collector over gRPC.
//!
//! Spans leave through a batch processor on its own thread with a bounded
//! queue: a collector that is slow or down costs dropped spans, never a
//! slower simulation.

use std::time::Duration;

use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What was set up; dropping it does nothing, `finish` flushes the spans.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Sends the spans still queued, waiting at most a few seconds.
    pub fn finish(self) {
        if let Some(provider) = self.provider {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(3));
        }
    }
}

/// Logs to stderr at `default` level (or `RUST_LOG`), and to the process's
/// ring (which `throng logs` and the console read) at `info` at least, so
/// a quiet terminal still leaves the console something to show; with
/// `otlp`, also exports spans
/// as `service` (e.g. `throng-coordinator`), including the traces of sampled
/// simulated sessions. Call inside the runtime.
pub fn init(default: &str, otlp: Option<(&str, &'static str)>) -> Tracing {
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(level_filter(default));
    let provider = otlp.and_then(|(endpoint, service)| match exporter(endpoint) {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_resource(Resource::builder_empty().with_service_name(service).build())
                .with_batch_exporter(exporter)
                .build(),
        ),
        Err(error) => {
            eprintln!("warning: no traces: the OTLP exporter for {endpoint} did not start: {error}");
            None
        }
    });
    if let Some(provider) = &provider {
        // Sampled simulated sessions reach the tracer through the global
        // provider (they are built far from this setup).
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("throng"))
            .with_filter(level_filter(default))
    });
    // Every line also goes to the process's ring, which `throng logs` reads.
    let ring = throng_node::log_ring::RingLayer::new(throng_node::log_ring::LogRing::global().clone())
        .with_filter(level_filter(least_info(default)));
    tracing_subscriber::registry()
        .with(logs)
        .with(ring)
        .with(spans)
        .init();
    Tracing { provider }
}

/// `RUST_LOG` if set, else `default`.
fn level_filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// `level`, or `info` when `level` is quieter than that.
fn least_info(level: &str) -> &str {
    match level {
        "error" | "warn" | "off" => "info",
        other => other,
    }
}

fn exporter(
    endpoint: &str,
) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(3))
        .build()
}
