-- Refreshing a session becomes a heap-only (HOT) update. Touch and
-- SwapRefresh write last_active_at and idle_expires_at; sessions_gc indexed
-- least(expires_at, idle_expires_at), so each of them wrote a new row
-- version elsewhere plus one entry in every index of sessions, and the
-- table and its indexes grew with every refresh until VACUUM.
--
-- gc_at is when the collector looks at the session next: never later than
-- the session can be over, and written only by Create and the collector.
-- The collector deletes a session whose gc_at has passed if it is over,
-- and otherwise moves gc_at to its current least(expires_at,
-- idle_expires_at) (docs/pgstore.md, "Expiry and the collector").
--
-- '-infinity' (the default) means "look now": the sessions stored before
-- this migration, and those a node of an older version creates during a
-- rolling upgrade. The collector sets their gc_at in its next rounds, in
-- short batches, rather than this migration rewriting every row while it
-- holds the table's lock. Adding a column with a constant default changes
-- only the catalog.
ALTER TABLE sessions ADD COLUMN gc_at timestamptz NOT NULL DEFAULT '-infinity';
CREATE INDEX sessions_gc_at ON sessions (gc_at);
DROP INDEX sessions_gc;
