//! Shareable reports: campaigns' numbers, throughput and latency
//! percentiles over time, breakdown by persona and grouped errors in one
//! self-contained HTML file. The console's chart library and table builders
//! are inlined with the data, so the file opens anywhere with no network.

use serde_json::{Value, json};

use crate::dashboard::asset_text;

const TEMPLATE: &str = include_str!("dashboard/report.html");

/// The scripts a report carries, in the order they run.
const SCRIPTS: &[&str] = &[
    "uplot.js",
    "format.js",
    "charts.js",
    "tables.js",
    "exports.js",
    "report.js",
];

/// Bucket widths that show a run in about 150 points: a report's, and the
/// console's (it asks for `resolution_ms=auto`).
const STEPS_S: &[u64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400,
];

/// The bucket width, in ms, for a report over `span_ms`.
pub fn resolution_for(span_ms: u64) -> u64 {
    let span_s = span_ms.max(1000) / 1000;
    1000 * STEPS_S
        .iter()
        .copied()
        .find(|step| span_s / step <= 150)
        .unwrap_or(86_400)
}

/// What a report holds: each campaign (as the API shows it), its analytics
/// report by persona with a time series, its requests by name and its error
/// groups.
pub struct ReportData {
    pub generated_at_ms: u64,
    pub resolution_ms: u64,
    pub campaigns: Vec<Value>,
    pub analytics: Value,
    /// Each campaign's requests by name (analytics groups by `request`).
    pub requests: Vec<Value>,
    pub errors: Vec<Value>,
}

/// The report as one HTML document.
pub fn render(data: &ReportData) -> String {
    let names: Vec<&str> = data.campaigns.iter().filter_map(|c| c["name"].as_str()).collect();
    let title = format!("Throng report: {}", names.join(", "));
    let payload = json!({
        "generated_at_ms": data.generated_at_ms,
        "resolution_ms": data.resolution_ms,
        "campaigns": data.campaigns,
        "analytics": data.analytics,
        "requests": data.requests,
        "errors": data.errors,
    });
    let scripts: String = SCRIPTS
        .iter()
        .filter_map(|name| asset_text(name))
        .map(|text| format!("<script>{}</script>\n", inline_script(text)))
        .collect();
    TEMPLATE
        .replace("{{title}}", &html_escape(&title))
        .replace("/*{{uplot.css}}*/", asset_text("uplot.css").unwrap_or_default())
        .replace(
            "/*{{console.css}}*/",
            asset_text("console.css").unwrap_or_default(),
        )
        // JSON in a script element: `<` escaped so no text can close it.
        .replace("{{data}}", &payload.to_string().replace('<', "\\u003c"))
        .replace("{{scripts}}", &scripts)
}

/// Script text safe inside `<script>…</script>`.
fn inline_script(text: &str) -> String {
    text.replace("</script", "<\\/script")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_carries_its_scripts_and_data_and_nothing_from_elsewhere() {
        let data = ReportData {
            generated_at_ms: 1,
            resolution_ms: 1000,
            campaigns: vec![json!({"id": "shop-1", "name": "shop</script>"})],
            analytics: json!([]),
            requests: vec![],
            errors: vec![],
        };
        let html = render(&data);
        assert!(html.contains("Throng report: shop&lt;/script&gt;"));
        assert!(html.contains("\\u003c/script>"), "data cannot close its element");
        assert_eq!(html.matches("<script>").count(), SCRIPTS.len());
        assert!(html.contains("uPlot"));
        for remote in ["src=\"http", "href=\"http", "src=\"/", "href=\"/"] {
            assert!(!html.contains(remote), "nothing loaded from elsewhere: {remote}");
        }
    }

    #[test]
    fn buckets_show_a_run_in_about_150_points() {
        assert_eq!(resolution_for(0), 1000);
        assert_eq!(resolution_for(150_000), 1000);
        assert_eq!(resolution_for(151_000), 2000);
        assert_eq!(resolution_for(86_400_000), 600_000);
    }
}
