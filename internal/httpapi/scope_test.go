package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// documentedScopes returns the scope each secured operation declares in
// its security requirement.
func documentedScopes(t *testing.T) map[string]apikey.Scope {
	t.Helper()
	out := map[string]apikey.Scope{}
	for path, item := range loadDoc(t)["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			sec, ok := mapOf(op)["security"].([]any)
			if !ok || len(sec) == 0 {
				continue
			}
			scopes, _ := mapOf(sec[0])["apiKey"].([]any)
			if len(sec) != 1 || len(scopes) != 1 {
				t.Errorf("%s %s: security %v; want one apiKey requirement with one scope", method, path, sec)
				continue
			}
			out[strings.ToUpper(method)+" "+path] = apikey.Scope(scopes[0].(string))
		}
	}
	return out
}

// TestAPI_Scopes: every secured route requires the scope openapi.json
// declares for it: a key with only that scope passes the check, a key with
// any other (but admin) gets 403 insufficient_scope, and the refused
// request never reaches the route.
func TestAPI_Scopes(t *testing.T) {
	t.Parallel()
	incidents := 0
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { incidents++; return 0, nil }
		o.SSF = newSSF(t) // off, its routes do not exist (TestSSF_Off)
	})
	ops := documentedScopes(t)
	if len(ops) < 13 {
		t.Fatalf("only %d operations declare a scope", len(ops))
	}
	for op, want := range ops {
		method, path, _ := strings.Cut(op, " ")
		for _, scope := range apikey.Scopes {
			key := scopedKey(scope)
			r := e.do(method, samplePath(path), "application/json", []byte(`{"all":true}`), map[string]string{"Authorization": "Bearer " + string(key)})
			allowed := scope == want || scope == apikey.ScopeAdmin
			if allowed {
				if r.status == http.StatusForbidden || r.status == http.StatusUnauthorized && strings.Contains(string(r.body), "API key") {
					t.Errorf("%s with scope %s = %d %s; want it let through", op, scope, r.status, r.body)
				}
				continue
			}
			if r.status != http.StatusForbidden {
				t.Errorf("%s with scope %s = %d %s; want 403 (requires %s)", op, scope, r.status, r.body, want)
				continue
			}
			var body map[string]any
			_ = json.Unmarshal(r.body, &body)
			if body["code"] != "insufficient_scope" && body["error"] != "insufficient_scope" {
				t.Errorf("%s with scope %s: body %s; want insufficient_scope", op, scope, r.body)
			}
			if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="`+string(want)+`"`) {
				t.Errorf("%s with scope %s: WWW-Authenticate %q", op, scope, h)
			}
		}
	}
	if incidents != 1 { // only the admin key reached it
		t.Errorf("kill switch ran %d times; want 1 (the admin key)", incidents)
	}
	// The log names the key that was refused; the refusal is not an
	// authentication failure.
	found := false
	for _, l := range requestLines(e.logLines()) {
		if l["status"] == float64(403) && l["api_key_id"] == "key_verify" {
			found = true
		}
	}
	if !found {
		t.Error("no request log line with status 403 and the acting key's ID")
	}
}
