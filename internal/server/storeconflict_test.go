package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStoreConflict: a write the store refuses as a lost race (PostgreSQL's
// lock_timeout, a serialization failure or a deadlock: pgstore's
// ErrConflict, nothing changed) is answered as a store to retry, 503
// store_unavailable with Retry-After (RFC 6749's temporarily_unavailable
// on /oauth2), on every route that writes or reads sessions, never as a
// 500 internal error. Each such call counts in
// sessiond_store_errors_total{error="conflict"} under its op, so the
// operator sees why those requests failed, and not as unavailable.
func TestStoreConflict(t *testing.T) {
	t.Parallel()
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ns := testenv.PostgresSchema(t, dsn, "conflict")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	cfg := devConfig(t)
	cfg.Strategy = sessiond.StrategyHybrid
	// A statement waiting for a lock gives up after 50 ms (SQLSTATE 55P03),
	// long before the request's deadline would answer for it.
	cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "postgres", dsn+sep+"options=-c%20lock_timeout%3D50", ns
	n := start(t, server.Options{Config: cfg, InsecureDev: true})
	c, base := apiClient(t, n), "http://"+n.addr
	iss, err := c.CreateSession(t.Context(), client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}

	conflicts, outages := storeErrors(t, n, metrics.StoreConflict), storeErrors(t, n, metrics.StoreUnavailable)
	lockTable(t, dsn, ns, "sessions")

	sid := string(iss.Session.ID)
	for _, tc := range []struct {
		name, method, path, contentType, body string
		code                                  string // the problem's code, or /oauth2's error
	}{
		{"create", http.MethodPost, "/v1/sessions", "application/json", `{"subject":"bob"}`, "store_unavailable"},
		{"refresh", http.MethodPost, "/v1/sessions/refresh", "application/json", `{"refresh_token":"` + string(iss.RefreshToken) + `"}`, "store_unavailable"},
		{"get", http.MethodGet, "/v1/sessions/" + sid, "", "", "store_unavailable"},
		{"list", http.MethodGet, "/v1/subjects/alice/sessions", "", "", "store_unavailable"},
		{"rotate", http.MethodPost, "/v1/sessions/" + sid + "/rotate", "", "", "store_unavailable"},
		{"revoke", http.MethodDelete, "/v1/sessions/" + sid, "", "", "store_unavailable"},
		{"revoke subject", http.MethodDelete, "/v1/subjects/alice/sessions", "", "", "store_unavailable"},
		{"kill switch", http.MethodPost, "/v1/revocations", "application/json", `{"subjects":["alice"],"reason":"test"}`, "store_unavailable"},
		{"oauth2 revoke", http.MethodPost, "/oauth2/revoke", "application/x-www-form-urlencoded", "token=" + string(iss.RefreshToken), "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := apiRequest(t, tc.method, base+tc.path, string(testKey), tc.contentType, strings.NewReader(tc.body))
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var p struct{ Code, Error string }
			_ = json.Unmarshal(raw, &p)
			if res.StatusCode != http.StatusServiceUnavailable || p.Code+p.Error != tc.code || res.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s with the table locked = %d %s, Retry-After %q; want 503 %s with Retry-After",
					tc.method, tc.path, res.StatusCode, raw, res.Header.Get("Retry-After"), tc.code)
			}
		})
	}
	// At least: the background loops may meet the lock too.
	conflictsAfter, outagesAfter := storeErrors(t, n, metrics.StoreConflict), storeErrors(t, n, metrics.StoreUnavailable)
	for op, want := range map[string]float64{"create": 1, "swap_refresh": 1, "get": 2, "list": 1, "revoke": 1, "lookup": 1} {
		if got := conflictsAfter[op] - conflicts[op]; got < want {
			t.Errorf(`sessiond_store_errors_total{error="conflict",op=%q} rose by %v over the failed requests; want at least %v`, op, got, want)
		}
		if got := outagesAfter[op] - outages[op]; got != 0 {
			t.Errorf(`sessiond_store_errors_total{error="unavailable",op=%q} rose by %v; want 0: the store answered`, op, got)
		}
	}

	// The API's own store calls count the same way: GET /v1/events
	// reads the event log itself (query_events).
	lockTable(t, dsn, ns, "events")
	before := storeErrors(t, n, metrics.StoreConflict)["query_events"]
	res := apiRequest(t, http.MethodGet, base+"/v1/events", string(testKey), "", nil)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /v1/events with the event log locked = %d %s; want 503", res.StatusCode, raw)
	}
	if got := storeErrors(t, n, metrics.StoreConflict)["query_events"] - before; got != 1 {
		t.Errorf(`sessiond_store_errors_total{error="conflict",op="query_events"} rose by %v over GET /v1/events; want 1`, got)
	}
}

// TestStoreConflict_Browser: the browser routes answer a lost race as the
// API does, 503 to retry, and keep the browser's cookies. A refresh that
// failed that way once expired them (the user signed out by a lock wait),
// and the database strategy's check answered 401, which a gateway turns
// into the login page.
func TestStoreConflict_Browser(t *testing.T) {
	t.Parallel()
	dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		strategy sessiond.Strategy
		method   string
		path     string
		cookie   func(*client.TokenResponse) string
	}{
		{sessiond.StrategyDatabase, http.MethodGet, "/sessiond/check", func(iss *client.TokenResponse) string { return "sid=" + string(iss.AccessToken) }},
		{sessiond.StrategyDatabase, http.MethodGet, "/sessiond/session", func(iss *client.TokenResponse) string { return "sid=" + string(iss.AccessToken) }},
		{sessiond.StrategyHybrid, http.MethodPost, "/sessiond/refresh", func(iss *client.TokenResponse) string { return "rt=" + string(iss.RefreshToken) }},
	} {
		t.Run(string(tc.strategy)+" "+tc.method+" "+tc.path, func(t *testing.T) {
			ns := testenv.PostgresSchema(t, dsn, "conflict")
			cfg := devConfig(t)
			cfg.Strategy = tc.strategy
			cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "postgres", dsn+sep+"options=-c%20lock_timeout%3D50", ns
			cfg.Cookie.Secure, cfg.Cookie.Name, cfg.Cookie.RefreshName = false, "sid", "rt"
			cfg.Gateway.Enabled, cfg.Gateway.LoginURL = true, "/login"
			n := start(t, server.Options{Config: cfg, InsecureDev: true})
			iss, err := apiClient(t, n).CreateSession(t.Context(), client.CreateRequest{Subject: "carol"})
			if err != nil {
				t.Fatal(err)
			}
			lockTable(t, dsn, ns, "sessions")

			req := testenv.NewRequest(t, tc.method, "http://"+n.addr+tc.path, nil)
			req.Header.Set("Cookie", tc.cookie(iss))
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s with the table locked = %d %s; want 503", tc.method, tc.path, res.StatusCode, raw)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) > 0 {
				t.Errorf("%s %s with the table locked set cookies %q; want the browser's kept", tc.method, tc.path, sc)
			}
		})
	}
}

// lockTable holds ns's table locked until the test ends, so every
// statement that needs it waits for its lock_timeout and fails as a lost
// race (pgstore's ErrConflict).
func lockTable(t *testing.T, dsn, ns, table string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE "+pgx.Identifier{ns, table}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
}
