-- The security event log and the webhook outbox. Times are INTEGER unix
-- microseconds, UTC.

-- Events are paged by id (which sorts by time); each filter has an index
-- that yields its events in id order.
CREATE TABLE events (
    id         TEXT    NOT NULL PRIMARY KEY,
    time       INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    client_ip  TEXT    NOT NULL DEFAULT '',
    client_ua  TEXT    NOT NULL DEFAULT '',
    details    BLOB                          -- a JSON object, or NULL
) STRICT;

CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_time ON events (time); -- since/until, and retention

-- One row per event and webhook endpoint, until delivered or dead and
-- past retention.
CREATE TABLE deliveries (
    id              TEXT    NOT NULL PRIMARY KEY, -- the webhook-id header
    endpoint        TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    state           TEXT    NOT NULL,             -- pending, delivered, dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);      -- claim, count
CREATE INDEX deliveries_created ON deliveries (state, created_at);       -- list, newest first
CREATE INDEX deliveries_updated ON deliveries (state, updated_at);       -- retention

-- Only revoked sessions need an entry in the revoked_at index: Revocations
-- reads revoked_at >= ?, and nothing looks up revoked_at IS NULL through
-- it. Without the NULL entries a login writes one index entry fewer and the
-- incident kill switch, revoking every live session, only adds entries.
DROP INDEX sessions_revoked_at;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
