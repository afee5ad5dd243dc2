package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/sessiond/sessiond/internal/config"

	"github.com/sessiond/sessiond/internal/testenv"
)

const ssfBearer = "push-token-0123456789abcdefghijklmnopqrstuv"

// ssfTransmitter is an identity provider written for the test: an Ed25519
// key, its JWKS served over HTTP, and SETs signed with go-jose.
type ssfTransmitter struct {
	key  ed25519.PrivateKey
	jwks *httptest.Server
}

func newSSFTransmitter(t *testing.T) *ssfTransmitter {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "idp-1", Algorithm: "EdDSA", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(set) }))
	t.Cleanup(srv.Close)
	return &ssfTransmitter{key: priv, jwks: srv}
}

func (tr *ssfTransmitter) set(t *testing.T, key ed25519.PrivateKey, jti, event string, subject map[string]any) string {
	t.Helper()
	return testenv.SignJWS(t, key, jose.EdDSA, (&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", "idp-1"),
		map[string]any{"iss": "https://idp.example.com", "aud": "https://sessiond.example.com",
			"iat": time.Now().Unix(), "jti": jti, "events": map[string]any{event: map[string]any{"subject": subject}}})
}

func pushSET(t *testing.T, url, bearer, set string) (int, string) {
	t.Helper()
	res := apiRequest(t, http.MethodPost, url, bearer, "application/secevent+jwt", strings.NewReader(set))
	defer res.Body.Close()
	var e struct {
		Err string `json:"err"`
	}
	_ = json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Err
}

// TestSSF_PushServed: the served binary, configured with one receiver,
// ends a subject's sessions on a valid pushed account-disabled SET and
// refuses (and logs) a forged one, a replay and a push without the token.
func TestSSF_PushServed(t *testing.T) {
	tr := newSSFTransmitter(t)
	tokenFile := testenv.WriteFile(t, t.TempDir(), "push.token", ssfBearer+"\n")
	base := runGateway(t, func(c *config.Config) {
		c.SSF.Receivers = []config.SSFReceiver{{Name: "idp", Issuer: "https://idp.example.com", JWKSURL: tr.jwks.URL,
			Audience: "https://sessiond.example.com", Path: "/ssf/push/idp", SubjectFormat: "email",
			SubjectTemplate: "idp:{value}", BearerTokenFile: tokenFile}}
	})
	push := base + "/ssf/push/idp"
	createWith(t, base, `{"subject":"idp:alice@example.com"}`)
	createWith(t, base, `{"subject":"idp:alice@example.com"}`)
	createWith(t, base, `{"subject":"idp:bob@example.com"}`)
	alice := map[string]any{"format": "email", "email": "alice@example.com"}
	const disabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	live := func(subject string) int {
		var out struct {
			Sessions []json.RawMessage `json:"sessions"`
		}
		apiGet(t, base+"/v1/subjects/"+url.PathEscape(subject)+"/sessions", &out)
		return len(out.Sessions)
	}
	if n := live("idp:alice@example.com"); n != 2 {
		t.Fatalf("alice has %d sessions before; want 2", n)
	}

	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name, bearer, set string
		status            int
		err               string
	}{
		{"no bearer", "wrong", tr.set(t, tr.key, "a", disabled, alice), http.StatusUnauthorized, "authentication_failed"},
		{"forged", ssfBearer, tr.set(t, forger, "b", disabled, alice), http.StatusBadRequest, "authentication_failed"},
		{"malformed subject", ssfBearer, tr.set(t, tr.key, "c", disabled, map[string]any{"format": "email"}), http.StatusBadRequest, "invalid_request"},
	} {
		if code, e := pushSET(t, push, tc.bearer, tc.set); code != tc.status || e != tc.err {
			t.Errorf("%s: push = %d %q; want %d %q", tc.name, code, e, tc.status, tc.err)
		}
	}
	if n := live("idp:alice@example.com"); n != 2 {
		t.Fatalf("refused SETs ended sessions: alice has %d; want 2", n)
	}

	good := tr.set(t, tr.key, "ok-1", disabled, alice)
	if code, e := pushSET(t, push, ssfBearer, good); code != http.StatusAccepted {
		t.Fatalf("valid SET: push = %d %q; want 202", code, e)
	}
	if n := live("idp:alice@example.com"); n != 0 {
		t.Errorf("alice has %d sessions after account-disabled; want 0", n)
	}
	if n := live("idp:bob@example.com"); n != 1 {
		t.Errorf("bob has %d sessions; want 1", n)
	}
	if code, e := pushSET(t, push, ssfBearer, good); code != http.StatusBadRequest || e != "invalid_request" {
		t.Errorf("replay: push = %d %q; want 400 invalid_request", code, e)
	}

	var evs struct {
		Events []struct {
			Details map[string]any `json:"details"`
		} `json:"events"`
	}
	apiGet(t, base+"/v1/events?type=ssf.set_received", &evs)
	outcomes := map[string]int{}
	for _, e := range evs.Events {
		outcomes[e.Details["outcome"].(string)]++
	}
	if outcomes["accepted"] != 1 || outcomes["refused"] != 4 {
		t.Errorf("event outcomes %v; want 1 accepted, 4 refused", outcomes)
	}
}

