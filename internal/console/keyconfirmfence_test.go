package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/testenv"
)

// landBeforeWrite lands a lingering write of the key set, once armed,
// just before the next write of the set goes on: a key created on
// another node between a request's read of the set and its write.
type landBeforeWrite struct {
	sessiond.MetaStore
	lost *testenv.LingeringMeta

	mu    sync.Mutex
	armed bool
}

func (m *landBeforeWrite) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	land := m.armed && name == apikey.DocName
	m.armed = m.armed && !land
	m.mu.Unlock()
	if land {
		m.lost.Land()
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}

// TestConsole_RevokeKeyConfirmFences: revoking an ID no key has is
// answered "There is no such key" (404) at the confirmation step, before
// any word is typed, so that is where the console fences as apikey revoke
// does: a create of that ID whose write gave up cannot land live after
// the answer. Before, only the confirmed step fenced, which the form never
// reaches for an unknown ID. A key that lands between the read and the
// fence is not revoked: the confirmation page asks for it.
func TestConsole_RevokeKeyConfirmFences(t *testing.T) {
	for _, tc := range []struct {
		name       string
		landsFirst bool // the lingering create lands just before the fence's write
		wantStatus int
	}{
		{name: "unknown ID", wantStatus: http.StatusNotFound},
		{name: "key lands meanwhile", landsFirst: true, wantStatus: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var meta *landBeforeWrite
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				meta = &landBeforeWrite{MetaStore: f.store}
				o.Keys = apikey.New(meta, f.clock, time.Second)
			})
			c := f.signedIn()
			ctx := context.Background()
			lost := &testenv.LingeringMeta{MetaStore: f.store, Doc: apikey.DocName}
			lost.Arm()
			secret, key, err := apikey.New(lost, nil, 0).Create(ctx, "victim")
			if err == nil || key.ID == "" {
				t.Fatalf("Create = %v, %q; want its write lost with the key", err, key.ID)
			}
			meta.lost = lost
			meta.mu.Lock()
			meta.armed = tc.landsFirst
			meta.mu.Unlock()

			resp, body := f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {key.ID}}, "same-origin")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("revoke %s, unconfirmed = %d; want %d\n%s", key.ID, resp.StatusCode, tc.wantStatus, body)
			}
			lost.Land() // if it has not yet
			_, err = apikey.New(f.store, nil, 0).Authenticate(ctx, secret)
			switch {
			case !tc.landsFirst && err == nil:
				t.Errorf("key %s is live: its create landed after the console answered there is no such key", key.ID)
			case tc.landsFirst && err != nil:
				t.Errorf("Authenticate with key %s, which landed before the fence = %v; want it live (not revoked without confirmation)", key.ID, err)
			case tc.landsFirst && !strings.Contains(body, "Revoke API key "+key.ID):
				t.Errorf("the page does not ask to confirm revoking %s:\n%s", key.ID, body)
			}
		})
	}
}
