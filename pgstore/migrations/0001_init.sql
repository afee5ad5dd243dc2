-- Sessions and the hashes of their opaque tokens. Applied with search_path
-- set to the store's schema, so names are unqualified here. NULL revoked_at
-- / retired_at means "not yet".

CREATE TABLE sessions (
    id              text        NOT NULL PRIMARY KEY,
    subject         text        NOT NULL,
    strategy        text        NOT NULL,
    created_at      timestamptz NOT NULL,
    last_active_at  timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    persistent      boolean     NOT NULL DEFAULT false,
    client_ip       text        NOT NULL DEFAULT '',
    client_ua       text        NOT NULL DEFAULT '',
    -- bytea, not jsonb: the caller's bytes come back exactly as given.
    claims          bytea,
    revoked_at      timestamptz,
    revoke_reason   text        NOT NULL DEFAULT ''
);

-- List, RevokeSubject and CreateLimited read a subject's unrevoked
-- sessions; revoked rows (kept until they expire) stay out of the index.
CREATE INDEX sessions_subject_live ON sessions (subject, created_at) WHERE revoked_at IS NULL;

-- DeleteExpired: a session is over when either expiry passes, and
-- least(a, b) < t is exactly a < t OR b < t, so one index serves both.
CREATE INDEX sessions_gc ON sessions ((least(expires_at, idle_expires_at)));

-- Revocations (the revoked-set catch-up) reads recent revocations only.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Retired refresh tokens stay until their session is deleted, so a reuse
-- is recognised.
CREATE TABLE tokens (
    hash       bytea       NOT NULL PRIMARY KEY,
    session_id text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind       smallint    NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    retired_at timestamptz
);

-- ON DELETE CASCADE finds a deleted session's tokens through this index.
CREATE INDEX tokens_session_id ON tokens (session_id);
