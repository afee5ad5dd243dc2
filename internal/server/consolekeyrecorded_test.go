package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_ConsoleKeyChangeWithItsEvent: a key created or revoked on the
// console and its event are one write, as through /v1/api-keys. With the
// store refusing the event (a trigger on SQLite's event log, as a full
// disk refuses the insert that needs a new page), the key set is left as
// it was and the page answers 503; before, the change was kept and
// answered 200 while its event was lost (one ERROR "console: record
// event" line).
func TestRun_ConsoleKeyChangeWithItsEvent(t *testing.T) {
	ctx := context.Background()
	cfg := devConfig(t)
	var logs lockedLog
	n := start(t, server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	base := "http://" + n.addr
	api := apiClient(t, n)
	live, _, err := api.CreateAPIKey(ctx, "live", "verify")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := testenv.CookieClient(nil)
	if code := postForm(t, c, base+"/console/signin", url.Values{"api_key": {string(testKey)}}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d", code)
	}
	keys := func() []client.APIKey {
		t.Helper()
		ks, err := api.ListAPIKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	revoked := func() bool {
		ks := keys()
		i := slices.IndexFunc(ks, func(k client.APIKey) bool { return k.ID == live.ID })
		return i >= 0 && ks[i].RevokedAt != nil
	}

	refusal := testenv.RefuseKeyEvents(t, cfg.Server.DataDir)
	for _, tc := range []struct {
		name string
		path string
		form url.Values
		kept func() bool
	}{
		{"create", "/console/keys/create", url.Values{"name": {"refused"}, "scope": {"verify"}}, func() bool {
			return slices.ContainsFunc(keys(), func(k client.APIKey) bool { return k.Name == "refused" && k.RevokedAt == nil })
		}},
		{"revoke", "/console/keys/revoke", url.Values{"id": {live.ID}, "confirm": {console.Confirmation}}, revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := postForm(t, c, base+tc.path, tc.form, "same-origin"); code != http.StatusServiceUnavailable {
				t.Errorf("console %s with its event refused = %d; want 503", tc.name, code)
			}
			if tc.kept() {
				t.Errorf("console %s with its event refused: the change is kept without its event", tc.name)
			}
		})
	}
	if got := refusal.Count(t); got != refusal.Before {
		t.Errorf("%d api_key events stored; want the %d stored before the trigger", got, refusal.Before)
	}

	// With the store taking events again, the revocation is written with
	// its one event, naming the console and the operator's key; a second
	// revocation records none.
	refusal.Lift(t)
	for range 2 {
		if code := postForm(t, c, base+"/console/keys/revoke", url.Values{"id": {live.ID}, "confirm": {console.Confirmation}}, "same-origin"); code != http.StatusOK {
			t.Fatalf("console revoke = %d; want 200", code)
		}
	}
	if !revoked() {
		t.Fatal("the key is live after the console revoked it")
	}
	var got []loggedEvent
	for _, e := range eventsOf(t, base, "type=api_key.revoked") {
		if e.Details["key_id"] == live.ID {
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].Details["via"] != "console" || got[0].Details["by"] == nil || got[0].Details["api_key_id"] == nil {
		t.Errorf("api_key.revoked events of %s: %+v; want one, via the console, naming the operator's key", live.ID, got)
	}
	// Its log line comes once, when the change with it is committed (the
	// refused tries wrote none).
	lines := 0
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "msg=event ") && strings.Contains(line, "type=api_key.revoked") && strings.Contains(line, live.ID) {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("%d event log lines of api_key.revoked %s; want 1", lines, live.ID)
	}
}
