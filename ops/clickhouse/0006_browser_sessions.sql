-- One row per browser session: how the bot detector judged it (risk, score,
-- confidence, reasons), the behaviour signals it judged (mouse, keys,
-- scrolling, focus), how many times the visit ran (a browser that died or
-- hung under it makes it run again), and each page's Web Vitals as parallel
-- arrays (page_urls[i] had lcp_ms[i], cls[i], ...). `risk` is empty when the
-- visit failed before its pages could be read. Keyed by (campaign, session),
-- so a session re-run after a failover replaces its row.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

CREATE TABLE IF NOT EXISTS browser_sessions (
    event_date Date,
    campaign_id String,
    session_id UInt64,
    intended_ms UInt64,
    persona String,
    journey String,
    target UInt32,
    agent_id String,
    bot_persona UInt8,
    ok UInt8,
    attempts UInt32,
    risk String,
    score Float64,
    confidence Float64,
    reasons Array(String),
    mouse_events UInt32,
    clicks UInt32,
    straightness Float64,
    keystrokes UInt32,
    correction_ratio Float64,
    scroll_events UInt32,
    blurs UInt32,
    duration_ms Float64,
    page_urls Array(String),
    status Array(UInt16),
    ttfb_ms Array(Float64),
    load_ms Array(Float64),
    lcp_ms Array(Float64),
    cls Array(Float64),
    inp_ms Array(Float64),
    js_errors UInt32,
    screenshot String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (campaign_id, session_id);
