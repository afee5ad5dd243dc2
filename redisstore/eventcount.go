package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventCounter = (*Store)(nil)

// CountEvents counts q.Type's events per bucket; see sessiond.EventCounter.
//
// An event's ID begins with its time, so a bucket's regular events are a
// range of IDs in the type's index: one ZLEXCOUNT per bucket, all in one
// round trip, each O(log n) whatever the events. The events whose ID does
// not encode their time (<base>odd, usually none) may sit in any bucket's
// range: each of the type's is read, taken out of the range that counted
// it and counted by its time instead.
func (s *Store) CountEvents(ctx context.Context, q sessiond.EventCountQuery) ([]int, error) {
	const op = "count events"
	if err := ctxErr(ctx, op, q.Check()); err != nil {
		return nil, err
	}
	// Bucket i's IDs are [bounds[i], bounds[i+1]); the last has no end.
	// Before 1970 no ID encodes its time: bounds start at firstEventID(0).
	since := ceilMicros(q.Since)
	step := q.Step.Microseconds()
	bounds := make([]string, q.Buckets+1)
	for i := range q.Buckets {
		bounds[i] = firstEventID(max(since+int64(i)*step, 0))
	}
	key := s.evBase + "type:" + string(q.Type)
	cmds := make(rueidis.Commands, 0, q.Buckets+1)
	for i := range q.Buckets {
		to := "+"
		if i < q.Buckets-1 {
			to = "(" + bounds[i+1]
		}
		cmds = append(cmds, s.client.B().Zlexcount().Key(key).Min("["+bounds[i]).Max(to).Build())
	}
	cmds = append(cmds, s.client.B().Zcard().Key(s.evOdd()).Build())
	out := make([]int, q.Buckets)
	var odd int64
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, s.fail(op, err)
		}
		if i == q.Buckets {
			odd = n
		} else {
			out[i] = int(n)
		}
	}
	if odd == 0 {
		return out, nil
	}
	found, err := s.walkEvents(ctx, op, s.evOdd(), "-", "+", 1<<30, []string{"", "", string(q.Type), "", "", ""})
	if err != nil {
		return nil, err
	}
	for _, r := range found {
		// Out of the range that holds its ID, if any ...
		for i := q.Buckets - 1; i >= 0; i-- {
			if r.id >= bounds[i] {
				if i == q.Buckets-1 || r.id < bounds[i+1] {
					out[i]--
				}
				break
			}
		}
		// ... into the bucket of its time.
		v, _ := field(&r.fields[0])
		tm, err := decTime(v)
		if err != nil {
			return nil, s.fail(op, fmt.Errorf("event %s: %w", r.id, errCorrupt))
		}
		if b := q.Bucket(tm); b >= 0 {
			out[b]++
		}
	}
	return out, nil
}
