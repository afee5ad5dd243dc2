package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
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
	k, refresh := boundPhone(t, e)
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
	r := refresh(proof)
	wantProblem(t, "refresh with a replayed proof", r, http.StatusUnauthorized, "invalid_dpop_proof", "")
	if d, _ := r.problem(t)["detail"].(string); strings.Contains(d, "iat") || !strings.Contains(d, "new proof") {
		t.Errorf("replayed proof: detail %q; want it to ask for a new proof, not blame the clock", d)
	}
	// A fresh proof, within reuse_interval: the retry of a lost answer.
	if r := refresh(k.proof("POST", appTokenURL, "", "")); r.status != http.StatusOK {
		t.Fatalf("refresh sent again with a fresh proof inside reuse_interval: %d %s; want 200", r.status, r.body)
	}
}

// TestDPoP_WrongClockIsNoFailedRefresh: a proof refused for its iat alone,
// made with the session's own key, is the key holder's clock, not a guess,
// so it does not count against the subject's failed-refresh limit
// (rate_limit.refresh_failures). Counted, a phone retrying with its clock
// hours off soon had its own refusals answered 429 in place of the detail
// naming the iat, and the user's other devices had theirs too (their good
// refreshes still pass: a success is never refused). Such refusals are
// bounded per session instead: the same limit, counted for that session
// alone, so a thief holding the refresh token and an old proof of its key
// (whose refusals look the same) cannot send them past the limit. Every
// other refused proof still counts, a thief's proof with a stale iat
// included: signed by another key, it is refused for the key before its
// iat is looked at.
func TestDPoP_WrongClockIsNoFailedRefresh(t *testing.T) {
	const limit = 2
	limited := func(o *sessiond.Options) {
		o.RefreshFailures = sessiond.FailureLimit{Max: limit, Window: time.Hour}
	}
	type device struct {
		key     *proofKey
		refresh string
		old     string // a proof of a refresh that passed, past its window
	}
	login := func(t *testing.T, e *env, subject string) *device {
		t.Helper()
		d := &device{key: newProofKey(t)}
		d.key.at = e.clock.Now()
		r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": subject,
			"dpop_proof": d.key.proof("POST", appTokenURL, "", ""), "htm": "POST", "htu": appTokenURL}))
		d.refresh = refreshTokenOf(t, r, http.StatusCreated, "create")
		return d
	}
	refresh := func(e *env, token, proof string) *response {
		return e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{"refresh_token": token,
			"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
	}
	// rotate refreshes d with a good proof, and returns that proof.
	rotate := func(t *testing.T, e *env, d *device) string {
		t.Helper()
		d.key.at = e.clock.Now()
		proof := d.key.proof("POST", appTokenURL, "", "")
		d.refresh = refreshTokenOf(t, refresh(e, d.refresh, proof), http.StatusOK, "refresh with a good proof")
		return proof
	}

	t.Run("one device's clock, another device's refusals", func(t *testing.T) {
		e := newEnvWith(t, sessiond.StrategyHybrid, limited, nil)
		phone, tablet := login(t, e, "user"), login(t, e, "user")
		// The phone is told its clock limit times, then its own session's
		// bound answers 429 (a thief with an old proof looks the same);
		// none of it is counted against the user.
		for i := range 3 * limit {
			phone.key.at = e.clock.Now().Add(-3 * time.Hour)
			r := refresh(e, phone.refresh, phone.key.proof("POST", appTokenURL, "", ""))
			what := fmt.Sprintf("phone's refresh %d with its clock 3h behind", i+1)
			if i < limit {
				wantProblem(t, what, r, http.StatusUnauthorized, "invalid_dpop_proof", "iat")
			} else {
				wantProblem(t, what, r, http.StatusTooManyRequests, "too_many_requests", "")
			}
		}
		// The tablet's HTTP library resends a request with its proof: the
		// tablet is told why, not 429 for the phone's clock.
		sent := rotate(t, e, tablet)
		wantProblem(t, "tablet's resent proof after the phone's refusals", refresh(e, tablet.refresh, sent),
			http.StatusUnauthorized, "invalid_dpop_proof", "new proof")
		rotate(t, e, tablet)
		phone.key.at = e.clock.Now()
		rotate(t, e, phone)
	})

	for _, tc := range []struct {
		name    string
		proof   func(t *testing.T, e *env, d *device) string // a refused proof for d's refresh
		counted bool
	}{
		{"own key, clock 3h behind", func(t *testing.T, e *env, d *device) string {
			d.key.at = e.clock.Now().Add(-3 * time.Hour)
			return d.key.proof("POST", appTokenURL, "", "")
		}, false},
		{"own key, clock 1h ahead", func(t *testing.T, e *env, d *device) string {
			d.key.at = e.clock.Now().Add(time.Hour)
			return d.key.proof("POST", appTokenURL, "", "")
		}, false},
		{"another key, clock 3h behind (a thief's)", func(t *testing.T, e *env, d *device) string {
			k := newProofKey(t)
			k.at = e.clock.Now().Add(-3 * time.Hour)
			return k.proof("POST", appTokenURL, "", "")
		}, true},
		{"another key, clock right (a thief's)", func(t *testing.T, e *env, d *device) string {
			k := newProofKey(t)
			k.at = e.clock.Now()
			return k.proof("POST", appTokenURL, "", "")
		}, true},
		{"own key, stale iat, signature broken", func(t *testing.T, e *env, d *device) string {
			d.key.at = e.clock.Now().Add(-3 * time.Hour)
			p := d.key.proof("POST", appTokenURL, "", "")
			return p[:len(p)-8] + strings.Repeat("A", 8)
		}, true},
		{"own key, stale iat, another URL", func(t *testing.T, e *env, d *device) string {
			d.key.at = e.clock.Now().Add(-3 * time.Hour)
			return d.key.proof("POST", appAPIURL, "", "")
		}, true},
		{"own key, replayed", func(t *testing.T, e *env, d *device) string {
			return rotate(t, e, d) // the proof of the refresh that just passed
		}, true},
		// A proof by the session's key replayed once its window is over
		// (one an attacker kept, with the stolen refresh token) cannot be
		// told from a clock behind: not counted against the user either,
		// but bounded on its session as the clock's refusals are, and it
		// can never pass (docs/lifecycle.md).
		{"own key, replayed past its window", func(t *testing.T, e *env, d *device) string {
			if d.old == "" {
				d.old = rotate(t, e, d)
				e.clock.Advance(dpop.DefaultMaxAge + time.Minute)
			}
			return d.old
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, sessiond.StrategyHybrid, limited, nil)
			d, tablet := login(t, e, "user"), login(t, e, "user")
			var last *response
			for range limit + 1 {
				last = refresh(e, d.refresh, tc.proof(t, e, d))
			}
			// Past the limit every one is refused 429: counted against
			// the user, or, for the iat of the session's own key, against
			// that session alone.
			wantProblem(t, "refusal past the limit", last, http.StatusTooManyRequests, "too_many_requests", "")
			// Which of the two: the user's other device, refused for a
			// proof by another key (counted), is told why unless d's
			// refusals were counted against the user.
			thief := newProofKey(t)
			thief.at = e.clock.Now()
			r := refresh(e, tablet.refresh, thief.proof("POST", appTokenURL, "", ""))
			if tc.counted {
				wantProblem(t, "the tablet's refusal after them", r, http.StatusTooManyRequests, "too_many_requests", "")
			} else {
				wantProblem(t, "the tablet's refusal after them", r, http.StatusUnauthorized, "invalid_dpop_proof", "")
			}
		})
	}
}

