package httpsession_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestRefreshHandler_ExpiresIn: the refresh endpoint's answer says how
// long the access cookie's token lives from the answer on, in whole
// seconds rounded down (expires_in, as the API's token answers), beside
// access_token_expires_at: a browser on a device whose clock is off
// counts the seconds instead of comparing the instant with its clock. In
// the database strategy it counts to the session's end, the instant the
// answer reports.
func TestRefreshHandler_ExpiresIn(t *testing.T) {
	tests := []struct {
		strategy sessiond.Strategy
		advance  time.Duration // before the refresh; not a whole second
		want     int64
	}{
		// b2c: a refreshed access token lives 1h from the refresh.
		{sessiond.StrategyHybrid, 61*time.Minute + 300*time.Millisecond, 3600},
		{sessiond.StrategyJWT, 61*time.Minute + 300*time.Millisecond, 3600},
		// The session ends 8h after the login, whatever the refresh.
		{sessiond.StrategyDatabase, 10*time.Minute + 300*time.Millisecond, 8*3600 - 10*60 - 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: tt.strategy})
			b := e.browser(t)
			b.login("alice")
			e.clock.Advance(tt.advance)
			resp := b.do(http.MethodPost, httpsession.DefaultRefreshPath, nil, "Sec-Fetch-Site", "same-origin")
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh = %d %q; want 200", resp.StatusCode, body)
			}
			var a struct {
				AccessTokenExpiresAt time.Time       `json:"access_token_expires_at"`
				ExpiresIn            json.RawMessage `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatalf("refresh body %q: %v", body, err)
			}
			var got int64
			if len(a.ExpiresIn) == 0 || json.NewDecoder(bytes.NewReader(a.ExpiresIn)).Decode(&got) != nil {
				t.Fatalf("refresh body %s: expires_in = %s; want the integer %d", body, a.ExpiresIn, tt.want)
			}
			if got != tt.want {
				t.Errorf("expires_in = %d; want %d", got, tt.want)
			}
			if end := e.clock.Now().Add(time.Duration(got) * time.Second); end.After(a.AccessTokenExpiresAt) {
				t.Errorf("expires_in %d from %s passes access_token_expires_at %s", got, e.clock.Now(), a.AccessTokenExpiresAt)
			}
		})
	}
}

func TestExpiresInAt(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		end  time.Time
		want int64
	}{
		{now.Add(time.Hour), 3600},
		{now.Add(time.Hour - time.Millisecond), 3599}, // rounded down
		{now, 0},
		{now.Add(-time.Minute), 0}, // past: never negative
	}
	for _, tt := range tests {
		if got := httpsession.ExpiresInAt(tt.end, now); got == nil || *got != tt.want {
			t.Errorf("ExpiresInAt(%s, %s) = %v; want %d", tt.end, now, got, tt.want)
		}
	}
}
