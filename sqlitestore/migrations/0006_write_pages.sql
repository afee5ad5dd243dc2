-- Fewer index pages written per login and refresh (issue 11).
--
-- sessions_subject is a prefix of sessions_subject_last_active (subject,
-- last_active_at), which serves every lookup by subject as well: one index
-- fewer to write on every login.
DROP INDEX sessions_subject;

-- A refresh retires the session's current refresh tokens (retired_at IS
-- NULL). Through an index on session_id alone that statement read every
-- token the session ever had, each retired one kept for reuse detection, so
-- its cost grew with every refresh of the chain; with retired_at in the
-- index it reads only the current ones. session_id stays the leading
-- column, so ON DELETE CASCADE still finds a session's tokens through it.
DROP INDEX tokens_session_id;
CREATE INDEX tokens_session_current ON tokens (session_id, retired_at);
