package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// TestCLI_SessionsListLargeSubject: sessions list without --limit shows
// every session of a subject whose whole list is one answer larger than
// the client takes (32 MiB: about 1,400 sessions of 24 KB claims, or a
// subject with 100,000 sessions), each once and in order, as JSON lines
// and as a table, with nothing on stderr. The server here answers as the
// real one does, whole without limit and by pages with it.
func TestCLI_SessionsListLargeSubject(t *testing.T) {
	const count = 1500
	claims := json.RawMessage(`{"x":"` + strings.Repeat("a", 24<<10) + `"}`)
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	all := make([]apitype.Session, count)
	for i := range all {
		all[i] = apitype.Session{ID: sessiond.SessionID(fmt.Sprintf("s%025d", i)), Subject: "big", Strategy: "database",
			CreatedAt: created.Add(time.Duration(i) * time.Second), Claims: claims}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/subjects/big/sessions" || r.Header.Get("Authorization") != "Bearer "+testAPIKey {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		out := apitype.SessionList{Sessions: all}
		if l := r.URL.Query().Get("limit"); l != "" {
			limit, _ := strconv.Atoi(l)
			from, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("cursor"), "c"))
			to := min(from+limit, count)
			out.Sessions = all[from:to]
			if to < count {
				out.NextCursor = "c" + strconv.Itoa(to)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	env := []string{"SESSIOND_URL=" + srv.URL, "SESSIOND_API_KEY=" + testAPIKey}

	out, errOut, code := runCLI(t, env, "sessions", "list", "--subject", "big", "--json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || errOut != "" || len(lines) != count {
		t.Fatalf("sessions list --json of %d sessions = exit %d, %d lines, stderr %q; want every session, nothing on stderr", count, code, len(lines), errOut)
	}
	for i, line := range lines {
		var s apitype.Session
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.ID != all[i].ID {
			t.Fatalf("line %d = session %q (%v); want %q, in order", i, s.ID, err, all[i].ID)
		}
	}
	out, errOut, code = runCLI(t, env, "sessions", "list", "--subject", "big")
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || errOut != "" || len(lines) != count+1 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.HasPrefix(lines[count], string(all[count-1].ID)+" ") {
		t.Fatalf("sessions list of %d sessions = exit %d, %d lines, stderr %q; want a header and every session", count, code, len(lines), errOut)
	}
}
