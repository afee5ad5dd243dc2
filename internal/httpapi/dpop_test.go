package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/httpapi"

	"github.com/sessiond/sessiond/internal/testenv"
)

const (
	appTokenURL = "https://app.example/oauth/token"
	appAPIURL   = "https://app.example/api/orders"
)

// proofKey signs DPoP proofs as a client would (go-jose: the dpop package
// itself is tested against the npm dpop package in dpop/node_test.go).
type proofKey struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	at  time.Time
}

func newProofKey(t *testing.T) *proofKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &proofKey{t: t, key: k, at: t0}
}

func (p *proofKey) jkt() string {
	tp, err := (&jose.JSONWebKey{Key: p.key.Public()}).Thumbprint(0x5) // crypto.SHA256
	if err != nil {
		p.t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func (p *proofKey) proof(htm, htu, access, nonce string) string {
	cl := map[string]any{"jti": rand.Text(), "htm": htm, "htu": htu, "iat": p.at.Unix()}
	if access != "" {
		sum := sha256.Sum256([]byte(access))
		cl["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		cl["nonce"] = nonce
	}
	return testenv.SignJWS(p.t, p.key, jose.ES256, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"), cl)
}

func jsonBody(t *testing.T, v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDPoP_BoundSession(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT, sessiond.StrategyDatabase} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, st, nil)
			k := newProofKey(t)
			r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "ann",
				"dpop_proof": k.proof("POST", appTokenURL, "", ""), "htm": "POST", "htu": appTokenURL}))
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			var tr struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
				Session      struct {
					Claims map[string]any `json:"claims"`
				} `json:"session"`
			}
			if err := json.Unmarshal(r.body, &tr); err != nil {
				t.Fatal(err)
			}
			if cnf, _ := tr.Session.Claims["cnf"].(map[string]any); cnf["jkt"] != k.jkt() {
				t.Fatalf("session claims %v lack cnf.jkt %s", tr.Session.Claims, k.jkt())
			}
			verify := func(proof, htm, htu string) *response {
				m := map[string]any{"access_token": tr.AccessToken}
				if proof != "" {
					m["dpop_proof"], m["htm"], m["htu"] = proof, htm, htu
				}
				return e.postJSON("/v1/sessions/verify", jsonBody(t, m))
			}
			good := k.proof("GET", appAPIURL, tr.AccessToken, "")
			if r := verify(good, "GET", appAPIURL+"?page=2"); r.status != http.StatusOK {
				t.Fatalf("verify with a good proof: %d %s", r.status, r.body)
			}
			other := newProofKey(t)
			for name, r := range map[string]*response{
				"no proof":     verify("", "", ""),
				"replayed jti": verify(good, "GET", appAPIURL),
				"wrong method": verify(k.proof("POST", appAPIURL, tr.AccessToken, ""), "GET", appAPIURL),
				"wrong URL":    verify(k.proof("GET", appAPIURL+"/1", tr.AccessToken, ""), "GET", appAPIURL),
				"no ath":       verify(k.proof("GET", appAPIURL, "", ""), "GET", appAPIURL),
				"wrong ath":    verify(k.proof("GET", appAPIURL, "another", ""), "GET", appAPIURL),
				"another key":  verify(other.proof("GET", appAPIURL, tr.AccessToken, ""), "GET", appAPIURL),
				"garbage":      verify("e30.e30.e30", "GET", appAPIURL),
			} {
				wantProblem(t, name, r, http.StatusUnauthorized, "invalid_dpop_proof", "")
			}
			if r := verify(k.proof("GET", appAPIURL, tr.AccessToken, ""), "", ""); r.status != http.StatusBadRequest {
				t.Errorf("proof without htm/htu: %d %s", r.status, r.body)
			}
			if st == sessiond.StrategyDatabase {
				return
			}
			refresh := func(proof string) *response {
				m := map[string]any{"refresh_token": string(tr.RefreshToken), "client": map[string]any{"ip": "192.0.2.1"}}
				if proof != "" {
					m["dpop_proof"], m["htm"], m["htu"] = proof, "POST", appTokenURL
				}
				return e.postJSON("/v1/sessions/refresh", jsonBody(t, m))
			}
			wantProblem(t, "refresh without proof", refresh(""), http.StatusUnauthorized, "invalid_dpop_proof", "")
			wantProblem(t, "refresh by another key", refresh(other.proof("POST", appTokenURL, "", "")), http.StatusUnauthorized, "invalid_dpop_proof", "")
			if r := refresh(k.proof("POST", appTokenURL, "", "")); r.status != http.StatusOK {
				t.Fatalf("refresh with the bound key (after refused attempts): %d %s", r.status, r.body)
			} else if !strings.Contains(string(r.body), `"token_type":"DPoP"`) {
				t.Errorf("refresh of a bound session: %s; want token_type DPoP (RFC 9449 §5)", r.body)
			}
		})
	}
}

