package sessiondtest

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// eventCountStore is a store with an event log that counts it.
type eventCountStore interface {
	sessiond.EventLog
	sessiond.EventCounter
}

// TestEventCounter checks a store's sessiond.EventCounter against its
// EventLog. newStore must return a fresh store on each call. The contract:
//   - CountEvents returns q.Buckets counts; the i-th is the number of
//     events of q.Type whose Time falls in bucket i as
//     EventCountQuery.Bucket places it: none before Since (rounded up to
//     the microsecond), those after the last bucket in the last; whatever
//     an event's ID (a caller's own IDs need not encode the time).
//   - A query EventCountQuery.Check refuses is ErrInvalidArgument; after
//     Close, CountEvents fails with ErrStoreUnavailable.
func TestEventCounter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[eventCountStore]{
		{"Empty", eventCountEmpty},
		{"Buckets", eventCountBuckets},
		{"Random", eventCountRandom},
		{"MaxBuckets", eventCountMaxBuckets},
		{"Before1970", eventCountBefore1970},
		{"BadInput", eventCountBadInput},
		{"Closed", eventCountClosed},
	})
}

func countEvents(f *fixture, c sessiond.EventCounter, q sessiond.EventCountQuery) []int {
	f.t.Helper()
	got, err := c.CountEvents(f.ctx, q)
	if err != nil {
		f.t.Fatalf("CountEvents(%+v) = %v; want nil", q, err)
	}
	if len(got) != q.Buckets {
		f.t.Fatalf("CountEvents(%+v) returned %d counts; want %d", q, len(got), q.Buckets)
	}
	return got
}

func eventCountEmpty(t *testing.T, f *fixture, s eventCountStore) {
	q := sessiond.EventCountQuery{Type: sessiond.EventSessionCreated, Since: t0, Step: time.Minute, Buckets: 5}
	if got := countEvents(f, s, q); !slices.Equal(got, make([]int, 5)) {
		t.Errorf("CountEvents on an empty log = %v; want zeros", got)
	}
}

// eventCountBuckets places events at and around the bucket bounds, with
// IDs made from their time and IDs of other shapes.
func eventCountBuckets(t *testing.T, f *fixture, s eventCountStore) {
	since := t0.Truncate(time.Microsecond).Add(500 * time.Nanosecond) // counts from the next microsecond
	start := since.Truncate(time.Microsecond).Add(time.Microsecond)
	const step = time.Minute
	typ := sessiond.EventSessionRefreshed
	ev := func(id string, tm time.Time, typ sessiond.EventType) sessiond.Event {
		e := newEvent(typ, "alice", "s1", tm)
		if id != "" {
			e.ID = id
		}
		return e
	}
	appendEvents(f, s,
		ev("", start.Add(-time.Microsecond), typ),                              // before since's microsecond
		ev("", since.Truncate(time.Microsecond), typ),                          // since's microsecond, before since
		ev("", start, typ),                                                     // bucket 0's first microsecond
		ev("", start.Add(step-time.Microsecond), typ),                          // bucket 0's last
		ev("", start.Add(step), typ),                                           // bucket 1
		ev("", start.Add(2*step+time.Second), typ),                             // bucket 2
		ev("", start.Add(3*step+time.Hour), typ),                               // after the end: the last bucket
		ev("", start.Add(step), sessiond.EventSessionCreated),                  // another type
		ev("custom-1", start.Add(step+time.Second), typ),                       // an ID before every regular one
		ev("zz-1", start.Add(-time.Hour), typ),                                 // an ID after every regular one, before since
		ev(sessiond.NewEventID(start.Add(-time.Hour)), start.Add(2*step), typ), // another time's ID
		ev(sessiond.NewEventID(start.Add(step)), start.Add(-time.Minute), typ), // inside bucket 1's IDs, before since
		ev(sessiond.NewEventID(start), start.Add(2*step+time.Second), typ),     // inside bucket 0's IDs, in bucket 2
		// The IDs NewEventID gives at the very bounds of a bucket's range.
		ev(edgeEventID(start, 0), start, typ), // bucket 0's smallest ID
		ev(edgeEventID(start.Add(step-time.Microsecond), 0xff), start.Add(step-time.Microsecond), typ), // bucket 0's largest
		ev(edgeEventID(start.Add(step), 0), start.Add(step), typ),                                      // bucket 1's smallest
	)
	q := sessiond.EventCountQuery{Type: typ, Since: since, Step: step, Buckets: 3}
	want := []int{4, 3, 4}
	if got := countEvents(f, s, q); !slices.Equal(got, want) {
		t.Errorf("CountEvents(%+v) = %v; want %v", q, got, want)
	}
	q.Type = "custom.none"
	if got := countEvents(f, s, q); !slices.Equal(got, make([]int, 3)) {
		t.Errorf("CountEvents(type without events) = %v; want zeros", got)
	}
}

