package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// TestCLI_PageWalksStopOnACycle: sessions list (without --limit) and
// events --all follow cursors until the last page; a server whose cursors
// come round again (A, B, A…), not only one that repeats the last, would
// have them print the same pages for ever. The server here gives up after
// 20 pages so that a walk that misses the cycle ends too.
func TestCLI_PageWalksStopOnACycle(t *testing.T) {
	cursors := map[string][]string{
		"sessions": {"cA", "cB"},
		"events":   {"evt_00363ou4tv54pm6ss906f2t4rg", "evt_00363ou4tv54pm6ss906f2t4rh"},
	}
	for _, tc := range []struct {
		name string
		kind string
		args []string
	}{
		{"sessions list", "sessions", []string{"sessions", "list", "--subject", "alice", "--json"}},
		{"events --all", "events", []string{"events", "--all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pages atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if pages.Add(1) > 20 {
					http.Error(w, "too many pages", http.StatusInternalServerError)
					return
				}
				// A cycle of two: the first page names A, A names B, B names A.
				cs := cursors[tc.kind]
				next := cs[0]
				if r.URL.Query().Get("cursor") == cs[0] {
					next = cs[1]
				}
				var page any
				if tc.kind == "sessions" {
					page = apitype.SessionList{Sessions: []apitype.Session{{ID: sessiond.SessionID("s" + strings.Repeat("0", 25)), Subject: "alice",
						Strategy: "database", CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}, NextCursor: next}
				} else {
					page = apitype.EventPage{Events: []apitype.Event{{ID: "evt_1", Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Type: "session.created"}},
						NextCursor: &next}
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(page)
			}))
			defer srv.Close()
			_, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_URL=" + srv.URL}, tc.args...)
			if code != exitFailure || !strings.Contains(errOut, "cursor") || pages.Load() != 3 {
				t.Errorf("%s against a server whose cursors cycle = exit %d, %d pages asked, stderr %q; want exit 1 naming the cursor after 3 pages (the first, A, B: B names A again)",
					tc.name, code, pages.Load(), errOut)
			}
		})
	}
}
