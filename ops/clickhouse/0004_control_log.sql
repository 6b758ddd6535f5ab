-- What the coordinator decided, mirrored from etcd for SQL users: each stream
-- run's scenario timeline (scenarios applied, stopped, reset, and injected
-- external events), its external events (history and injected), and
-- snapshots of each agent's work and telemetry writer. The leader rewrites a
-- row whenever it changes; the highest mirrored_ms wins on merge, and queries
-- that must be exact before merges use FINAL.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS scenario_runs (
    run_id String,
    idx UInt32,
    kind String,
    name String,
    started_ms Int64,
    stopped_ms Int64,
    reset_ms Int64,
    mirrored_ms UInt64
) ENGINE = ReplacingMergeTree(mirrored_ms)
ORDER BY (run_id, idx);

CREATE TABLE IF NOT EXISTS external_events (
    run_id String,
    event_id UInt64,
    template String,
    at_ms Int64,
    real UInt8,
    injected UInt8,
    mirrored_ms UInt64
) ENGINE = ReplacingMergeTree(mirrored_ms)
ORDER BY (run_id, at_ms, event_id);

CREATE TABLE IF NOT EXISTS agent_metrics (
    event_date Date,
    agent_id String,
    at_ms UInt64,
    shards UInt32,
    sessions_completed UInt64,
    sessions_failed UInt64,
    requests UInt64,
    request_errors UInt64,
    stream_events UInt64,
    queue_depth UInt64,
    rows_written UInt64,
    rows_spilled UInt64,
    rows_replayed UInt64,
    rows_rejected UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (agent_id, at_ms);