func TestDPoP_UnboundUnchanged(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	tr := e.create("bob")
	r := e.postJSON("/v1/sessions/verify", jsonBody(t, map[string]any{"access_token": string(tr.AccessToken)}))
	if r.status != http.StatusOK {
		t.Fatalf("verify unbound: %d %s", r.status, r.body)
	}
	r = e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{"refresh_token": string(tr.RefreshToken), "client": map[string]any{"ip": "192.0.2.1"}}))
	if r.status != http.StatusOK {
		t.Fatalf("refresh unbound: %d %s", r.status, r.body)
	}
}

func TestDPoP_CreateBadInput(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	k := newProofKey(t)
	good := func() string { return k.proof("POST", appTokenURL, "", "") }
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		detail string
	}{
		{"jkt malformed", map[string]any{"dpop_jkt": "short"}, 400, "invalid_request", "dpop_jkt"}, // the field the client sent, not the Manager's name for it
		{"jkt not base64url", map[string]any{"dpop_jkt": strings.Repeat("+", 43)}, 400, "invalid_request", "dpop_jkt"},
		{"jkt and proof disagree", map[string]any{"dpop_proof": good(), "htm": "POST", "htu": appTokenURL, "dpop_jkt": newProofKey(t).jkt()}, 400, "invalid_request", ""},
		{"htu without proof", map[string]any{"htu": appTokenURL}, 400, "invalid_request", ""},
		{"proof without htu", map[string]any{"dpop_proof": good(), "htm": "POST"}, 400, "invalid_request", ""},
		{"proof for another URL", map[string]any{"dpop_proof": good(), "htm": "POST", "htu": appAPIURL}, 401, "invalid_dpop_proof", ""},
		{"alg none", map[string]any{"dpop_proof": "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.", "htm": "POST", "htu": appTokenURL}, 401, "invalid_dpop_proof", ""},
		{"oversized", map[string]any{"dpop_proof": strings.Repeat("a", 9000), "htm": "POST", "htu": appTokenURL}, 401, "invalid_dpop_proof", ""},
		{"claims hold cnf", map[string]any{"dpop_jkt": k.jkt(), "claims": map[string]any{"cnf": "x"}}, 400, "invalid_request", ""},
		// Go's JSON decoding matches names case-insensitively: Cnf would be
		// read as the binding, to a key nobody checked.
		{"claims hold Cnf, unbound", map[string]any{"claims": map[string]any{"Cnf": map[string]any{"jkt": k.jkt()}}}, 400, "invalid_request", "cnf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["subject"] = "cat"
			r := e.do(http.MethodPost, "/v1/sessions", "application/json", []byte(jsonBody(t, tc.body)), nil)
			wantProblem(t, tc.name, r, tc.status, tc.code, tc.detail)
		})
	}
	t.Run("dpop_jkt binds", func(t *testing.T) {
		r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "cat", "dpop_jkt": k.jkt()}))
		if r.status != http.StatusCreated || !strings.Contains(string(r.body), k.jkt()) {
			t.Fatalf("create with dpop_jkt: %d %s", r.status, r.body)
		}
		// RFC 9449 §5: the token response of a bound token says DPoP, so a
		// client does not send it as Bearer (refused).
		var tok map[string]any
		if err := json.Unmarshal(r.body, &tok); err != nil || tok["token_type"] != "DPoP" {
			t.Errorf("create with dpop_jkt: token_type = %v (%v); want DPoP", tok["token_type"], err)
		}
	})
}

