package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConsole_CreateKeyWriteLost: a key created on the console whose
// write failed with its outcome unknown is shown to nobody; it must not be
// live in the set however late that write lands. The event log tells its
// story whole, as apikey create does: api_key.created, then
// api_key.revoked with reason not_received, never the revocation of a key
// it never showed created.
func TestConsole_CreateKeyWriteLost(t *testing.T) {
	var meta *testenv.LingeringMeta
	rec := &recorded{}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &testenv.LingeringMeta{MetaStore: f.store, Doc: apikey.DocName}
		o.Keys = apikey.New(meta, f.clock, time.Second)
		o.Record = rec.record
	})
	c := f.signedIn()
	rec.take() // the sign-in's
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
	victim := ""
	for _, k := range keys {
		if k.Name == "victim" {
			victim = k.ID
			if k.RevokedAt.IsZero() {
				t.Errorf("key %s is live in the set after its creation failed: a key nobody received", k.ID)
			}
		}
	}
	var got []string
	for _, e := range rec.take() {
		got = append(got, fmt.Sprintf("%s %v", e.Type, e.Details["reason"]))
		if id, _ := e.Details["key_id"].(string); id == "" || id != victim {
			t.Errorf("%s: key_id %v; want the key's ID", e.Type, e.Details["key_id"])
		}
	}
	if want := []string{"api_key.created <nil>", "api_key.revoked not_received"}; !slices.Equal(got, want) {
		t.Errorf("events recorded = %q; want %q", got, want)
	}
}
