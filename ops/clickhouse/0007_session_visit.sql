-- Who made each session, so `session show` can tell it: the visitor's id and
-- visit number, device, country and where the visit came from (a referring
-- URL, or `direct`). A column that already exists (another node ran this at
-- the same moment) counts as added.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

ALTER TABLE sessions ADD COLUMN visitor_id UInt64 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN visit_count UInt32 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN device String DEFAULT '';
ALTER TABLE sessions ADD COLUMN country String DEFAULT '';
ALTER TABLE sessions ADD COLUMN referrer String DEFAULT '';
