-- A revocation becomes a heap-only (HOT) update: a new version of the row
-- in its own page and no index entry, instead of a version elsewhere with
-- one entry in every index (the random-ordered primary key among them).
-- That needs two things (docs/pgstore.md, "Indexes and why"):
--
-- No index may name revoked_at, even in a predicate. The subject index
-- keeps revoked sessions now (they are filtered on the heap row), and
-- Revocations reads revocation_log (below) instead of sessions_revoked_at.
--
-- Room in the page for the new version: rows fill half a page, so every
-- live session on it can be revoked in place. It applies to pages written
-- from now on; VACUUM FULL (or pg_repack) applies it to the rows already
-- stored.
ALTER TABLE sessions SET (fillfactor = 50);
CREATE INDEX sessions_subject ON sessions (subject, created_at);
DROP INDEX sessions_subject_live;
DROP INDEX sessions_revoked_at;

-- What Revocations reads instead of sessions_revoked_at. Every revocation
-- of one session or a subject's (Revoke, RevokeSubject, the evictions of
-- CreateLimited) adds its session here in the same statement; the row goes
-- with its session. RevokeMatching adds one row to bulk_revocations
-- instead, before it revokes anything: Revocations since a time at or
-- before a bulk revocation reads the sessions table itself.
CREATE TABLE revocation_log (
    session_id text        NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    revoked_at timestamptz NOT NULL
);
CREATE INDEX revocation_log_revoked_at ON revocation_log (revoked_at);
INSERT INTO revocation_log (session_id, revoked_at)
SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL;

-- One row per RevokeMatching call, kept (a few bytes per incident).
CREATE TABLE bulk_revocations (
    at timestamptz NOT NULL PRIMARY KEY
);
