package server_test

import (
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRun_EventIPPrefixes: with events.ipv4_prefix and ipv6_prefix, a
// running server cuts the addresses of the events its Manager records (a
// login) and of those it records itself (a refused API key), while the
// session keeps its whole address; at the defaults nothing is cut.
func TestRun_EventIPPrefixes(t *testing.T) {
	cases := []struct {
		name   string
		v4, v6 int
		sent   string // the login's client.ip
		stored string // the session's
		login  string // the login event's
		peer   string // the refused key's event's (the test's loopback address)
	}{
		{"defaults", 32, 128, "198.51.100.77", "198.51.100.77", "198.51.100.77", "127.0.0.1"},
		{"networks", 24, 48, "198.51.100.77", "198.51.100.77", "198.51.100.0", "127.0.0.0"},
		{"IPv4-mapped login", 24, 48, "::ffff:198.51.100.77", "198.51.100.77", "198.51.100.0", "127.0.0.0"},
		{"IPv6 login", 24, 48, "2001:db8:1234:5678::9", "2001:db8:1234:5678::9", "2001:db8:1234::", "127.0.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Events.IPv4Prefix, cfg.Events.IPv6Prefix = tc.v4, tc.v6
			base := "http://" + start(t, server.Options{Config: cfg}).addr
			var created struct {
				Session struct {
					Client struct {
						IP string `json:"ip"`
					} `json:"client"`
				} `json:"session"`
			}
			body := `{"subject":"alice","client":{"ip":"` + tc.sent + `","user_agent":"Mozilla/5.0"}}`
			if code := testenv.CallAPI(t, http.MethodPost, base+"/v1/sessions", string(testKey), body, &created); code != http.StatusCreated {
				t.Fatalf("create: %d", code)
			}
			if code := testenv.CallAPI(t, http.MethodGet, base+"/v1/events", "sdak_not_a_key", "", nil); code != http.StatusUnauthorized {
				t.Fatalf("GET /v1/events with a wrong key = %d; want 401", code)
			}
			if evs := eventsOf(t, base, "type=session.created"); len(evs) != 1 || evs[0].Client["ip"] != tc.login {
				t.Errorf("session.created events %+v; want one with client.ip %q", evs, tc.login)
			}
			if evs := eventsOf(t, base, "type=api_key.auth_failed"); len(evs) != 1 || evs[0].Client["ip"] != tc.peer {
				t.Errorf("api_key.auth_failed events %+v; want one with client.ip %q", evs, tc.peer)
			}
			if got := created.Session.Client.IP; got != tc.stored {
				t.Errorf("created session's client.ip %q; want %q", got, tc.stored)
			}
		})
	}
}
