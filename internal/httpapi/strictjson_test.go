package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// jsonRoutes returns every documented operation that takes a JSON body.
func jsonRoutes(t *testing.T) []string {
	t.Helper()
	var out []string
	for path, item := range loadDoc(t)["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			body, _ := mapOf(op)["requestBody"].(map[string]any)
			if _, ok := mapOf(body["content"])["application/json"]; ok {
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d JSON routes documented: %v", len(out), out)
	}
	return out
}

// TestAPI_StrictJSON: every route with a JSON body refuses what
// encoding/json alone would quietly rewrite or pick from: invalid UTF-8,
// lone surrogate escapes, duplicate keys and keys differing only in case,
// at any depth (issue 14, defects 7 and 8).
func TestAPI_StrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { return 0, nil }
		o.APIKeys = apikey.New(memstore.New(), nil, time.Second)
		o.SSF = newSSF(t)
	})
	cases := []struct{ name, body, detail string }{
		{"invalid byte in a value", "{\"reason\":\"\xffalice\"}", "not valid UTF-8"},
		{"invalid byte in a key", "{\"\xff\":1}", "not valid UTF-8"},
		{"overlong encoding", "{\"reason\":\"\xc0\xafx\"}", "not valid UTF-8"},
		{"encoded surrogate", "{\"reason\":\"\xed\xa0\x80x\"}", "not valid UTF-8"},
		{"lone high surrogate", `{"reason":"\ud800alice"}`, "lone surrogate"},
		{"lone low surrogate", `{"reason":"\udc00alice"}`, "lone surrogate"},
		{"high surrogate then text", `{"reason":"\ud800\u0041"}`, "lone surrogate"},
		{"surrogate at the end", `{"reason":"x\udbff"}`, "lone surrogate"},
		{"lone surrogate in a key", `{"\ud800":1}`, "lone surrogate"},
		{"duplicate key", `{"reason":"a","reason":"b"}`, `duplicate field "reason"`},
		{"case-variant key", `{"client":{},"Client":{}}`, `"client" and "Client" differ only in case`},
		{"escaped case variant", `{"client":{},"\u0043lient":{}}`, "differ only in case"},
		{"kelvin sign variant", "{\"client\":{},\"\u212aey\":1,\"key\":1}", "differ only in case"},
		{"nested duplicate", `{"client":{"ip":"192.0.2.1","ip":"192.0.2.2"}}`, `duplicate field "ip"`},
		{"case variant of a field alone", `{"Client":{}}`, `unknown field "Client"`},
		{"deeply nested", strings.Repeat(`{"client":`, 100) + `{}` + strings.Repeat(`}`, 100), "nested more than"},
		{"null body", `null`, "request body must be a JSON object"},
		{"null body with space", " null\n", "request body must be a JSON object"},
	}
	for _, op := range jsonRoutes(t) {
		method, path, _ := strings.Cut(op, " ")
		path = samplePath(path)
		for _, c := range cases {
			if strings.HasPrefix(path, "/v1/ssf/") && strings.HasPrefix(c.detail, "unknown field") {
				continue // SSF 1.0: a receiver may send members the transmitter ignores
			}
			t.Run(op+"/"+c.name, func(t *testing.T) {
				r := e.do(method, path, "application/json", []byte(c.body), nil)
				wantProblem(t, op, r, http.StatusBadRequest, "invalid_request", c.detail)
				if strings.Contains(string(r.body), "alice") {
					t.Errorf("problem %s echoes the request", r.body)
				}
			})
		}
	}
}

