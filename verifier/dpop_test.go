package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier"
)

const apiURL = "https://api.example.test/v1/orders"

// boundToken creates a session bound to p's key and returns its token.
func (s *server) boundToken(subject string, p *dpop.Prover) string {
	s.t.Helper()
	iss, err := s.m.Create(context.Background(), subject, sessiond.CreateOptions{KeyThumbprint: p.JKT()})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(iss.AccessToken)
}

func proof(t *testing.T, p *dpop.Prover, method, url, token, nonce string) string {
	t.Helper()
	out, err := p.Proof(method, url, sessiond.Secret(token), nonce)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifier_DPoP (issue 17): a bound token verifies only with a valid
// proof by its key for this request; unbound tokens are unchanged.
func TestVerifier_DPoP(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil)
	ctx := context.Background()
	p, other := testenv.Prover(t, s.clock), testenv.Prover(t, s.clock)
	tok := s.boundToken("bea", p)
	_, unbound := s.token("ulf")
	past := testenv.Prover(t, sessiondtest.NewClock(s.clock.Now().Add(-dpop.DefaultMaxAge-time.Minute)))

	c, err := v.Verify(ctx, tok, verifier.WithDPoP(proof(t, p, "GET", apiURL, tok, ""), "GET", apiURL))
	if err != nil {
		t.Fatalf("Verify(bound, good proof) = %v", err)
	}
	if c.KeyThumbprint != p.JKT() || c.Subject != "bea" {
		t.Fatalf("claims = %+v; want KeyThumbprint %s", c, p.JKT())
	}
	pastBound := s.boundToken("old", past)

	replayed := proof(t, p, "GET", apiURL, tok, "")
	if _, err := v.Verify(ctx, tok, verifier.WithDPoP(replayed, "GET", apiURL)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		opts  []verifier.VerifyOption
		want  error
	}{
		{"bound token without a proof (Bearer)", tok, nil, verifier.ErrDPoPRequired},
		{"empty proof", tok, []verifier.VerifyOption{verifier.WithDPoP("", "GET", apiURL)}, dpop.ErrMalformed},
		{"wrong method", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, p, "POST", apiURL, tok, ""), "GET", apiURL)}, dpop.ErrMethod},
		{"wrong URL", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, p, "GET", apiURL+"/7", tok, ""), "GET", apiURL)}, dpop.ErrURL},
		{"stale iat", pastBound, []verifier.VerifyOption{verifier.WithDPoP(proof(t, past, "GET", apiURL, pastBound, ""), "GET", apiURL)}, dpop.ErrIssuedAt},
		{"wrong ath", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, p, "GET", apiURL, unbound, ""), "GET", apiURL)}, dpop.ErrAccessTokenHash},
		{"no ath", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, p, "GET", apiURL, "", ""), "GET", apiURL)}, dpop.ErrAccessTokenHash},
		{"another key", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, other, "GET", apiURL, tok, ""), "GET", apiURL)}, dpop.ErrKeyMismatch},
		// The key before the time: only the key's holder learns its
		// clock is off.
		{"another key, stale iat", tok, []verifier.VerifyOption{verifier.WithDPoP(proof(t, past, "GET", apiURL, tok, ""), "GET", apiURL)}, dpop.ErrKeyMismatch},
		{"replayed jti", tok, []verifier.VerifyOption{verifier.WithDPoP(replayed, "GET", apiURL)}, dpop.ErrReplayed},
		{"unbound token with a proof", unbound, []verifier.VerifyOption{verifier.WithDPoP(proof(t, p, "GET", apiURL, unbound, ""), "GET", apiURL)}, verifier.ErrNotBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.token, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v; want %v", err, tc.want)
			}
			invalidProof := errors.Is(tc.want, dpop.ErrReplayed) || strings.HasPrefix(tc.name, "wrong") || strings.HasPrefix(tc.name, "stale iat") ||
				strings.HasPrefix(tc.name, "another key") || tc.name == "no ath" || tc.name == "empty proof"
			if errors.Is(err, dpop.ErrInvalidProof) != invalidProof {
				t.Errorf("errors.Is(err, dpop.ErrInvalidProof) = %v; want %v", !invalidProof, invalidProof)
			}
			// The bound key's holder, refused for its clock alone.
			if clock := tc.name == "stale iat"; errors.Is(err, sessiond.ErrClockSkew) != clock || errors.Is(err, dpop.ErrIssuedAt) != clock {
				t.Errorf("err = %v; matches sessiond.ErrClockSkew %v, dpop.ErrIssuedAt %v; want %v", err,
					errors.Is(err, sessiond.ErrClockSkew), errors.Is(err, dpop.ErrIssuedAt), clock)
			}
			if !invalidProof && !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("err = %v; want it to match sessiond.ErrInvalidToken", err)
			}
		})
	}
	if _, err := v.Verify(ctx, unbound); err != nil {
		t.Errorf("unbound token as before: %v", err)
	}
}

