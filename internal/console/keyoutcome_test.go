package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConsole_CreateKeyConflict: a key created on the console whose every
// compare-and-swap was lost stored nothing, and nothing can land: 503, no
// key listed, no event. Before, the key of its last lost try was added to
// the set revoked and recorded created then revoked (not_received).
func TestConsole_CreateKeyConflict(t *testing.T) {
	var meta *testenv.ConflictMeta
	rec := &recorded{}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &testenv.ConflictMeta{MetaStore: f.store, Doc: apikey.DocName}
		o.Keys = apikey.New(meta, f.clock, time.Second)
		o.Record = rec.record
	})
	c := f.signedIn()
	rec.take()
	meta.Arm(5)
	resp, _ := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"victim"}, "scope": {"events:read"}}, "same-origin")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create, every write conflicting = %d; want 503", resp.StatusCode)
	}
	keys, err := apikey.New(f.store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "victim" {
			t.Errorf("key %s (revoked at %v) in the set after a creation that stored nothing", k.ID, k.RevokedAt)
		}
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Errorf("events recorded = %v; want none", evs)
	}
}

// TestConsole_CreateKeyRevokeFailed: a key created on the console whose
// write's outcome is unknown and whose revocation failed too may be live:
// the event log records it created, saying the revocation failed, and the
// page names the key to revoke. Before, nothing was recorded.
func TestConsole_CreateKeyRevokeFailed(t *testing.T) {
	var meta *testenv.LingeringMeta
	rec := &recorded{}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &testenv.LingeringMeta{MetaStore: f.store, Doc: apikey.DocName, FailAfter: true}
		o.Keys = apikey.New(meta, f.clock, time.Second)
		o.Record = rec.record
	})
	c := f.signedIn()
	rec.take()
	meta.Arm()
	resp, body := f.do(c, "POST", "/console/keys/create", url.Values{"name": {"victim"}, "scope": {"events:read"}}, "same-origin")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create, its write and its revocation failing = %d; want 503", resp.StatusCode)
	}
	meta.Land()
	keys, err := apikey.New(f.store, nil, 0).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(keys, func(k apikey.Key) bool { return k.Name == "victim" })
	if i < 0 {
		t.Fatal("the late write did not land")
	}
	victim := keys[i].ID
	var got []string
	for _, e := range rec.take() {
		got = append(got, fmt.Sprintf("%s %v", e.Type, e.Details["revocation"]))
		if e.Details["key_id"] != victim {
			t.Errorf("%s: key_id %v; want %s", e.Type, e.Details["key_id"], victim)
		}
	}
	if want := []string{"api_key.created failed"}; !slices.Equal(got, want) {
		t.Errorf("events recorded = %q; want %q", got, want)
	}
	if !strings.Contains(body, victim) {
		t.Errorf("the page does not name key %s, which may be live:\n%s", victim, body)
	}
}

// TestConsole_RevokeKeyFences: a confirmed revocation of an ID no key has
// answers 404 and writes the set all the same, as apikey revoke and
// DELETE /v1/api-keys/{id} do, so that a create of that ID whose write
// gave up cannot land after the answer. Before, it wrote nothing.
func TestConsole_RevokeKeyFences(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	ctx := context.Background()
	meta := &testenv.LingeringMeta{MetaStore: f.store, Doc: apikey.DocName}
	meta.Arm()
	secret, key, err := apikey.New(meta, nil, 0).Create(ctx, "victim")
	if err == nil || key.ID == "" {
		t.Fatalf("Create = %v, %q; want its write lost with the key", err, key.ID)
	}
	resp, _ := f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {key.ID}, "confirm": {console.Confirmation}}, "same-origin")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("confirmed revoke of a key not stored = %d; want 404", resp.StatusCode)
	}
	meta.Land()
	if _, err := apikey.New(f.store, nil, 0).Authenticate(ctx, secret); err == nil {
		t.Errorf("key %s is live: its create landed after the revocation answered 404", key.ID)
	}
}
