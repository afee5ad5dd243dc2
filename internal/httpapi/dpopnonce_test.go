package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// TestDPoP_NonceChallengeIsNoRefreshFailure: use_dpop_nonce asks the
// client to retry with the server's nonce (RFC 9449 §8); a client that
// does so has failed nothing. However many challenges a well-behaved
// client meets (one per nonce rotation), they must not count against its
// subject's failed-refresh limit, or it drifts into a lockout (429).
func TestDPoP_NonceChallengeIsNoRefreshFailure(t *testing.T) {
	const limit = 2
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, st, func(o *httpapi.Options) {
				ring, signed := newSigned(t)
				m, err := sessiond.New(t.Context(), sessiond.Options{
					Strategy: st, Store: memstore.New(), Signed: signed, Opaque: opaquetoken.Codec{},
					Lifetimes: life, Clock: o.Clock, GCInterval: -1, Logger: o.Logger,
					RefreshFailures: sessiond.FailureLimit{Max: limit, Window: time.Hour},
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				o.Manager, o.JWKS = m, ring.JWKS
				o.DPoP, err = dpop.New(dpop.Options{Clock: o.Clock, Nonces: dpop.NewRotatingNonces(o.Clock, time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
			})
			k := newProofKey(t)
			tr := createBound(t, e, k, "ann")
			refresh := func(nonce string) *response {
				k.at = e.clock.Now()
				return e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{
					"refresh_token": tr.RefreshToken, "client": map[string]any{"ip": "192.0.2.1"},
					"dpop_proof": k.proof("POST", appTokenURL, "", nonce), "htm": "POST", "htu": appTokenURL}))
			}

			// The client's nonce goes stale at each rotation: a challenge,
			// a retry with the new nonce, a refresh. More rotations than
			// the limit allows failures.
			nonce := ""
			for i := range 3 * limit {
				e.clock.Advance(2 * time.Minute) // past the nonce's rotation
				r := refresh(nonce)
				wantProblem(t, "refresh with a stale nonce", r, http.StatusUnauthorized, "use_dpop_nonce", "")
				if nonce = r.header.Get("DPoP-Nonce"); nonce == "" {
					t.Fatalf("challenge #%d without a DPoP-Nonce header", i+1)
				}
				r = refresh(nonce)
				if r.status != http.StatusOK {
					t.Fatalf("refresh #%d with the server nonce = %d %s; want 200 (a nonce challenge is no failed refresh)", i+1, r.status, r.body)
				}
				if err := json.Unmarshal(r.body, &tr); err != nil {
					t.Fatal(err)
				}
				if n := r.header.Get("DPoP-Nonce"); n != "" {
					nonce = n
				}
			}
			// Nor challenges in a row, without a refresh between them.
			for range 3 * limit {
				wantProblem(t, "refresh without a nonce", refresh(""), http.StatusUnauthorized, "use_dpop_nonce", "")
			}
			if r := refresh(nonce); r.status != http.StatusOK {
				t.Fatalf("refresh with the server nonce after %d challenges in a row = %d %s; want 200", 3*limit, r.status, r.body)
			}

			// The limit itself still holds: a proof by another key fails.
			other := newProofKey(t)
			for i := range limit + 1 {
				other.at = e.clock.Now()
				r := e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{
					"refresh_token": tr.RefreshToken, "client": map[string]any{"ip": "192.0.2.1"},
					"dpop_proof": other.proof("POST", appTokenURL, "", nonce), "htm": "POST", "htu": appTokenURL}))
				if i < limit {
					wantProblem(t, "refresh by another key", r, http.StatusUnauthorized, "invalid_dpop_proof", "")
				} else if r.status != http.StatusTooManyRequests {
					t.Errorf("failed refresh #%d by another key = %d %s; want 429", i+1, r.status, r.body)
				}
			}
		})
	}
}

// TestDPoP_RefreshUnboundIgnoresRefusedProof: a refresh of an unbound
// session does not depend on a proof sent with it, now that the proof is
// verified before the session is known.
func TestDPoP_RefreshUnboundIgnoresRefusedProof(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	k := newProofKey(t)
	for name, proof := range map[string]string{
		"garbage":         "e30.e30.e30",
		"for another URL": k.proof("POST", appAPIURL, "", ""),
	} {
		tr := e.create("bob")
		r := e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{
			"refresh_token": string(tr.RefreshToken), "client": map[string]any{"ip": "192.0.2.1"},
			"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
		if r.status != http.StatusOK {
			t.Errorf("refresh of an unbound session with a proof (%s) = %d %s; want 200", name, r.status, r.body)
		}
		if h := r.header.Get("WWW-Authenticate"); h != "" {
			t.Errorf("refresh of an unbound session with a proof (%s): WWW-Authenticate %q; want none", name, h)
		}
	}
}

// A proof is verified, and its jti spent, only for the session the refresh
// token names: someone who saw a proof and sends it with a junk refresh
// token must not make the owner's refresh with it fail as a replay.
func TestDPoP_RefreshProofNotSpentByJunkToken(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	k := newProofKey(t)
	tr := createBound(t, e, k, "ann")
	k.at = e.clock.Now()
	proof := k.proof("POST", appTokenURL, "", "")
	// Someone who saw the proof (not the refresh token) sends it first.
	junk := e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{
		"refresh_token": "not-a-refresh-token", "client": map[string]any{"ip": "192.0.2.9"},
		"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
	if junk.status == http.StatusOK {
		t.Fatalf("refresh with a junk token = 200")
	}
	own := e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{
		"refresh_token": tr.RefreshToken, "client": map[string]any{"ip": "192.0.2.1"},
		"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
	if own.status != http.StatusOK {
		t.Errorf("the owner's refresh with its own fresh proof, after a request with a junk refresh token carried it = %d %s; want 200 (a refused request must not spend the proof)", own.status, own.body)
	}
}
