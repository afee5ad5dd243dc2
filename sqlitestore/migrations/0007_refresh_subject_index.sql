-- Fewer index pages written per refresh (issue 11).
--
-- A refresh (and a Touch) sets last_active_at, so it moved the session's
-- entry in sessions_subject_last_active (subject, last_active_at): one more
-- page, at a random place (the subject), in every refresh's commit. Only a
-- session limit's eviction orders by last_active_at, and it reads the
-- subject's sessions anyway (to count the live ones), so it sorts those few
-- rows itself; every lookup by subject goes through sessions_subject. A
-- login still writes one subject index entry; a refresh writes none.
DROP INDEX sessions_subject_last_active;
CREATE INDEX sessions_subject ON sessions (subject);