// TestVerifier_DPoPMiddleware: the HTTP answers of RFC 9449 §7.1.
func TestVerifier_DPoPMiddleware(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.ExternalURL = "https://api.example.test" })
	p, other := testenv.Prover(t, s.clock), testenv.Prover(t, s.clock)
	tok := s.boundToken("bea", p)
	_, unbound := s.token("ulf")
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		w.Write([]byte(c.Subject))
	}))
	do := func(method, auth string, proofs ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://10.0.0.7:8080/v1/orders?page=2", nil) // behind a proxy
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		for _, p := range proofs {
			r.Header.Add("DPoP", p)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	good := func() string { return proof(t, p, "GET", apiURL, tok, "") }
	if w := do("GET", "DPoP "+tok, good()); w.Code != 200 || w.Body.String() != "bea" {
		t.Fatalf("bound token with a good proof: %d %q", w.Code, w.Body)
	}
	if w := do("GET", "Bearer "+unbound); w.Code != 200 {
		t.Fatalf("unbound Bearer token: %d %q", w.Code, w.Body)
	}
	replayed := good()
	do("GET", "DPoP "+tok, replayed)
	past := testenv.Prover(t, sessiondtest.NewClock(s.clock.Now().Add(-dpop.DefaultMaxAge-time.Minute)))
	pastBound := s.boundToken("old", past)
	for _, tc := range []struct {
		name, method, auth string
		proofs             []string
		wantErr            string
	}{
		{"bound token as Bearer", "GET", "Bearer " + tok, nil, "invalid_token"},
		{"bound token as Bearer with a proof", "GET", "Bearer " + tok, []string{good()}, "invalid_token"},
		{"no proof", "GET", "DPoP " + tok, nil, "invalid_dpop_proof"},
		{"two proofs", "GET", "DPoP " + tok, []string{good(), good()}, "invalid_dpop_proof"},
		{"wrong method", "POST", "DPoP " + tok, []string{good()}, "invalid_dpop_proof"},
		{"wrong URL", "GET", "DPoP " + tok, []string{proof(t, p, "GET", "https://api.example.test/v1/users", tok, "")}, "invalid_dpop_proof"},
		{"another key", "GET", "DPoP " + tok, []string{proof(t, other, "GET", apiURL, tok, "")}, "invalid_dpop_proof"},
		{"replayed jti", "GET", "DPoP " + tok, []string{replayed}, "invalid_dpop_proof"},
		{"garbage proof", "GET", "DPoP " + tok, []string{"eyJ.garbage.x"}, "invalid_dpop_proof"},
		{"unbound token as DPoP", "GET", "DPoP " + unbound, []string{proof(t, p, "GET", apiURL, unbound, "")}, "invalid_token"},
		{"tampered token", "GET", "DPoP " + tok[:len(tok)-3] + "AAA", []string{good()}, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.method, tc.auth, tc.proofs...)
			got := w.Header().Get("WWW-Authenticate")
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(got, "DPoP ") || !strings.Contains(got, `error="`+tc.wantErr+`"`) {
				t.Fatalf("%d, WWW-Authenticate %q; want 401 DPoP error=%q", w.Code, got, tc.wantErr)
			}
			if w.Header().Get("DPoP-Nonce") != "" {
				t.Error("a DPoP-Nonce header without nonces configured")
			}
		})
	}
	// The two refusals an honest client fixes itself are named, as in the
	// API's problem detail (docs/bound-sessions.md): a phone's clock off,
	// a request resent with its proof. Every other refused proof is told
	// neither: a thief's proof by another key with a stale iat is refused
	// for the key, and does not learn of the clock.
	for _, tc := range []struct {
		name, method, auth string
		proofs             []string
		want               string
	}{
		{"stale iat", "GET", "DPoP " + pastBound, []string{proof(t, past, "GET", apiURL, pastBound, "")}, "iat"},
		{"replayed jti", "GET", "DPoP " + tok, []string{replayed}, "new proof"},
		{"another key, stale iat", "GET", "DPoP " + tok, []string{proof(t, past, "GET", apiURL, tok, "")}, ""},
		{"another key", "GET", "DPoP " + tok, []string{proof(t, other, "GET", apiURL, tok, "")}, ""},
		{"wrong method", "POST", "DPoP " + tok, []string{good()}, ""},
		{"wrong URL", "GET", "DPoP " + tok, []string{proof(t, p, "GET", "https://api.example.test/v1/users", tok, "")}, ""},
		{"wrong ath", "GET", "DPoP " + tok, []string{proof(t, p, "GET", apiURL, unbound, "")}, ""},
		{"garbage proof", "GET", "DPoP " + tok, []string{"eyJ.garbage.x"}, ""},
	} {
		w := do(tc.method, tc.auth, tc.proofs...)
		body := w.Body.String()
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
			t.Errorf("%s: %d %q; want 401 invalid_dpop_proof", tc.name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
		for _, named := range []string{"iat", "new proof"} {
			if strings.Contains(body, named) != (named == tc.want) {
				t.Errorf("%s: body %q; naming %q: %v, want %v", tc.name, body, named, !(named == tc.want), named == tc.want)
			}
		}
	}
	if w := do("GET", ""); w.Code != 401 || len(w.Header().Values("WWW-Authenticate")) != 2 {
		t.Errorf("no credentials: %d %q; want 401 with a Bearer and a DPoP challenge", w.Code, w.Header().Values("WWW-Authenticate"))
	}
}

