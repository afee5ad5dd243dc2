-- A revocation becomes a heap-only (HOT) update: a new version of the row
-- in its own page and no index entry, instead of a version elsewhere with
-- one entry in every index (the random-ordered primary key among them).
-- That needs two things (docs/pgstore.md, "Indexes and why"):
--
-- No index may name revoked_at, even in a predicate. The subject index
-- keeps revoked sessions now (they are filtered on the heap row), and
-- Revocations reads the table instead of sessions_revoked_at.
--
-- Room in the page for the new version: rows fill half a page, so every
-- live session on it can be revoked in place. It applies to pages written
-- from now on; VACUUM FULL (or pg_repack) applies it to the rows already
-- stored.
ALTER TABLE sessions SET (fillfactor = 50);
CREATE INDEX sessions_subject ON sessions (subject, created_at);
DROP INDEX sessions_subject_live;
DROP INDEX sessions_revoked_at;
