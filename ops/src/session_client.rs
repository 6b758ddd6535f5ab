//! `throng session list|show`: a campaign's sessions a page at a time, and
//! one session in full.

use throng_coordinator::sessions::{detail_from_wire, page_from_wire};
use throng_engine::analytics::sessions::{SessionDetail, SessionPage};
use throng_proto::v1;

use crate::cli::{Output, SessionCommand, SessionListArgs};
use crate::client::{CliError, connect};

/// An RFC 3339 instant as epoch milliseconds.
fn epoch_ms(flag: &str, text: &str) -> Result<u64, CliError> {
    let at: jiff::Timestamp = text.parse().map_err(|e| {
        CliError::Other(format!(
            "{flag}: `{text}` is not an RFC 3339 time like 2026-12-04T10:00:00Z ({e})"
        ))
    })?;
    Ok(at.as_millisecond().max(0) as u64)
}

fn clock(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(
        |_| ms.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

fn request(args: &SessionListArgs) -> Result<v1::ListSessionsRequest, CliError> {
    Ok(v1::ListSessionsRequest {
        campaign_id: args.id.clone(),
        persona: args.persona.clone().unwrap_or_default(),
        journey: args.journey.clone().unwrap_or_default(),
        target: args.target,
        agent: args.agent.clone().unwrap_or_default(),
        outcome: args.outcome.clone().unwrap_or_default(),
        error_class: args.error_class.clone().unwrap_or_default(),
        from_ms: args
            .from
            .as_deref()
            .map(|t| epoch_ms("--from", t))
            .transpose()?
            .unwrap_or(0),
        to_ms: args
            .until
            .as_deref()
            .map(|t| epoch_ms("--until", t))
            .transpose()?
            .unwrap_or(0),
        min_duration_ms: args.min_duration_ms.unwrap_or(0),
        cursor: args.cursor.clone().unwrap_or_default(),
        limit: args.limit,
    })
}

pub async fn session(endpoint: &str, output: Output, command: SessionCommand) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    match command {
        SessionCommand::List(args) => {
            let mut request = request(&args)?;
            let mut page = page_from_wire(&client.list_sessions(request.clone()).await?.into_inner());
            if args.all {
                while let Some(cursor) = page.next_cursor.take() {
                    request.cursor = cursor;
                    let next = page_from_wire(&client.list_sessions(request.clone()).await?.into_inner());
                    page.sessions.extend(next.sessions);
                    page.next_cursor = next.next_cursor;
                }
            }
            match output {
                Output::Json => println!("{}", serde_json::to_string(&page).unwrap_or_default()),
                Output::Table => print_page(&args.id, &page),
            }
        }
        SessionCommand::Show { id, session } => {
            let session_id: u64 = session.parse().map_err(|_| {
                CliError::Other(format!(
                    "`{session}` is not a session id (a whole number, as `throng session list` shows it)"
                ))
            })?;
            let request = v1::GetSessionRequest {
                campaign_id: id,
                session_id,
            };
            let detail = detail_from_wire(&client.get_session(request).await?.into_inner());
            match output {
                Output::Json => println!("{}", serde_json::to_string(&detail).unwrap_or_default()),
                Output::Table => print_detail(&detail),
            }
        }
    }
    Ok(())
}

fn print_page(campaign_id: &str, page: &SessionPage) {
    if page.sessions.is_empty() {
        println!("no sessions match");
        return;
    }
    println!(
        "{:<20}  {:<23}  {:>9}  {:<12} {:<12} {:<10} {:>4} {:>6}  OUTCOME",
        "SESSION", "INTENDED START (UTC)", "DURATION", "PERSONA", "JOURNEY", "AGENT", "REQS", "FAILED"
    );
    for s in &page.sessions {
        let outcome = if s.ok {
            "ok".to_string()
        } else {
            format!("failed: {}", s.error)
        };
        println!(
            "{:<20}  {:<23}  {:>7}ms  {:<12} {:<12} {:<10} {:>4} {:>6}  {}",
            s.session_id,
            clock(s.intended_ms),
            s.duration_ms,
            s.persona,
            s.journey,
            s.agent,
            s.requests,
            s.failed_requests,
            outcome
        );
    }
    if let Some(cursor) = &page.next_cursor {
        println!("more: throng session list {campaign_id} --cursor {cursor} (with the same filters)");
    }
}

fn print_detail(d: &SessionDetail) {
    let s = &d.summary;
    println!("session     {} (shard {})", s.session_id, d.shard);
    println!(
        "persona     {}   journey {}   target {}   agent {}",
        s.persona, s.journey, s.target, s.agent
    );
    println!(
        "visitor     {} (visit {})   device {}   country {}   referrer {}",
        d.visit.visitor_id, d.visit.visit_count, d.visit.device, d.visit.country, d.visit.referrer
    );
    println!(
        "intended    {}   started +{} ms   took {} ms",
        clock(s.intended_ms),
        d.started_ms.saturating_sub(s.intended_ms),
        s.duration_ms
    );
    println!(
        "outcome     {}   {} page views, {} actions, {} conversions, revenue {:.2}",
        if s.ok {
            "ok".to_string()
        } else {
            format!("failed: {}", s.error)
        },
        s.page_views,
        s.actions,
        s.conversions,
        s.revenue_cents as f64 / 100.0
    );
    println!();
    println!(
        "{:>3}  {:>8}  {:>6}  {:>10}  {:>9}  {:<14} PATH",
        "#", "AT", "STATUS", "LATENCY", "BYTES", "ACTION"
    );
    for step in &d.steps {
        let status = if step.status == 0 {
            "-".to_string()
        } else {
            step.status.to_string()
        };
        println!(
            "{:>3}  {:>6}ms  {:>6}  {:>8.1}ms  {:>9}  {:<14} {}{}",
            step.index,
            step.offset_ms,
            status,
            step.latency_us as f64 / 1000.0,
            step.bytes,
            step.action,
            step.path,
            match (step.error.is_empty(), step.excerpt.is_empty()) {
                (false, _) => format!("  ({})", step.error),
                (true, false) => format!("  (body: {})", step.excerpt),
                (true, true) => String::new(),
            }
        );
    }
    if let Some(b) = &d.browser {
        println!();
        let risk = if b.risk.is_empty() {
            "not judged"
        } else {
            b.risk.as_str()
        };
        println!(
            "browser     {} persona, ran {} time(s); risk {} (score {:.2}, confidence {:.2})",
            if b.bot_persona { "bot" } else { "human" },
            b.attempts,
            risk,
            b.score,
            b.confidence
        );
        if !b.reasons.is_empty() {
            println!("reasons     {}", b.reasons.join("; "));
        }
        let g = &b.signals;
        println!(
            "signals     {} mouse events, {} clicks, straightness {:.2}, {} keystrokes, {} scrolls, {} blurs",
            g.mouse_events, g.clicks, g.straightness, g.keystrokes, g.scroll_events, g.blurs
        );
        for p in &b.pages {
            println!(
                "page        {} {}  ttfb {:.0} ms, load {:.0} ms, LCP {:.0} ms, CLS {:.3}, INP {:.0} ms",
                p.status, p.url, p.ttfb_ms, p.load_ms, p.lcp_ms, p.cls, p.inp_ms
            );
        }
        if !b.screenshot.is_empty() {
            println!("screenshot  {}", b.screenshot);
        }
    }
}
