//! `throng logs`: a node's recent log lines, once or followed.

use std::time::Duration;

use throng_proto::v1;

use crate::cli::{LogsArgs, Output};
use crate::client::{CliError, connect};

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

fn when(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

fn print(node: &str, line: &v1::LogLine, output: Output) {
    match output {
        Output::Json => println!("{}", throng_coordinator::json::log_line(node, line)),
        Output::Table => println!(
            "{} {:>5} {} {}: {}",
            when(line.at_ms),
            line.level,
            node,
            line.target,
            line.text
        ),
    }
}

pub async fn logs(endpoint: &str, output: Output, args: LogsArgs) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    let mut request = v1::GetLogsRequest {
        node: args.node.unwrap_or_default(),
        level: args.level,
        grep: args.grep.unwrap_or_default(),
        after_seq: 0,
        limit: args.limit,
    };
    loop {
        let answer = client.get_logs(request.clone()).await?.into_inner();
        for line in &answer.lines {
            print(&answer.node, line, output);
        }
        if !args.follow {
            return Ok(());
        }
        let full_page = answer.lines.len() >= request.limit.max(1) as usize;
        if let Some(last) = answer.lines.last() {
            request.after_seq = last.seq;
        }
        if !full_page {
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }
}
