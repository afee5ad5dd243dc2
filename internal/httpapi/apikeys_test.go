package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// TestAPI_APIKeys: the API shows and sets scopes: create (least privilege
// by default, the secret shown once), list (no secret, no hash), set
// scopes, revoke; each change reported for the event log; bad input
// refused.
func TestAPI_APIKeys(t *testing.T) {
	t.Parallel()
	keys := apikey.New(memstore.New(), nil, time.Second)
	var changes []string
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.APIKeys = keys
		o.APIKeyChanged = func(_ context.Context, action string, k apikey.Key) { changes = append(changes, action+" "+k.ID) }
	})
	r := e.postJSON("/v1/api-keys", `{"name":"resource-server"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	var created struct {
		Key struct {
			ID     string   `json:"id"`
			Scopes []string `json:"scopes"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	_ = json.Unmarshal(r.body, &created)
	if !strings.HasPrefix(created.Secret, "sdak_") || len(created.Key.Scopes) != 1 || created.Key.Scopes[0] != "verify" {
		t.Fatalf("created = %+v; want a secret and [verify]", created)
	}
	if got, err := keys.Authenticate(t.Context(), sessiond.Secret(created.Secret)); err != nil || got.ID != created.Key.ID {
		t.Fatalf("the returned secret does not authenticate: %v", err)
	}
	r = e.do(http.MethodPut, "/v1/api-keys/"+created.Key.ID+"/scopes", "application/json", []byte(`{"scopes":["sessions:write","verify"]}`), nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"scopes":["verify","sessions:write"]`) {
		t.Errorf("set scopes = %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/v1/api-keys", "", nil, nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), created.Secret) || strings.Contains(string(r.body), "hash") ||
		!strings.Contains(string(r.body), `"revoked_at":null`) {
		t.Errorf("list = %d %s; want the key without secret or hash", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/v1/api-keys/"+created.Key.ID, "", nil, nil); r.status != http.StatusNoContent {
		t.Errorf("revoke = %d %s", r.status, r.body)
	}
	if _, err := keys.Authenticate(t.Context(), sessiond.Secret(created.Secret)); err == nil {
		t.Error("revoked key still authenticates")
	}
	// Revoking it again succeeds and records nothing: one api_key.revoked
	// per key, however often it is asked (a retry, a second operator).
	for range 2 {
		if r := e.do(http.MethodDelete, "/v1/api-keys/"+created.Key.ID, "", nil, nil); r.status != http.StatusNoContent {
			t.Errorf("revoke again = %d %s; want 204", r.status, r.body)
		}
	}
	want := []string{"created " + created.Key.ID, "scopes_changed " + created.Key.ID, "revoked " + created.Key.ID}
	if strings.Join(changes, ",") != strings.Join(want, ",") {
		t.Errorf("changes reported = %v; want %v", changes, want)
	}

	for _, c := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown scope", http.MethodPost, "/v1/api-keys", `{"name":"x","scopes":["root"]}`, 400},
		{"empty scopes", http.MethodPost, "/v1/api-keys", `{"name":"x","scopes":[]}`, 400},
		{"no name", http.MethodPost, "/v1/api-keys", `{"scopes":["verify"]}`, 400},
		{"name too long", http.MethodPost, "/v1/api-keys", `{"name":"` + strings.Repeat("n", 65) + `"}`, 400},
		{"scopes not a list", http.MethodPost, "/v1/api-keys", `{"name":"x","scopes":"admin"}`, 400},
		{"set scopes of a revoked key", http.MethodPut, "/v1/api-keys/" + created.Key.ID + "/scopes", `{"scopes":["verify"]}`, 400},
		{"set no scopes", http.MethodPut, "/v1/api-keys/" + created.Key.ID + "/scopes", `{"scopes":[]}`, 400},
		{"unknown key", http.MethodPut, "/v1/api-keys/key_nope/scopes", `{"scopes":["verify"]}`, 404},
		{"revoke unknown key", http.MethodDelete, "/v1/api-keys/key_nope", ``, 404},
	} {
		if r := e.do(c.method, c.path, "application/json", []byte(c.body), nil); r.status != c.status {
			t.Errorf("%s = %d %s; want %d", c.name, r.status, r.body, c.status)
		}
	}
	if len(changes) != 3 {
		t.Errorf("refused requests reported changes: %v", changes)
	}
}
