package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// TestAPI_SubjectsNormalised: a subject is one user whichever Unicode form
// it arrives in (NFC at the HTTP boundary), and characters that make one
// string display as another are refused (issue 14).
func TestAPI_SubjectsNormalised(t *testing.T) {
	t.Parallel()
	var incident httpapi.IncidentRequest
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = func(_ context.Context, req httpapi.IncidentRequest) (int, error) { incident = req; return 0, nil }
		o.Events = memstore.New()
	})
	const composed, decomposed = "\u00e9mile", "e\u0301mile"
	r := e.postJSON("/v1/sessions", `{"subject":"`+decomposed+`"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create %q = %d %s", decomposed, r.status, r.body)
	}
	var tok struct {
		Session struct{ Subject string } `json:"session"`
	}
	_ = json.Unmarshal(r.body, &tok)
	if tok.Session.Subject != composed {
		t.Errorf("subject = %q; want NFC %q", tok.Session.Subject, composed)
	}
	for _, form := range []string{composed, decomposed} {
		ss, err := e.c.ListSessions(t.Context(), form)
		if err != nil || len(ss) != 1 {
			t.Errorf("ListSessions(%q) = %d sessions, %v; want the one", form, len(ss), err)
		}
	}
	if r := e.do(http.MethodDelete, "/v1/subjects/"+url.PathEscape(decomposed)+"/sessions", "", nil, nil); r.status != 200 || string(r.body) != "{\"revoked\":1}\n" {
		t.Errorf("revoke subject in the other form = %d %s; want 1 revoked", r.status, r.body)
	}
	if r := e.postJSON("/v1/revocations", `{"subjects":["`+decomposed+`"]}`); r.status != 200 || incident.Subjects[0] != composed {
		t.Errorf("incident subjects = %q (%d); want NFC", incident.Subjects, r.status)
	}

	for name, subject := range map[string]string{
		"right-to-left override": "alice\u202egnp.exe",
		"isolate":                "\u2066admin\u2069",
		"left-to-right mark":     "ali\u200ece",
		"C1 control":             "alice\u0085",
	} {
		wantProblem(t, "create "+name, e.postJSON("/v1/sessions", `{"subject":"`+subject+`"}`),
			http.StatusBadRequest, "invalid_request", "bidirectional")
		wantProblem(t, "list "+name, e.do(http.MethodGet, "/v1/subjects/"+url.PathEscape(subject)+"/sessions", "", nil, nil),
			http.StatusBadRequest, "invalid_request", "subject")
	}
	wantProblem(t, "invalid UTF-8 in the path", e.do(http.MethodGet, "/v1/subjects/%FFalice/sessions", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "not valid UTF-8")
	wantProblem(t, "invalid UTF-8 in the events query", e.do(http.MethodGet, "/v1/events?subject=%FFalice", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "not valid UTF-8")
}

// TestAPI_RefreshWithoutClient: refreshes without client information are
// counted every time and logged once (issue 14: theft detection that
// cannot be lost silently).
func TestAPI_RefreshWithoutClient(t *testing.T) {
	t.Parallel()
	var counted int
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.RefreshWithoutClient = func() { counted++ } })
	tr := e.create("ursula")
	for range 3 {
		next, err := e.c.Refresh(t.Context(), tr.RefreshToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr = next
	}
	if _, err := e.c.Refresh(t.Context(), tr.RefreshToken, &sessiond.Client{IP: "192.0.2.7", UserAgent: "Firefox"}); err != nil {
		t.Fatal(err)
	}
	if counted != 3 {
		t.Errorf("counted %d refreshes without client; want 3", counted)
	}
	warnings := 0
	for _, l := range e.logLines() {
		if l["level"] == "WARN" && strings.Contains(l["msg"].(string), "refresh without client information") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings; want exactly 1", warnings)
	}
}
