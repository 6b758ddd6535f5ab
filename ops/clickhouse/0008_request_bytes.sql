-- The size of each answer's body, so `session show` can list the bytes of
-- every step. Rows written before this have 0. A column that already exists
-- (another node ran this at the same moment) counts as added.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

ALTER TABLE requests ADD COLUMN bytes UInt64 DEFAULT 0;
