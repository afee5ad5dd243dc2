package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestTokens_ExpiresIn: every token answer (login, refresh, rotate) says
// how long its access token lives from the answer on, in whole seconds
// (expires_in, RFC 6749 §5.1), beside access_token_expires_at: an app on a
// device whose clock is hours off cannot compare the instant with its
// clock, and counts the seconds from the answer's arrival instead
// (docs/lifecycle.md, "Native and mobile apps").
func TestTokens_ExpiresIn(t *testing.T) {
	type answer struct {
		AccessTokenExpiresAt time.Time       `json:"access_token_expires_at"`
		ExpiresIn            json.RawMessage `json:"expires_in"`
		RefreshToken         *string         `json:"refresh_token"`
		Session              struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	// check returns the answer of r, whose expires_in must be the whole
	// seconds from the server's time to access_token_expires_at.
	check := func(t *testing.T, e *env, op string, r *response, status int) answer {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %d %s; want %d", op, r.status, r.body, status)
		}
		var a answer
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatal(err)
		}
		want := int64(a.AccessTokenExpiresAt.Sub(e.clock.Now()) / time.Second)
		var got int64
		if dec := json.NewDecoder(bytes.NewReader(a.ExpiresIn)); len(a.ExpiresIn) == 0 || dec.Decode(&got) != nil {
			t.Fatalf("%s: expires_in = %s; want the integer %d (body %s)", op, a.ExpiresIn, want, r.body)
		}
		if got != want || got <= 0 {
			t.Errorf("%s: expires_in = %d; want %d, access_token_expires_at %s less the server's time %s",
				op, got, want, a.AccessTokenExpiresAt, e.clock.Now())
		}
		return a
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT, sessiond.StrategyDatabase} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, st, nil)
			a := check(t, e, "create", e.postJSON("/v1/sessions", `{"subject":"phone"}`), http.StatusCreated)
			if st != sessiond.StrategyDatabase {
				if got := a.AccessTokenExpiresAt.Sub(e.clock.Now()); got != life.Access {
					t.Fatalf("access lifetime %v; want %v", got, life.Access)
				}
			}
			// A moment that is no whole second: expires_in rounds down,
			// never promising a token longer than it lives.
			e.clock.Advance(90*time.Second + 300*time.Millisecond)
			if a.RefreshToken != nil {
				a = check(t, e, "refresh", e.postJSON("/v1/sessions/refresh", jsonBody(t, map[string]any{"refresh_token": *a.RefreshToken})), http.StatusOK)
				e.clock.Advance(1500 * time.Millisecond)
			}
			if st != sessiond.StrategyJWT {
				check(t, e, "rotate", e.do(http.MethodPost, "/v1/sessions/"+a.Session.ID+"/rotate", "", nil, nil), http.StatusOK)
			}
		})
	}
}
