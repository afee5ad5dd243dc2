-- One index of tokens by session instead of two. tokens_session_id served
-- ON DELETE CASCADE, tokens_live_refresh (0006) SwapRefresh's retirement of
-- the session's live refresh tokens; every new token had an entry in both.
-- (session_id, kind, retired_at) serves both: the cascade by its first
-- column, the retirement by an equality on all three (retired_at IS NULL
-- is an index condition), which reads only the live refresh tokens among
-- the retired ones, as 0006 did.
CREATE INDEX tokens_session ON tokens (session_id, kind, retired_at);
DROP INDEX tokens_session_id;
DROP INDEX tokens_live_refresh;