// boundPhone creates a session of "phone" bound to a new proof key, and
// returns the key and a refresh of that session's first refresh token
// with a given proof (never rotated by a refused refresh).
func boundPhone(t *testing.T, e *env) (*proofKey, func(proof string) *response) {
	t.Helper()
	k := newProofKey(t)
	r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "phone",
		"dpop_proof": k.proof("POST", appTokenURL, "", ""), "htm": "POST", "htu": appTokenURL}))
	token := refreshTokenOf(t, r, http.StatusCreated, "create")
	return k, func(proof string) *response {
		t.Helper()
		return e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{"refresh_token": token,
			"dpop_proof": proof, "htm": "POST", "htu": appTokenURL}))
	}
}

// refreshTokenOf returns the refresh token of the token answer r, which
// what must have answered with status want.
func refreshTokenOf(t *testing.T, r *response, want int, what string) string {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: %d %s; want %d", what, r.status, r.body, want)
	}
	var tr struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &tr); err != nil || tr.RefreshToken == "" {
		t.Fatalf("%s: no refresh token in %s (%v)", what, r.body, err)
	}
	return tr.RefreshToken
}

// TestDPoP_AheadProofNotReplayedLater: a phone whose clock runs 20
// minutes fast has its refresh refused for the proof's iat. Someone who
// captured that request (the proof and the refresh token) and sends it 20
// minutes later, once the server's clock has reached the iat, must not refresh
// the session: the refused proof's jti is remembered until it could pass
// no more (docs/bound-sessions.md). The phone, its clock set right, still
// refreshes.
func TestDPoP_AheadProofNotReplayedLater(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	k, refresh := boundPhone(t, e)
	k.at = e.clock.Now().Add(20 * time.Minute) // within the idle timeout
	captured := k.proof("POST", appTokenURL, "", "")
	wantProblem(t, "refresh with a proof 20 minutes ahead", refresh(captured), http.StatusUnauthorized, "invalid_dpop_proof", "iat")
	e.clock.Advance(20 * time.Minute)
	r := refresh(captured)
	wantProblem(t, "the captured request 20 minutes later", r, http.StatusUnauthorized, "invalid_dpop_proof", "")
	if d, _ := r.problem(t)["detail"].(string); !strings.Contains(d, "new proof") {
		t.Errorf("the captured request 20 minutes later: detail %q; want it refused as a replayed proof", d)
	}
	k.at = e.clock.Now()
	if r := refresh(k.proof("POST", appTokenURL, "", "")); r.status != http.StatusOK {
		t.Fatalf("refresh with the clock set right: %d %s; want 200", r.status, r.body)
	}
}

