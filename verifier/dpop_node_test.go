package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/verifier"

	"github.com/sessiond/sessiond/internal/testenv"
)

// runBound runs dpop/testdata/node/bound.mjs: proofs made by the npm dpop
// package, an implementation written independently of ours.
func runBound(t *testing.T, args ...string) map[string]string {
	t.Helper()
	return testenv.DPoPNode(t, "bound.mjs", args...)
}

// TestVerifier_DPoPNodeProofs: a token bound to a key the npm client made
// passes the middleware with that client's proof, and not with its proofs
// for another method, URL or token, by another key, or a second time.
func TestVerifier_DPoPNodeProofs(t *testing.T) {
	t.Parallel()
	const htu = "https://api.example.test/v1/orders"
	keyfile := filepath.Join(t.TempDir(), "key.json")
	jkt := runBound(t, keyfile)["jkt"]
	s := newServer(t, nil)
	iss, err := s.m.Create(context.Background(), "nod", sessiond.CreateOptions{KeyThumbprint: jkt})
	if err != nil {
		t.Fatal(err)
	}
	tok := string(iss.AccessToken)
	p := runBound(t, keyfile, htu, tok)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.ExternalURL = "https://api.example.test" })
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		w.Write([]byte(c.KeyThumbprint))
	}))
	do := func(method, proof string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/orders", nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", p["ok"]); w.Code != 200 || w.Body.String() != jkt {
		t.Fatalf("npm proof: %d %q, WWW-Authenticate %q", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
	}
	for name, want := range map[string]error{"wrong_method": dpop.ErrMethod, "wrong_url": dpop.ErrURL,
		"wrong_ath": dpop.ErrAccessTokenHash, "no_ath": dpop.ErrAccessTokenHash, "other_key": dpop.ErrKeyMismatch, "ok": dpop.ErrReplayed} {
		if _, err := v.Verify(context.Background(), tok, verifier.WithDPoP(p[name], "GET", htu)); !errors.Is(err, want) {
			t.Errorf("%s: Verify = %v; want %v", name, err, want)
		}
	}
}
