-- Events of stream runs. Ids are deterministic, so events a re-placed shard
-- generates again replace their earlier rows on merge (ReplacingMergeTree);
-- queries that must be exact before merges use FINAL or uniqExact(event_id).
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS stream_events (
    event_date Date,
    run_id String,
    stream String,
    event_id UInt64,
    at_ms Int64,
    parent_id UInt64,
    entities String,
    data String,
    shard UInt32,
    epoch UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (run_id, stream, at_ms, event_id);
