package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestGateway_RefreshExpiresIn: POST /sessiond/refresh answers expires_in
// (whole seconds from the answer to access_token_expires_at, rounded down)
// as the API's token answers do, for a browser whose clock is off.
func TestGateway_RefreshExpiresIn(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT, sessiond.StrategyDatabase} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: st})
			b := e.loggedIn(t, e.login(t, "alice"))
			e.clock.Advance(90*time.Second + 300*time.Millisecond)
			r := b.do(http.MethodPost, "/sessiond/refresh", "", "Sec-Fetch-Site", "same-origin", "Accept", "application/json")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("POST /sessiond/refresh = %d %s; want 200", r.StatusCode, r.body)
			}
			var a struct {
				AccessTokenExpiresAt time.Time `json:"access_token_expires_at"`
				ExpiresIn            *int64    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(r.body), &a); err != nil {
				t.Fatal(err)
			}
			want := int64(a.AccessTokenExpiresAt.Sub(e.clock.Now()) / time.Second)
			if a.ExpiresIn == nil || *a.ExpiresIn != want || want <= 0 {
				t.Errorf("body %s: expires_in = %v; want %d, access_token_expires_at %s less the server's time %s",
					r.body, a.ExpiresIn, want, a.AccessTokenExpiresAt, e.clock.Now())
			}
		})
	}
}
