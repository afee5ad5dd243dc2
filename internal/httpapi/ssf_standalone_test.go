package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestSSF_StandaloneTransmitterAgrees: the Transmitter served on its own
// (ssf.Transmitter.ServeHTTP) accepts and refuses the same bodies as the
// API's SSF routes, which check them before the Transmitter reads them:
// a name twice in one object, at any depth, a body that is not an object,
// invalid UTF-8 or a lone surrogate escape, a known name in other
// letters; and stream_id twice in the query.
func TestSSF_StandaloneTransmitterAgrees(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.SSF = newSSF(t) })
	ssfKey := map[string]string{"Authorization": "Bearer " + string(scopedKey(apikey.ScopeSSF))}
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.test", Meta: st, Outbox: st, Signer: ring,
		Authenticate: func(context.Context, string) (string, bool, error) { return "key-a", false, nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(alone)
	t.Cleanup(srv.Close)

	// call sends one request to the API (api) or to the Transmitter alone.
	call := func(api bool, method, path, body string) (int, []byte) {
		t.Helper()
		if api {
			r := e.do(method, path, "application/json", []byte(body), ssfKey)
			return r.status, r.body
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer key-a")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res.StatusCode, b.Bytes()
	}
	ids := map[bool]string{}
	for _, api := range []bool{true, false} {
		code, body := call(api, http.MethodPost, ssf.PathStreams, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
		var s struct {
			ID string `json:"stream_id"`
		}
		if code != http.StatusCreated || json.Unmarshal(body, &s) != nil {
			t.Fatalf("create (api %v) = %d %s", api, code, body)
		}
		ids[api] = s.ID
	}
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"description twice", http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","description":"x","description":"y"}`, http.StatusBadRequest},
		{"stream_id twice, once escaped", http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","\u0073tream_id":"{id}","description":"x"}`, http.StatusBadRequest},
		{"a name twice in a member not read", http.MethodPost, ssf.PathStreams, `{"x":{"y":[{"z":1,"z":1}]}}`, http.StatusBadRequest},
		{"subject id twice", http.MethodPost, ssf.PathAddSubject, `{"stream_id":"{id}","subject":{"format":"opaque","id":"a","id":"b"}}`, http.StatusBadRequest},
		{"maxEvents twice", http.MethodPost, ssf.PathPoll + "{id}", `{"maxEvents":1,"maxEvents":0}`, http.StatusBadRequest},
		{"null", http.MethodPost, ssf.PathStreams, `null`, http.StatusBadRequest},
		{"invalid UTF-8", http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","description":"` + "\xff" + `"}`, http.StatusBadRequest},
		{"lone surrogate escape", http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","description":"\ud800"}`, http.StatusBadRequest},
		{"stream_id twice in the query", http.MethodGet, ssf.PathStatus + "?stream_id={id}&stream_id={id}", ``, http.StatusBadRequest},
		{"stream_id twice in the query of DELETE", http.MethodDelete, ssf.PathStreams + "?stream_id={id}&stream_id=x", ``, http.StatusBadRequest},
		{"known name in other letters", http.MethodPatch, ssf.PathStreams, `{"STREAM_ID":"{id}","description":"x"}`, http.StatusBadRequest},
		{"exact and distinct", http.MethodPatch, ssf.PathStreams, `{"stream_id":"{id}","description":"x","min_verification_interval":60}`, http.StatusOK},
	}
	for _, tc := range tests {
		for _, api := range []bool{true, false} {
			fill := strings.NewReplacer("{id}", ids[api])
			if code, body := call(api, tc.method, fill.Replace(tc.path), fill.Replace(tc.body)); code != tc.want {
				t.Errorf("%s (api %v): %s = %d %s; want %d", tc.name, api, tc.method, code, body, tc.want)
			}
		}
	}
}
