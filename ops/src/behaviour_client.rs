//! `throng behaviour score`: the bot detector's verdict on a file of
//! behaviour data.

use std::io::Read;

use serde_json::Value;
use throng_proto::v1;

use crate::cli::{BehaviourCommand, Output};
use crate::client::{CliError, connect};

fn read(path: &std::path::Path) -> Result<String, CliError> {
    let unreadable = |e: std::io::Error| CliError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(unreadable)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(unreadable)
}

pub async fn behaviour(endpoint: &str, output: Output, command: BehaviourCommand) -> Result<(), CliError> {
    let BehaviourCommand::Score { file } = command;
    let behaviour_json = read(&file)?;
    let mut client = connect(endpoint).await?;
    let verdict = client
        .score_behaviour(v1::ScoreBehaviourRequest { behaviour_json })
        .await?
        .into_inner()
        .verdict_json;
    let value: Value = serde_json::from_str(&verdict).unwrap_or_default();
    match output {
        Output::Json => println!("{verdict}"),
        Output::Table => {
            println!(
                "risk {}  score {:.2}  confidence {:.2}",
                value["risk"].as_str().unwrap_or("?"),
                value["score"].as_f64().unwrap_or(0.0),
                value["confidence"].as_f64().unwrap_or(0.0)
            );
            for check in value["checks"].as_array().into_iter().flatten() {
                let reasons: Vec<&str> = check["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "  {:<11} bot {:>3.0} %  confidence {:>3.0} %  {}",
                    check["name"].as_str().unwrap_or(""),
                    check["bot_probability"].as_f64().unwrap_or(0.0) * 100.0,
                    check["confidence"].as_f64().unwrap_or(0.0) * 100.0,
                    reasons.join("; ")
                );
            }
        }
    }
    Ok(())
}