// TestSSF_PollServed: the served binary, with a receiver whose delivery is
// poll, fetches SETs from the transmitter's RFC 8936 endpoint with the
// Authorization header from the environment, ends the sessions a valid
// account-disabled names, acknowledges it, and reports a forged SET in
// setErrs without ending anything.
func TestSSF_PollServed(t *testing.T) {
	tr := newSSFTransmitter(t)
	_, forger, _ := ed25519.GenerateKey(rand.Reader)
	const disabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	var mu sync.Mutex
	queue := map[string]string{} // filled once the sessions exist
	var acked []string
	setErrs := map[string]map[string]string{}
	badAuth := 0
	poll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer poll-token-from-env" {
			badAuth++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req struct {
			Ack     []string                     `json:"ack"`
			SetErrs map[string]map[string]string `json:"setErrs"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		for _, j := range req.Ack {
			acked = append(acked, j)
			delete(queue, j)
		}
		for j, e := range req.SetErrs {
			setErrs[j] = e
			delete(queue, j)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sets": queue, "moreAvailable": false})
	}))
	t.Cleanup(poll.Close)
	t.Setenv("SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION", "Bearer poll-token-from-env")
	base := runGateway(t, func(c *config.Config) {
		c.SSF.Receivers = []config.SSFReceiver{{Name: "idp-1", Issuer: "https://idp.example.com", JWKSURL: tr.jwks.URL,
			Audience: "https://sessiond.example.com", SubjectFormat: "email", SubjectTemplate: "idp:{value}",
			Delivery: "poll", PollURL: poll.URL, PollInterval: config.Duration(50 * time.Millisecond)}}
	})
	createWith(t, base, `{"subject":"idp:alice@example.com"}`)
	createWith(t, base, `{"subject":"idp:bob@example.com"}`)
	live := func(subject string) int {
		var out struct {
			Sessions []json.RawMessage `json:"sessions"`
		}
		apiGet(t, base+"/v1/subjects/"+url.PathEscape(subject)+"/sessions", &out)
		return len(out.Sessions)
	}
	mu.Lock()
	queue["good"] = tr.set(t, tr.key, "good", disabled, map[string]any{"format": "email", "email": "alice@example.com"})
	queue["forged"] = tr.set(t, forger, "forged", disabled, map[string]any{"format": "email", "email": "bob@example.com"})
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(queue)
		mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SETs left unanswered at the transmitter: %d", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) != 1 || acked[0] != "good" || setErrs["forged"]["err"] != "authentication_failed" || badAuth != 0 {
		t.Errorf("acked %v, setErrs %v, bad auth %d; want good acked, forged authentication_failed", acked, setErrs, badAuth)
	}
	if n := live("idp:alice@example.com"); n != 0 {
		t.Errorf("alice has %d sessions after account-disabled; want 0", n)
	}
	if n := live("idp:bob@example.com"); n != 1 {
		t.Errorf("a forged SET ended bob's session: %d left; want 1", n)
	}
}
