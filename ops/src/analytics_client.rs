//! `throng analytics`: campaign reports as tables (campaigns side by side),
//! JSON (the API's own array) or CSV (one row per total, group or time
//! bucket, for spreadsheets).

use throng_engine::analytics::{CampaignAnalytics, Detection, Summary};
use throng_proto::v1;

use crate::cli::{AnalyticsArgs, OutputFormat, ReportArgs};
use crate::client::{CliError, connect};

pub async fn analytics(endpoint: &str, output: OutputFormat, args: AnalyticsArgs) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    let request = v1::AnalyticsRequest {
        campaign_ids: args.campaigns,
        by: args.by.unwrap_or_default(),
        resolution_ms: args.every.map_or(0, |d| d.as_millis() as u64),
    };
    let answer = client.get_analytics(request).await?.into_inner();
    let reports: Vec<CampaignAnalytics> = serde_json::from_str(&answer.reports_json)
        .map_err(|e| CliError::Other(format!("the coordinator answered unreadable analytics: {e}")))?;
    match output {
        OutputFormat::Json => {
            let value: serde_json::Value = serde_json::from_str(&answer.reports_json).unwrap_or_default();
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        }
        OutputFormat::Csv => print!("{}", csv(&reports)),
        OutputFormat::Table => print!("{}", tables(&reports)),
    }
    Ok(())
}

/// `throng report`: writes the coordinator's report file and says where.
pub async fn report(endpoint: &str, output: OutputFormat, args: ReportArgs) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    let request = v1::ReportRequest {
        campaign_ids: args.campaigns,
    };
    let html = client.get_report(request).await?.into_inner().html;
    std::fs::write(&args.out, &html)
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", args.out.display())))?;
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"path": args.out.display().to_string(), "bytes": html.len()})
        ),
        _ => println!(
            "wrote {} ({} KiB); open it in any browser, no network needed",
            args.out.display(),
            html.len() / 1024
        ),
    }
    Ok(())
}

/// How a metric reads in a table.
type Show = fn(&Summary) -> String;

/// Each metric's name and how it reads in a table.
const METRICS: &[(&str, Show)] = &[
    ("sessions", |s| s.sessions.to_string()),
    ("failed sessions", |s| s.failed_sessions.to_string()),
    ("page views", |s| s.page_views.to_string()),
    ("pages/session", |s| format!("{:.2}", s.pages_per_session)),
    ("avg session", |s| format!("{:.1} s", s.avg_session_ms / 1000.0)),
    ("bounce rate", |s| percent(s.bounce_rate)),
    ("conversions", |s| s.conversions.to_string()),
    ("conversion rate", |s| percent(s.conversion_rate)),
    ("revenue", |s| format!("{:.2}", s.revenue)),
    ("requests", |s| s.requests.to_string()),
    ("error rate", |s| percent(s.error_rate)),
    ("p50", |s| format!("{:.1} ms", s.latency_ms.p50)),
    ("p90", |s| format!("{:.1} ms", s.latency_ms.p90)),
    ("p99", |s| format!("{:.1} ms", s.latency_ms.p99)),
    ("p99.9", |s| format!("{:.1} ms", s.latency_ms.p999)),
    ("late starts", |s| {
        let limited = if s.generator_limited {
            " GENERATOR-LIMITED"
        } else {
            ""
        };
        format!("{}{limited}", s.late_sessions)
    }),
];

/// "Human vs simulated", for campaigns that ran browser sessions.
const DETECTION_METRICS: &[(&str, Show)] = &[
    ("browser sessions", |s| {
        detection(s, |d| d.browser_sessions.to_string())
    }),
    ("retried sessions", |s| {
        detection(s, |d| d.retried_sessions.to_string())
    }),
    ("people judged human", |s| {
        detection(s, |d| {
            format!("{} of {}", percent(d.humans_judged_human), d.human_sessions)
        })
    }),
    ("bots judged bot", |s| {
        detection(s, |d| {
            format!("{} of {}", percent(d.bots_judged_bot), d.bot_sessions)
        })
    }),
];

fn detection(summary: &Summary, show: impl Fn(&Detection) -> String) -> String {
    summary.detection.as_ref().map_or_else(|| "-".to_string(), show)
}

