//! The ClickHouse schema: versioned migrations, each applied once, in order, at start.

pub const MIGRATIONS: &[&str] = &[
    include_str!("../clickhouse/0001_sessions.sql"),
    include_str!("../clickhouse/0002_stream_events.sql"),
    include_str!("../clickhouse/0003_analytics.sql"),
    include_str!("../clickhouse/0004_control_log.sql"),
    include_str!("../clickhouse/0005_actions.sql"),
];

/// The migrations with SQL comments removed (the writer splits on `;`).
pub fn statements() -> Vec<String> {
    MIGRATIONS
        .iter()
        .map(|m| {
            m.lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}
