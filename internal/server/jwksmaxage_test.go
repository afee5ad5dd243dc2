package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_JWKSMaxAge: GET /.well-known/jwks.json lets verifiers cache the
// JWKS no longer than a new key is published on every node before it
// signs (jwt.key_publish_period less the ring's 2 s poll), at most five
// minutes: with a shorter period a verifier holding a copy from before
// the rotation refuses the new key's tokens until the copy expires.
// SD-JWT-010 only warns about such a period, so serve must still answer
// for it.
func TestRun_JWKSMaxAge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		publish time.Duration
		want    string
	}{
		{"default", 0, "public, max-age=300"},
		{"publish for 5m02s", 5*time.Minute + 2*time.Second, "public, max-age=300"},
		{"publish for 5m", 5 * time.Minute, "public, max-age=298"},
		{"publish for 1m", time.Minute, "public, max-age=58"},
		{"publish for 1s, under a poll", time.Second, "public, max-age=0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := devConfig(t)
			cfg.JWT.KeyPublishPeriod = config.Duration(c.publish)
			n := start(t, server.Options{Config: cfg})
			res := apiRequest(t, http.MethodGet, "http://"+n.addr+"/.well-known/jwks.json", "", "", nil)
			res.Body.Close()
			if got := res.Header.Get("Cache-Control"); res.StatusCode != http.StatusOK || got != c.want {
				t.Errorf("GET /.well-known/jwks.json = %d, Cache-Control %q; want 200, %q", res.StatusCode, got, c.want)
			}
		})
	}
}
