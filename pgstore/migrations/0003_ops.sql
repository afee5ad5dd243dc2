-- The security event log and the webhook outbox. IDs are COLLATE "C": they
-- are compared and ordered byte by byte, as Go does (event IDs sort by
-- time, and QueryEvents pages by id), whatever the database's collation.

CREATE TABLE events (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    time       timestamptz NOT NULL,
    type       text        NOT NULL,
    subject    text        NOT NULL DEFAULT '',
    session_id text        NOT NULL DEFAULT '',
    client_ip  text        NOT NULL DEFAULT '',
    client_ua  text        NOT NULL DEFAULT '',
    -- The JSON object as encoded, or NULL. bytea, not jsonb: jsonb refuses
    -- the escape \u0000, and one such string (a relayed header, say) would
    -- make a whole batch of the security log fail.
    details    bytea
);

-- Each filter of QueryEvents reads its events in id order from one index;
-- time serves since/until and retention (DeleteEventsBefore).
CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_time ON events (time);

-- One row per event and webhook endpoint, until delivered or dead and past
-- retention.
CREATE TABLE deliveries (
    id              text COLLATE "C" NOT NULL PRIMARY KEY, -- the webhook-id header
    endpoint        text        NOT NULL,
    event_id        text        NOT NULL,
    payload         bytea       NOT NULL,                  -- the exact body
    state           text        NOT NULL,                  -- pending, delivered, dead
    attempts        bigint      NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Each index yields its statement's rows in the order it wants them.
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, id); -- ClaimDeliveries, CountDeliveries
CREATE INDEX deliveries_created ON deliveries (state, created_at, id);  -- ListDeliveries, newest first
CREATE INDEX deliveries_updated ON deliveries (state, updated_at);      -- DeleteDeliveriesBefore
