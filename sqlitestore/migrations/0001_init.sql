-- Sessions and the hashes of their opaque tokens. Times are INTEGER unix
-- microseconds, UTC; NULL revoked_at / retired_at means "not yet".

CREATE TABLE sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    subject         TEXT    NOT NULL,
    strategy        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_active_at  INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    persistent      INTEGER NOT NULL DEFAULT 0,
    client_ip       TEXT    NOT NULL DEFAULT '',
    client_ua       TEXT    NOT NULL DEFAULT '',
    claims          BLOB,
    revoked_at      INTEGER,
    revoke_reason   TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);

-- Retired refresh tokens stay until their session is deleted, so a reuse
-- is recognised.
CREATE TABLE tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind       INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    retired_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX tokens_session_id ON tokens (session_id);
