-- SwapRefresh retires every other live refresh token of the session (its
-- siblings). Retired tokens stay until their session is deleted, so
-- through tokens_session_id that statement read every token the session
-- ever had, and a refresh grew slower with each one before it. This index
-- holds only the live refresh tokens: one per session, two within a grace
-- window.
CREATE INDEX tokens_live_refresh ON tokens (session_id) WHERE kind = 2 AND retired_at IS NULL;
