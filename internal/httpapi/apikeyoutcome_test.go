package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// keyChanges collects what /v1/api-keys reports for the event log.
type keyChanges struct {
	mu  sync.Mutex
	got []string
}

func (c *keyChanges) record(_ context.Context, action string, k apikey.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, action+" "+k.Name)
}

func (c *keyChanges) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// TestAPI_CreateKeyConflict: POST /v1/api-keys whose every compare-and-swap
// was lost (the set kept changing) stored nothing and nothing can land:
// it answers 503 and leaves no trace. Before, the key of its last lost
// try was added to the set revoked (GET /v1/api-keys listed it) and
// recorded created then revoked: a key that never existed.
func TestAPI_CreateKeyConflict(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	changes := &keyChanges{}
	meta := &testenv.ConflictMeta{MetaStore: store, Doc: apikey.DocName}
	meta.Arm(5)
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.APIKeys = apikey.New(meta, nil, time.Second)
		o.APIKeyChanged = changes.record
	})
	if r := e.postJSON("/v1/api-keys", `{"name":"victim"}`); r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/api-keys, every write conflicting = %d %s; want 503", r.status, r.body)
	}
	keys, err := apikey.New(store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("keys after a creation that stored nothing = %+v; want none", keys)
	}
	if got := changes.take(); len(got) != 0 {
		t.Errorf("changes reported for the event log = %q; want none", got)
	}
}

// TestAPI_CreateKeyRevokeFailed: POST /v1/api-keys whose write's outcome
// is unknown and whose clean-up (RevokeUnreceived) failed too leaves a key
// that may be live (its write may land) in the event log all the same:
// created, marked so (httpapi.KeyRevokeFailed), and the answer (503)
// names the key to revoke. Before, nothing was recorded: the log lost a
// possibly live key.
func TestAPI_CreateKeyRevokeFailed(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	meta := &testenv.LingeringMeta{MetaStore: store, Doc: apikey.DocName, FailAfter: true}
	meta.Arm()
	changes := &keyChanges{}
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.APIKeys = apikey.New(meta, nil, time.Second)
		o.APIKeyChanged = changes.record
	})
	r := e.postJSON("/v1/api-keys", `{"name":"victim"}`)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/api-keys, its write and its revocation failing = %d %s; want 503", r.status, r.body)
	}
	if want := []string{httpapi.KeyRevokeFailed + " victim"}; !slices.Equal(changes.take(), want) {
		t.Errorf("changes reported for the event log = %q; want %q", changes.take(), want)
	}
	meta.Land()
	keys, err := apikey.New(store, nil, 0).List(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys after the write landed = %+v, %v; want the victim", keys, err)
	}
	if !strings.Contains(string(r.body), keys[0].ID) {
		t.Errorf("answer %s does not name key %s, which may be live: the operator cannot revoke it", r.body, keys[0].ID)
	}
}

// TestAPI_RevokeKeyFences: DELETE /v1/api-keys/{id} of an ID no key has
// answers 404 (documented), and, as apikey revoke does, writes the set all
// the same, so that a create of that ID whose write gave up cannot land
// after the answer (the advice of a create whose clean-up failed). Before,
// it wrote nothing and the key landed live.
func TestAPI_RevokeKeyFences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		seed bool // a key set is stored before the lost create
	}{
		{name: "a set stored", seed: true},
		{name: "the first key ever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := memstore.New()
			t.Cleanup(func() { store.Close() })
			ctx := context.Background()
			if tc.seed {
				if _, _, err := apikey.New(store, nil, 0).Create(ctx, "other"); err != nil {
					t.Fatal(err)
				}
			}
			meta := &testenv.LingeringMeta{MetaStore: store, Doc: apikey.DocName}
			meta.Arm()
			secret, key, err := apikey.New(meta, nil, 0).Create(ctx, "victim")
			if err == nil || key.ID == "" {
				t.Fatalf("Create = %v, %q; want its write lost with the key", err, key.ID)
			}
			changes := &keyChanges{}
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
				o.APIKeys = apikey.New(store, nil, time.Second)
				o.APIKeyChanged = changes.record
			})
			if r := e.do(http.MethodDelete, "/v1/api-keys/"+key.ID, "", nil, nil); r.status != http.StatusNotFound {
				t.Fatalf("DELETE /v1/api-keys/%s of a key not stored = %d %s; want 404", key.ID, r.status, r.body)
			}
			meta.Land()
			if _, err := apikey.New(store, nil, 0).Authenticate(ctx, secret); err == nil {
				t.Errorf("key %s is live: its create landed after DELETE answered 404", key.ID)
			}
			if got := changes.take(); len(got) != 0 {
				t.Errorf("changes reported for the event log = %q; want none", got)
			}
		})
	}
}
