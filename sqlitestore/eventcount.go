package sqlitestore

import (
	"context"
	"encoding/json"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventCounter = (*Store)(nil)

// CountEvents counts q.Type's events per bucket; see sessiond.EventCounter.
//
// An event's ID begins with its time, so a bucket's regular events are a
// range of the (type, id) index: one statement counts each bucket's
// range from the index alone, reading no event. The events whose ID does
// not encode their time (their partial index, migration 0010; usually
// none) may sit in any bucket's range: each of the type's is read, taken
// out of the range that counted it and counted by its time instead.
func (s *Store) CountEvents(ctx context.Context, q sessiond.EventCountQuery) ([]int, error) {
	const op = "count events"
	if err := q.Check(); err != nil {
		return nil, wrap(op, err)
	}
	// Bucket i's IDs are [bounds[i], bounds[i+1]); the last has no end.
	// Before 1970 no ID encodes its time: bounds start at firstEventID(0).
	since, step := ceilMicro(q.Since), q.Step.Microseconds()
	bounds := make([]string, q.Buckets)
	for i := range bounds {
		bounds[i] = firstEventID(max(since+int64(i)*step, 0))
	}
	// One row per bucket, not one column: SQLite allows 2,000 columns a
	// result, and MaxEventBuckets is more. The bounded buckets' pairs come
	// as one JSON parameter; one statement reads one snapshot.
	pairs := make([][2]string, q.Buckets-1)
	for i := range pairs {
		pairs[i] = [2]string{bounds[i], bounds[i+1]}
	}
	pairsJSON, err := json.Marshal(pairs)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := make([]int, q.Buckets)
	counts, err := s.db.QueryContext(ctx, `SELECT b.key, (SELECT count(*) FROM events
			WHERE type = ?1 AND id >= b.value ->> 0 AND id < b.value ->> 1)
		FROM json_each(?2) AS b
		UNION ALL
		SELECT ?3, (SELECT count(*) FROM events WHERE type = ?1 AND id >= ?4)`,
		string(q.Type), string(pairsJSON), q.Buckets-1, bounds[q.Buckets-1])
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer counts.Close()
	for counts.Next() {
		var i, n int
		if err := counts.Scan(&i, &n); err != nil {
			return nil, s.fail(op, err)
		}
		out[i] = n
	}
	if err := counts.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	counts.Close()
	rows, err := s.db.QueryContext(ctx, `SELECT id, time FROM events INDEXED BY events_irregular
		WHERE (`+irregularEventSQL+`) AND type = ?`, string(q.Type))
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			tm int64
		)
		if err := rows.Scan(&id, &tm); err != nil {
			return nil, s.fail(op, err)
		}
		// Out of the range that holds its ID, if any ...
		for i := q.Buckets - 1; i >= 0; i-- {
			if id >= bounds[i] {
				if i == q.Buckets-1 || id < bounds[i+1] {
					out[i]--
				}
				break
			}
		}
		// ... into the bucket of its time.
		if i := q.Bucket(fromMicro(tm)); i >= 0 {
			out[i]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
