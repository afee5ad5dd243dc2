package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_APIKeyChangeWithItsEvent: a change made through /v1/api-keys
// and its event are one write. With the store refusing the event (a
// trigger on SQLite's event log, as a full disk refuses the insert that
// needs a new page), the key set is left as it was and the client gets
// an error; before, the change was kept and answered 2xx while its event
// was lost (one ERROR "record event" line).
func TestRun_APIKeyChangeWithItsEvent(t *testing.T) {
	ctx := context.Background()
	cfg := devConfig(t)
	n := start(t, server.Options{Config: cfg})
	c := apiClient(t, n)
	scoped, _, err := c.CreateAPIKey(ctx, "scoped", "verify")
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := c.CreateAPIKey(ctx, "live", "verify")
	if err != nil {
		t.Fatal(err)
	}

	refusal := testenv.RefuseKeyEvents(t, cfg.Server.DataDir)
	byID := func(id string) (client.APIKey, bool) {
		t.Helper()
		keys, err := c.ListAPIKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(keys, func(k client.APIKey) bool { return k.ID == id })
		if i < 0 {
			return client.APIKey{}, false
		}
		return keys[i], true
	}
	for _, tc := range []struct {
		name   string
		change func() error
		status int // 0: any 5xx
		kept   func() bool
	}{
		{"Create", func() error { _, _, err := c.CreateAPIKey(ctx, "refused", "verify"); return err },
			http.StatusServiceUnavailable, func() bool {
				keys, err := c.ListAPIKeys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(keys, func(k client.APIKey) bool { return k.Name == "refused" })
			}},
		{"SetScopes", func() error { _, err := c.SetAPIKeyScopes(ctx, scoped.ID, "sessions:read"); return err },
			0, func() bool { k, _ := byID(scoped.ID); return !slices.Equal(k.Scopes, []string{"verify"}) }},
		{"Revoke", func() error { return c.RevokeAPIKey(ctx, live.ID) },
			0, func() bool { k, _ := byID(live.ID); return k.RevokedAt != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.change()
			t.Logf("%s with its event refused: %v", tc.name, err)
			var ce *client.Error
			if !errors.As(err, &ce) || tc.status != 0 && ce.Status != tc.status || ce.Status < 500 {
				t.Errorf("%s with its event refused = %v; want a store error (%d, or 5xx for 0)", tc.name, err, tc.status)
			}
			if tc.kept() {
				t.Errorf("%s with its event refused: the change is kept without its event", tc.name)
			}
		})
	}
	if got := refusal.Count(t); got != refusal.Before {
		t.Errorf("%d api_key events stored; want the %d stored before the trigger", got, refusal.Before)
	}

	// With the store taking events again, each change is written with
	// its one event, the acting key named; a second revoke records none.
	refusal.Lift(t)
	if _, err := c.SetAPIKeyScopes(ctx, scoped.ID, "sessions:read"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.RevokeAPIKey(ctx, live.ID); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string][]string{
		scoped.ID: {"api_key.created", "api_key.scopes_changed"},
		live.ID:   {"api_key.created", "api_key.revoked"},
	} {
		got := refusal.Types(t, id, "api", true)
		if !slices.Equal(got, want) {
			t.Errorf("events of key %s = %v; want %v", id, got, want)
		}
	}
}
