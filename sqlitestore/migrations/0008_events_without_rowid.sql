-- One B-tree fewer per event (issue 11).
--
-- This migration copies the events table: about a minute per million
-- events on a small VM, during which the server is not yet serving, and the
-- file keeps the old table's pages as free space until VACUUM (new rows
-- reuse them).
--
-- events was a rowid table with a TEXT primary key: every event went into
-- two B-trees before its four indexes (the table by rowid, the key by id).
-- Keyed by id WITHOUT ROWID it goes into one; IDs begin with their time, so
-- new events still append at the right edge, and the indexes, which end in
-- id already, stay as they were. The rows are copied in id order; every
-- query reads the same columns and gets the same rows.
CREATE TABLE events_by_id (
    id         TEXT    NOT NULL PRIMARY KEY,
    time       INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    subject    TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    client_ip  TEXT    NOT NULL DEFAULT '',
    client_ua  TEXT    NOT NULL DEFAULT '',
    details    BLOB                          -- a JSON object, or NULL
) STRICT, WITHOUT ROWID;

INSERT INTO events_by_id (id, time, type, subject, session_id, client_ip, client_ua, details)
    SELECT id, time, type, subject, session_id, client_ip, client_ua, details FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_by_id RENAME TO events;

CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_time ON events (time); -- since/until, and retention
