package console_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConsole_CreateKeyWriteLost: a key created on the console whose
// write failed with its outcome unknown is shown to nobody; it must not be
// live in the set however late that write lands.
func TestConsole_CreateKeyWriteLost(t *testing.T) {
	var meta *testenv.LingeringMeta
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &testenv.LingeringMeta{MetaStore: f.store, Doc: apikey.DocName}
		o.Keys = apikey.New(meta, f.clock, time.Second)
	})
	c := f.signedIn()
	meta.Arm()
	resp, _ := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"victim"}, "scope": {"events:read"}}, "same-origin")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create with the write's answer lost = %d; want 503", resp.StatusCode)
	}
	meta.Land()
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
