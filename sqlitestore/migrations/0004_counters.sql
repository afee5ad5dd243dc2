-- Fixed-window counters (sessiond.WindowCounter): failed refreshes per
-- subject, hashed by the caller. reset_at is the window's end in unix
-- microseconds. A row whose window has ended is taken over by the next Incr
-- of its key; ended rows are swept in small batches.
CREATE TABLE counters (
    key      TEXT    NOT NULL PRIMARY KEY,
    count    INTEGER NOT NULL,
    reset_at INTEGER NOT NULL
) STRICT;

CREATE INDEX counters_reset_at ON counters (reset_at);
