package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// lingeringMeta is a key-set store whose first write of the set once armed
// gives up (its answer lost) while the write runs on, to land later as the
// compare-and-swap it is (PostgreSQL runs a statement on past a client
// that gave up until the cancel request reaches it).
type lingeringMeta struct {
	sessiond.MetaStore
	mu      sync.Mutex
	armed   bool
	pending func()
}

func (m *lingeringMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name != apikey.DocName || !m.armed {
		return m.MetaStore.PutMeta(ctx, name, value, version)
	}
	m.armed = false
	m.pending = func() { _, _ = m.MetaStore.PutMeta(context.Background(), name, value, version) }
	return 0, fmt.Errorf("lingeringMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
}

func (m *lingeringMeta) land() {
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p != nil {
		p()
	}
}

// TestConsole_CreateKeyWriteLost: a key created on the console whose
// write failed with its outcome unknown is shown to nobody; it must not be
// live in the set however late that write lands.
func TestConsole_CreateKeyWriteLost(t *testing.T) {
	var meta *lingeringMeta
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &lingeringMeta{MetaStore: f.store}
		o.Keys = apikey.New(meta, f.clock, time.Second)
	})
	c := f.signedIn()
	meta.mu.Lock()
	meta.armed = true
	meta.mu.Unlock()
	resp, _ := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"victim"}, "scope": {"events:read"}}, "same-origin")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create with the write's answer lost = %d; want 503", resp.StatusCode)
	}
	meta.land()
	keys, err := apikey.New(f.store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "victim" && k.RevokedAt.IsZero() {
			t.Errorf("key %s is live in the set after its creation failed: a key nobody received", k.ID)
		}
	}
}
