package server_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
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

	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.Server.DataDir, "sessiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE type LIKE 'api_key.%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER zz_refuse_api_key_events BEFORE INSERT ON events
		WHEN NEW.type LIKE 'api_key.%' BEGIN SELECT RAISE(ABORT, 'event refused'); END`); err != nil {
		t.Fatal(err)
	}
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
	if got := count(); got != before {
		t.Errorf("%d api_key events stored; want the %d stored before the trigger", got, before)
	}

	// With the store taking events again, each change is written with
	// its one event, the acting key named; a second revoke records none.
	if _, err := db.ExecContext(ctx, `DROP TRIGGER zz_refuse_api_key_events`); err != nil {
		t.Fatal(err)
	}
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
		rows, err := db.QueryContext(ctx, `SELECT type FROM events
			WHERE details ->> '$.key_id' = ? AND details ->> '$.by' = 'api' AND details ->> '$.api_key_id' != '' ORDER BY id`, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var typ string
			if err := rows.Scan(&typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, typ)
		}
		rows.Close()
		if !slices.Equal(got, want) {
			t.Errorf("events of key %s = %v; want %v", id, got, want)
		}
	}
}
