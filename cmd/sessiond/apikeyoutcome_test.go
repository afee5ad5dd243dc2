package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// unrevokableMeta is a MetaStore (with the event log) whose first write
// of the API key set gives up while it runs on, to land at land, and
// whose later writes of the set fail (the store unavailable) until then:
// apikey create's clean-up cannot revoke the key. conflicts is how many
// writes of the set lose their compare-and-swap first (with gaveUp set:
// then no write lingers).
type unrevokableMeta struct {
	*memstore.Store
	conflicts int
	mu        sync.Mutex
	gaveUp    bool
	pending   func()
}

func (m *unrevokableMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return m.put(ctx, name, func(ctx context.Context) (int64, error) { return m.Store.PutMeta(ctx, name, value, version) })
}

// PutMetaRecorded: the key set's write with its events fails as PutMeta
// does, its events landing with it.
func (m *unrevokableMeta) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	return m.put(ctx, name, func(ctx context.Context) (int64, error) {
		return m.Store.PutMetaRecorded(ctx, name, value, version, rec)
	})
}

func (m *unrevokableMeta) put(ctx context.Context, name string, write func(context.Context) (int64, error)) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case name != apikey.DocName:
	case m.conflicts > 0:
		m.conflicts--
		return 0, fmt.Errorf("unrevokableMeta: version moved: %w", sessiond.ErrConflict)
	case !m.gaveUp:
		m.gaveUp = true
		m.pending = func() { _, _ = write(context.Background()) }
		return 0, fmt.Errorf("unrevokableMeta: %w", context.DeadlineExceeded)
	case m.pending != nil:
		return 0, fmt.Errorf("unrevokableMeta: %w", sessiond.ErrStoreUnavailable)
	}
	return write(ctx)
}

func (m *unrevokableMeta) land() {
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p != nil {
		p()
	}
}

// events returns the events recorded, as "type revocation reason".
func (m *unrevokableMeta) events(t *testing.T) []string {
	t.Helper()
	evs, _, err := m.QueryEvents(context.Background(), sessiond.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %v %v", e.Type, e.Details["revocation"], e.Details["reason"]))
	}
	return out
}

// TestCLI_APIKeyCreateRevokeFailed: apikey create whose write gave up
// (its outcome unknown) and whose revocation failed too leaves a key that
// may be live: the event log records it created all the same, saying the
// revocation failed, and the command fails naming the key and the
// command that revokes it, which then does. Before, nothing was recorded:
// the log lost a possibly live key.
func TestCLI_APIKeyCreateRevokeFailed(t *testing.T) {
	meta := &unrevokableMeta{Store: memstore.New()}
	defer meta.Close()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	err := a.createAPIKey(context.Background(), meta, "victim", apikey.DefaultScopes)
	if err == nil || stdout.Len() != 0 {
		t.Fatalf("createAPIKey = %v, stdout %q; want an error and no key printed", err, stdout.String())
	}
	if got, want := meta.events(t), []string{"api_key.created failed <nil>"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %q; want %q", got, want)
	}
	// The write lands with its own event (written with the change, made
	// before the one saying the revocation failed).
	meta.land()
	keys, lerr := apikey.New(meta.Store, nil, 0).List(context.Background())
	if lerr != nil || len(keys) != 1 {
		t.Fatalf("keys = %+v, %v; want the victim, landed", keys, lerr)
	}
	id := keys[0].ID
	if !strings.Contains(err.Error(), "sessiond apikey revoke "+id) {
		t.Errorf("createAPIKey = %v; want it to name `sessiond apikey revoke %s`", err, id)
	}
	if got, want := meta.events(t), []string{"api_key.created <nil> <nil>", "api_key.created failed <nil>"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events once the write landed = %q; want %q", got, want)
	}
	if err := a.revokeAPIKey(context.Background(), meta, id); err != nil {
		t.Fatalf("revokeAPIKey(%s) = %v", id, err)
	}
	if _, err := apikey.New(meta.Store, nil, 0).Get(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// TestCLI_APIKeyCreateConflict: apikey create whose every compare-and-swap
// was lost stored nothing and nothing can land: it fails and leaves no
// trace. Before, the key of its last lost try was added to the set
// revoked (apikey list showed it) and recorded created then revoked.
func TestCLI_APIKeyCreateConflict(t *testing.T) {
	meta := &unrevokableMeta{Store: memstore.New(), conflicts: 5, gaveUp: true} // no write lingers
	defer meta.Close()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	err := a.createAPIKey(context.Background(), meta, "victim", apikey.DefaultScopes)
	if err == nil || stdout.Len() != 0 {
		t.Fatalf("createAPIKey = %v, stdout %q; want an error and no key printed", err, stdout.String())
	}
	keys, lerr := apikey.New(meta.Store, nil, 0).List(context.Background())
	if lerr != nil || len(keys) != 0 {
		t.Errorf("keys = %+v, %v; want none", keys, lerr)
	}
	if got := meta.events(t); len(got) != 0 {
		t.Errorf("events = %q; want none", got)
	}
}
