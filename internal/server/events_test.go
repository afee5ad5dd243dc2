package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestFanout_RecordKeepsErrorChain: when the event log fails, Record's
// error still matches the store's sentinel (it was formatted with %v, so
// errors.Is could not see through it).
func TestFanout_RecordKeepsErrorChain(t *testing.T) {
	ctx := context.Background()
	store, err := sqlitestore.New(ctx, filepath.Join(t.TempDir(), "db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close() // every write now fails
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionCreated}
	want := store.AppendEvents(ctx, e)
	if want == nil {
		t.Fatal("a closed store accepted an event")
	}
	f := &fanout{log: store, metrics: met}
	got := f.Record(ctx, e)
	if got == nil {
		t.Fatal("Record on a closed store = nil")
	}
	if !errors.Is(want, sessiond.ErrStoreUnavailable) {
		t.Fatalf("closed store: %v; want an error matching ErrStoreUnavailable", want)
	}
	if !errors.Is(got, sessiond.ErrStoreUnavailable) {
		t.Errorf("Record = %v; errors.Is(err, ErrStoreUnavailable) = false", got)
	}
}
