-- A page of the revocation snapshot (PageRevocations) reads
-- revocation_log alone. It probed sessions' primary key for every logged
-- revocation, to read what a revocation carries besides its session and
-- time: 1,000 probes a page, 2.5 times the whole read's time for a
-- million revocations (docs/PERFORMANCE.md, "Revocation snapshot a page
-- at a time"). Every revocation that writes a log row now copies those
-- columns of its session into it, in the same statement. None of them
-- changes once the session is revoked, and the row goes with its session.
--
-- NULL subject means "not copied": the rows logged before this migration,
-- and those a node of the previous version logs during a rolling upgrade.
-- The page reads those from sessions, as before, so they need no
-- backfill: a snapshot reads only the last access lifetime, and once the
-- old nodes are gone, it holds none after that long. Adding nullable
-- columns without a default rewrites nothing.
ALTER TABLE revocation_log
    ADD COLUMN subject       text,
    ADD COLUMN expires_at    timestamptz,
    ADD COLUMN revoke_reason text,
    ADD COLUMN created_at    timestamptz;
