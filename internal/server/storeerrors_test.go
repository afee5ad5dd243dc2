package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/sessiondtest"
)

// storeErrorLine is one series of sessiond_store_errors_total in /metrics.
var storeErrorLine = regexp.MustCompile(`(?m)^sessiond_store_errors_total\{error="([a-z]+)",op="([a-z_]+)"\} ([0-9.e+]+)$`)

// storeErrors returns sessiond_store_errors_total of one error value
// (metrics.StoreUnavailable, metrics.StoreConflict) by op, as node n's
// /metrics reports it.
func storeErrors(t *testing.T, n *node, kind string) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + n.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", res.StatusCode, err)
	}
	out := map[string]float64{}
	for _, m := range storeErrorLine.FindAllStringSubmatch(string(b), -1) {
		if m[1] == kind {
			out[m[2]], _ = strconv.ParseFloat(m[3], 64)
		}
	}
	if len(out) == 0 {
		t.Fatalf("/metrics has no sessiond_store_errors_total{error=%q}:\n%s", kind, b)
	}
	return out
}

// TestRun_StoreErrorsCountFailedRequests: while PostgreSQL does not answer
// (a proxy in front of it cut), every request that fails with 503
// store_unavailable counts its failed store call in
// sessiond_store_errors_total under that call's op, so the documented
// alert on it sees an outage's failed requests, not only the scrape's own
// reads.
func TestRun_StoreErrorsCountFailedRequests(t *testing.T) {
	cfg, proxy := behindProxy(t, "storeerr")
	n := start(t, server.Options{Config: cfg, WatermarkPoll: -1}) // no background reads but the requests'
	login, err := apiClient(t, n).CreateSession(context.Background(), client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	before := storeErrors(t, n, metrics.StoreUnavailable)

	proxy.Down()
	base, key := "http://"+n.addr, string(testKey)
	for _, req := range []struct {
		op           string
		method, path string
		body         string
	}{
		{"create", "POST", "/v1/sessions", `{"subject":"alice"}`},
		{"create", "POST", "/v1/sessions", `{"subject":"bob"}`},
		{"swap_refresh", "POST", "/v1/sessions/refresh", `{"refresh_token":"` + string(login.RefreshToken) + `"}`},
		{"list", "GET", "/v1/subjects/alice/sessions", ""},
		{"revoke", "DELETE", "/v1/sessions/" + string(login.Session.ID), ""},
		{"revoke_subject", "DELETE", "/v1/subjects/alice/sessions", ""},
		{"query_events", "GET", "/v1/events", ""},
	} {
		if code := testenv.CallAPI(t, req.method, base+req.path, key, req.body, nil); code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with the store away = %d; want 503", req.method, req.path, code)
		}
	}
	// At least: background reads may fail in the outage too (the
	// concurrent-login check after the first login lists alice's sessions).
	after := storeErrors(t, n, metrics.StoreUnavailable)
	for op, want := range map[string]float64{"create": 2, "swap_refresh": 1, "list": 1, "revoke": 1, "revoke_subject": 1, "query_events": 1} {
		if got := after[op] - before[op]; got < want {
			t.Errorf(`sessiond_store_errors_total{op=%q} rose by %v over the outage's failed requests; want at least %v`, op, got, want)
		}
	}
}

// behindProxy is a development config on PostgreSQL (its own schema,
// named for the test) reached through a proxy the test can cut, to play a
// store that stops answering.
func behindProxy(t *testing.T, schema string) (config.Config, *sessiondtest.Proxy) {
	t.Helper()
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := sessiondtest.NewProxy(t, u.Host)
	through := *u
	through.Host = proxy.Addr()
	cfg := devConfig(t)
	cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "postgres", through.String(), testenv.PostgresSchema(t, dsn, schema)
	return cfg, proxy
}
