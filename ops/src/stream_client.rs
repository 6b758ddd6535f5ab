//! Client verbs for a stream run's streams: list, history, statistics.

use serde_json::{Value, json};
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::definition::Arrival;
use throng_proto::v1;

use crate::cli::{HistoryArgs, Output, StreamCommand};
use crate::client::{CliError, connect};
use crate::scenario_client::run_id;

fn history_request(id: String, args: &HistoryArgs) -> v1::StreamHistoryRequest {
    v1::StreamHistoryRequest {
        id,
        from: args.from.clone().unwrap_or_default(),
        until: args.until.clone().unwrap_or_default(),
        block_seconds: args.block.as_secs_f64(),
        patterns: args.patterns.clone(),
    }
}

pub async fn stream(endpoint: &str, output: Output, command: StreamCommand) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    match command {
        StreamCommand::Tail {
            patterns,
            run,
            from,
            limit,
        } => {
            let id = run_id(&mut client, run).await?;
            let request = v1::SubscribeRequest {
                id,
                patterns,
                resume_token: from.unwrap_or_default(),
                max_lag_seconds: 0.0,
            };
            let mut messages = client.subscribe(request).await?.into_inner();
            let mut shown = 0u64;
            while let Some(message) = messages.message().await? {
                use v1::subscribe_message::Kind;
                match message.kind {
                    Some(Kind::Batch(batch)) => {
                        for e in &batch.events {
                            match output {
                                Output::Json => println!(
                                    "{}",
                                    json!({"id": e.id, "stream": e.stream, "at_ms": e.at_ms, "parent": e.parent,
                                        "entities": serde_json::from_str::<Value>(&e.entities_json).unwrap_or(Value::Null),
                                        "data": serde_json::from_str::<Value>(&e.data_json).unwrap_or(Value::Null),
                                        "normalized_value": e.normalized_value, "anomaly_flag": e.anomaly_flag,
                                        "resume_token": batch.resume_token})
                                ),
                                Output::Table => println!(
                                    "{} {:<34} {} {:>3.0} {:<8} {}",
                                    jiff::Timestamp::from_millisecond(e.at_ms)
                                        .map_or_else(|_| e.at_ms.to_string(), |t| t.to_string()),
                                    e.stream,
                                    e.id,
                                    e.normalized_value,
                                    e.anomaly_flag,
                                    e.data_json
                                ),
                            }
                            shown += 1;
                            if limit.is_some_and(|limit| shown >= limit) {
                                if output == Output::Table {
                                    eprintln!("resume with: --from {}", batch.resume_token);
                                }
                                return Ok(());
                            }
                        }
                    }
                    Some(Kind::Missed(missed)) => eprintln!(
                        "missed {} events (too slow); resume with --from {} to get them",
                        missed.events.values().sum::<u64>(),
                        missed.from_token
                    ),
                    Some(Kind::Heartbeat(_)) | None => {}
                }
            }
        }
        StreamCommand::List { run } => {
            let id = run_id(&mut client, run).await?;
            let campaign = client.get_campaign(v1::CampaignRef { id }).await?.into_inner();
            let document: Value = serde_json::from_str(&campaign.spec_json)
                .map_err(|e| CliError::Other(format!("unreadable run document: {e}")))?;
            let run = StreamRunSpec::from_value(&document).map_err(|e| CliError::Other(e.to_string()))?;
            let rows: Vec<Value> = run
                .catalog
                .streams
                .iter()
                .map(|s| {
                    let arrival = match s.arrival {
                        Arrival::Rate { per_hour } => format!("{:.1}/h", per_hour * run.scale),
                        Arrival::Every { period_ms } => format!("every {}s", period_ms / 1000),
                        Arrival::Follows => "follows".to_string(),
                    };
                    json!({"stream": &*s.name, "domain": s.domain, "cadence": s.cadence.name(), "arrival": arrival})
                })
                .collect();
            match output {
                Output::Json => println!("{}", json!({"run_id": campaign.id, "streams": rows})),
                Output::Table => {
                    println!("{:<34} {:<10} {:<8} ARRIVES", "STREAM", "DOMAIN", "CADENCE");
                    for r in &rows {
                        println!(
                            "{:<34} {:<10} {:<8} {}",
                            r["stream"].as_str().unwrap_or_default(),
                            r["domain"].as_str().unwrap_or_default(),
                            r["cadence"].as_str().unwrap_or_default(),
                            r["arrival"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
        }
        StreamCommand::History(args) => {
            let id = run_id(&mut client, args.run.clone()).await?;
            let answer = client
                .stream_history(history_request(id, &args))
                .await?
                .into_inner();
            match output {
                Output::Json => println!("{}", throng_coordinator::json::stream_history(&answer)),
                Output::Table => {
                    println!(
                        "{} blocks of {} h from {}",
                        answer.series.first().map_or(0, |s| s.counts.len()),
                        answer.block_ms / 3_600_000,
                        jiff::Timestamp::from_millisecond(answer.from_ms)
                            .map_or_else(|_| "-".into(), |t| t.to_string())
                    );
                    println!(
                        "{:<34} {:>10} {:>10} {:>8} {:>8}",
                        "STREAM", "EVENTS", "BASELINE", "WARNING", "CRITICAL"
                    );
                    for s in &answer.series {
                        let flagged = |flag: &str| s.flags.iter().filter(|f| *f == flag).count();
                        println!(
                            "{:<34} {:>10} {:>10} {:>8} {:>8}",
                            s.stream,
                            s.counts.iter().sum::<u64>(),
                            s.baseline.iter().sum::<u64>(),
                            flagged("warning"),
                            flagged("critical")
                        );
                    }
                }
            }
        }
        StreamCommand::Stats(args) => {
            let id = run_id(&mut client, args.run.clone()).await?;
            let answer = client
                .stream_history(history_request(id, &args))
                .await?
                .into_inner();
            match output {
                Output::Json => println!("{}", throng_coordinator::json::stream_stats(&answer)),
                Output::Table => {
                    println!(
                        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
                        "STREAM", "MEAN", "STD DEV", "P50", "P95", "WEEKEND", "TREND/D", "SEASON"
                    );
                    for s in &answer.series {
                        let st = s.stats.unwrap_or_default();
                        let weekend = if st.weekday_mean > 0.0 {
                            st.weekend_mean / st.weekday_mean
                        } else {
                            0.0
                        };
                        println!(
                            "{:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2}x {:>7.2}% {:>7.2}x",
                            s.stream,
                            st.mean,
                            st.std_dev,
                            st.median,
                            st.p95,
                            weekend,
                            st.trend_per_day * 100.0,
                            st.seasonality
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
