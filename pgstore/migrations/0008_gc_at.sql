-- Refreshing a session becomes a heap-only (HOT) update. Touch and
-- SwapRefresh write last_active_at and idle_expires_at; sessions_gc indexed
-- least(expires_at, idle_expires_at), so each of them wrote a new row
-- version elsewhere plus one entry in every index of sessions, and the
-- table and its indexes grew with every refresh until VACUUM.
--
-- gc_at is when the collector looks at the session next: never later than
-- the session can be over, and written by Create, by the collector, and
-- by Touch and SwapRefresh only to move it earlier. The collector deletes a
-- session whose gc_at has passed if it is over, and otherwise moves gc_at
-- to its current least(expires_at, idle_expires_at) (docs/pgstore.md,
-- "Expiry and the collector").
--
-- '-infinity' (the default) means "look now": the sessions a node of an
-- older version creates during a rolling upgrade.
ALTER TABLE sessions ADD COLUMN gc_at timestamptz NOT NULL DEFAULT '-infinity';
DROP INDEX sessions_gc;
-- The sessions stored so far. Before sessions_gc_at exists no index names
-- gc_at, so each row is rewritten in its own page where there is room
-- (HOT, no index entry): a fifth of the WAL of leaving them to the
-- collector, which would move each live one with a non-HOT update.
UPDATE sessions SET gc_at = least(expires_at, idle_expires_at);
CREATE INDEX sessions_gc_at ON sessions (gc_at);
