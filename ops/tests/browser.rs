//! Browser campaigns end to end, in real processes: etcd, ClickHouse, a
//! `throng demo-site`, a coordinator and an agent whose browser pool drives
//! real Chromium through Playwright. People and bots walk the demo shop to
//! its contact form; the site's own request log shows the navigations and
//! the posted forms, ClickHouse holds each session's verdict and Web
//! Vitals, the detector tells people from bots, and a Chromium killed
//! mid-run costs a retry, not a session.

mod common;

use std::process::Command;
use std::time::Duration;

use common::demo_site::DemoSite;
use common::{Sandbox, campaign, start_campaign};
use throng_proto::v1;
use throng_testkit::{poll_until, poll_until_explained};

fn spec(site: &str, sessions: u64) -> String {
    format!(
        r##"
name: people-and-bots
seed: 5
target: {{ url: "{site}", kind: browser, retries: 1 }}
load: {{ rate: 2, sessions: {sessions}, shards: 1 }}
session: {{ pages: {{ min: 4, max: 8 }} }}
personas:
  - name: person
    devices: {{ desktop: 0.7, mobile: 0.3 }}
    languages: {{ en-GB: 1 }}
    countries: {{ gb: 1 }}
    journeys: {{ enquiry: 1 }}
  - name: scraper
    behaviour: bot
    journeys: {{ enquiry: 1 }}
journeys:
  - name: enquiry
    start: home
    steps:
      home: {{ action: page_view, path: "/", next: {{ browse: 1 }} }}
      browse: {{ action: click, selector: "a[href='/products']", next: {{ pick: 1 }} }}
      pick: {{ action: click, selector: "ul a", next: {{ write: 1 }} }}
      write: {{ action: form_submit, path: /contact }}
"##
    )
}

/// The pids of `root` and every process below it.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent's pid is the second field after the command's closing parenthesis.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    found
}

