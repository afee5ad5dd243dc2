package pgstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestStore_EventText: text PostgreSQL cannot hold is stored with U+FFFD
// rather than losing the event (or its batch), and a filter with the same
// bytes finds it; Details keep a NUL, which jsonb would refuse.
func TestStore_EventText(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	bad := sessiond.Event{
		ID: sessiond.NewEventID(t0), Time: t0, Type: "api_key.auth_failed",
		Subject: "al\x00ice", Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (caf\xe9)"},
		Details: map[string]any{"path": "/v1/\x00sessions", "ua": "caf\xe9"},
	}
	good := sessiond.Event{ID: sessiond.NewEventID(t0.Add(time.Second)), Time: t0.Add(time.Second), Type: sessiond.EventSessionCreated, Subject: "bob"}
	if err := st.AppendEvents(ctx, bad, good); err != nil {
		t.Fatalf("AppendEvents(event with invalid UTF-8 and NUL) = %v; want nil", err)
	}
	got, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Subject: bad.Subject})
	if err != nil || len(got) != 1 {
		t.Fatalf("QueryEvents(Subject %q) = %d events, %v; want 1", bad.Subject, len(got), err)
	}
	e := got[0]
	if e.Subject != "al\uFFFDice" || e.Client.UserAgent != "Mozilla/5.0 (caf\uFFFD)" {
		t.Errorf("stored Subject, UserAgent = %q, %q; want %q, %q", e.Subject, e.Client.UserAgent, "al\uFFFDice", "Mozilla/5.0 (caf\uFFFD)")
	}
	// encoding/json already replaces invalid UTF-8 in Details; a NUL survives.
	if e.Details["path"] != "/v1/\x00sessions" || e.Details["ua"] != "caf\uFFFD" {
		t.Errorf("stored Details = %q; want path %q, ua %q", e.Details, "/v1/\x00sessions", "caf\uFFFD")
	}
	noID := good
	noID.ID = "evt_\xff"
	if err := st.AppendEvents(ctx, noID); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("AppendEvents(ID with invalid UTF-8) = %v; want ErrInvalidArgument", err)
	}
}

// TestStore_EventOrder: events page in byte order of their IDs, as Go
// compares strings, whatever the database's collation.
func TestStore_EventOrder(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ids := []string{"evt_b", "evt_B", "evt_-x", "evt_a", "evt_A", "evt_0", "evt__"}
	for _, id := range ids {
		if err := st.AppendEvents(t.Context(), sessiond.Event{ID: id, Time: t0, Type: sessiond.EventSessionCreated}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := sessiond.EventQuery{Limit: 2}
	for {
		page, next, err := st.QueryEvents(t.Context(), q)
		if err != nil {
			t.Fatalf("QueryEvents(%+v) = %v", q, err)
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("QueryEvents pages = %q; want byte order %q", got, want)
	}
}
