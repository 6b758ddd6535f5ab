-- Every step of every session: page visits (page = 1: page views, clicks,
-- searches, forms, product views, cart, order) and actions on a page (events,
-- downloads, outlinks), with orders' revenue in cents. `page_visits` is the
-- page steps, deduplicated. Keyed by (campaign, session, step), so a session
-- re-run after a failover replaces its steps.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS actions (
    event_date Date,
    campaign_id String,
    session_id UInt64,
    idx UInt32,
    action String,
    page UInt8,
    path String,
    intended_ms UInt64,
    revenue_cents UInt64,
    persona String,
    journey String,
    target UInt32,
    agent_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (campaign_id, session_id, idx);

CREATE VIEW IF NOT EXISTS page_visits AS
SELECT event_date, campaign_id, session_id, idx, action, path, intended_ms, persona, journey, target, agent_id
FROM actions FINAL
WHERE page = 1;