// TestDPoP_RateLimitedTellsNoReason: past the bound of a session's
// refusals for the client's clock, the 429 tells neither the reason (the
// refused proof's WWW-Authenticate challenge, set while the proof was
// checked, stayed on the 429) nor that the user's refreshes are limited
// (its detail named the subject, whose other sessions are not).
func TestDPoP_RateLimitedTellsNoReason(t *testing.T) {
	e := newEnvWith(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.RefreshFailures = sessiond.FailureLimit{Max: 1, Window: time.Hour}
	}, nil)
	k, refresh := boundPhone(t, e)
	var r *response
	for i := range 2 {
		k.at = e.clock.Now().Add(-3 * time.Hour)
		r = refresh(k.proof("POST", appTokenURL, "", ""))
		if i == 0 {
			wantProblem(t, "refusal for the clock", r, http.StatusUnauthorized, "invalid_dpop_proof", "iat")
		}
	}
	wantProblem(t, "refusal for the clock past the bound", r, http.StatusTooManyRequests, "too_many_requests", "")
	if got := r.header.Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("429: WWW-Authenticate %q; want none (it names the refused proof)", got)
	}
	if d, _ := r.problem(t)["detail"].(string); strings.Contains(d, "subject") {
		t.Errorf("429: detail %q; want it not to blame the subject (this session alone is limited)", d)
	}
	if r.header.Get("Retry-After") != "3600" {
		t.Errorf("429: Retry-After %q; want 3600", r.header.Get("Retry-After"))
	}
}

// TestDPoP_AheadProofOfAccessNotReplayedLater: as
// TestDPoP_AheadProofNotReplayedLater for POST /v1/sessions/verify: a
// request captured with an access token and a proof refused for an iat 2
// minutes ahead does not verify once the server's clock reaches the iat.
func TestDPoP_AheadProofOfAccessNotReplayedLater(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, strategy, nil)
			k := newProofKey(t)
			tr := createBound(t, e, k, "ann")
			verify := func(proof string) *response {
				t.Helper()
				return e.postJSON("/v1/sessions/verify", jsonBody(t, map[string]any{"access_token": tr.AccessToken,
					"dpop_proof": proof, "htm": "GET", "htu": appAPIURL}))
			}
			k.at = e.clock.Now().Add(2 * time.Minute) // within the access lifetime
			captured := k.proof("GET", appAPIURL, tr.AccessToken, "")
			wantProblem(t, "verify with a proof 2 minutes ahead", verify(captured), http.StatusUnauthorized, "invalid_dpop_proof", "iat")
			e.clock.Advance(2 * time.Minute)
			wantProblem(t, "the captured request 2 minutes later", verify(captured), http.StatusUnauthorized, "invalid_dpop_proof", "new proof")
			k.at = e.clock.Now()
			if r := verify(k.proof("GET", appAPIURL, tr.AccessToken, "")); r.status != http.StatusOK {
				t.Fatalf("verify with the clock set right: %d %s; want 200", r.status, r.body)
			}
		})
	}
}
