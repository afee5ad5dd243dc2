-- One index of tokens by session instead of two. tokens_session_id served
-- ON DELETE CASCADE, tokens_live_refresh (0006) SwapRefresh's retirement of
-- the session's live refresh tokens; every new token had an entry in both.
-- This one serves both: the cascade by its first column, the retirement
-- (session_id = $3 AND kind = 2 AND retired_at IS NULL, which PostgreSQL
-- matches to the boolean key as "= true") by all three, so it reads only
-- the live refresh tokens among the retired ones, as 0006 did.
--
-- The key holds whether the token is retired, not when: all the retired
-- refresh tokens of a session then share one key, which B-tree
-- deduplication stores once with a list of row pointers. Keyed on
-- retired_at itself, every retired token was an entry of its own, and
-- the index grew half as fast again as the two it replaces.
CREATE INDEX tokens_session ON tokens (session_id, kind, (retired_at IS NULL));
DROP INDEX tokens_session_id;
DROP INDEX tokens_live_refresh;
