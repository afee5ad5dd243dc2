package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// TestAPI_CreateKeyWriteLost: POST /v1/api-keys whose write of the key set
// fails with its outcome unknown answers an error, so nobody receives the
// secret; the key must not be live in the set however late that write
// lands.
func TestAPI_CreateKeyWriteLost(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	meta := &testenv.LingeringMeta{MetaStore: store, Doc: apikey.DocName}
	meta.Arm()
	e, _ := newKeysEnv(t, meta)
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
}