// edgeEventID is the ID sessiond.NewEventID gives at t when its eight
// random bytes are all fill: 0 the smallest of t's microsecond, 0xff the
// largest.
func edgeEventID(t time.Time, fill byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	for i := 8; i < 16; i++ {
		b[i] = fill
	}
	return "evt_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// eventCountRandom compares CountEvents with EventCountQuery.Bucket applied
// to every stored event, on random logs and queries, IDs of every shape.
func eventCountRandom(t *testing.T, f *fixture, s eventCountStore) {
	rng := rand.New(rand.NewPCG(20901, 3)) // fixed: a failure reproduces
	base := t0.Truncate(time.Second)
	types := []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRevoked, "custom.type"}
	var all []sessiond.Event
	seen := map[string]bool{}
	for i := range 300 {
		tm := base.Add(time.Duration(rng.Int64N(int64(3*time.Hour))) - time.Hour)
		if rng.IntN(5) == 0 {
			tm = base.Add(time.Duration(rng.IntN(7200)) * time.Second) // on a bucket bound
		}
		e := newEvent(types[rng.IntN(len(types))], "bob", "", tm)
		switch rng.IntN(8) {
		case 0:
			e.ID = fmt.Sprintf("custom-%04d", i)
		case 1:
			e.ID = sessiond.NewEventID(base.Add(time.Duration(rng.Int64N(int64(3*time.Hour))) - time.Hour))
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		all = append(all, e)
	}
	appendEvents(f, s, all...)
	for range 30 {
		q := sessiond.EventCountQuery{
			Type:    types[rng.IntN(len(types))],
			Since:   base.Add(time.Duration(rng.Int64N(int64(time.Hour))) - 30*time.Minute),
			Step:    []time.Duration{time.Second, 5 * time.Minute, time.Hour, 90 * time.Microsecond}[rng.IntN(4)],
			Buckets: 1 + rng.IntN(30),
		}
		if rng.IntN(2) == 0 {
			q.Since = q.Since.Add(time.Duration(rng.IntN(999)+1) * time.Nanosecond)
		}
		want := make([]int, q.Buckets)
		for _, e := range all {
			if b := q.Bucket(e.Time); e.Type == q.Type && b >= 0 {
				want[b]++
			}
		}
		if got := countEvents(f, s, q); !slices.Equal(got, want) {
			t.Errorf("CountEvents(%+v) = %v; want %v", q, got, want)
		}
	}
}

// eventCountMaxBuckets asks for the most buckets a query may have, with
// events in the first, a middle one, the last and after its end, and an
// irregular ID: the largest query Check lets through is answered too.
func eventCountMaxBuckets(t *testing.T, f *fixture, s eventCountStore) {
	const n, step = sessiond.MaxEventBuckets, time.Second
	since := t0.Truncate(time.Second)
	typ := sessiond.EventSessionRefreshed
	odd := newEvent(typ, "alice", "", since.Add(n/2*step))
	odd.ID = "custom-1"
	appendEvents(f, s,
		newEvent(typ, "alice", "", since),
		newEvent(typ, "alice", "", since.Add(n/2*step+time.Microsecond)),
		newEvent(typ, "alice", "", since.Add((n-1)*step)),
		newEvent(typ, "alice", "", since.Add(n*step+time.Hour)),
		odd,
	)
	q := sessiond.EventCountQuery{Type: typ, Since: since, Step: step, Buckets: n}
	want := make([]int, n)
	want[0], want[n/2], want[n-1] = 1, 2, 2
	if got := countEvents(f, s, q); !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("CountEvents(%d buckets)[%d] = %d; want %d", n, i, got[i], want[i])
			}
		}
	}
}

// eventCountBefore1970: buckets from before 1970, where no ID encodes the
// time (NewEventID's bytes wrap around), into the regular IDs after it.
func eventCountBefore1970(t *testing.T, f *fixture, s eventCountStore) {
	epoch := time.Unix(0, 0).UTC()
	typ := sessiond.EventSessionRefreshed
	appendEvents(f, s,
		newEvent(typ, "alice", "", epoch.Add(-2*time.Hour)), // before since
		newEvent(typ, "alice", "", epoch.Add(-30*time.Minute)),
		newEvent(typ, "alice", "", epoch),
		newEvent(typ, "alice", "", epoch.Add(30*time.Minute)),
		newEvent(typ, "alice", "", epoch.Add(90*time.Minute)),
	)
	q := sessiond.EventCountQuery{Type: typ, Since: epoch.Add(-time.Hour), Step: time.Hour, Buckets: 2}
	if got, want := countEvents(f, s, q), []int{1, 3}; !slices.Equal(got, want) {
		t.Errorf("CountEvents(%+v) = %v; want %v", q, got, want)
	}
}

func eventCountBadInput(t *testing.T, f *fixture, s eventCountStore) {
	ok := sessiond.EventCountQuery{Type: sessiond.EventSessionCreated, Since: t0, Step: time.Minute, Buckets: 5}
	for _, tc := range []struct {
		name string
		edit func(q *sessiond.EventCountQuery)
	}{
		{"no type", func(q *sessiond.EventCountQuery) { q.Type = "" }},
		{"zero step", func(q *sessiond.EventCountQuery) { q.Step = 0 }},
		{"negative step", func(q *sessiond.EventCountQuery) { q.Step = -time.Minute }},
		{"step below a microsecond", func(q *sessiond.EventCountQuery) { q.Step = time.Minute + time.Nanosecond }},
		{"no buckets", func(q *sessiond.EventCountQuery) { q.Buckets = 0 }},
		{"too many buckets", func(q *sessiond.EventCountQuery) { q.Buckets = sessiond.MaxEventBuckets + 1 }},
		{"since out of range", func(q *sessiond.EventCountQuery) { q.Since = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		q := ok
		tc.edit(&q)
		if _, err := s.CountEvents(f.ctx, q); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("%s: CountEvents(%+v) = %v; want ErrInvalidArgument", tc.name, q, err)
		}
	}
	if got := countEvents(f, s, ok); len(got) != ok.Buckets {
		t.Errorf("CountEvents(valid) = %v", got)
	}
}

func eventCountClosed(t *testing.T, f *fixture, s eventCountStore) {
	if err := f.st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	q := sessiond.EventCountQuery{Type: sessiond.EventSessionCreated, Since: t0, Step: time.Minute, Buckets: 5}
	if _, err := s.CountEvents(f.ctx, q); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("CountEvents after Close = %v; want ErrStoreUnavailable", err)
	}
}
