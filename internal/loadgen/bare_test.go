package loadgen

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
)

// TestBareVerify_AsSessiondWritesIt: the bare verify answer is what
// sessiond writes for its session, byte for byte (encoding/json of the
// API's session, which the server's hand-written verify answer matches:
// FuzzAppendSession), so a field the API gains cannot leave the baseline
// smaller than the answer it is measured against.
func TestBareVerify_AsSessiondWritesIt(t *testing.T) {
	var v struct {
		Active  bool            `json:"active"`
		Session apitype.Session `json:"session"`
	}
	dec := json.NewDecoder(bytes.NewReader(bareVerify))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bare verify answer: %v", err)
	}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n') // as the server ends its answers
	if !bytes.Equal(bareVerify, want) {
		t.Errorf("bare verify answer (%d bytes):\n%s\nsessiond writes (%d bytes):\n%s", len(bareVerify), bareVerify, len(want), want)
	}
}

// TestBare_SameFieldsAsSessiond: the bare handler's answers carry the
// fields of the real server's answers to the same requests (a login, a
// refresh, a verify), nested ones included.
func TestBare_SameFieldsAsSessiond(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	const apiKey = "sdak_loadgen_bare_test_0123456789abcdefghijk"
	cfg := servertest.Config(t)
	cfg.Strategy = sessiond.StrategyHybrid
	url := servertest.Run(t, server.Options{Config: cfg, APIKey: apiKey})
	post := func(h http.Handler, base, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		var res *http.Response
		if h != nil {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			res = w.Result()
		} else {
			var err error
			if res, err = http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			}
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode >= 300 {
			t.Fatalf("POST %s = %d %s, %v", path, res.StatusCode, b, err)
		}
		return b
	}
	var created struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	login := post(nil, url, pathCreate, `{"subject":"alice"}`)
	if err := json.Unmarshal(login, &created); err != nil {
		t.Fatal(err)
	}
	real := map[string][]byte{
		pathCreate:  login,
		pathVerify:  post(nil, url, pathVerify, `{"access_token":"`+created.AccessToken+`"}`),
		pathRefresh: post(nil, url, pathRefresh, `{"refresh_token":"`+created.RefreshToken+`"}`),
	}
	for _, path := range []string{pathCreate, pathVerify, pathRefresh} {
		bare := post(BareHandler(), "http://bare", path, "{}")
		if got, want := fields(t, bare), fields(t, real[path]); !slices.Equal(got, want) {
			t.Errorf("POST %s: the bare answer has the fields\n%v\nsessiond's\n%v", path, got, want)
		}
	}
}

// fields lists the members of the JSON object b, nested ones as a.b.
func fields(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, prefix+k)
			if sub, ok := m[k].(map[string]any); ok && k != "claims" {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	return out
}
