-- What each answer held, for `session show` and error groups: the size of
-- its body in bytes (rows written before this have 0), and for an error
-- answer the start of its body (200 characters, as one line of text). A
-- column that already exists (another node ran this at the same moment)
-- counts as added.
-- Portable: runs on ClickHouse 18.16 (Debian) and current releases.

ALTER TABLE requests ADD COLUMN bytes UInt64 DEFAULT 0;
ALTER TABLE requests ADD COLUMN excerpt String DEFAULT '';
