//! Client verbs for external events: list them, and show what one moved.

use serde_json::Value;
use throng_proto::v1;

use crate::cli::{EventCommand, Output};
use crate::client::{CliError, connect};
use crate::scenario_client::run_id;

fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// An event of the user's own, as a file gives it (a library template's
/// shape), for the wire; the coordinator validates the rest. An error names
/// the field under the event.
fn own_event(event: &Value) -> Result<v1::OwnEvent, String> {
    // A value as text: strings as they are, anything else as written, so
    // the coordinator can say what is wrong with it.
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if !event.is_object() {
        return Err(": expected a map (id, title, category, severity, icon, impact)".into());
    }
    let mut impact = Vec::new();
    for (j, item) in event["impact"].as_array().into_iter().flatten().enumerate() {
        let multiply = match &item["multiply"] {
            Value::Null => None,
            value => Some(
                value
                    .as_f64()
                    .ok_or_else(|| format!(".impact[{j}].multiply: expected a number, found {value}"))?,
            ),
        };
        impact.push(v1::EventImpact {
            stream: text(&item["stream"]),
            field: text(&item["field"]),
            multiply,
            delay: text(&item["delay"]),
            duration: text(&item["duration"]),
        });
    }
    Ok(v1::OwnEvent {
        id: text(&event["id"]),
        title: text(&event["title"]),
        category: text(&event["category"]),
        severity: text(&event["severity"]),
        icon: text(&event["icon"]),
        impact,
    })
}

/// The events an inject command names: a file's list, or one template.
fn events_to_inject(
    file: Option<&std::path::Path>,
    template: Option<String>,
    at: Option<String>,
) -> Result<Vec<v1::EventToInject>, CliError> {
    let mut events = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let document: Value = serde_yaml::from_str(&text)
            .map_err(|e| CliError::Other(format!("{}: not YAML or JSON: {e}", path.display())))?;
        let Some(list) = document["events"].as_array() else {
            return Err(CliError::Other(format!(
                "{}: expected `events:`, a list",
                path.display()
            )));
        };
        for (i, item) in list.iter().enumerate() {
            let own = match item.get("event") {
                Some(event) => Some(
                    own_event(event)
                        .map_err(|e| CliError::Other(format!("{}: events[{i}].event{e}", path.display())))?,
                ),
                None => None,
            };
            let template = item["template"].as_str().unwrap_or_default();
            if template.is_empty() && own.is_none() {
                return Err(CliError::Other(format!(
                    "{}: events[{i}]: give a `template` or an `event` of your own",
                    path.display()
                )));
            }
            events.push(v1::EventToInject {
                template: template.to_string(),
                at: item["at"].as_str().unwrap_or_default().to_string(),
                event: own,
            });
        }
    }
    if let Some(template) = template {
        events.push(v1::EventToInject {
            template,
            at: at.unwrap_or_default(),
            event: None,
        });
    }
    if events.is_empty() {
        return Err(CliError::Other("give -f FILE or --template ID".into()));
    }
    Ok(events)
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
        EventCommand::Inject {
            file,
            template,
            at,
            run,
        } => {
            let events = events_to_inject(file.as_deref(), template, at)?;
            let id = run_id(&mut client, run).await?;
            let answer = client
                .inject_events(v1::InjectEventsRequest { id, events })
                .await?
                .into_inner();
            match output {
                Output::Json => println!("{}", throng_coordinator::json::external_events(&answer)),
                Output::Table => {
                    for e in &answer.events {
                        println!(
                            "injected {} {} at {}: {}",
                            e.id,
                            e.template,
                            when(e.at_ms),
                            e.title
                        );
                    }
                }
            }
            return Ok(());
        }
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
        Output::Json => println!("{}", throng_coordinator::json::external_events(&answer)),
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
