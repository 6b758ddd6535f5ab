-- Sessions and the requests they made (pages, tracking hits). Ids are deterministic, so a session re-run after a
-- failover replaces its earlier row on merge (ReplacingMergeTree); queries
-- that must be exact before merges use FINAL or uniqExact(session_id).
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS sessions (
    event_date Date,
    campaign_id String,
    session_id UInt64,
    shard UInt32,
    seq UInt64,
    agent_id String,
    epoch UInt64,
    intended_ms UInt64,
    started_ms UInt64,
    ended_ms UInt64,
    persona String,
    journey String,
    target UInt32,
    requests UInt32,
    errors UInt32,
    ok UInt8,
    error String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (campaign_id, session_id);

CREATE TABLE IF NOT EXISTS requests (
    event_date Date,
    campaign_id String,
    session_id UInt64,
    request_id UInt64,
    idx UInt32,
    name String,
    action String,
    path String,
    status UInt16,
    latency_us UInt64,
    intended_ms UInt64,
    error String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (campaign_id, session_id, request_id);
