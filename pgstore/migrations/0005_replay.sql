-- One-time keys (sessiond.ReplayGuard): a DPoP proof's or a received SET's
-- jti, hashed by the caller, kept until it could no longer be accepted.
-- An expired row is taken over by the next RememberOnce of its key and
-- swept in small batches.
CREATE TABLE once_keys (
    key   text COLLATE "C" NOT NULL PRIMARY KEY,
    until timestamptz NOT NULL
);

CREATE INDEX once_keys_until ON once_keys (until);