// TestCreate_StrictJSON: the attacks of the review, on the route they
// were found on: no session is created for either reading of the body.
func TestCreate_StrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, c := range []struct{ name, body string }{
		{"case variant subject", `{"subject":"alice","Subject":"mallory"}`},
		{"duplicate subject", `{"subject":"alice","subject":"mallory"}`},
		{"upper-case field alone", `{"SUBJECT":"mallory"}`},
		{"invalid UTF-8 subject", "{\"subject\":\"\xffmallory\"}"},
		{"lone surrogate subject", `{"subject":"\ud800mallory"}`},
		{"duplicate claim", `{"subject":"alice","claims":{"role":"user","role":"admin"}}`},
		{"case variant claim", `{"subject":"alice","claims":{"role":"user","Role":"admin"}}`},
		{"nested duplicate claim", `{"subject":"alice","claims":{"org":{"id":1,"id":2}}}`},
		{"duplicate claim in array", `{"subject":"alice","claims":{"orgs":[{"id":1},{"id":1,"id":2}]}}`},
		{"many claims, one case variant", `{"subject":"alice","claims":{` + manyClaims(40) + `,"K07":1}}`},
		{"lone surrogate claim", `{"subject":"alice","claims":{"name":"\udfffx"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, "create", e.postJSON("/v1/sessions", c.body), http.StatusBadRequest, "invalid_request", "")
		})
	}
	for _, subject := range []string{"alice", "mallory", "\ufffdmallory"} {
		if ss, err := e.m.List(t.Context(), subject); err != nil || len(ss) != 0 {
			t.Errorf("List(%q) = %d sessions, %v; want none", subject, len(ss), err)
		}
	}
	// What stays allowed: distinct keys, escapes that decode to valid
	// text (a proper surrogate pair), and many distinct claims.
	for _, body := range []string{
		`{"subject":"alice","claims":{"role":"user","roles":["a"],"emoji":"\ud83d\ude00","k":{"role":1}}}`,
		`{"subject":"alice","claims":{` + manyClaims(40) + `}}`,
		`{"subject":"al\u0069ce", "persistent": false, "client": {"ip": "192.0.2.1", "user_agent": "x"}}`,
	} {
		if r := e.postJSON("/v1/sessions", body); r.status != http.StatusCreated {
			t.Errorf("create %s = %d %s; want 201", body, r.status, r.body)
		}
	}
}

func manyClaims(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + string(rune('0'+i/10)) + string(rune('0'+i%10)) + `":` + "1")
	}
	return b.String()
}

// TestAPI_NullRefused: openapi.json types no request field as nullable,
// and encoding/json would read a null as the field left out, so a body
// the documented schema refuses would be served. The strict decoder
// refuses null for every field of every route, at any depth, naming the
// field; null stays a value inside the free claims object.
func TestAPI_NullRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { return 0, nil }
		o.APIKeys = apikey.New(memstore.New(), nil, time.Second)
	})
	for _, c := range []struct{ name, method, path, body, detail string }{
		{"claims", http.MethodPost, "/v1/sessions", `{"subject":"alice","claims":null}`, "claims: must not be null"},
		{"client", http.MethodPost, "/v1/sessions", `{"subject":"alice","client":null}`, "client: must not be null"},
		{"client.ip", http.MethodPost, "/v1/sessions", `{"subject":"alice","client":{"ip":null}}`, "client.ip: must not be null"},
		{"subject", http.MethodPost, "/v1/sessions", `{"subject":null}`, "subject: must not be null"},
		{"persistent", http.MethodPost, "/v1/sessions", `{"subject":"alice","persistent":null}`, "persistent: must not be null"},
		{"embedded field", http.MethodPost, "/v1/sessions", `{"subject":"alice","login_code":null}`, "login_code: must not be null"},
		{"verify client", http.MethodPost, "/v1/sessions/verify", `{"access_token":"x","client":null}`, "client: must not be null"},
		{"verify user_agent", http.MethodPost, "/v1/sessions/verify", `{"access_token":"x","client":{"user_agent":null}}`, "client.user_agent: must not be null"},
		{"refresh_token", http.MethodPost, "/v1/sessions/refresh", `{"refresh_token":null}`, "refresh_token: must not be null"},
		{"dpop_proof", http.MethodPost, "/v1/sessions/refresh", `{"refresh_token":"x","dpop_proof":null}`, "dpop_proof: must not be null"},
		{"key scopes", http.MethodPost, "/v1/api-keys", `{"name":"x","scopes":null}`, "scopes: must not be null"},
		{"key scope", http.MethodPost, "/v1/api-keys", `{"name":"x","scopes":["verify",null]}`, "scopes[1]: must not be null"},
		{"new scopes", http.MethodPut, "/v1/api-keys/key_x/scopes", `{"scopes":null}`, "scopes: must not be null"},
		{"incident subject", http.MethodPost, "/v1/revocations", `{"subjects":["alice",null]}`, "subjects[1]: must not be null"},
		{"incident all", http.MethodPost, "/v1/revocations", `{"all":null,"subjects":["alice"]}`, "all: must not be null"},
		{"first of two faults", http.MethodPost, "/v1/sessions", `{"subject":"alice","client":null,"bogus":1}`, "client: must not be null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, "application/json", []byte(c.body), nil)
			wantProblem(t, c.method+" "+c.path+" "+c.body, r, http.StatusBadRequest, "invalid_request", c.detail)
		})
	}
	if ss, err := e.m.List(t.Context(), "alice"); err != nil || len(ss) != 0 {
		t.Errorf("List(alice) = %d sessions, %v; want none", len(ss), err)
	}
	// Inside the claims, a free object, null is a value like any other.
	if r := e.postJSON("/v1/sessions", `{"subject":"bob","claims":{"nickname":null,"tags":[null,"a"]}}`); r.status != http.StatusCreated {
		t.Errorf("create with null claim values = %d %s; want 201", r.status, r.body)
	}
}
