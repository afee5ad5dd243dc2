package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
)

// logSink is an AtomicSink that hands every event to the store, which
// writes it with its change, as the server's sink does.
type logSink struct{ log sessiond.EventLog }

func (k logSink) Record(ctx context.Context, e sessiond.Event) error {
	return k.log.AppendEvents(ctx, e)
}

func (logSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	return []sessiond.Event{e}, nil, true, nil
}

func (logSink) Committed(context.Context, sessiond.Event) {}

// TestStore_DiskFull: a database that cannot grow (SQLite's max_page_count
// on the writer's connection gives the SQLITE_FULL of a full disk, with no
// file system to fill) refuses writes as unavailable, naming the file
// system's free space (SQLite's message does not say which disk, nor,
// for a -shm it cannot extend, that it is full); nothing it refuses is
// stored, everything it acknowledged is, with its event; it writes again
// as soon as it can grow, without reopening, and the file is intact.
func TestStore_DiskFull(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "full.db")
	s, err := New(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := sessiondtest.NewClock(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: s, Clock: clock,
		Events: logSink{s}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var pages int
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var acked []*sessiond.Issued
	var full error
	for i := range 10_000 {
		iss, err := m.Create(ctx, fmt.Sprintf("user-%d", i), sessiond.CreateOptions{})
		if err != nil {
			full = err
			break
		}
		acked = append(acked, iss)
	}
	if !errors.Is(full, sessiond.ErrStoreUnavailable) || !strings.Contains(full.Error(), "free on the file system of "+dir) {
		t.Fatalf("Create on a full database = %v; want ErrStoreUnavailable naming the free space of %s", full, dir)
	}
	if len(acked) == 0 {
		t.Fatal("no login fitted before the database was full; the test needs some")
	}
	// Logouts while full: each is refused, or stored with its event.
	revoked := map[sessiond.SessionID]bool{}
	for _, iss := range acked {
		err := m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout)
		switch {
		case err == nil:
			revoked[iss.Session.ID] = true
		case !errors.Is(err, sessiond.ErrStoreUnavailable):
			t.Fatalf("Revoke on a full database = %v; want nil or ErrStoreUnavailable", err)
		}
	}

	// Room again: the next login is stored on the same connection.
	if _, err := s.wconn.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	after, err := m.Create(ctx, "after", sessiond.CreateOptions{})
	if err != nil {
		t.Fatalf("Create once the database can grow again = %v; want nil", err)
	}
	acked = append(acked, after)
	m.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = New(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var check string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v; want ok", check, err)
	}
	for _, iss := range acked {
		id := iss.Session.ID
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s), an acknowledged login, after reopening = %v", id, err)
		}
		if (!got.RevokedAt.IsZero()) != revoked[id] {
			t.Errorf("session %s revoked = %v; want %v (the answer its logout got)", id, !got.RevokedAt.IsZero(), revoked[id])
		}
		evs, _, err := s.QueryEvents(ctx, sessiond.EventQuery{SessionID: id})
		if err != nil {
			t.Fatal(err)
		}
		types := map[sessiond.EventType]int{}
		for _, e := range evs {
			types[e.Type]++
		}
		if want := map[bool]int{true: 1, false: 0}[revoked[id]]; types[sessiond.EventSessionCreated] != 1 || types[sessiond.EventSessionRevoked] != want {
			t.Errorf("events of session %s = %v; want one %s and %d %s", id, types, sessiond.EventSessionCreated, want, sessiond.EventSessionRevoked)
		}
	}
	t.Logf("%d logins acknowledged before the database was full, %d of their logouts stored while full", len(acked)-1, len(revoked))
}
