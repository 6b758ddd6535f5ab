//! The ClickHouse schema: versioned migrations, each applied once, in order, at start.

pub const MIGRATIONS: &[&str] = &[
    include_str!("../clickhouse/0001_sessions.sql"),
    include_str!("../clickhouse/0002_stream_events.sql"),
    include_str!("../clickhouse/0003_analytics.sql"),
    include_str!("../clickhouse/0004_control_log.sql"),
    include_str!("../clickhouse/0005_actions.sql"),
    include_str!("../clickhouse/0006_browser_sessions.sql"),
    include_str!("../clickhouse/0007_session_visit.sql"),
    include_str!("../clickhouse/0008_request_answers.sql"),
];
