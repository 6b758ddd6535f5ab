//! The web dashboard in real Chromium, driven by Playwright. Against a
//! `throng up` cluster: campaigns made from the form (library items, volume
//! presets, inline errors, an edit), a campaign's page against the API, its
//! sessions, compare, reports, streams and scenarios, the cluster and logs.
//! Against a cluster of real processes with tokens on (etcd, ClickHouse, a
//! coordinator, two agents): what the page shows against ClickHouse itself,
//! down to a browser visit's verdict and Web Vitals.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::up::Up;
use playwright_rs::{LaunchOptions, Page, Playwright, ScreenshotOptions, Viewport};
use throng_testkit::poll_until_explained;

async fn text(page: &Page, selector: &str) -> String {
    page.locator(selector)
        .text_content()
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// How many elements match `selector` now (0 when the page cannot say).
async fn count(page: &Page, selector: &str) -> usize {
    page.locator(selector).count().await.unwrap_or_default()
}

async fn attribute(page: &Page, selector: &str, name: &str) -> String {
    page.locator(selector)
        .get_attribute(name)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// What the page did, in order: requests sent, answered and failed, console
/// lines and script errors. A wait that times out prints its tail with the
/// cluster's log, so a failure says which call the page was waiting for.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn add(&self, line: String) {
        self.0.lock().expect("journal").push(line);
    }

    async fn follow(&self, page: &Page) {
        let journal = self.clone();
        page.on_request(move |r| {
            journal.add(format!("-> {} {}", r.method(), r.url()));
            async { Ok(()) }
        })
        .await
        .expect("request events");
        let journal = self.clone();
        page.on_request_finished(move |r| {
            journal.add(format!("<- {} {}", r.method(), r.url()));
            async { Ok(()) }
        })
        .await
        .expect("request-finished events");
        let journal = self.clone();
        page.on_request_failed(move |r| {
            journal.add(format!("!! {} {} failed", r.method(), r.url()));
            async { Ok(()) }
        })
        .await
        .expect("request-failed events");
        let journal = self.clone();
        page.on_console(move |m| {
            journal.add(format!("console.{}: {}", m.type_(), m.text()));
            async { Ok(()) }
        })
        .await
        .expect("console events");
        let journal = self.clone();
        page.on_pageerror(move |error| {
            journal.add(format!("script error: {error}"));
            async { Ok(()) }
        })
        .await
        .expect("page errors");
    }

    fn tail(&self, lines: usize) -> String {
        let all = self.0.lock().expect("journal");
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Where a screenshot goes: `THRONG_SCREENSHOTS` (the docs' images when
/// they are renewed) or the test's scratch directory.
fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("THRONG_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir.join(format!("{name}.png"))
}

/// The page under test with its journal and the log of the cluster behind
/// it.
struct Dashboard<'a> {
    page: Page,
    journal: Journal,
    cluster_log: Box<dyn Fn() -> String + 'a>,
}

/// Headless Chromium through the Playwright driver, with a page whose
/// journal is followed.
async fn open_chromium() -> (Playwright, playwright_rs::Browser, Page, Journal) {
    let playwright = Playwright::launch()
        .await
        .expect("the Playwright driver (run .ci/run to install it)");
    let options = LaunchOptions::new()
        .executable_path("/usr/bin/chromium".to_string())
        .headless(true)
        .args(vec![
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-background-networking".to_string(),
        ]);
    let browser = playwright
        .chromium()
        .launch_with_options(options)
        .await
        .expect("Chromium");
    let page = browser.new_page().await.expect("page");
    let journal = Journal::default();
    journal.follow(&page).await;
    (playwright, browser, page, journal)
}

impl Dashboard<'_> {
    /// Saves one element of the page as `NAME.png` (see `screenshot`).
    async fn screenshot_of(&self, selector: &str, name: &str) {
        let path = screenshot_path(name);
        self.page
            .locator(selector)
            .screenshot(None)
            .await
            .and_then(|png| {
                std::fs::write(&path, png).map_err(|e| playwright_rs::Error::ProtocolError(e.to_string()))
            })
            .expect("screenshot");
    }

    /// Saves the page as `NAME.png` in `THRONG_SCREENSHOTS` (the docs'
    /// images when they are renewed) or the test's scratch directory.
    async fn screenshot(&self, name: &str) {
        let options = ScreenshotOptions::builder().full_page(true).build();
        self.page
            .screenshot_to_file(&screenshot_path(name), options)
            .await
            .expect("screenshot");
    }

    /// Polls `check` until it holds; on timeout says what the page last did
    /// and what the cluster logged.
    async fn wait<T, F, Fut>(&self, timeout: Duration, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        poll_until_explained(timeout, what, check, || {
            let log = (self.cluster_log)();
            let log: Vec<&str> = log.lines().collect();
            format!(
                "the page's last actions:\n{}\nthe cluster's log (tail):\n{}",
                self.journal.tail(40),
                log[log.len().saturating_sub(60)..].join("\n")
            )
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_creates_watches_and_steers() {
    let up = Up::start(&["--no-browsers", "--demo-rate", "2"]);
    let (_playwright, browser, page, journal) = open_chromium().await;
    let dashboard = Dashboard {
        page,
        journal,
        cluster_log: Box::new(|| up.stderr()),
    };
    let (page, up) = (&dashboard.page, &up);
    // A library to build campaigns from, and a campaign created but not
    // started, to edit.
    let library = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/library");
    for (kind, file) in [("journey", "journeys"), ("persona", "personas"), ("site", "site")] {
        let out = up.client(&[kind, "apply", "-f", &format!("{library}/{file}.yaml")]);
        assert!(
            out.status.success(),
            "{kind} apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let draft = tempfile::NamedTempFile::new().expect("a spec file");
    std::fs::write(
        draft.path(),
        format!(
            "name: draft\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\"]\nload: {{ rate: 5, sessions: 10 }}\n",
            up.demo
        ),
    )
    .expect("write the spec");
    let out = up.client(&[
        "--output",
        "json",
        "campaign",
        "apply",
        "-f",
        &draft.path().display().to_string(),
    ]);
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("campaign JSON");
    let draft_id = created["id"].as_str().expect("an id").to_string();
    page.goto(&format!("http://{}/dashboard", up.http), None)
        .await
        .expect("the dashboard loads");
    dashboard
        .wait(
            Duration::from_secs(20),
            "the dashboard to load its data",
            || async { (attribute(page, "body", "data-ready").await == "true").then_some(()) },
        )
        .await;

    // A campaign from the library at a volume preset: the YAML beside the
    // form says so, and the server finds it valid at 1,000 visits a day.
    page.locator("#volume")
        .select_option("light", None)
        .await
        .expect("volume");
    page.locator("#library-personas")
        .select_option("bargain-hunter", None)
        .await
        .expect("persona");
    page.locator("#library-site")
        .select_option("demo-shop", None)
        .await
        .expect("site");
    let spec = page.locator("#spec").input_value(None).await.expect("the spec");
    for part in [
        "preset: light",
        "personas: [{ use: bargain-hunter }]",
        "site: { use: demo-shop }",
    ] {
        assert!(spec.contains(part), "{part} in {spec}");
    }
    page.locator("#validate").click(None).await.expect("validate");
    let status = dashboard
        .wait(
            Duration::from_secs(10),
            "the library campaign to validate",
            || async {
                let status = text(page, "#form-status").await;
                status.starts_with("valid").then_some(status)
            },
        )
        .await;
    assert!(
        status.contains("0.01157 sessions/s"),
        "1,000 a day is 0.0116 sessions/s: {status}"
    );
    dashboard.screenshot_of("#new-campaign", "campaign-form").await;
    // A persona the library lacks is named beside the personas.
    page.locator("#spec")
        .fill(&spec.replace("bargain-hunter", "nobody"), None)
        .await
        .expect("spec");
    page.locator("#validate").click(None).await.expect("validate");
    dashboard
        .wait(
            Duration::from_secs(10),
            "the unknown persona beside its field",
            || async {
                text(page, "#error-personas")
                    .await
                    .contains("nobody")
                    .then_some(())
            },
        )
        .await;
    page.locator("#volume")
        .select_option("", None)
        .await
        .expect("volume");
    let none: [&str; 0] = [];
    page.locator("#library-personas")
        .select_option_multiple(&none, None)
        .await
        .expect("no persona");
    page.locator("#library-site")
        .select_option("", None)
        .await
        .expect("no site");

    // The created campaign, edited in the form: a new revision.
    dashboard
        .wait(Duration::from_secs(10), "the draft in the list", || async {
            (count(
                page,
                &format!("tr[data-id=\"{draft_id}\"] .act[data-action=edit]"),
            )
            .await
                == 1)
                .then_some(())
        })
        .await;
    page.locator(format!("tr[data-id=\"{draft_id}\"] .act[data-action=edit]"))
        .click(None)
        .await
        .expect("edit");
    let stored = page
        .locator("#spec")
        .input_value(None)
        .await
        .expect("the stored spec");
    assert!(stored.contains("\"sessions\": 10"), "{stored}");
    page.locator("#spec")
        .fill(&stored.replace("\"sessions\": 10", "\"sessions\": 12"), None)
        .await
        .expect("spec");
    page.locator("#save-edit").click(None).await.expect("save");
    dashboard
        .wait(Duration::from_secs(10), "the new revision", || async {
            text(page, "#form-status")
                .await
                .contains("revision 2")
                .then_some(())
        })
        .await;
    let out = up.client(&["--output", "json", "campaign", "get", &draft_id]);
    let edited: serde_json::Value = serde_json::from_slice(&out.stdout).expect("campaign JSON");
    assert_eq!(edited["revision"], 2, "{edited}");
    assert_eq!(edited["sessions_planned"], 12, "{edited}");

    // An invalid form: every error beside its field, nothing created.
    page.locator("#name").fill("bad name!", None).await.expect("name");
    page.locator("#rate").fill("-3", None).await.expect("rate");
    page.locator("#create").click(None).await.expect("submit");
    dashboard
        .wait(Duration::from_secs(10), "inline errors", || async {
            let (name, rate) = (text(page, "#error-name").await, text(page, "#error-rate").await);
            (!name.is_empty() && !rate.is_empty()).then_some(())
        })
        .await;
    assert!(text(page, "#error-name").await.contains("letters, digits"));
    assert!(text(page, "#error-rate").await.contains("above 0"));
    assert!(!text(page, "#form-status").await.contains("created"));

    // A valid one: created, started, and its chart moves.
    page.locator("#name")
        .fill("dashboard-demo", None)
        .await
        .expect("name");
    page.locator("#target")
        .fill(&format!("http://{}", up.demo), None)
        .await
        .expect("target");
    page.locator("#rate").fill("40", None).await.expect("rate");
    page.locator("#sessions")
        .fill("400", None)
        .await
        .expect("sessions");
    // One of its pages is missing on the site: its requests fail with 404.
    let spec = page.locator("#spec").input_value(None).await.expect("the spec");
    assert!(spec.contains("\"/contact\""), "{spec}");
    // A daily cap whose day began an hour ago (so the run stays inside
    // it), above the sessions asked for.
    let minutes = (throng_engine::clock::epoch_ms() / 60_000 + 24 * 60 - 60) % (24 * 60);
    let capped = format!(
        "sessions: 400, daily_cap: 5000, day_start: \"{:02}:{:02}\", time_zone: UTC",
        minutes / 60,
        minutes % 60
    );
    assert!(spec.contains("sessions: 400"), "{spec}");
    page.locator("#spec")
        .fill(
            &spec
                .replace("\"/contact\"", "\"/missing\"")
                .replace("sessions: 400", &capped),
            None,
        )
        .await
        .expect("spec");
    page.locator("#create").click(None).await.expect("submit");
    let id = dashboard
        .wait(Duration::from_secs(30), "the campaign to be created", || async {
            let status = text(page, "#form-status").await;
            status.strip_prefix("created ").map(str::to_string)
        })
        .await;
    assert!(id.starts_with("dashboard-demo"), "{id}");
    assert!(text(page, "#error-name").await.is_empty(), "the errors went away");

    // Its page: charts over the run while it runs, with their legends.
    dashboard
        .wait(Duration::from_secs(30), "the charts to draw traffic", || async {
            let requests: u64 = attribute(page, "#chart-throughput", "data-requests")
                .await
                .parse()
                .ok()?;
            (requests > 0).then_some(())
        })
        .await;
    for (chart, legend) in [
        ("throughput", "requests/s"),
        ("latency", "p99"),
        ("active", "active sessions"),
    ] {
        let selector = format!("#chart-{chart}");
        assert_eq!(
            count(page, &format!("{selector} canvas")).await,
            1,
            "{chart} is drawn"
        );
        let shown = text(page, &format!("{selector} .u-legend")).await;
        assert!(shown.contains(legend), "{chart}'s legend: {shown}");
    }

    // Once the campaign is over, its numbers, charts and breakdown hold
    // every session, as the analytics API (over gRPC, by the CLI) says.
    dashboard
        .wait(
            Duration::from_secs(60),
            "the campaign's page to show all of it",
            || async {
                let state = text(page, "#live-state").await;
                let sessions = attribute(page, "#kpis [data-kpi=sessions]", "data-value").await;
                let charted = attribute(page, "#chart-throughput", "data-sessions").await;
                (state == "completed" && sessions == "400" && charted == "400").then_some(())
            },
        )
        .await;
    let out = up.client(&["--output", "json", "analytics", &id, "--by", "persona"]);
    let analytics: serde_json::Value = serde_json::from_slice(&out.stdout).expect("analytics JSON");
    let totals = &analytics[0]["totals"];
    for (kpi, value) in [
        ("sessions", &totals["sessions"]),
        ("page_views", &totals["page_views"]),
        ("requests", &totals["requests"]),
        ("p99", &totals["latency_ms"]["p99"]),
    ] {
        let shown: f64 = attribute(page, &format!("#kpis [data-kpi={kpi}]"), "data-value")
            .await
            .parse()
            .expect("a number");
        assert_eq!(Some(shown), value.as_f64(), "the {kpi} card against the API");
    }
    let charted: u64 = attribute(page, "#chart-throughput", "data-requests")
        .await
        .parse()
        .expect("charted requests");
    assert_eq!(
        Some(charted),
        totals["requests"].as_u64(),
        "the chart holds every request"
    );
    let groups = analytics[0]["groups"].as_array().expect("groups");
    assert_eq!(count(page, "#breakdown tbody tr").await, groups.len());
    for chart in ["breakdown-sessions", "breakdown-p99"] {
        let shown = attribute(page, &format!("#chart-{chart}"), "data-groups").await;
        assert_eq!(shown, groups.len().to_string(), "{chart} has a bar per group");
        assert_eq!(
            count(page, &format!("#chart-{chart} canvas")).await,
            1,
            "{chart} is drawn"
        );
    }
    for group in groups {
        let key = group["key"].as_str().expect("key");
        let row = text(
            page,
            &format!("#breakdown tr[data-key=\"{key}\"] td:nth-child(2)"),
        )
        .await;
        assert_eq!(row.replace(',', ""), group["sessions"].to_string(), "{key}");
    }

    // Its requests by name, as the API counts them, adding up to the total.
    let out = up.client(&["--output", "json", "analytics", &id, "--by", "request"]);
    let by_name: serde_json::Value = serde_json::from_slice(&out.stdout).expect("analytics JSON");
    let names = by_name[0]["groups"].as_array().expect("request names");
    assert!(!names.is_empty(), "{by_name}");
    dashboard
        .wait(Duration::from_secs(15), "the requests by name", || async {
            (count(page, "#request-stats tbody tr[data-key]").await == names.len()).then_some(())
        })
        .await;
    let mut listed = 0;
    for name in names {
        let key = name["key"].as_str().expect("name");
        let shown: u64 = attribute(
            page,
            &format!("#request-stats tr[data-key=\"{key}\"]"),
            "data-requests",
        )
        .await
        .parse()
        .expect("a count");
        assert_eq!(Some(shown), name["requests"].as_u64(), "{key}");
        listed += shown;
    }
    assert_eq!(
        Some(listed),
        totals["requests"].as_u64(),
        "every request under one name"
    );

    // The daily cap's day: every session of the run started in it.
    let cap_line = text(page, "#daily-cap").await;
    assert!(
        cap_line.contains("400 of 5,000 sessions this day") && cap_line.contains("resets in"),
        "{cap_line}"
    );

    // Its failed requests, grouped as the API groups them.
    let out = up.client(&["--output", "json", "campaign", "errors", &id]);
    let errors: serde_json::Value = serde_json::from_slice(&out.stdout).expect("errors JSON");
    let groups = errors["groups"].as_array().expect("error groups");
    assert!(!groups.is_empty(), "the missing page failed: {errors}");
    dashboard
        .wait(Duration::from_secs(15), "the error groups", || async {
            (count(page, "#error-groups tbody tr").await == groups.len()).then_some(())
        })
        .await;
    let shown = text(page, "#error-groups tbody tr >> nth=0").await;
    assert!(
        shown.contains(groups[0]["class"].as_str().expect("class"))
            && shown.contains(&groups[0]["requests"].to_string()),
        "{shown} against {}",
        groups[0]
    );
    dashboard.screenshot("campaign").await;

    // Its failed sessions, a page at a time, as the API lists them; a bad
    // filter is named.
    page.locator("#session-outcome")
        .select_option("failed", None)
        .await
        .expect("outcome");
    page.locator("#session-filters button")
        .click(None)
        .await
        .expect("filter");
    let out = up.client(&[
        "--output",
        "json",
        "session",
        "list",
        &id,
        "--outcome",
        "failed",
        "--limit",
        "25",
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sessions JSON");
    let expected: Vec<String> = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id").to_string())
        .collect();
    assert!(!expected.is_empty(), "some sessions failed");
    dashboard
        .wait(Duration::from_secs(15), "the failed sessions", || async {
            let rows = count(page, "#session-list tbody tr.failed").await;
            (rows == expected.len()).then_some(())
        })
        .await;
    for (n, session) in expected.iter().enumerate() {
        let shown = attribute(
            page,
            &format!("#session-list tbody tr >> nth={n}"),
            "data-session",
        )
        .await;
        assert_eq!(&shown, session, "row {n}");
    }
    page.locator("#session-min-duration")
        .fill("soon", None)
        .await
        .expect("duration");
    page.locator("#session-filters button")
        .click(None)
        .await
        .expect("filter");
    let problem = dashboard
        .wait(Duration::from_secs(10), "the bad filter's error", || async {
            Some(text(page, "#session-errors").await).filter(|t| !t.is_empty())
        })
        .await;
    assert!(problem.contains("min_duration_ms"), "{problem}");
    page.locator("#session-min-duration")
        .fill("", None)
        .await
        .expect("duration");

    // One session in full: a waterfall row per request, the failed one marked.
    page.locator("#session-list .open-session >> nth=0")
        .click(None)
        .await
        .expect("open a session");
    let out = up.client(&["--output", "json", "session", "show", &id, &expected[0]]);
    let session: serde_json::Value = serde_json::from_slice(&out.stdout).expect("session JSON");
    let steps = session["steps"].as_array().expect("steps").len();
    dashboard
        .wait(Duration::from_secs(15), "the session's waterfall", || async {
            (count(page, "#waterfall tbody tr").await == steps).then_some(())
        })
        .await;
    assert!(count(page, "#waterfall tbody tr.failed .bar.failed").await >= 1);
    assert!(text(page, "#session-title").await.contains(&expected[0]));
    dashboard.screenshot_of("#session", "session").await;

    // Before creating anything, the form asks whether the target answers.
    page.locator("#test-target")
        .click(None)
        .await
        .expect("test target");
    let answered = dashboard
        .wait(Duration::from_secs(15), "the target's answer", || async {
            let status = text(page, "#form-status").await;
            status.contains("answers").then_some(status)
        })
        .await;
    assert!(answered.contains("(200,"), "{answered}");

    // The demo campaign runs: a new rate on it, as the API then says.
    let demo = attribute(page, "#campaign-list tbody tr[data-id^=\"demo-\"]", "data-id").await;
    let demo_row = format!("#campaign-list tbody tr[data-id=\"{demo}\"]");
    page.locator(format!("{demo_row} input.rate"))
        .fill("3", None)
        .await
        .expect("rate");
    page.locator(format!("{demo_row} button[data-action=rate]"))
        .click(None)
        .await
        .expect("set rate");
    dashboard
        .wait(Duration::from_secs(15), "the new rate", || async {
            text(page, "#list-status")
                .await
                .contains("now starts 3 sessions/s")
                .then_some(())
        })
        .await;
    let out = up.client(&["--output", "json", "campaign", "get", &demo]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("campaign JSON");
    assert_eq!(got["rate"].as_f64(), Some(3.0), "{got}");

    // Two campaigns compared: their numbers side by side, as the API has them.
    for campaign in [&id, &demo] {
        page.locator(format!(
            "#campaign-list tbody tr[data-id=\"{campaign}\"] .compare-pick"
        ))
        .check(None)
        .await
        .expect("tick");
    }
    page.locator("#compare-picked")
        .click(None)
        .await
        .expect("compare");
    dashboard
        .wait(Duration::from_secs(15), "the comparison", || async {
            (attribute(page, "#chart-compare-requests", "data-series").await == "2").then_some(())
        })
        .await;
    let compared = attribute(
        page,
        "#compare tr[data-kpi=sessions] td:nth-child(2)",
        "data-value",
    )
    .await;
    assert_eq!(compared, "400", "the finished campaign's sessions");
    dashboard.screenshot_of("#compare", "compare").await;

    // The same two in a report file that opens with no network: every
    // chart drawn, the numbers the API has, nothing fetched.
    let report = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{id}-report.html"));
    let out = up.client(&["report", &id, &demo, "-o", report.to_str().expect("path")]);
    assert!(out.status.success(), "{}", common::up::text(&out));
    let fetched = page
        .evaluate_value(&format!(
            "fetch('/api/v1/report?campaigns={id}').then(r => r.status + ' ' + r.headers.get('content-type'))"
        ))
        .await
        .expect("the HTTP report");
    assert_eq!(fetched, "200 text/html; charset=utf-8");
    let offline = browser.new_page().await.expect("a page for the report");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    offline
        .on_request(move |r| {
            seen.lock().expect("requests").push(r.url().to_string());
            async { Ok(()) }
        })
        .await
        .expect("request events");
    offline
        .goto(&format!("file://{}", report.display()), None)
        .await
        .expect("the report opens");
    poll_until_explained(
        Duration::from_secs(10),
        "the report to draw",
        || async { (attribute(&offline, "body", "data-ready").await == "true").then_some(()) },
        || "the report never said it was drawn".to_string(),
    )
    .await;
    assert_eq!(count(&offline, ".campaign").await, 2);
    assert_eq!(
        count(&offline, "canvas").await,
        12,
        "five charts a campaign and two compared"
    );
    let tables = count(&offline, "table[data-export]").await;
    assert!(tables >= 5, "{tables} tables in the report");
    assert_eq!(
        count(&offline, ".table-exports button.export").await,
        2 * tables,
        "a CSV and a JSON button under every table"
    );
    let named = count(
        &offline,
        &format!(".campaign[data-campaign=\"{id}\"] table.requests tr[data-key]"),
    )
    .await;
    assert_eq!(named, names.len(), "the report lists the requests by name");
    let sessions = attribute(
        &offline,
        &format!(".campaign[data-campaign=\"{id}\"] [data-kpi=sessions]"),
        "data-value",
    )
    .await;
    assert_eq!(sessions, "400");
    let fetched: Vec<String> = requests.lock().expect("requests").clone();
    assert!(
        fetched.iter().all(|url| url.starts_with("file://")),
        "a report fetches nothing: {fetched:?}"
    );
    let options = ScreenshotOptions::builder().full_page(true).build();
    offline
        .screenshot_to_file(&screenshot_path("report"), options)
        .await
        .expect("screenshot");
    let _ = offline.close().await;

    // Stop asks first; a finished campaign is cloned, and the clone deleted
    // after its confirmation.
    page.locator(format!("{demo_row} button[data-action=stop]"))
        .click(None)
        .await
        .expect("stop");
    assert!(text(page, "#confirm-text").await.contains(&demo));
    page.locator("#confirm-yes").click(None).await.expect("confirm");
    dashboard
        .wait(Duration::from_secs(20), "the demo to stop", || async {
            (attribute(page, &demo_row, "data-state").await == "stopped").then_some(())
        })
        .await;
    page.locator(format!(
        "#campaign-list tbody tr[data-id=\"{id}\"] button[data-action=clone]"
    ))
    .click(None)
    .await
    .expect("clone");
    let clone = dashboard
        .wait(Duration::from_secs(15), "the clone", || async {
            let status = text(page, "#list-status").await;
            let rest = status.strip_prefix("cloned into ")?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .await;
    let clone_row = format!("#campaign-list tbody tr[data-id=\"{clone}\"]");
    dashboard
        .wait(Duration::from_secs(15), "the clone in the list", || async {
            (attribute(page, &clone_row, "data-state").await == "created").then_some(())
        })
        .await;
    page.locator(format!("{clone_row} button[data-action=delete]"))
        .click(None)
        .await
        .expect("delete");
    page.locator("#confirm-yes").click(None).await.expect("confirm");
    dashboard
        .wait(Duration::from_secs(15), "the clone to go", || async {
            (count(page, &clone_row).await == 0).then_some(())
        })
        .await;
    let out = up.client(&["campaign", "get", &clone]);
    assert!(!out.status.success(), "the clone is gone from the API too");

    // The streams tab: apply a scenario after confirming; it becomes active.
    page.locator("#tab-streams")
        .click(None)
        .await
        .expect("streams tab");
    dashboard
        .wait(Duration::from_secs(20), "the run's scenarios", || async {
            (count(page, "#scenario-payment-outage .apply").await == 1).then_some(())
        })
        .await;
    page.locator("#scenario-payment-outage .apply")
        .click(None)
        .await
        .expect("apply");
    assert!(text(page, "#confirm-text").await.contains("payment-outage"));
    page.locator("#confirm-yes").click(None).await.expect("confirm");
    dashboard
        .wait(
            Duration::from_secs(30),
            "the scenario to become active",
            || async { (text(page, "#scenario-payment-outage .phase").await == "active").then_some(()) },
        )
        .await;

    // Every stream's last hour against its baseline (the first answer
    // generates the run's 30-day baseline), marked by its flag; a stream at
    // its baseline is normal.
    let streams = dashboard
        .wait(Duration::from_secs(60), "the streams' values", || async {
            let rows = count(page, "#stream-values tbody tr").await;
            (rows == 50).then_some(rows)
        })
        .await;
    assert_eq!(streams, 50);
    let class = attribute(page, "#stream-values tbody tr >> nth=0", "class").await;
    assert!(class.starts_with("flag-"), "marked by its flag: {class}");
    let at_baseline = count(page, "#stream-values tbody tr[data-at-baseline=\"true\"]").await;
    let normal_at_baseline = count(
        page,
        "#stream-values tbody tr[data-at-baseline=\"true\"][data-flag=\"normal\"]",
    )
    .await;
    assert!(at_baseline > 0, "some stream sits at its baseline");
    assert_eq!(
        normal_at_baseline, at_baseline,
        "a stream at its baseline is normal"
    );

    let events = dashboard
        .wait(Duration::from_secs(20), "the external event timeline", || async {
            Some(count(page, "#event-timeline tbody tr").await).filter(|n| *n > 0)
        })
        .await;
    assert!(events > 0);

    // While a scenario is active another waits unless composed.
    let blocked = "#scenario-exam-season-surge .apply";
    assert_eq!(
        count(page, &format!("{blocked}[disabled]")).await,
        1,
        "disabled while one is active"
    );
    page.locator("#compose").check(None).await.expect("compose");
    dashboard
        .wait(
            Duration::from_secs(10),
            "apply offered when composing",
            || async { (count(page, &format!("{blocked}[disabled]")).await == 0).then_some(()) },
        )
        .await;
    page.locator("#compose").uncheck(None).await.expect("compose");

    // An event injected from the form joins the timeline.
    page.locator("#inject button[type=submit]")
        .click(None)
        .await
        .expect("inject");
    let injected = dashboard
        .wait(Duration::from_secs(20), "the injected event", || async {
            let status = text(page, "#inject-status").await;
            status.starts_with("injected ").then_some(status)
        })
        .await;
    dashboard
        .wait(
            Duration::from_secs(20),
            "the injected event on the timeline",
            || async {
                (count(page, "#event-timeline tbody tr:has-text(\"injected\")").await > 0).then_some(())
            },
        )
        .await;
    assert!(!injected.contains("not injected"), "{injected}");

    // An event of your own: each problem is listed with its path and its
    // field marked; once corrected it joins the timeline.
    page.locator("#inject-template")
        .select_option("(own)", None)
        .await
        .expect("own event");
    page.locator("#own-title")
        .fill("Campus festival", None)
        .await
        .expect("title");
    page.locator("#own-impacts .own-stream")
        .select_option("customer.tutor.search", None)
        .await
        .expect("stream");
    page.locator("#own-impacts .own-multiply")
        .fill("lots", None)
        .await
        .expect("multiply");
    page.locator("#own-impacts .own-duration")
        .fill("forever", None)
        .await
        .expect("duration");
    page.locator("#inject button[type=submit]")
        .click(None)
        .await
        .expect("inject");
    let problems = dashboard
        .wait(Duration::from_secs(20), "the own event's problems", || async {
            let problems = text(page, "#inject-errors").await;
            (!problems.is_empty()).then_some(problems)
        })
        .await;
    for path in [
        "events[0].event.impact[0].multiply",
        "events[0].event.impact[0].duration",
    ] {
        assert!(problems.contains(path), "{path} missing from {problems}");
        let marked = attribute(page, &format!("#inject [data-path=\"{path}\"]"), "class").await;
        assert!(marked.contains("invalid"), "{path} is not marked: {marked}");
    }
    assert!(
        text(page, "#inject-status")
            .await
            .starts_with("not injected: 2 problems")
    );
    dashboard
        .screenshot_of(".card:has(#inject)", "streams-own-event")
        .await;
    page.locator("#own-impacts .own-multiply")
        .fill("3", None)
        .await
        .expect("multiply");
    page.locator("#own-impacts .own-duration")
        .fill("6h", None)
        .await
        .expect("duration");
    page.locator("#inject button[type=submit]")
        .click(None)
        .await
        .expect("inject");
    dashboard
        .wait(
            Duration::from_secs(20),
            "the own event on the timeline",
            || async {
                (count(page, "#event-timeline tbody tr:has-text(\"Campus festival\")").await > 0)
                    .then_some(())
            },
        )
        .await;
    assert_eq!(text(page, "#inject-errors").await, "");
    assert_eq!(count(page, "#inject .invalid").await, 0);

    // A stream's last three simulated days, hour by hour, against its
    // baseline.
    page.locator("#stream-values button.chart-stream >> text=customer.payment.failed")
        .click(None)
        .await
        .expect("chart a stream");
    dashboard
        .wait(Duration::from_secs(60), "the stream's history chart", || async {
            (attribute(page, "#chart-stream", "data-points").await == "72").then_some(())
        })
        .await;
    assert_eq!(count(page, "#chart-stream canvas").await, 1);
    let legend = text(page, "#chart-stream .u-legend").await;
    assert!(
        legend.contains("baseline") && legend.contains("external event"),
        "{legend}"
    );
    // Its last thirty days by six hours, bent where the run's scenario and
    // event fell.
    page.locator("#stream-history-span")
        .select_option("30", None)
        .await
        .expect("thirty days");
    dashboard
        .wait(Duration::from_secs(120), "the stream's 30-day chart", || async {
            (attribute(page, "#chart-stream", "data-points").await == "120").then_some(())
        })
        .await;
    let window = text(page, "#stream-history-window").await;
    assert!(window.contains("events per 6 hours"), "{window}");
    assert_eq!(count(page, "#chart-stream canvas").await, 1);
    dashboard.screenshot("streams").await;

    // A new run of the built-in catalog with its own seed, from the form,
    // in the fast-cadence (emulated) mode; the console says its clock, and
    // the cluster tab lists it with its cadence before it is stopped.
    page.locator("details:has(#new-run) > summary")
        .click(None)
        .await
        .expect("open the new run form");
    page.locator("#run-name")
        .fill("seeded", None)
        .await
        .expect("run name");
    page.locator("#run-seed").fill("7", None).await.expect("run seed");
    page.locator("#run-mode")
        .select_option("emulated", None)
        .await
        .expect("the emulated clock");
    assert!(
        page.locator("#run-interval")
            .is_visible()
            .await
            .expect("visibility"),
        "the interval shows for the emulated clock"
    );
    assert!(
        !page.locator("#run-speed").is_visible().await.expect("visibility"),
        "the speed does not"
    );
    page.locator("#run-interval")
        .fill("2", None)
        .await
        .expect("interval");
    page.locator("#run-batch-min")
        .fill("3", None)
        .await
        .expect("batch min");
    page.locator("#run-batch-max")
        .fill("9", None)
        .await
        .expect("batch max");
    dashboard.screenshot("streams-emulated").await;
    page.locator("#new-run button[type=submit]")
        .click(None)
        .await
        .expect("start a run");
    let started = dashboard
        .wait(Duration::from_secs(20), "the new stream run", || async {
            let status = text(page, "#run-status").await;
            status.strip_prefix("started ").map(str::to_string)
        })
        .await;
    let out = up.client(&["--output", "json", "campaign", "get", &started]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the run's JSON");
    assert_eq!(run["spec"]["seed"], 7, "{run}");
    assert_eq!(run["spec"]["clock"]["mode"], "emulated", "{run}");
    dashboard
        .wait(Duration::from_secs(15), "the run's clock said", || async {
            let clock = text(page, "#run-clock").await;
            clock
                .starts_with("emulated clock: a batch every 2 s of 3 to 9 events · simulated now")
                .then_some(())
        })
        .await;

    // The cluster tab lists both agents, healthy, with their telemetry
    // writers (the embedded store's).
    page.locator("#tab-cluster")
        .click(None)
        .await
        .expect("cluster tab");
    dashboard
        .wait(Duration::from_secs(10), "the agents", || async {
            (count(page, "#agents tbody tr").await == 2).then_some(())
        })
        .await;
    dashboard
        .wait(
            Duration::from_secs(15),
            "both agents reported healthy",
            || async { (count(page, "#agents td.health-ok").await == 2).then_some(()) },
        )
        .await;
    for agent in ["agent-1", "agent-2"] {
        let row = format!("#agents tr[data-agent=\"{agent}\"]");
        assert_eq!(text(page, &format!("{row} td.health")).await, "ok");
        let writer = text(page, &format!("{row} td.writer")).await;
        assert!(writer.starts_with("memory, queue "), "{agent}: {writer}");
        let keeps_up = text(page, &format!("{row} td.generator")).await;
        assert!(
            keeps_up.starts_with("ok (") && keeps_up.contains("runtime lag "),
            "{agent}: {keeps_up}"
        );
    }

    // The logs follow live; a level and a text narrow them.
    dashboard
        .wait(Duration::from_secs(15), "the coordinator's log lines", || async {
            (count(page, "#logs tbody tr").await > 0).then_some(())
        })
        .await;
    page.locator("#log-grep")
        .fill("shard starting", None)
        .await
        .expect("grep");
    dashboard
        .wait(Duration::from_secs(15), "the lines with that text", || async {
            let rows = count(page, "#logs tbody tr").await;
            let matching = count(page, "#logs tbody tr:has-text(\"shard starting\")").await;
            (rows > 0 && rows == matching).then_some(())
        })
        .await;
    page.locator("#log-level")
        .select_option("error", None)
        .await
        .expect("level");
    dashboard
        .wait(Duration::from_secs(15), "no errors in a healthy run", || async {
            text(page, "#log-summary")
                .await
                .starts_with("no lines")
                .then_some(())
        })
        .await;
    page.locator("#log-level")
        .select_option("info", None)
        .await
        .expect("level");
    page.locator("#log-grep").fill("", None).await.expect("grep");
    dashboard
        .wait(Duration::from_secs(15), "every line again", || async {
            (count(page, "#logs tbody tr").await > 0).then_some(())
        })
        .await;
    let row = format!("#generation tr[data-run=\"{started}\"]");
    dashboard
        .wait(
            Duration::from_secs(15),
            "the emulated run in the cluster tab",
            || async {
                (text(page, &format!("{row} td.cadence")).await == "a batch every 2 s of 3 to 9 events")
                    .then_some(())
            },
        )
        .await;
    dashboard.screenshot("cluster").await;
    let out = up.client(&["campaign", "stop", &started]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // At a phone's width the campaign page still fits: no sideways scroll.
    page.set_viewport_size(Viewport {
        width: 390,
        height: 844,
    })
    .await
    .expect("phone width");
    page.locator("#tab-campaigns")
        .click(None)
        .await
        .expect("campaigns tab");
    let overflow = page
        .evaluate_value("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await
        .expect("page width");
    assert_eq!(overflow, "0", "the page scrolls sideways at 390 px");
    dashboard.screenshot("campaign-phone").await;
    let _ = browser.close().await;
}

/// The admin token of the cluster console test.
const ADMIN: &str = "admin-console-0123456789abcdef";

#[derive(clickhouse::Row, serde::Deserialize)]
struct AgentSessions {
    agent_id: String,
    sessions: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Verdict {
    risk: String,
    pages: u64,
}

/// The console of a cluster of real processes with tokens on: etcd,
/// ClickHouse, a coordinator and two agents, one campaign over HTTP and one
/// in Chromium. What the page shows is checked against ClickHouse itself:
/// the session count, the requests charted, the breakdown by agent, the
/// CSV the page makes, the newest sessions and a browser visit's verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_a_cluster_with_tokens_shows_what_clickhouse_holds() {
    let site = common::demo_site::DemoSite::start().await;
    let files = tempfile::tempdir().expect("dir");
    let tokens = files.path().join("tokens");
    std::fs::write(&tokens, format!("admin {ADMIN}\n")).expect("tokens");
    let cluster_token = files.path().join("cluster-token");
    std::fs::write(&cluster_token, "cluster-console-0123456789abcdef\n").expect("cluster token");
    let (tokens, cluster_token) = (tokens.display().to_string(), cluster_token.display().to_string());
    let mut sandbox = common::Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with(
        "coordinator-1",
        &["--tokens", &tokens, "--cluster-token-file", &cluster_token],
    );
    for agent in ["agent-1", "agent-2"] {
        sandbox.spawn_agent_with(
            agent,
            &["--cluster-token-file", &cluster_token, "--capacity", "1"],
        );
    }
    let call = |method: &str, path: &str, body: &str| {
        let (status, answer) = common::http_request(&http, method, path, Some(ADMIN), body);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    };
    poll_until_explained(
        Duration::from_secs(60),
        "a leader that sees both agents",
        || async {
            std::net::TcpStream::connect(&http).ok()?;
            let (status, body) = call("GET", "/api/v1/cluster", "");
            let cluster: serde_json::Value = serde_json::from_str(&body).ok()?;
            (status == 200 && cluster["agents"].as_array()?.len() == 2).then_some(())
        },
        || sandbox.log_tails(30),
    )
    .await;
    let create = |document: String| {
        let (status, body) = call("POST", "/api/v1/campaigns?start=true", &document);
        assert_eq!(status, 200, "{body}");
        let created: serde_json::Value = serde_json::from_str(&body).expect("campaign JSON");
        created["id"].as_str().expect("an id").to_string()
    };
    let traffic = create(common::spec("console-http", sandbox.target.address, 300, 60.0, 4));
    let visits = create(format!(
        "name: console-browser\nseed: 5\ntarget: {{ url: \"{}\", kind: browser, retries: 1 }}\n\
         load: {{ rate: 1, sessions: 4, shards: 1 }}\nsession: {{ pages: {{ min: 2, max: 3 }} }}\n\
         personas:\n  - {{ name: person, journeys: {{ enquiry: 1 }} }}\n  - {{ name: scraper, behaviour: bot, journeys: {{ enquiry: 1 }} }}\n\
         journeys:\n  - name: enquiry\n    start: home\n    steps:\n      home: {{ action: page_view, path: \"/\", next: {{ browse: 1 }} }}\n      \
         browse: {{ action: click, selector: \"a[href='/products']\" }}\n",
        site.url
    ));
    // A visit that fails: the page has no such link, so the agent keeps a
    // screenshot of where it stopped.
    let broken = create(format!(
        "name: console-broken\nseed: 7\ntarget: {{ url: \"{}\", kind: browser, retries: 0 }}\n\
         load: {{ rate: 1, sessions: 1, shards: 1 }}\n\
         personas:\n  - {{ name: person, journeys: {{ lost: 1 }} }}\n\
         journeys:\n  - name: lost\n    start: home\n    steps:\n      home: {{ action: page_view, path: \"/\", next: {{ gone: 1 }} }}\n      \
         gone: {{ action: click, selector: \"a[href='/nowhere']\" }}\n",
        site.url
    ));

    let tracked = create(format!(
        "name: console-matomo\nseed: 3\ntarget: {{ url: \"http://{}/matomo.php\", kind: matomo, site_id: 1 }}\n\
         site: {{ url: \"https://shop.example\" }}\npages: [\"/\", \"/products\"]\n\
         session: {{ pages: {{ min: 2, max: 3 }}, think_time: {{ min: 0s, max: 0s }} }}\nload: {{ rate: 10, sessions: 5 }}\n",
        sandbox.target.address
    ));

    let (_playwright, browser, page, journal) = open_chromium().await;
    let dashboard = Dashboard {
        page,
        journal,
        cluster_log: Box::new(|| sandbox.log_tails(30)),
    };
    let page = &dashboard.page;
    page.goto(&format!("http://{http}/dashboard"), None)
        .await
        .expect("the dashboard loads");
    // Nothing loads until the token is given; then everything does.
    page.locator("#token").fill(ADMIN, None).await.expect("token");
    dashboard
        .wait(
            Duration::from_secs(30),
            "the dashboard to load with the token",
            || async { (attribute(page, "body", "data-ready").await == "true").then_some(()) },
        )
        .await;

    // The HTTP campaign, once complete: its numbers are ClickHouse's.
    dashboard
        .wait(
            Duration::from_secs(60),
            "the HTTP campaign in the list",
            || async { (count(page, &format!("tr[data-id=\"{traffic}\"] .pick")).await == 1).then_some(()) },
        )
        .await;
    page.locator(format!("tr[data-id=\"{traffic}\"] .pick"))
        .click(None)
        .await
        .expect("open the campaign");
    dashboard
        .wait(
            Duration::from_secs(90),
            "the campaign's page to show all of it",
            || async {
                let state = text(page, "#live-state").await;
                let sessions = attribute(page, "#kpis [data-kpi=sessions]", "data-value").await;
                // What the page showed last, for a failure to tell.
                dashboard
                    .journal
                    .add(format!("seen: state {state}, sessions {sessions}"));
                (state == "completed" && sessions == "300").then_some(())
            },
        )
        .await;
    assert_eq!(
        sandbox.distinct_sessions(&traffic).await,
        300,
        "ClickHouse holds every session"
    );
    let db = sandbox.clickhouse_client();
    let requests: u64 = db
        .query("SELECT count() FROM requests FINAL WHERE campaign_id = ?")
        .bind(&traffic)
        .fetch_one()
        .await
        .expect("requests");
    let charted: u64 = attribute(page, "#chart-throughput", "data-requests")
        .await
        .parse()
        .expect("charted requests");
    assert_eq!(
        charted, requests,
        "the chart holds every request ClickHouse holds"
    );

    // By agent: each agent's sessions as ClickHouse counts them.
    page.locator("#breakdown-by")
        .select_option("agent", None)
        .await
        .expect("by agent");
    let by_agent: Vec<AgentSessions> = db
        .query("SELECT agent_id, count() FROM sessions FINAL WHERE campaign_id = ? GROUP BY agent_id ORDER BY agent_id")
        .bind(&traffic)
        .fetch_all()
        .await
        .expect("sessions by agent");
    // Placement decides which agents run its four shards.
    assert!(!by_agent.is_empty(), "the campaign ran somewhere");
    dashboard
        .wait(Duration::from_secs(15), "the breakdown by agent", || async {
            (count(page, "#breakdown tbody tr").await == by_agent.len()).then_some(())
        })
        .await;
    for agent in &by_agent {
        let shown = text(
            page,
            &format!("#breakdown tr[data-key=\"{}\"] td:nth-child(2)", agent.agent_id),
        )
        .await;
        assert_eq!(
            shown.replace(',', ""),
            agent.sessions.to_string(),
            "{}",
            agent.agent_id
        );
    }

    // The CSV the page downloads: its totals row holds ClickHouse's counts.
    let csv: String = page
        .evaluate("() => reportCsv(report)", None::<&()>)
        .await
        .expect("the CSV");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let totals: Vec<&str> = lines.next().expect("a totals row").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect("a column");
    assert_eq!(totals[column("scope")], "total", "{csv}");
    assert_eq!(totals[column("sessions")], "300", "{csv}");
    assert_eq!(totals[column("requests")], requests.to_string(), "{csv}");
    let agent_rows = csv.lines().filter(|l| l.contains(",agent,agent-")).count();
    assert_eq!(agent_rows, by_agent.len(), "{csv}");

    // The breakdown as JSON, as the table shows it.
    let shown: String = page
        .evaluate(
            "() => tableJson(document.querySelector('#breakdown'))",
            None::<&()>,
        )
        .await
        .expect("the breakdown as JSON");
    let shown: Vec<serde_json::Value> = serde_json::from_str(&shown).expect("JSON rows");
    assert_eq!(shown.len(), by_agent.len(), "{shown:?}");
    for (row, agent) in shown.iter().zip(&by_agent) {
        assert_eq!(row["agent"], agent.agent_id.as_str(), "{row}");
        assert_eq!(
            row["sessions"].as_str().map(|s| s.replace(',', "")),
            Some(agent.sessions.to_string())
        );
    }

    // The newest sessions, as ClickHouse orders them.
    let newest: Vec<u64> = db
        .query(
            "SELECT session_id FROM sessions FINAL WHERE campaign_id = ? \
             ORDER BY intended_ms DESC, session_id DESC LIMIT 25",
        )
        .bind(&traffic)
        .fetch_all()
        .await
        .expect("newest sessions");
    let listed = dashboard
        .wait(Duration::from_secs(15), "the first page of sessions", || async {
            let ids: Vec<String> = page
                .locator("#session-list tbody tr")
                .evaluate_all("rows => rows.map((r) => r.dataset.session)", None::<()>)
                .await
                .ok()?;
            (ids.len() == 25).then_some(ids)
        })
        .await;
    let listed: Vec<u64> = listed
        .iter()
        .map(|id| id.parse().expect("a session id"))
        .collect();
    assert_eq!(
        listed, newest,
        "the sessions table lists ClickHouse's newest sessions"
    );
    let sessions_csv: String = page
        .evaluate(
            "() => tableCsv(document.querySelector('#session-list'))",
            None::<&()>,
        )
        .await
        .expect("the sessions as CSV");
    assert_eq!(
        sessions_csv.lines().count(),
        26,
        "a header and 25 sessions: {sessions_csv}"
    );
    assert!(sessions_csv.contains(&newest[0].to_string()), "{sessions_csv}");

    // The browser campaign: the detector's cards, and one visit's verdict
    // and Web Vitals as ClickHouse stored them.
    page.locator(format!("tr[data-id=\"{visits}\"] .pick"))
        .click(None)
        .await
        .expect("open the browser campaign");
    dashboard
        .wait(
            Duration::from_secs(240),
            "the browser campaign to complete",
            || async {
                let state = text(page, "#live-state").await;
                let judged = attribute(page, "#kpis [data-kpi=browser_sessions]", "data-value").await;
                (state == "completed" && judged == "4").then_some(())
            },
        )
        .await;
    let visit = dashboard
        .wait(Duration::from_secs(15), "the visits listed", || async {
            let id = attribute(page, "#session-list tbody tr >> nth=0", "data-session").await;
            (!id.is_empty()).then_some(id)
        })
        .await;
    page.locator(format!(
        "#session-list tr[data-session=\"{visit}\"] .open-session"
    ))
    .click(None)
    .await
    .expect("open the visit");
    let stored: Verdict = db
        .query("SELECT risk, length(page_urls) FROM browser_sessions FINAL WHERE campaign_id = ? AND session_id = ?")
        .bind(&visits)
        .bind(visit.parse::<u64>().expect("a session id"))
        .fetch_one()
        .await
        .expect("the visit's verdict");
    dashboard
        .wait(Duration::from_secs(15), "the visit's verdict", || async {
            (count(page, "#session-browser b[data-risk]").await == 1).then_some(())
        })
        .await;
    assert_eq!(
        attribute(page, "#session-browser b[data-risk]", "data-risk").await,
        stored.risk
    );
    assert_eq!(
        count(page, "#session-browser tr.vitals").await as u64,
        stored.pages
    );
    assert!(
        stored.pages >= 2,
        "the visit's pages have Web Vitals: {}",
        stored.pages
    );
    // Each page starts where its navigation did, so the waterfall steps on.
    let starts: Vec<u64> = db
        .query("SELECT intended_ms FROM requests FINAL WHERE campaign_id = ? AND session_id = ? ORDER BY idx")
        .bind(&visits)
        .bind(visit.parse::<u64>().expect("a session id"))
        .fetch_all()
        .await
        .expect("the visit's requests");
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "pages start one after another: {starts:?}"
    );
    let second: f64 = attribute(page, "#session .bar >> nth=1", "data-left")
        .await
        .parse()
        .expect("the second page's bar");
    assert!(second > 0.0, "the second page's bar starts after the first's");
    dashboard.screenshot_of("#session", "session-browser").await;

    // The failed visit's page shows the screenshot its agent kept, fetched
    // through the coordinator with the token.
    page.locator(format!("tr[data-id=\"{broken}\"] .pick"))
        .click(None)
        .await
        .expect("open the failing campaign");
    // Its one session, as the API lists it, then on the page (the list may
    // still show the campaign opened before for a moment).
    let failed = dashboard
        .wait(Duration::from_secs(120), "the failed visit listed", || async {
            let (status, body) = call("GET", &format!("/api/v1/campaigns/{broken}/sessions"), "");
            let listed: serde_json::Value = serde_json::from_str(&body).ok()?;
            let id = match &listed["sessions"][0]["session_id"] {
                serde_json::Value::String(id) => id.clone(),
                other => other.as_u64()?.to_string(),
            };
            if status != 200 {
                return None;
            }
            let shown = attribute(
                page,
                &format!("#session-list tr[data-session=\"{id}\"]"),
                "data-session",
            )
            .await;
            (shown == id).then_some(id)
        })
        .await;
    page.locator(format!(
        "#session-list tr[data-session=\"{failed}\"] .open-session"
    ))
    .click(None)
    .await
    .expect("open the failed visit");
    let shown = dashboard
        .wait(Duration::from_secs(20), "the failed visit's screenshot", || async {
            let width = page
                .evaluate_value("(document.querySelector('#session-screenshot:not([hidden])') || {}).naturalWidth || 0")
                .await
                .ok()?;
            (width != "0").then_some(width)
        })
        .await;
    assert!(shown.parse::<u32>().expect("a width") >= 300, "{shown}");
    let stored: String = db
        .query("SELECT screenshot FROM browser_sessions FINAL WHERE campaign_id = ? AND session_id = ?")
        .bind(&broken)
        .bind(failed.parse::<u64>().expect("a session id"))
        .fetch_one()
        .await
        .expect("the failed visit's row");
    assert!(
        text(page, "#session-screenshot-note").await.contains(&stored),
        "the page names where the agent keeps {stored}"
    );
    let (status, answer) = common::http_request(
        &http,
        "GET",
        &format!("/api/v1/campaigns/{broken}/sessions/{failed}/screenshot"),
        Some(ADMIN),
        "",
    );
    assert_eq!(status, 200);
    let (head, image) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.to_ascii_lowercase().contains("content-type: image/png"),
        "{head}"
    );
    // A PNG file's signature, its first byte (0x89) not being text.
    assert!(image.starts_with("\u{FFFD}PNG\r\n"), "a PNG file");
    let (status, body) = call(
        "GET",
        &format!("/api/v1/campaigns/{visits}/sessions/{visit}/screenshot"),
        "",
    );
    assert_eq!(status, 404, "a visit that did not fail has no screenshot: {body}");
    dashboard.screenshot_of("#session", "session-failed").await;

    // A Matomo campaign's session: each tracking request with what it
    // recorded, read from the hit itself.
    page.locator(format!("tr[data-id=\"{tracked}\"] .pick"))
        .click(None)
        .await
        .expect("open the Matomo campaign");
    dashboard
        .wait(
            Duration::from_secs(60),
            "the Matomo campaign's sessions",
            || async {
                let state = text(page, "#live-state").await;
                let listed = count(page, "#session-list tbody tr[data-session]").await;
                (state == "completed" && listed == 5).then_some(())
            },
        )
        .await;
    page.locator("#session-list tbody tr[data-session] .open-session >> nth=0")
        .click(None)
        .await
        .expect("open a tracked session");
    let hits = dashboard
        .wait(Duration::from_secs(15), "the session's hits", || async {
            let hits: Vec<String> = page
                .locator("#waterfall .hit")
                .evaluate_all("cells => cells.map((c) => c.textContent)", None::<()>)
                .await
                .ok()?;
            (!hits.is_empty()).then_some(hits)
        })
        .await;
    assert!(
        hits.iter().all(|h| h.starts_with("Matomo: ")) && hits.iter().any(|h| h.contains("page view")),
        "{hits:?}"
    );
    assert!(
        hits.iter().any(|h| h.contains("https://shop.example/")),
        "the tracked URLs: {hits:?}"
    );
    dashboard.screenshot_of("#session", "session-matomo").await;
    let _ = browser.close().await;
}
