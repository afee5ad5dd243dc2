-- Fixed-window counters (sessiond.WindowCounter): failed refreshes per
-- subject, hashed by the caller, shared by every node. A row whose window
-- has ended is taken over by the next Incr of its key; ended rows are
-- swept in small batches.
CREATE TABLE counters (
    key      text COLLATE "C" NOT NULL PRIMARY KEY,
    count    bigint      NOT NULL,
    reset_at timestamptz NOT NULL
);

CREATE INDEX counters_reset_at ON counters (reset_at);
