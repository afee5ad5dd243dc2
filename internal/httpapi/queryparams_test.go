package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestUnknownQueryParameter: every route that takes a key refuses a query
// parameter its operation in openapi.json does not list, with 400 naming
// it, before it does anything; a listed one is not refused. A misspelt
// filter once listed every subject's events, and a misspelt option on a
// revoking route ended the session meant to be kept.
func TestUnknownQueryParameter(t *testing.T) {
	t.Parallel()
	// With the transmitter: off, its routes do not exist (TestSSF_Off).
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.SSF = newSSF(t) })
	doc := loadDoc(t)
	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	checked := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method, v := range item.(map[string]any) {
			op, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
				continue // public: no key, no check
			}
			url := wildcard.ReplaceAllString(path, "x") + "?zz_unknown=1"
			res := e.do(strings.ToUpper(method), url, "", nil, map[string]string{"Authorization": "Bearer " + apiKey})
			body := string(res.body)
			if res.status != http.StatusBadRequest || !strings.Contains(body, "zz_unknown") {
				t.Errorf("%s %s = %d %s; want 400 naming zz_unknown", strings.ToUpper(method), url, res.status, body)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d routes; the document has more that take a key", checked)
	}
	// A listed parameter passes the check (the route itself may still refuse its value).
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, "/v1/events?subject=alice&limit=5"},
		{http.MethodGet, "/v1/webhooks/deliveries?state=dead"},
		{http.MethodDelete, "/v1/subjects/alice/sessions?except=sess_x"},
	} {
		res := e.do(c.method, c.url, "", nil, map[string]string{"Authorization": "Bearer " + apiKey})
		if strings.Contains(string(res.body), "unknown query parameter") {
			t.Errorf("%s %s refused a listed parameter: %d %s", c.method, c.url, res.status, res.body)
		}
	}
}

// TestMalformedQuery: a query pair that does not parse is refused, not
// dropped: dropped, ?except= on the subject's revocation was lost and the
// session meant to be kept was revoked with the others.
func TestMalformedQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, c := range []struct{ name, method, query string }{
		{"bad escape in except", http.MethodDelete, "?except={keep}%zz"},
		{"semicolon after except", http.MethodDelete, "?except={keep};"},
		{"bad escape in a filter", http.MethodGet, "?subject=alice%zz&limit=5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			subject := "mq-" + strings.ReplaceAll(c.name, " ", "-")
			keep := e.create(subject).Session.ID
			e.create(subject)
			path := "/v1/subjects/" + subject + "/sessions"
			if c.method == http.MethodGet {
				path = "/v1/events"
			}
			res := e.do(c.method, path+strings.ReplaceAll(c.query, "{keep}", string(keep)), "", nil, nil)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "query string is not valid") {
				t.Errorf("%s %s = %d %s; want 400 query string is not valid", c.method, path, res.status, res.body)
			}
			if n := len(e.list(subject)); n != 2 {
				t.Errorf("%d sessions of %s live after the refused request; want 2", n, subject)
			}
		})
	}
}
