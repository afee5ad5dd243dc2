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
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestRevocationStream_EndsWithItsKey: GET /v1/revocations/stream checks
// the API key when the stream opens, and again before each write: a
// stream whose key is revoked ends, and sends nothing more (it carried
// session IDs, subjects and reasons for as long as the connection lasted).
func TestRevocationStream_EndsWithItsKey(t *testing.T) {
	t.Parallel()
	keys := apikey.New(memstore.New(), nil, time.Second)
	secret, key, err := keys.Create(t.Context(), "resource-server", apikey.ScopeVerify)
	if err != nil {
		t.Fatal(err)
	}
	e := newStreamEnvAuth(t, func(ctx context.Context, s sessiond.Secret) (apikey.Key, error) {
		if s == apiKey { // the test's admin key, to create and revoke sessions
			return authenticate(ctx, s)
		}
		return keys.Authenticate(ctx, s)
	}, nil)
	c := e.openWith(string(secret), "")
	c.next() // the heartbeat that ends the catch-up

	// The key is revoked: every new request with it is refused at once.
	if err := keys.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.openWith(string(secret), ""); r.resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a new stream with the revoked key = %d; want 401", r.resp.StatusCode)
	}
	// A user's session is revoked after the key was: the open stream
	// ends instead of telling it.
	e.revoke(e.session("alice@example.com"))
	deadline := time.After(2 * time.Second)
	for {
		select {
		case b, ok := <-c.blocks:
			if !ok {
				return // the stream ended with its key
			}
			if b.Name == stream.EventRevoked {
				t.Fatalf("API key %s was revoked, yet its open revocation stream still received %s: %s",
					key.ID, b.Name, strings.TrimSpace(string(b.Data)))
			}
		case <-deadline:
			t.Fatal("the stream of a revoked key is still open 2 s later")
		}
	}
}

// TestAPI_TwoAuthorizationHeaders: a request with two Authorization
// headers is refused (401), not served with the first one's authority: a
// proxy in front that reads the other copy would authorize another key.
func TestAPI_TwoAuthorizationHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/v1/subjects/user-1/sessions", nil)
	req.Header["Authorization"] = []string{"Bearer " + apiKey, "Bearer " + string(scopedKey(apikey.ScopeVerify))}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("two Authorization headers (admin key, then a verify-only key) = %d; want 401", resp.StatusCode)
	}
}

// TestAPI_KeyNamePrintable: POST /v1/api-keys refuses a name with control,
// format (bidi) or line-separator characters, as the console's form does:
// the name goes into the api_key.created event, the event log and webhook
// payloads, which other programs print.
func TestAPI_KeyNamePrintable(t *testing.T) {
	t.Parallel()
	e, keys := newKeysEnv(t, memstore.New())
	for _, name := range []string{`ops\u001b[2J\u001b[31mroot`, `admin\u202egnp.exe`, `a\u0000b`, `line1\nline2`, `a\u2028b`, `\u0085x`} {
		r := e.postJSON("/v1/api-keys", `{"name":"`+name+`"}`)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "name") {
			t.Errorf("create API key named %s = %d %s; want 400 naming name", name, r.status, r.body)
		}
	}
	if list, err := keys.List(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("after the refused names the key set holds %d keys, %v; want none", len(list), err)
	}
	for _, name := range []string{"ops – café ☕", "resource-server-1"} {
		if r := e.postJSON("/v1/api-keys", `{"name":"`+name+`"}`); r.status != http.StatusCreated {
			t.Errorf("create API key named %q = %d %s; want 201", name, r.status, r.body)
		}
	}
}

// TestAPI_KeyScopesExact: the API's scopes are an array of exact scope
// names (an enum in openapi.json): a comma-joined or padded name is
// refused, not read as the scopes it spells, so a policy that checks the
// array cannot be walked around. An unknown key is "no such API key".
func TestAPI_KeyScopesExact(t *testing.T) {
	t.Parallel()
	e, keys := newKeysEnv(t, memstore.New())
	for _, body := range []string{`{"name":"a","scopes":["verify,admin"]}`, `{"name":"b","scopes":[" admin "]}`, `{"name":"c","scopes":["Admin"]}`} {
		if r := e.postJSON("/v1/api-keys", body); r.status != http.StatusBadRequest {
			t.Errorf("POST /v1/api-keys %s = %d %s; want 400", body, r.status, r.body)
		}
	}
	r := e.postJSON("/v1/api-keys", `{"name":"d","scopes":["verify","events:read"]}`)
	if r.status != http.StatusCreated {
		t.Fatalf("exact scopes = %d %s; want 201", r.status, r.body)
	}
	list, _ := keys.List(t.Context())
	var id string
	for _, k := range list {
		if k.Name == "d" {
			id = k.ID
		}
	}
	if r := e.do(http.MethodPut, "/v1/api-keys/"+id+"/scopes", "application/json", []byte(`{"scopes":["verify,admin"]}`), nil); r.status != http.StatusBadRequest {
		t.Errorf("PUT scopes verify,admin = %d %s; want 400", r.status, r.body)
	}
	if k, _ := keys.Get(t.Context(), id); k.Allows(apikey.ScopeAdmin) {
		t.Error("the key gained admin")
	}
	for _, method := range []string{http.MethodDelete, http.MethodPut} {
		path, body := "/v1/api-keys/key_nosuchkey0000", ""
		if method == http.MethodPut {
			path, body = path+"/scopes", `{"scopes":["verify"]}`
		}
		if r := e.do(method, path, "application/json", []byte(body), nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no such API key") {
			t.Errorf("%s %s = %d %s; want 404 no such API key", method, path, r.status, r.body)
		}
	}
}

// conflictingMeta is a meta store whose writes always lose their
// compare-and-swap, as under a storm of concurrent key changes.
type conflictingMeta struct{ sessiond.MetaStore }

func (conflictingMeta) PutMeta(context.Context, string, []byte, int64) (int64, error) {
	return 0, sessiond.ErrConflict
}

// TestAPI_KeySetKeepsChanging: a key change whose compare-and-swap keeps
// losing through all its retries answers 503 store_unavailable (retry),
// not 500.
func TestAPI_KeySetKeepsChanging(t *testing.T) {
	t.Parallel()
	e, _ := newKeysEnv(t, conflictingMeta{memstore.New()})
	r := e.postJSON("/v1/api-keys", `{"name":"a"}`)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "store_unavailable") {
		t.Errorf("POST /v1/api-keys with the key set always changing = %d %s; want 503 store_unavailable", r.status, r.body)
	}
}

// newKeysEnv is a hybrid env whose API key routes keep their keys on meta.
func newKeysEnv(t *testing.T, meta sessiond.MetaStore) (*env, *apikey.Keys) {
	keys := apikey.New(meta, nil, time.Second)
	return newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.APIKeys = keys }), keys
}