// TestVerifier_DPoPMiddlewareStale: while the revocation state is stale
// (RejectWhenStale), the middleware answers 503 with Retry-After for every
// token it would otherwise check the proof of, or refuse for its binding,
// whatever the scheme: a bound token may be revoked without this verifier
// knowing, and the client is to retry, not to sign in. What the request
// itself gets wrong before a token is looked at (no proof or two) and a
// token that does not verify are still 401. sdk/node's middleware answers
// the same (test/hostile.test.mjs).
func TestVerifier_DPoPMiddlewareStale(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.ExternalURL = "https://api.example.test" })
	p := testenv.Prover(t, s.clock)
	tok := s.boundToken("bea", p)
	_, unbound := s.token("ulf")
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("in")) }))
	do := func(auth string, proofs ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://10.0.0.7:8080/v1/orders", nil)
		r.Header.Set("Authorization", auth)
		for _, p := range proofs {
			r.Header.Add("DPoP", p)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	eventually(t, "connected", func() bool { return v.Status().Connected })
	if w := do("DPoP "+tok, proof(t, p, "GET", apiURL, tok, "")); w.Code != http.StatusOK {
		t.Fatalf("control, fresh: bound token with a good proof: %d %q", w.Code, w.Body)
	}
	s.clock.Advance(verifier.DefaultMaxStaleness + time.Second) // no heartbeat meanwhile
	for _, tc := range []struct {
		name   string
		auth   string
		proofs []string
		status int
	}{
		{"bound token, good proof", "DPoP " + tok, []string{proof(t, p, "GET", apiURL, tok, "")}, http.StatusServiceUnavailable},
		{"bound token, bad proof", "DPoP " + tok, []string{"eyJ.any.proof"}, http.StatusServiceUnavailable},
		{"bound token as Bearer", "Bearer " + tok, nil, http.StatusServiceUnavailable},
		{"unbound token as DPoP", "DPoP " + unbound, []string{proof(t, p, "GET", apiURL, unbound, "")}, http.StatusServiceUnavailable},
		{"unbound token as Bearer", "Bearer " + unbound, nil, http.StatusServiceUnavailable},
		{"bound token, no proof", "DPoP " + tok, nil, http.StatusUnauthorized},
		{"tampered token as DPoP", "DPoP " + tok[:len(tok)-3] + "AAA", []string{proof(t, p, "GET", apiURL, tok, "")}, http.StatusUnauthorized},
	} {
		w := do(tc.auth, tc.proofs...)
		if w.Code != tc.status {
			t.Errorf("stale: %s: %d %q; want %d", tc.name, w.Code, w.Body, tc.status)
		}
		if retry := w.Header().Get("Retry-After"); (tc.status == http.StatusServiceUnavailable) != (retry == "5") {
			t.Errorf("stale: %s: Retry-After %q; want 5 with a 503 only", tc.name, retry)
		}
	}
}

// TestVerifier_DPoPNonce: with server nonces the middleware answers
// use_dpop_nonce and the nonce, and accepts the retry.
func TestVerifier_DPoPNonce(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(func(o *verifier.Options) {
		o.ExternalURL = "https://api.example.test:443/"
		o.DPoP.Nonces = dpop.NewRotatingNonces(s.clock, time.Minute)
	})
	p := testenv.Prover(t, s.clock)
	tok := s.boundToken("nia", p)
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(proof string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("DELETE", "/v1/orders", nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do(proof(t, p, "DELETE", apiURL, tok, ""))
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || nonce == "" {
		t.Fatalf("without a nonce: %d %q nonce %q", w.Code, w.Header().Get("WWW-Authenticate"), nonce)
	}
	if w := do(proof(t, p, "DELETE", apiURL, tok, nonce)); w.Code != 200 {
		t.Fatalf("retry with the nonce: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestVerifier_ExternalURLBadInput(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for _, u := range []string{"api.example.test", "ftp://api.example.test", "https://api.example.test/prefix", "https://api.example.test?x=1", "https://u@api.example.test"} {
		o := verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience, ExternalURL: u}
		if v, err := verifier.New(context.Background(), o); err == nil {
			v.Close()
			t.Errorf("ExternalURL %q accepted", u)
		}
	}
}

// TestVerifier_DPoPAheadNotReplayedLater: a proof by the token's key
// refused for an iat ahead of the clock (the device's clock runs fast)
// would pass once the clock reaches it; a request captured with it (the
// proof and its access token) must not pass then. The verifier remembers
// it until the token ends (Request.NotAfter); a new proof of the key
// still passes.
func TestVerifier_DPoPAheadNotReplayedLater(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil)
	ctx := context.Background()
	fast := sessiondtest.NewClock(s.clock.Now().Add(dpop.DefaultLeeway + 10*time.Second))
	p := testenv.Prover(t, fast)
	tok := s.boundToken("bea", p)
	captured := proof(t, p, "GET", apiURL, tok, "")
	if _, err := v.Verify(ctx, tok, verifier.WithDPoP(captured, "GET", apiURL)); !errors.Is(err, sessiond.ErrClockSkew) {
		t.Fatalf("Verify(proof 40s ahead) = %v; want ErrClockSkew", err)
	}
	// Within the revocation state's staleness: the proof is in its window now.
	s.clock.Advance(10 * time.Second)
	if _, err := v.Verify(ctx, tok, verifier.WithDPoP(captured, "GET", apiURL)); !errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("Verify(the captured request, 10s later) = %v; want ErrReplayed", err)
	}
	fast.Set(s.clock.Now())
	if _, err := v.Verify(ctx, tok, verifier.WithDPoP(proof(t, p, "GET", apiURL, tok, ""), "GET", apiURL)); err != nil {
		t.Fatalf("Verify(a new proof, the clock set right) = %v; want it to pass", err)
	}
}
