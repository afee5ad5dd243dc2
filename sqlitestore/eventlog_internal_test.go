package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestQueryEventsPlans: every statement of a query with time bounds reads
// a range of IDs (of the primary key, or of the index of its filter) or
// the irregular IDs' own index: never the whole table, never every event
// of a type from the oldest, never a sort. With 10,000,000 events a type
// and a time range walked events_type from the oldest: over a minute for
// the console's newest events of one type.
func TestQueryEventsPlans(t *testing.T) {
	st := planStore(t)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    sessiond.EventQuery
		want string // in the plan of the first statement
	}{
		{"type in a window", sessiond.EventQuery{Type: "session.created", Since: now.Add(-time.Minute), Until: now}, "events_type (type=? AND id>? AND id<?)"},
		{"type before until", sessiond.EventQuery{Type: "session.created", Until: now}, "events_type (type=? AND id<?)"},
		{"since alone", sessiond.EventQuery{Since: now.Add(-time.Hour)}, "PRIMARY KEY (id>?)"},
		{"a window", sessiond.EventQuery{Since: now.Add(-time.Hour), Until: now}, "PRIMARY KEY (id>? AND id<?)"},
		{"cursor past since", sessiond.EventQuery{Since: now.Add(-time.Hour), Cursor: sessiond.NewEventID(now)}, "PRIMARY KEY (id>?)"},
		{"subject and type in a window", sessiond.EventQuery{Subject: "alice", Type: "session.created", Since: now.Add(-time.Hour), Until: now}, "events_subject (subject=? AND id>? AND id<?)"},
		{"session and type", sessiond.EventQuery{SessionID: sessiond.NewSessionID(), Type: "session.created"}, "events_session_id (session_id=?)"},
		{"type alone", sessiond.EventQuery{Type: "session.created"}, "events_type (type=?)"},
		// No ID made from a time encodes one before 1970: the range is empty,
		// not the whole table read for none.
		{"until before 1970", sessiond.EventQuery{Until: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, "PRIMARY KEY (id<?)"},
		{"type until 1970", sessiond.EventQuery{Type: "session.created", Until: time.Unix(0, 0)}, "events_type (type=? AND id<?)"},
		// The kill switches among a mass logout's bulk revocations: the
		// events without a subject alone, not every one of the type.
		{"no subject, type since", sessiond.EventQuery{NoSubject: true, Type: "session.bulk_revoked", Since: now.Add(-24 * time.Hour)}, "events_no_subject (type=? AND id>?)"},
		{"no subject, type", sessiond.EventQuery{NoSubject: true, Type: "session.bulk_revoked"}, "events_no_subject (type=?)"},
	} {
		stmts := eventStatements(tc.q, 101)
		for i, s := range stmts {
			got := queryPlan(t, st, s.query, s.args...)
			// The irregular IDs' index holds them alone: reading it
			// whole reads them, not the log.
			if strings.Contains(strings.ReplaceAll(got, "SCAN events USING INDEX events_irregular", ""), "SCAN") || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("%s: statement %d plan %q; want a search, no scan or sort", tc.name, i, got)
			}
			if i == 0 && !strings.Contains(got, tc.want) {
				t.Errorf("%s: plan %q; want %q", tc.name, got, tc.want)
			}
			if i == 1 && !strings.Contains(got, "events_irregular") {
				t.Errorf("%s: irregular IDs' plan %q; want events_irregular", tc.name, got)
			}
		}
		if timed := !tc.q.Since.IsZero() || !tc.q.Until.IsZero(); timed != (len(stmts) == 2) {
			t.Errorf("%s: %d statements; want 2 with time bounds, 1 without", tc.name, len(stmts))
		}
	}
}

// TestQueryEventsIrregularIDs: events whose ID does not encode their time
// (a library caller's own IDs) are found by time bounds as before the ID
// ranges, merged in ID order with the others, page by page.
func TestQueryEventsIrregularIDs(t *testing.T) {
	ctx := context.Background()
	st, err := New(ctx, filepath.Join(t.TempDir(), "irregular.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var all []sessiond.Event
	for i := range 60 {
		tm := base.Add(time.Duration(i) * time.Second)
		e := sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: "session.created", Subject: "alice"}
		switch i % 5 {
		case 1:
			e.ID = fmt.Sprintf("custom-%02d", i) // sorts before every regular ID
		case 2:
			e.ID = sessiond.NewEventID(base.Add(-time.Duration(i) * time.Hour)) // an ID from another time
		case 3:
			e.Type = "session.revoked"
		}
		all = append(all, e)
	}
	// Before 1970, whose ID cannot encode it.
	old := time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
	all = append(all, sessiond.Event{ID: sessiond.NewEventID(old), Time: old, Type: "session.created", Subject: "alice"})
	if err := st.AppendEvents(ctx, all...); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b sessiond.Event) int { return strings.Compare(a.ID, b.ID) })
	for _, q := range []sessiond.EventQuery{
		{Since: base.Add(10 * time.Second), Until: base.Add(40 * time.Second)},
		{Since: base.Add(10 * time.Second)},
		{Until: base.Add(20 * time.Second)},
		{Until: base.Add(-time.Hour)},
		{Type: "session.created", Since: base.Add(5 * time.Second), Until: base.Add(50 * time.Second)},
		{Subject: "alice", Since: base.Add(500 * time.Millisecond)},
		{Since: base.Add(-time.Hour)},
	} {
		var want []string
		for i := range all {
			if q.Matches(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		var got []string
		page := q
		page.Limit = 4
		for n := 0; ; n++ {
			evs, next, err := st.QueryEvents(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				got = append(got, e.ID)
			}
			if next == "" || n > 100 {
				break
			}
			page.Cursor = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("QueryEvents(%+v) in pages of 4 = %v; want %v", q, got, want)
		}
	}
}

// TestIrregularEventIndex: the partial index is the one QueryEvents
// names, its WHERE the statement's word for word (else SQLite cannot use
// it), and firstEventID agrees with it.
func TestIrregularEventIndex(t *testing.T) {
	b, err := os.ReadFile("migrations/0010_events_irregular.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "WHERE "+irregularEventSQL+";") {
		t.Errorf("migration 0010's WHERE differs from irregularEventSQL")
	}
	ctx := context.Background()
	st, err := New(ctx, filepath.Join(t.TempDir(), "first.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, us := range []int64{0, 1, 15, 16, 1764970580425348, 1765000000000015, 1<<53 - 1} {
		var got string
		q := firstEventIDSQL("?") + " || '0000000000000'"
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = us
		}
		if err := st.db.QueryRowContext(ctx, "SELECT "+q, args...).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := firstEventID(us); got != want {
			t.Errorf("firstEventID(%d) in SQL = %q; want %q", us, got, want)
		}
		if id := sessiond.NewEventID(time.UnixMicro(us)); id < got || id >= firstEventID(us+1) {
			t.Errorf("NewEventID at %d µs = %q; want in [%q, %q)", us, id, got, firstEventID(us+1))
		}
	}
}