/// The main Chromium processes (not their renderers) below `root`.
fn chromium_browsers(root: u32) -> Vec<u32> {
    descendants(root)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("chromium") && !cmdline.contains("--type=")
        })
        .collect()
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct Judged {
    bot_persona: u8,
    ok: u8,
    attempts: u32,
    risk: String,
    pages: u64,
    lcp_ms: f64,
    ttfb_ms: f64,
    reasons: Vec<String>,
    blurs: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_campaign_tells_people_from_bots_and_survives_a_chromium_crash() {
    const SESSIONS: u64 = 40;
    let site = DemoSite::start().await;
    let mut sandbox = Sandbox::start().await;
    let screenshots = tempfile::tempdir().expect("screenshot dir");
    sandbox.spawn_coordinator("coordinator-1");
    // Capacity 2: two Chromium processes, eight visits at once (people
    // spend most of a visit reading and typing, not computing).
    sandbox.spawn_agent_with(
        "agent-1",
        &[
            "--capacity",
            "2",
            "--screenshots",
            &screenshots.path().display().to_string(),
        ],
    );
    let (_, mut client) = sandbox.leader_client(1).await;
    let id = start_campaign(&mut client, spec(&site.url, SESSIONS)).await;

    // Once a few sessions are in, kill the agent's Chromium under visits
    // that are running, so the crash always breaks one.
    poll_until(Duration::from_secs(120), "the first browser sessions", || {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            let c = campaign(&mut client, &id).await?;
            (c.sessions_checkpointed >= 6).then_some(())
        }
    })
    .await;
    // A visit is mid-way from its landing until it posts its form; wait
    // until two are (a bot's whole visit can take less than a poll), so
    // the kill a few milliseconds later surely breaks one.
    let mid_way = || {
        let log = site.requests();
        let landed = log.iter().filter(|line| *line == "GET /").count();
        let posted = log
            .iter()
            .filter(|line| line.starts_with("POST /contact"))
            .count();
        landed.saturating_sub(posted)
    };
    poll_until(Duration::from_secs(120), "two visits mid-way", || {
        let visiting = mid_way();
        async move { (visiting >= 2).then_some(()) }
    })
    .await;
    let agent_pid = sandbox.node("agent-1").child.id();
    let browsers = chromium_browsers(agent_pid);
    assert!(!browsers.is_empty(), "the agent runs Chromium");
    for pid in &browsers {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }

    // Waits for the end, and if it does not come, says where the campaign
    // stood and what the agent logged. The whole test takes about 130 s on
    // an idle 2-core machine (40 real visits, one Chromium, a restart after
    // the kill); the deadline allows for a machine several times busier.
    let last_seen = std::sync::Mutex::new(None);
    poll_until_explained(
        Duration::from_secs(480),
        "the campaign to complete",
        || {
            let mut client = client.clone();
            let (id, last_seen) = (id.clone(), &last_seen);
            async move {
                let now = campaign(&mut client, &id).await?;
                let done = now.state == v1::CampaignState::Completed as i32;
                *last_seen.lock().expect("last seen") = Some(now);
                done.then_some(())
            }
        },
        || {
            let now = last_seen.lock().expect("last seen").take();
            format!("the campaign: {now:#?}\n{}", sandbox.log_tails(120))
        },
    )
    .await;

    // The driver connection and the client agreed on every message: the
    // agent logged no error from it.
    let agent_log = sandbox.log("agent-1");
    let driver_errors: Vec<&str> = agent_log
        .lines()
        .filter(|line| line.contains("ERROR") && line.contains("playwright"))
        .collect();
    assert!(
        driver_errors.is_empty(),
        "errors on the driver connection:\n{}",
        driver_errors.join("\n")
    );

    // The agent is still alive and registered, with a new Chromium.
    assert!(
        sandbox
            .node("agent-1")
            .child
            .try_wait()
            .expect("agent status")
            .is_none(),
        "the agent is alive:\n{}",
        sandbox.log("agent-1")
    );
    let status = client
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .expect("cluster status")
        .into_inner();
    assert_eq!(status.agents.len(), 1, "the agent is still registered");
    let now = chromium_browsers(agent_pid);
    assert!(
        !now.is_empty() && now.iter().all(|pid| !browsers.contains(pid)),
        "a new Chromium replaced the killed one: before {browsers:?}, now {now:?}"
    );

    // ClickHouse holds every session's verdict and vitals.
    let db = sandbox.clickhouse_client();
    let rows: Vec<Judged> = db
        .query(
            "SELECT bot_persona, ok, attempts, risk, length(page_urls), arrayReduce('max', lcp_ms), \
             arrayReduce('max', ttfb_ms), reasons, blurs FROM browser_sessions FINAL WHERE campaign_id = ?",
        )
        .bind(&id)
        .fetch_all()
        .await
        .expect("browser sessions");
    assert_eq!(rows.len() as u64, SESSIONS, "one row per session: {rows:#?}");
    let retried: Vec<&Judged> = rows.iter().filter(|r| r.attempts > 1).collect();
    assert!(
        !retried.is_empty() && retried.iter().all(|r| r.ok == 1),
        "the sessions the crash broke ran again and succeeded: {rows:#?}"
    );
    for row in rows.iter().filter(|r| r.ok == 1) {
        assert!(
            row.pages >= 4,
            "home, products, a product and the contact page: {row:?}"
        );
        assert!(
            row.lcp_ms > 0.0 && row.ttfb_ms > 0.0,
            "Web Vitals recorded: {row:?}"
        );
    }
    let left_the_tab = |bot: u8| {
        rows.iter()
            .filter(|r| r.bot_persona == bot && r.blurs > 0)
            .count()
    };
    assert!(left_the_tab(0) > 0, "some people switched tabs: {rows:#?}");
    assert_eq!(left_the_tab(1), 0, "no bot did");
    let share = |bot: u8, risk: &str| {
        let judged: Vec<&Judged> = rows
            .iter()
            .filter(|r| r.bot_persona == bot && !r.risk.is_empty())
            .collect();
        let hits = judged.iter().filter(|r| r.risk == risk).count();
        (hits as f64 / judged.len().max(1) as f64, judged.len())
    };
    let (humans_low, humans) = share(0, "LOW");
    let (bots_high, bots) = share(1, "HIGH");
    eprintln!("people judged LOW: {humans_low:.3} of {humans}; bots judged HIGH: {bots_high:.3} of {bots}");
    assert!(
        humans >= 10 && bots >= 10,
        "both kinds ran: {humans} people, {bots} bots"
    );
    let misjudged: Vec<&Judged> = rows
        .iter()
        .filter(|r| (r.bot_persona == 0 && r.risk != "LOW") || (r.bot_persona == 1 && r.risk != "HIGH"))
        .collect();
    for row in &misjudged {
        eprintln!(
            "misjudged ({} persona): {} because {:?}",
            if row.bot_persona == 1 { "bot" } else { "person" },
            row.risk,
            row.reasons
        );
    }
    assert!(
        humans_low >= 0.95,
        "people judged LOW: {humans_low}; {misjudged:#?}"
    );
    assert!(bots_high >= 0.95, "bots judged HIGH: {bots_high}; {misjudged:#?}");

    // The analytics API reads the same judgement from ClickHouse.
    let answer = client
        .get_analytics(v1::AnalyticsRequest {
            campaign_ids: vec![id.clone()],
            by: "persona".to_string(),
            resolution_ms: 0,
        })
        .await
        .expect("analytics")
        .into_inner();
    let reports: serde_json::Value = serde_json::from_str(&answer.reports_json).expect("json");
    let detection = &reports[0]["totals"]["detection"];
    assert_eq!(detection["browser_sessions"], SESSIONS, "{reports}");
    assert_eq!(detection["retried_sessions"], retried.len() as u64, "{reports}");
    assert_eq!(
        detection["humans_judged_human"].as_f64(),
        Some(humans_low),
        "{reports}"
    );
    assert_eq!(
        detection["bots_judged_bot"].as_f64(),
        Some(bots_high),
        "{reports}"
    );

    // The site's own log: every session walked home → products → a product
    // → contact and posted the form with its visitor's address.
    let log = site.requests();
    let count = |prefix: &str| log.iter().filter(|line| line.starts_with(prefix)).count() as u64;
    let home = log.iter().filter(|line| *line == "GET /").count() as u64;
    assert!(home >= SESSIONS, "a landing per session: {home}: {log:#?}");
    assert!(
        count("GET /products") >= 2 * SESSIONS,
        "the list and a product per session: {log:#?}"
    );
    let posts = count("POST /contact email=visitor-");
    assert!(
        posts >= SESSIONS,
        "a posted form per session: {posts} of {SESSIONS}: {log:#?}"
    );
}
