//! The ClickHouse schema, applied in order at start (each statement is idempotent).

pub const MIGRATIONS: &[&str] = &[
    include_str!("../clickhouse/0001_sessions.sql"),
    include_str!("../clickhouse/0002_stream_events.sql"),
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
