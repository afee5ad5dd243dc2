package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// TestAPI_CreateKeyWriteLost: POST /v1/api-keys whose write of the key set
// fails with its outcome unknown answers an error, so nobody receives the
// secret; the key must not be live in the set however late that write
// lands. The event log tells the key's story whole, as apikey create does:
// its creation, then its revocation with reason not_received (the action
// httpapi.KeyNotReceived), never the revocation of a key it never showed
// created.
func TestAPI_CreateKeyWriteLost(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	meta := &testenv.LingeringMeta{MetaStore: store, Doc: apikey.DocName}
	meta.Arm()
	var mu sync.Mutex
	var changes []string
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.APIKeys = apikey.New(meta, nil, time.Second)
		o.APIKeyChanged = func(_ context.Context, action string, k apikey.Key) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, action+" "+k.Name)
		}
	})
	r := e.postJSON("/v1/api-keys", `{"name":"victim"}`)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/api-keys with the write's answer lost = %d %s; want 503", r.status, r.body)
	}
	meta.Land()
	keys, err := apikey.New(store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "victim" && k.RevokedAt.IsZero() {
			t.Errorf("key %s is live in the set after its creation answered %d: a key nobody received", k.ID, r.status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"created victim", httpapi.KeyNotReceived + " victim"}; !slices.Equal(changes, want) {
		t.Errorf("changes reported for the event log = %q; want %q", changes, want)
	}
}
