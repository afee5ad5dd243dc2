package pgstore

import (
	"context"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventCounter = (*Store)(nil)

// countEventsSQL counts a type's events per bucket from $1 in steps of $2
// µs, the last bucket ($3) open-ended, reading only the id and time of
// each: the type's range of IDs from $5 (an event's ID begins with its
// time) on events_type, and the events whose ID does not encode their
// time from their partial index (migration 0010, the predicate the
// index's word for word), those below the range only: the range counted
// the others. An interval's epoch is numeric: exact to the microsecond.
func (q *queries) countEventsSQL() string {
	ev := q.schema + ".events"
	return `SELECT least(floor(extract(epoch FROM e.time - $1::timestamptz) * 1000000 / $2::bigint), $3::bigint)::bigint, count(*)
	FROM ((SELECT id, time FROM ` + ev + ` WHERE type = $4 AND id >= $5 AND time >= $1)
		UNION ALL
		(SELECT id, time FROM ` + ev + ` WHERE ` + q.schema + `.event_id_irregular(id, time) AND type = $4 AND time >= $1 AND id < $5)) e
	GROUP BY 1`
}

// CountEvents counts q.Type's events per bucket in one statement; see
// sessiond.EventCounter. It reads the index entries (and the time) of the
// type's events since q.Since, and returns only the counts.
func (s *Store) CountEvents(ctx context.Context, q sessiond.EventCountQuery) ([]int, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "count events"
	if err := q.Check(); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := s.pool.Query(ctx, s.q.countEventsSQL(), ceilMicro(q.Since), q.Step.Microseconds(), int64(q.Buckets-1),
		cleanText(string(q.Type)), firstEventID(q.Since))
	if err != nil {
		return nil, s.translate(op, err)
	}
	defer rows.Close()
	out := make([]int, q.Buckets)
	for rows.Next() {
		var b, n int64
		if err := rows.Scan(&b, &n); err != nil {
			return nil, s.translate(op, err)
		}
		out[b] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(op, err)
	}
	return out, nil
}
