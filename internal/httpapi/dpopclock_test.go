package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestDPoP_RefreshWithWrongClock: a phone whose clock is off by hours
// makes proofs with an iat the server refuses. The answer must say that
// the iat is what failed (the app can then take the time from the answer's
// Date header and make a new proof), and the refusal ends nothing: the
// refresh token is not rotated, and a proof with a right iat, or a fresh
// proof after a replayed one, refreshes the same session
// (docs/lifecycle.md, "Native and mobile apps").
func TestDPoP_RefreshWithWrongClock(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	k := newProofKey(t)
	r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "phone",
		"dpop_proof": k.proof("POST", appTokenURL, "", ""), "htm": "POST", "htu": appTokenURL}))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var tr struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	refresh := func(proof string) *response {
		t.Helper()
		return e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{"refresh_token": tr.RefreshToken,
			"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
	}
	e.clock.Advance(time.Minute)
	for _, skew := range []time.Duration{-3 * time.Hour, 3 * time.Hour, -6 * time.Minute, time.Minute} {
		k.at = e.clock.Now().Add(skew)
		wantProblem(t, "refresh with a proof "+skew.String()+" off", refresh(k.proof("POST", appTokenURL, "", "")),
			http.StatusUnauthorized, "invalid_dpop_proof", "iat")
	}
	k.at = e.clock.Now()
	proof := k.proof("POST", appTokenURL, "", "")
	if r := refresh(proof); r.status != http.StatusOK {
		t.Fatalf("refresh with the clock set right, after refused proofs: %d %s; want 200", r.status, r.body)
	}
	// The same request sent again (a lost answer, an HTTP library's own
	// retry) replays the proof: refused, and not for its iat.
	r = refresh(proof)
	wantProblem(t, "refresh with a replayed proof", r, http.StatusUnauthorized, "invalid_dpop_proof", "")
	if d, _ := r.problem(t)["detail"].(string); strings.Contains(d, "iat") || !strings.Contains(d, "new proof") {
		t.Errorf("replayed proof: detail %q; want it to ask for a new proof, not blame the clock", d)
	}
	// A fresh proof, within reuse_interval: the retry of a lost answer.
	if r := refresh(k.proof("POST", appTokenURL, "", "")); r.status != http.StatusOK {
		t.Fatalf("refresh sent again with a fresh proof inside reuse_interval: %d %s; want 200", r.status, r.body)
	}
}
