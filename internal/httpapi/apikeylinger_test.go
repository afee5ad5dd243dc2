package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// lingeringKeyMeta is a MetaStore whose first write of the API key set
// gives up (its answer lost: the request's context ended, the store timed
// out) while the write itself runs on, to land later as the
// compare-and-swap it is: PostgreSQL runs a statement on past a client
// that gave up until the cancel request reaches it.
type lingeringKeyMeta struct {
	*memstore.Store
	mu      sync.Mutex
	gaveUp  bool
	pending func()
}

func (m *lingeringKeyMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name != apikey.DocName || m.gaveUp {
		return m.Store.PutMeta(ctx, name, value, version)
	}
	m.gaveUp = true
	m.pending = func() { _, _ = m.Store.PutMeta(context.Background(), name, value, version) }
	return 0, fmt.Errorf("lingeringKeyMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
}

// land lands the write that gave up, if it has not yet.
func (m *lingeringKeyMeta) land() {
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p != nil {
		p()
	}
}

// TestAPI_CreateKeyWriteLost: POST /v1/api-keys whose write of the key set
// fails with its outcome unknown answers an error, so nobody receives the
// secret; the key must not be live in the set however late that write
// lands.
func TestAPI_CreateKeyWriteLost(t *testing.T) {
	t.Parallel()
	meta := &lingeringKeyMeta{Store: memstore.New()}
	t.Cleanup(func() { meta.Close() })
	e, _ := newKeysEnv(t, meta)
	r := e.postJSON("/v1/api-keys", `{"name":"victim"}`)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/api-keys with the write's answer lost = %d %s; want 503", r.status, r.body)
	}
	meta.land()
	keys, err := apikey.New(meta.Store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "victim" && k.RevokedAt.IsZero() {
			t.Errorf("key %s is live in the set after its creation answered %d: a key nobody received", k.ID, r.status)
		}
	}
}
