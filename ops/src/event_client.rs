//! Client verbs for external events: list them, and show what one moved.

use serde_json::{Value, json};
use throng_proto::v1;

use crate::cli::{EventCommand, Output};
use crate::client::{CliError, connect};
use crate::scenario_client::run_id;

fn movement_json(m: &v1::StreamMovement) -> Value {
    json!({"stream": m.stream, "count": m.count, "usual": m.usual, "z": m.z, "moved": m.moved})
}

fn event_json(e: &v1::ExternalEventMessage) -> Value {
    json!({"id": e.id, "template": e.template, "category": e.category, "title": e.title,
        "severity": e.severity, "icon": e.icon, "at_ms": e.at_ms, "real": e.real,
        "expected_streams": e.expected_streams,
        "movements": e.movements.iter().map(movement_json).collect::<Vec<_>>()})
}

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

pub async fn event(endpoint: &str, output: Output, command: EventCommand) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    let (run, from, until, stream, event) = match command {
        EventCommand::List {
            run,
            from,
            until,
            stream,
        } => (run, from, until, stream, None),
        EventCommand::Show { id, run, from, until } => (run, from, until, None, Some(id)),
    };
    let id = run_id(&mut client, run).await?;
    let request = v1::ExternalEventsRequest {
        id,
        from: from.unwrap_or_default(),
        until: until.unwrap_or_default(),
        stream: stream.clone().unwrap_or_default(),
        event: event.clone().unwrap_or_default(),
    };
    let answer = client.external_events(request).await?.into_inner();
    match output {
        Output::Json => println!(
            "{}",
            json!({"run_id": answer.run_id, "events": answer.events.iter().map(event_json).collect::<Vec<_>>()})
        ),
        Output::Table if event.is_some() => {
            for e in &answer.events {
                println!(
                    "{} {} {} [{}] {}",
                    e.id,
                    when(e.at_ms),
                    e.icon,
                    e.category,
                    e.title
                );
                println!(
                    "  {}; expected to move: {}",
                    if e.real { "real" } else { "a red herring" },
                    e.expected_streams.join(", ")
                );
                println!("  {:<34} {:>8} {:>9} {:>7}", "MOVED", "COUNT", "USUAL", "Z");
                for m in e.movements.iter().filter(|m| m.moved) {
                    println!("  {:<34} {:>8} {:>9.1} {:>7.1}", m.stream, m.count, m.usual, m.z);
                }
            }
        }
        Output::Table => {
            let moved_column = stream.as_ref().map(|s| format!(" MOVED {s}")).unwrap_or_default();
            println!(
                "{:<16} {:<24} {:<14} {:<10} {:<5} TITLE{moved_column}",
                "ID", "AT", "CATEGORY", "SEVERITY", "REAL"
            );
            for e in &answer.events {
                let moved = e
                    .movements
                    .first()
                    .map(|m| format!("  {} (z {:.1})", if m.moved { "yes" } else { "no" }, m.z))
                    .unwrap_or_default();
                println!(
                    "{:<16} {:<24} {:<14} {:<10} {:<5} {}{moved}",
                    e.id,
                    when(e.at_ms),
                    e.category,
                    e.severity,
                    if e.real { "yes" } else { "no" },
                    e.title
                );
            }
        }
    }
    Ok(())
}
