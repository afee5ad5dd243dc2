-- A subject's sessions read a page at a time (SubjectPager), in order of
-- creation: the concurrent-login check after each login, and a replayed
-- refresh token of a rotated session. Through sessions_subject (subject)
-- a page read every row of the subject to sort them, so its cost grew with
-- the subject's sessions (2-3 s for 100,000). With created_at and id in the
-- index a page is a range of it from its cursor, in order: it reads its
-- own rows, however many of the subject's sessions share a created_at (a
-- rotated session's family does).
--
-- It replaces the index on subject alone, which is its prefix: every lookup
-- by subject goes through it as before, a login writes one subject index
-- entry as before (27 bytes longer), and neither created_at nor id ever
-- changes, so a refresh, a touch or a revocation writes none.
DROP INDEX sessions_subject;
CREATE INDEX sessions_subject ON sessions (subject, created_at, id);
