//! Client verbs for stream runs' scenarios: list, apply, stop, reset.

use serde_json::Value;
use throng_proto::v1;

use crate::cli::{Output, ScenarioCommand};
use crate::client::{CliError, connect};

/// The stream run a command means: the one given, or the only one running.
pub async fn run_id(client: &mut crate::client::Control, given: Option<String>) -> Result<String, CliError> {
    if let Some(id) = given {
        return Ok(id);
    }
    let campaigns = client
        .list_campaigns(v1::ListCampaignsRequest {})
        .await?
        .into_inner()
        .campaigns;
    let running: Vec<String> = campaigns
        .into_iter()
        .filter(|c| {
            let active =
                c.state == v1::CampaignState::Running as i32 || c.state == v1::CampaignState::Paused as i32;
            let streams = serde_json::from_str::<Value>(&c.spec_json).is_ok_and(|d| d["kind"] == "streams");
            active && streams
        })
        .map(|c| c.id)
        .collect();
    match running.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::Other(
            "no stream run is running; start one with `throng campaign apply -f streams.yaml --start`".into(),
        )),
        many => Err(CliError::Other(format!(
            "{} stream runs are running ({}); say which with --run",
            many.len(),
            many.join(", ")
        ))),
    }
}

fn millis_text(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

fn print_state(state: &v1::ScenarioState, output: Output) {
    match output {
        Output::Json => println!("{}", throng_coordinator::json::scenario_state(state)),
        Output::Table => {
            println!(
                "stream run {} — simulated now {}",
                state.run_id,
                millis_text(state.sim_now_ms)
            );
            if !state.runs.is_empty() {
                println!(
                    "{:<24} {:<10} {:<25} {:<25}",
                    "SCENARIO", "PHASE", "STARTED", "SETTLED BY"
                );
                for r in &state.runs {
                    println!(
                        "{:<24} {:<10} {:<25} {:<25}",
                        r.scenario,
                        r.phase,
                        millis_text(r.started_ms),
                        millis_text(r.settled_ms)
                    );
                }
            }
            for warning in &state.warnings {
                println!("warning: {warning}");
            }
        }
    }
}

pub async fn scenario(endpoint: &str, output: Output, command: ScenarioCommand) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    let state = match command {
        ScenarioCommand::List { run } => {
            let id = run_id(&mut client, run).await?;
            let state = client.list_scenarios(v1::CampaignRef { id }).await?.into_inner();
            if output == Output::Table {
                println!(
                    "{:<24} {:<18} {:>9} {:>9}  DESCRIPTION",
                    "ID", "CURVE", "ACTIVE", "SETTLE"
                );
                for s in &state.scenarios {
                    println!(
                        "{:<24} {:<18} {:>8.1}h {:>8.1}h  {}",
                        s.id,
                        s.curve,
                        s.duration_seconds / 3600.0,
                        s.settle_seconds / 3600.0,
                        s.description
                    );
                }
            }
            state
        }
        ScenarioCommand::Apply {
            scenario,
            run,
            at,
            compose,
        } => {
            let id = run_id(&mut client, run).await?;
            let request = v1::ApplyScenarioRequest {
                id,
                scenario,
                at: at.unwrap_or_default(),
                compose,
            };
            client.apply_scenario(request).await?.into_inner()
        }
        ScenarioCommand::Stop { run } => {
            let id = run_id(&mut client, run).await?;
            client.stop_scenario(v1::CampaignRef { id }).await?.into_inner()
        }
        ScenarioCommand::Reset { run } => {
            let id = run_id(&mut client, run).await?;
            client.reset_scenarios(v1::CampaignRef { id }).await?.into_inner()
        }
    };
    print_state(&state, output);
    Ok(())
}
