-- Small shared documents (signing key ring, API keys), updated by
-- compare-and-swap on version.
CREATE TABLE meta (
    name    TEXT    NOT NULL PRIMARY KEY,
    value   BLOB    NOT NULL,
    version INTEGER NOT NULL
) STRICT;

-- Least-recently-active eviction under the per-subject session limit.
CREATE INDEX sessions_subject_last_active ON sessions (subject, last_active_at);
