package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/apitype"
)

// The text output of `sessiond events` is key=value fields; a subject is
// chosen by whoever registers the account, and one such as
// "mallory session=sess_forged ip=192.0.2.7 subject=alice" must not read as
// other fields (nor match `grep 'subject=alice '`).
func TestEvents_TextFieldsCannotBeForged(t *testing.T) {
	forged := "mallory session=sess_forged ip=192.0.2.7 subject=alice"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" {
			http.NotFound(w, r)
			return
		}
		page := apitype.EventPage{Events: []apitype.Event{{
			ID: "evt_1", Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Type: "session.created",
			Subject: forged, SessionID: "sess_real",
		}}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	out, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL}, "events", "--oldest-first")
	if code != 0 {
		t.Fatalf("events = exit %d %q", code, errOut)
	}
	// What is inside double quotes is one value, not fields.
	line := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(strings.TrimSpace(out), `"…"`)
	for _, field := range []string{" session=", " ip=", "subject="} {
		if n := strings.Count(line, field); n != 1 {
			t.Errorf("events line has %d %q fields; want 1 (the subject's text must not read as fields): %q", n, field, line)
		}
	}
}

// --all follows pages until the last; a server that answers the same
// cursor again would have it loop forever.
func TestEvents_AllStopsOnARepeatedCursor(t *testing.T) {
	pages := 0
	cursor := "evt_00363ou4tv54pm6ss906f2t4rg"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages++
		page := apitype.EventPage{Events: []apitype.Event{{ID: "evt_1", Time: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), Type: "session.created"}},
			NextCursor: &cursor}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	_, errOut, code := runInProcess([]string{"SESSIOND_API_KEY=sdak_probe", "SESSIOND_URL=" + srv.URL}, "events", "--all")
	if code != exitFailure || !strings.Contains(errOut, "same cursor") {
		t.Fatalf("events --all against a server repeating its cursor = exit %d %q; want 1, the same cursor", code, errOut)
	}
	if pages != 2 {
		t.Errorf("asked %d pages; want 2 (the first, then the repeat)", pages)
	}
}