/// The columns of group and series tables, narrower than the full list.
const ROW_METRICS: &[&str] = &[
    "sessions",
    "pages/session",
    "avg session",
    "bounce rate",
    "conversions",
    "revenue",
    "error rate",
    "p50",
    "p99",
];

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn metric(name: &str, summary: &Summary) -> String {
    METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(String::new, |(_, show)| show(summary))
}

fn time_text(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Rows of cells as aligned text, the first row a header.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 0 {
                    format!("{v:<w$}", w = widths[c])
                } else {
                    format!("{v:>w$}", w = widths[c])
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// Totals with the campaigns side by side, then each campaign's breakdown
/// and time series.
fn tables(reports: &[CampaignAnalytics]) -> String {
    let mut rows = vec![
        std::iter::once(String::new())
            .chain(reports.iter().map(|r| format!("{} ({})", r.name, r.campaign_id)))
            .collect::<Vec<_>>(),
    ];
    let browsers = reports.iter().any(|r| r.totals.detection.is_some());
    let detection = DETECTION_METRICS.iter().filter(|_| browsers);
    for (name, show) in METRICS.iter().chain(detection) {
        rows.push(
            std::iter::once(name.to_string())
                .chain(reports.iter().map(|r| show(&r.totals)))
                .collect(),
        );
    }
    let mut text = aligned(&rows);
    for report in reports.iter().filter(|r| r.totals.generator_limited) {
        text.push_str(&format!(
            "{} ({}) ran generator-limited: over 1% of its sessions started more than 250 ms late; the agents, not the target, limited it and its latencies include their delay\n",
            report.name, report.campaign_id
        ));
    }
    for report in reports {
        if let Some(live) = &report.live {
            text.push_str(&format!(
                "{} ({}) is running; live: sessions {} started, {} done, {} failed; requests {}, errors {}; p50 {:.1} ms, p99 {:.1} ms\n",
                report.name,
                report.campaign_id,
                live.sessions_started,
                live.sessions_completed,
                live.sessions_failed,
                live.requests,
                live.request_errors,
                live.p50_ms,
                live.p99_ms
            ));
        }
    }
    for report in reports {
        let sections = [
            report.by.map(|by| {
                let label = serde_json::to_value(by)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string));
                let label = label.unwrap_or_default();
                let keyed: Vec<(String, &Summary)> = report
                    .groups
                    .iter()
                    .map(|g| (g.key.clone(), &g.summary))
                    .collect();
                (format!("by {label}"), label, keyed)
            }),
            (!report.series.is_empty()).then(|| {
                let keyed: Vec<(String, &Summary)> = report
                    .series
                    .iter()
                    .map(|p| (time_text(p.start_ms), &p.summary))
                    .collect();
                (
                    format!(
                        "every {}",
                        humantime::format_duration(std::time::Duration::from_millis(report.resolution_ms))
                    ),
                    "from".to_string(),
                    keyed,
                )
            }),
        ];
        for (title, first, keyed) in sections.into_iter().flatten() {
            text.push_str(&format!("\n{} ({}) {title}\n", report.name, report.campaign_id));
            let mut rows = vec![
                std::iter::once(first)
                    .chain(ROW_METRICS.iter().map(|m| m.to_string()))
                    .collect::<Vec<_>>(),
            ];
            for (key, summary) in keyed {
                rows.push(
                    std::iter::once(key)
                        .chain(ROW_METRICS.iter().map(|m| metric(m, summary)))
                        .collect(),
                );
            }
            text.push_str(&aligned(&rows));
        }
    }
    text
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A detection figure, or an empty field for a campaign without browser sessions.
fn csv_detection(summary: &Summary, show: impl Fn(&Detection) -> String) -> String {
    summary.detection.as_ref().map_or_else(String::new, show)
}

/// One row per campaign total, group and time bucket, with every metric as
/// a plain number (rates as fractions, latencies in milliseconds).
fn csv(reports: &[CampaignAnalytics]) -> String {
    let mut text = String::from(
        "campaign_id,name,scope,key,sessions,failed_sessions,page_views,pages_per_session,avg_session_ms,\
         bounce_rate,conversions,conversion_rate,revenue,requests,error_rate,p50_ms,p90_ms,p99_ms,p999_ms,\
         browser_sessions,retried_sessions,humans_judged_human,bots_judged_bot\n",
    );
    for report in reports {
        let mut row = |scope: &str, key: &str, s: &Summary| {
            let fields = [
                csv_field(&report.campaign_id),
                csv_field(&report.name),
                scope.to_string(),
                csv_field(key),
                s.sessions.to_string(),
                s.failed_sessions.to_string(),
                s.page_views.to_string(),
                s.pages_per_session.to_string(),
                s.avg_session_ms.to_string(),
                s.bounce_rate.to_string(),
                s.conversions.to_string(),
                s.conversion_rate.to_string(),
                format!("{:.2}", s.revenue),
                s.requests.to_string(),
                s.error_rate.to_string(),
                s.latency_ms.p50.to_string(),
                s.latency_ms.p90.to_string(),
                s.latency_ms.p99.to_string(),
                s.latency_ms.p999.to_string(),
                csv_detection(s, |d| d.browser_sessions.to_string()),
                csv_detection(s, |d| d.retried_sessions.to_string()),
                csv_detection(s, |d| d.humans_judged_human.to_string()),
                csv_detection(s, |d| d.bots_judged_bot.to_string()),
            ];
            text.push_str(&fields.join(","));
            text.push('\n');
        };
        row("total", "", &report.totals);
        let by = report
            .by
            .and_then(|by| serde_json::to_value(by).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        for group in &report.groups {
            row(&by, &group.key, &group.summary);
        }
        for point in &report.series {
            row("series", &time_text(point.start_ms), &point.summary);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_engine::analytics::{Group, Point};

    fn report() -> CampaignAnalytics {
        let summary = Summary {
            sessions: 10,
            page_views: 25,
            pages_per_session: 2.5,
            revenue: 12.5,
            ..Summary::default()
        };
        CampaignAnalytics {
            campaign_id: "c1".into(),
            name: "shop, \"demo\"".into(),
            live: None,
            totals: summary.clone(),
            by: Some(throng_engine::analytics::Dimension::Persona),
            groups: vec![Group {
                key: "shopper".into(),
                summary: summary.clone(),
            }],
            resolution_ms: 60_000,
            series: vec![Point {
                start_ms: 0,
                active_sessions: 0.0,
                summary,
            }],
        }
    }

    #[test]
    fn csv_has_a_row_per_total_group_and_bucket_with_quoted_text() {
        let text = csv(&[report()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].starts_with("c1,\"shop, \"\"demo\"\"\",total,,10,0,25,2.5,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",persona,shopper,10,"), "{}", lines[2]);
        assert!(
            lines[3].contains(",series,1970-01-01T00:00:00Z,10,"),
            "{}",
            lines[3]
        );
        let columns = lines[0].split(',').count();
        assert_eq!(columns, 23);
        assert!(lines.iter().all(|l| l.split(',').count() >= columns), "{text}");
    }

    #[test]
    fn browser_campaigns_show_how_the_detector_judged_them() {
        let mut browsing = report();
        browsing.totals.detection = Some(Detection {
            browser_sessions: 40,
            retried_sessions: 2,
            human_sessions: 20,
            humans_judged_human: 0.95,
            bot_sessions: 20,
            bots_judged_bot: 1.0,
        });
        let text = tables(&[browsing.clone(), report()]);
        let row = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} row in {text}"))
                .to_string()
        };
        assert!(row("people judged human").contains("95.0 % of 20"), "{text}");
        assert!(
            row("bots judged bot").ends_with('-'),
            "the other campaign ran no browsers: {text}"
        );
        assert!(
            !tables(&[report()]).contains("judged"),
            "no browser rows without browsers"
        );
        let csv = csv(&[browsing]);
        assert!(
            csv.lines().nth(1).is_some_and(|l| l.ends_with(",40,2,0.95,1")),
            "{csv}"
        );
    }

    #[test]
    fn tables_put_campaigns_side_by_side() {
        let mut other = report();
        other.campaign_id = "c2".into();
        other.by = None;
        other.groups.clear();
        other.series.clear();
        let text = tables(&[report(), other]);
        let sessions = text
            .lines()
            .find(|l| l.starts_with("sessions"))
            .expect("sessions row");
        assert_eq!(
            sessions.split_whitespace().collect::<Vec<_>>(),
            ["sessions", "10", "10"]
        );
        assert!(text.contains("(c1) by persona"), "{text}");
        assert!(text.contains("(c1) every 1m"), "{text}");
    }
}
