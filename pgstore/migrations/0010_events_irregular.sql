-- Time-bounded event queries read a range of IDs (issue: a large store),
-- as SQLite's migration 0010 does.
--
-- An event's ID begins with its time (sessiond.NewEventID), so the events
-- at or after since and before until are, among those whose ID was made
-- from their time, exactly the IDs from firstEventID(since) up to
-- firstEventID(until): a range of the primary key, or of the (type, id),
-- (subject, id) and (session_id, id) indexes. Without it a query with a
-- type and a time range walked the primary key from the oldest event
-- (0.8 s with 2,000,000 events for a type's last two days).
--
-- The events whose ID does not encode their time (a caller of
-- AppendEvents with IDs of its own, or a time before 1970) could sit
-- anywhere in ID order: events_irregular holds them alone, so each query
-- reads them beside its range. A partial index's predicate must be
-- IMMUTABLE: event_id_irregular is, and uses only built-in functions, so
-- it does not depend on search_path. It computes the time's microseconds
-- from the interval's fields, exact on every version (extract(epoch) is a
-- double before PostgreSQL 14), and compares in "C" order as the column
-- does. Times from 2^63 µs on (year 294247, which PostgreSQL still holds)
-- have no ID and are irregular.
--
-- Building the index reads the events table once (cost: docs/operations.md).
CREATE FUNCTION event_id_irregular(id text, t timestamptz) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    iv interval := t - timestamptz '1970-01-01 00:00:00+00';
    n numeric;
    us bigint;
BEGIN
    IF iv < interval '0' THEN
        RETURN true;
    END IF;
    n := (date_part('day', iv)::numeric * 86400 + date_part('hour', iv)::numeric * 3600
        + date_part('minute', iv)::numeric * 60) * 1000000 + date_part('microseconds', iv)::numeric;
    IF n >= 9223372036854775807 THEN
        RETURN true;
    END IF;
    us := n::bigint;
    RETURN id COLLATE "C" < 'evt_'
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 59) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 54) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 49) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 44) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 39) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 34) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 29) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 24) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 19) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 14) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 9) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) >> 4) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us) & 15) * 2)::int + 1, 1)
        || '0000000000000'
        OR id COLLATE "C" >= 'evt_'
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 59) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 54) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 49) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 44) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 39) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 34) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 29) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 24) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 19) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 14) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 9) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) >> 4) & 31)::int + 1, 1)
        || substr('0123456789abcdefghijklmnopqrstuv', (((us + 1) & 15) * 2)::int + 1, 1)
        || '0000000000000';
END
$$;

CREATE INDEX events_irregular ON events (id) WHERE event_id_irregular(id, time);