func TestDPoP_Nonce(t *testing.T) {
	var v *dpop.Verifier
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		var err error
		v, err = dpop.New(dpop.Options{Clock: o.Clock, Nonces: dpop.NewRotatingNonces(o.Clock, time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		o.DPoP = v
	})
	k := newProofKey(t)
	body := func(nonce string) string {
		return jsonBody(t, map[string]any{"subject": "dee", "dpop_proof": k.proof("POST", appTokenURL, "", nonce), "htm": "POST", "htu": appTokenURL})
	}
	r := e.postJSON("/v1/sessions", body(""))
	wantProblem(t, "no nonce", r, http.StatusUnauthorized, "use_dpop_nonce", "")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	wantProblem(t, "made-up nonce", e.postJSON("/v1/sessions", body("made-up")), http.StatusUnauthorized, "use_dpop_nonce", "")
	if r := e.postJSON("/v1/sessions", body(nonce)); r.status != http.StatusCreated {
		t.Fatalf("with the server nonce: %d %s", r.status, r.body)
	}
}

// TestDPoP_Introspect: introspection names the key a bound token is good
// with (RFC 9449 §6.2), so a resource server that introspects can check
// the proof; an unbound token has no cnf.
func TestDPoP_Introspect(t *testing.T) {
	eachStrategy(t, strategies, func(t *testing.T, e *env) {
		k := newProofKey(t)
		r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "cat", "dpop_jkt": k.jkt()}))
		if r.status != http.StatusCreated {
			t.Fatalf("create with dpop_jkt: %d %s", r.status, r.body)
		}
		var created struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(r.body, &created); err != nil || created.AccessToken == "" {
			t.Fatalf("create answer %s: %v", r.body, err)
		}
		r = e.postForm("/oauth2/introspect", url.Values{"token": {created.AccessToken}})
		var in map[string]any
		if err := json.Unmarshal(r.body, &in); err != nil || r.status != http.StatusOK {
			t.Fatalf("introspect = %d %s: %v", r.status, r.body, err)
		}
		if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || len(cnf) != 1 || cnf["jkt"] != k.jkt() || in["token_type"] != "DPoP" {
			t.Fatalf("introspect bound token = %s; want active, token_type DPoP, cnf {\"jkt\":%q}", r.body, k.jkt())
		}
		got, err := e.c.Introspect(t.Context(), sessiond.Secret(created.AccessToken))
		if err != nil || !got.Active || got.KeyThumbprint != k.jkt() || got.TokenType != "DPoP" {
			t.Fatalf("client Introspect = %+v, %v; want TokenType DPoP, KeyThumbprint %s", got, err, k.jkt())
		}
		plain := e.create("dog")
		r = e.postForm("/oauth2/introspect", url.Values{"token": {string(plain.AccessToken)}})
		// Decoded, not searched as text: a random session ID may hold "cnf".
		var plainIn map[string]any
		if err := json.Unmarshal(r.body, &plainIn); err != nil || r.status != http.StatusOK || plainIn["active"] != true {
			t.Fatalf("introspect unbound token = %d %s: %v; want active", r.status, r.body, err)
		}
		if _, has := plainIn["cnf"]; has || plainIn["token_type"] != "Bearer" {
			t.Fatalf("introspect unbound token = %s; want token_type Bearer, no cnf", r.body)
		}
		if got, err := e.c.Introspect(t.Context(), plain.AccessToken); err != nil || got.KeyThumbprint != "" {
			t.Fatalf("client Introspect(unbound) = %+v, %v", got, err)
		}
	})
}

// TestDPoP_NoProofKeepsNothingAlive: a copied token of a key-bound session
// presented without a proof is refused before the session's activity is
// recorded, so a thief holding only the token cannot keep the owner's
// idle session alive (database strategy, where verify records activity).
func TestDPoP_NoProofKeepsNothingAlive(t *testing.T) {
	e := newEnv(t, sessiond.StrategyDatabase, nil)
	k := newProofKey(t)
	tr := createBound(t, e, k, "ann")
	idle := func() time.Time {
		s, err := e.m.Get(t.Context(), tr.Session.ID)
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
		return s.IdleExpiresAt
	}
	before := idle()
	for range 3 { // 24 minutes, within the 30-minute idle timeout
		e.clock.Advance(8 * time.Minute)
		wantProblem(t, "verify without a proof", e.postJSON("/v1/sessions/verify", jsonBody(t, map[string]any{"access_token": tr.AccessToken})),
			http.StatusUnauthorized, "invalid_dpop_proof", "")
	}
	if after := idle(); !after.Equal(before) {
		t.Errorf("idle expiry moved from %v to %v by verifies without a proof; want it unchanged", before, after)
	}
	// The owner, with the key, still gets in (and that does count).
	k.at = e.clock.Now()
	r := e.postJSON("/v1/sessions/verify", jsonBody(t, map[string]any{"access_token": tr.AccessToken,
		"dpop_proof": k.proof("GET", appAPIURL, tr.AccessToken, ""), "htm": "GET", "htu": appAPIURL}))
	if r.status != http.StatusOK {
		t.Fatalf("verify with the proof: %d %s", r.status, r.body)
	}
	if after := idle(); !after.After(before) {
		t.Errorf("idle expiry %v after the owner's verify; want it later than %v", after, before)
	}
}

// boundTokens are the tokens of a session created bound to a DPoP key.
type boundTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Session      struct {
		ID sessiond.SessionID `json:"id"`
	} `json:"session"`
}

// createBound creates subject's session bound to k through the API.
func createBound(t *testing.T, e *env, k *proofKey, subject string) boundTokens {
	t.Helper()
	r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": subject, "dpop_jkt": k.jkt()}))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var tr boundTokens
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}
