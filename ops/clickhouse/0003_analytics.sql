-- What analytics count: each session's pages, actions, orders and revenue
-- (in cents, so sums are exact), and each request's persona, journey, target
-- and agent, so latency breaks down by them without a join.
-- A column that already exists (another node ran this at the same moment)
-- counts as added.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

ALTER TABLE sessions ADD COLUMN page_views UInt32 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN actions UInt32 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN conversions UInt32 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN revenue_cents UInt64 DEFAULT 0;
ALTER TABLE requests ADD COLUMN persona String DEFAULT '';
ALTER TABLE requests ADD COLUMN journey String DEFAULT '';
ALTER TABLE requests ADD COLUMN target UInt32 DEFAULT 0;
ALTER TABLE requests ADD COLUMN agent_id String DEFAULT '';
