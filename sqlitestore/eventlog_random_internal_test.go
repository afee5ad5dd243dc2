package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestQueryEventsRandom compares QueryEvents, page by page, with a naive
// filter of every stored event, on random logs and queries: IDs made from
// the event's time and IDs of every other shape (a caller's own, from
// another time, exactly at the bounds of its time's range), times at and
// around the query bounds, before 1970 and far ahead, and every
// combination of filters, cursor and page size. The ID ranges of time
// bounded queries must return what a scan would, once each, in ID order.
func TestQueryEventsRandom(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(20900, 5)) // fixed: a failure reproduces
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixMicro()
	// Times close together so that bounds fall on, before and after
	// events; 15 and 16 µs apart carry into the ID's 12th character.
	times := []int64{
		math.MinInt64 / 2, -1 << 40, -16, -1, 0, 1, 15, 16, 17,
		base - 17, base - 16, base - 1, base, base + 1, base + 15, base + 16, base + 31, base + 32,
		base + 1_000_000, 1<<53 - 1, 1 << 60, math.MaxInt64 / 2, math.MaxInt64 - 1, math.MaxInt64,
	}
	// base + 15 is 15 mod 16 only if base is 0 mod 16: keep the carry case.
	times = append(times, base-base%16+15, base-base%16+16)
	pick := func(xs []int64) int64 { return xs[rng.IntN(len(xs))] }
	// A bound within a microsecond of the last one int64 holds rounds up
	// past it (ceilMicro overflows, as it did before the ID ranges): the
	// bounds stop one short.
	boundTimes := slices.DeleteFunc(slices.Clone(times), func(us int64) bool { return us == math.MaxInt64 })
	maxEventID := func(us int64) string { // the largest ID NewEventID gives at us
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(us))
		copy(b[8:], bytes.Repeat([]byte{0xff}, 8))
		return "evt_" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	}
	idFor := func(us int64) string {
		switch rng.IntN(12) {
		case 0:
			return fmt.Sprintf("custom-%03d", rng.IntN(1000)) // before every regular ID
		case 1:
			return fmt.Sprintf("zz-%03d", rng.IntN(1000)) // after every regular ID
		case 2:
			return sessiond.NewEventID(time.UnixMicro(pick(times))) // another time's ID (or, rarely, its own)
		case 3:
			if us >= 0 {
				return firstEventID(us) // the smallest regular ID at us
			}
		case 4:
			if us >= 0 && us < math.MaxInt64 {
				return firstEventID(us + 1) // just past its time's range
			}
		case 5:
			if us >= 0 {
				return maxEventID(us)
			}
		case 6:
			return "evt_" + strings.ToUpper(sessiond.NewEventID(time.UnixMicro(us))[4:])
		case 7:
			if us >= 0 {
				return firstEventID(us)[:10] // a prefix of the regular IDs near us
			}
		}
		if us < 0 {
			return sessiond.NewEventID(time.UnixMicro(us)) // cannot encode its time
		}
		return sessiond.NewEventID(time.UnixMicro(us))
	}
	subjects := []string{"alice", "bob", ""}
	sessions := []sessiond.SessionID{"s1", "s2", ""}
	types := []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRevoked, "custom.type"}

	for round := range 6 {
		st, err := New(ctx, filepath.Join(t.TempDir(), fmt.Sprintf("random%d.db", round)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var all []sessiond.Event
		seen := map[string]bool{}
		for range 40 + rng.IntN(160) {
			us := pick(times)
			if rng.IntN(3) == 0 {
				us = base + rng.Int64N(64) - 32
			}
			e := sessiond.Event{
				ID: idFor(us), Time: time.UnixMicro(us).UTC(),
				Type: types[rng.IntN(len(types))], Subject: subjects[rng.IntN(len(subjects))],
				SessionID: sessions[rng.IntN(len(sessions))],
			}
			if seen[e.ID] {
				continue // the store skips a repeated ID
			}
			seen[e.ID] = true
			all = append(all, e)
		}
		if err := st.AppendEvents(ctx, all...); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			// Upgrade: the events were written by a build before migration
			// 0010, which then indexes them.
			st = unmigrate0010(t, st)
		}
		slices.SortFunc(all, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
		bound := func() time.Time {
			if rng.IntN(3) == 0 {
				return time.Time{}
			}
			tm := time.UnixMicro(pick(boundTimes))
			if rng.IntN(2) == 0 {
				tm = time.UnixMicro(base + rng.Int64N(64) - 32)
			}
			switch rng.IntN(4) {
			case 0:
				tm = tm.Add(time.Duration(rng.IntN(999)+1) * time.Nanosecond)
			case 1:
				tm = tm.Add(-time.Duration(rng.IntN(999)+1) * time.Nanosecond)
			}
			return tm
		}
		for range 300 {
			q := sessiond.EventQuery{Since: bound(), Until: bound(), Limit: 1 + rng.IntN(7)}
			if rng.IntN(3) == 0 {
				q.Subject = subjects[rng.IntN(2)]
			}
			if rng.IntN(4) == 0 {
				q.SessionID = sessions[rng.IntN(2)]
			}
			if rng.IntN(3) == 0 {
				q.Type = types[rng.IntN(len(types))]
			}
			switch rng.IntN(4) {
			case 0:
				q.Cursor = all[rng.IntN(len(all))].ID
			case 1:
				q.Cursor = idFor(pick(times))
			}
			var want []string
			for i := range all {
				if q.Matches(&all[i]) {
					want = append(want, all[i].ID)
				}
			}
			var got []string
			page := q
			for n := 0; n <= len(all); n++ {
				evs, next, err := st.QueryEvents(ctx, page)
				if err != nil {
					t.Fatalf("round %d: QueryEvents(%+v): %v", round, page, err)
				}
				got = append(got, eventIDsOf(evs)...)
				// A next cursor exactly when more follow, and it is the last ID.
				more := len(want) > len(got)
				if (next != "") != more || (next != "" && (len(evs) != page.Limit || next != evs[len(evs)-1].ID)) {
					t.Errorf("round %d: QueryEvents(%+v) = %d events, next %q; %d of %d read", round, page, len(evs), next, len(got), len(want))
					break
				}
				if next == "" {
					break
				}
				page.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("round %d: QueryEvents(%+v) in pages = %v; want %v", round, q, got, want)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func eventIDsOf(es []sessiond.Event) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// unmigrate0010 closes st, takes migration 0010 out of its file as if an
// older build had written it, and opens it again, which migrates it.
func unmigrate0010(t *testing.T, st *Store) *Store {
	t.Helper()
	ctx := t.Context()
	path := st.path
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP INDEX events_irregular", "DELETE FROM schema_migrations WHERE version = 10"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = New(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'events_irregular'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("events_irregular after the upgrade: %d, %v", n, err)
	}
	return st
}
