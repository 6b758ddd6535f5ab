//! `throng`: the client, the node roles (coordinator, agent) and `throng up`.

mod cli;
mod client;
mod demo_site;
mod event_client;
mod migrations;
mod scenario_client;
mod server;
mod stream_client;
mod up;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

fn init_tracing(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {
        Command::Up(args) => {
            init_tracing("warn");
            up::run(args, cli.output).await.map_err(|e| e.to_string())
        }
        Command::Coordinator(args) => {
            init_tracing("info");
            server::run_coordinator(args).await.map_err(|e| e.to_string())
        }
        Command::Agent(args) => {
            init_tracing("info");
            server::run_agent(args).await.map_err(|e| e.to_string())
        }
        Command::Cluster(command) => {
            init_tracing("warn");
            client::cluster(&cli.endpoint, cli.output, command)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Campaign(command) => {
            init_tracing("warn");
            client::campaign(&cli.endpoint, cli.output, command)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Stream(command) => {
            init_tracing("warn");
            stream_client::stream(&cli.endpoint, cli.output, command)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Event(command) => {
            init_tracing("warn");
            event_client::event(&cli.endpoint, cli.output, command)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Scenario(command) => {
            init_tracing("warn");
            scenario_client::scenario(&cli.endpoint, cli.output, command)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Reset { run } => {
            init_tracing("warn");
            scenario_client::scenario(&cli.endpoint, cli.output, cli::ScenarioCommand::Reset { run })
                .await
                .map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
