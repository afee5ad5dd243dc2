package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/metrics"
)

// newMeteredEnv is newEnv with the server's verify metric hook and, with
// nonces, a DPoP verifier that asks for a server nonce.
func newMeteredEnv(t *testing.T, st sessiond.Strategy, nonces bool, outcomes *testenv.VerifyOutcomes) *env {
	t.Helper()
	return newEnvWith(t, st, func(o *sessiond.Options) { o.VerifyObserver = outcomes.Observe }, func(o *httpapi.Options) {
		if !nonces {
			return
		}
		var err error
		if o.DPoP, err = dpop.New(dpop.Options{Clock: o.Clock, Nonces: dpop.NewRotatingNonces(o.Clock, time.Minute)}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDPoP_VerifyRefusalCountsAsRefusal: POST /v1/sessions/verify of a
// key-bound token without a valid proof is a refused token, not a server
// error: sessiond_verify_total counts it as token_invalid, and it raises no
// session.unknown_id event (the token is a known session's). A nonce
// challenge is neither: a client doing everything right meets one at each
// nonce rotation, so it counts as challenge. The answers are unchanged.
func TestDPoP_VerifyRefusalCountsAsRefusal(t *testing.T) {
	tests := []struct {
		name     string
		nonces   bool
		body     func(k, other *proofKey, access string) map[string]any
		status   int
		code     string // problem code; "" for a 200
		wantAuth string // WWW-Authenticate
		want     string // verify outcome
	}{
		{"GoodProof", false, func(k, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": k.proof("GET", appAPIURL, at, ""), "htm": "GET", "htu": appAPIURL}
		}, http.StatusOK, "", "", metrics.VerifyOK},
		{"NoProof", false, func(_, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at}
		}, http.StatusUnauthorized, "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`, metrics.VerifyTokenInvalid},
		{"AnotherKey", false, func(_, other *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": other.proof("GET", appAPIURL, at, ""), "htm": "GET", "htu": appAPIURL}
		}, http.StatusUnauthorized, "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`, metrics.VerifyTokenInvalid},
		{"WrongAth", false, func(k, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": k.proof("GET", appAPIURL, "another", ""), "htm": "GET", "htu": appAPIURL}
		}, http.StatusUnauthorized, "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`, metrics.VerifyTokenInvalid},
		{"Garbage", false, func(_, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": "e30.e30.e30", "htm": "GET", "htu": appAPIURL}
		}, http.StatusUnauthorized, "invalid_dpop_proof", `DPoP error="invalid_dpop_proof"`, metrics.VerifyTokenInvalid},
		{"ProofWithoutHTMAndHTU", false, func(k, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": k.proof("GET", appAPIURL, at, "")}
		}, http.StatusBadRequest, "invalid_request", "", metrics.VerifyTokenInvalid},
		{"NoNonce", true, func(k, _ *proofKey, at string) map[string]any {
			return map[string]any{"access_token": at, "dpop_proof": k.proof("GET", appAPIURL, at, ""), "htm": "GET", "htu": appAPIURL}
		}, http.StatusUnauthorized, "use_dpop_nonce", `DPoP error="use_dpop_nonce"`, metrics.VerifyChallenge},
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		for _, tt := range tests {
			t.Run(string(st)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				outcomes := &testenv.VerifyOutcomes{}
				e := newMeteredEnv(t, st, tt.nonces, outcomes)
				k := newProofKey(t)
				tr := createBound(t, e, k, "ann")
				outcomes.Take()

				r := e.postJSON("/v1/sessions/verify", jsonBody(t, tt.body(k, newProofKey(t), tr.AccessToken)))
				if tt.code == "" {
					wantAnswer(t, "verify", r, tt.status, "application/json")
				} else {
					wantProblem(t, "verify", r, tt.status, tt.code, "")
				}
				if got := r.header.Get("WWW-Authenticate"); got != tt.wantAuth {
					t.Errorf("WWW-Authenticate = %q; want %q", got, tt.wantAuth)
				}
				if tt.nonces && r.header.Get("DPoP-Nonce") == "" {
					t.Error("use_dpop_nonce without a DPoP-Nonce header")
				}
				if got, want := outcomes.Take(), []string{tt.want}; !slices.Equal(got, want) {
					t.Errorf("verify outcomes = %q; want %q", got, want)
				}
				for _, l := range e.logLines() {
					if l["type"] == string(sessiond.EventUnknownToken) {
						t.Errorf("%s event for the token of a known session: %v", sessiond.EventUnknownToken, l)
					}
				}
			})
		}
	}
}
