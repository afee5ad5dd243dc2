-- Small named documents every node shares (the signing key ring, the API
-- keys). version makes every update a compare-and-swap; documents never
-- expire.

CREATE TABLE meta (
    name       text        NOT NULL PRIMARY KEY,
    value      bytea       NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
