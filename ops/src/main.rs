//! `throng`: the client, the node roles (coordinator, agent) and `throng up`.

mod analytics_client;
mod behaviour_client;
mod cli;
mod client;
mod config;
mod demo_site;
mod event_client;
mod library_client;
mod log_client;
mod migrations;
mod scenario_client;
mod server;
mod session_client;
mod stream_client;
mod traces;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn init_tracing(default: &str) {
    traces::init(default, None);
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let endpoint = cli.endpoint.as_str();
    client::use_credentials(client::Credentials {
        token: cli.token.clone(),
        tls_ca: cli.tls_ca.clone(),
        tls_identity: cli.tls_cert.clone().zip(cli.tls_key.clone()),
    });
    match cli.command {
        Command::Up(args) => {
            init_tracing("warn");
            up::run(args, cli.output.table_or_json()?)
                .await
                .map_err(|e| text(&e))
        }
        Command::Coordinator(args) => {
            let otlp = args.node.otlp_endpoint.clone();
            let tracing = traces::init("info", otlp.as_deref().map(|e| (e, "throng-coordinator")));
            let result = server::run_coordinator(args).await.map_err(|e| text(&e));
            tracing.finish();
            result
        }
        Command::Agent(args) => {
            let otlp = args.node.otlp_endpoint.clone();
            let tracing = traces::init("info", otlp.as_deref().map(|e| (e, "throng-agent")));
            let result = server::run_agent(args).await.map_err(|e| text(&e));
            tracing.finish();
            result
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "throng", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Config => {
            let output = cli.output.table_or_json()?;
            config::print(&cli, output);
            Ok(())
        }
        Command::DemoSite { listen } => {
            init_tracing("warn");
            let address = demo_site::start(listen, demo_site::DemoCounters::default())
                .await
                .map_err(|e| format!("cannot serve the demo site on {listen}: {e}"))?;
            eprintln!("demo site http://{address} (request log http://{address}/_requests)");
            server::shutdown_signal().await;
            Ok(())
        }
        Command::Analytics(args) => {
            init_tracing("warn");
            analytics_client::analytics(endpoint, cli.output, args)
                .await
                .map_err(|e| text(&e))
        }
        Command::Report(args) => {
            init_tracing("warn");
            analytics_client::report(endpoint, cli.output, args)
                .await
                .map_err(|e| text(&e))
        }
        command => {
            init_tracing("warn");
            let output = cli.output.table_or_json()?;
            match command {
                Command::Cluster(command) => client::cluster(endpoint, output, command).await,
                Command::Campaign(command) => client::campaign(endpoint, output, command).await,
                Command::Stream(command) => stream_client::stream(endpoint, output, command).await,
                Command::Event(command) => event_client::event(endpoint, output, command).await,
                Command::Scenario(command) => scenario_client::scenario(endpoint, output, command).await,
                Command::Behaviour(command) => behaviour_client::behaviour(endpoint, output, command).await,
                Command::Session(command) => session_client::session(endpoint, output, command).await,
                Command::Logs(args) => log_client::logs(endpoint, output, args).await,
                Command::Persona(command) => {
                    library_client::library(endpoint, output, "persona", command).await
                }
                Command::Journey(command) => {
                    library_client::library(endpoint, output, "journey", command).await
                }
                Command::Site(command) => library_client::library(endpoint, output, "site", command).await,
                Command::Reset { run } => {
                    scenario_client::scenario(endpoint, output, cli::ScenarioCommand::Reset { run }).await
                }
                Command::Up(_)
                | Command::Coordinator(_)
                | Command::Agent(_)
                | Command::DemoSite { .. }
                | Command::Completions { .. }
                | Command::Config
                | Command::Analytics(_)
                | Command::Report(_) => {
                    unreachable!("handled above")
                }
            }
            .map_err(|e| text(&e))
        }
    }
}
