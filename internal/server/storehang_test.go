//go:build unix

// SIGSTOP freezes the store: Unix only.

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// hangWriteTimeout is server.write_timeout in TestStoreHang: short, so a
// request the server leaves unanswered shows within seconds.
const hangWriteTimeout = 2 * time.Second

// TestStoreHang: a store that stops answering (a frozen Redis, a
// PostgreSQL table held under an exclusive lock) is answered as a store
// that is down (docs/operations.md, "When the store is unavailable"):
// database-strategy verify, create, refresh, list and revoke answer 503
// store_unavailable with Retry-After: 1, and the browser gateway's check
// 503 store_unavailable (docs/gateway.md), before server.write_timeout
// cuts the connection, and succeed again once the store answers, without a
// restart. Refresh runs on a hybrid node (the database strategy has none),
// the rest on a database-strategy node, each on a namespace of its own on
// the same store server.
func TestStoreHang(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		port, redis := redisclustertest.StartProcess(t)
		url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		waitRedis(t, url)
		configure := func(cfg *config.Config) {
			cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "redis", url, testenv.UniqueName("hang")
		}
		hangRound(t, configure,
			func() { // freeze
				if err := redis.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			},
			func() { // thaw
				if err := redis.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		var schemas []string
		configure := func(cfg *config.Config) {
			ns := testenv.PostgresSchema(t, dsn, "hang")
			schemas = append(schemas, ns)
			cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "postgres", dsn, ns
		}
		var (
			conn *pgx.Conn
			tx   pgx.Tx
		)
		t.Cleanup(func() {
			if conn != nil {
				_ = conn.Close(context.Background())
			}
		})
		hangRound(t, configure,
			func() { // a long lock: every statement on the sessions waits
				var err error
				if conn, err = pgx.Connect(t.Context(), dsn); err != nil {
					t.Fatal(err)
				}
				if tx, err = conn.Begin(t.Context()); err != nil {
					t.Fatal(err)
				}
				for _, ns := range schemas {
					if _, err := tx.Exec(t.Context(), "LOCK TABLE "+pgx.Identifier{ns, "sessions"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
						t.Fatal(err)
					}
				}
			},
			func() {
				if err := tx.Rollback(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
	})
}

// waitRedis waits for the private redis-server at url to answer.
func waitRedis(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: "hangprobe"})
		if err == nil {
			st.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hangRound starts a database-strategy node and a hybrid one, each
// configured by configure, makes sessions, calls freeze, checks that every
// call that needs the store answers 503 store_unavailable within
// server.write_timeout, calls thaw and checks that the same calls succeed.
func hangRound(t *testing.T, configure func(*config.Config), freeze, thaw func()) {
	nodeOf := func(st sessiond.Strategy) (string, *client.Client) {
		cfg := devConfig(t)
		configure(&cfg)
		cfg.Strategy = st
		cfg.Server.WriteTimeout = config.Duration(hangWriteTimeout)
		// The browser gateway too, on plain HTTP loopback.
		cfg.Cookie.Secure, cfg.Cookie.Name, cfg.Cookie.RefreshName = false, "sid", "rt"
		cfg.Gateway.Enabled, cfg.Gateway.LoginURL = true, "/login"
		n := start(t, server.Options{Config: cfg, InsecureDev: true})
		return "http://" + n.addr, apiClient(t, n)
	}
	dbURL, db := nodeOf(sessiond.StrategyDatabase)
	hyURL, hy := nodeOf(sessiond.StrategyHybrid)
	ctx := t.Context()
	mk := func(c *client.Client, subject string) *client.TokenResponse {
		t.Helper()
		iss, err := c.CreateSession(ctx, client.CreateRequest{Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	// One session per call, so a call the store applies late (a frozen
	// Redis runs what it had received once it resumes) does not change
	// what the next round expects.
	type call struct {
		name, method, url, body string
		ok                      int
		cookie                  string // the gateway's session cookie; "" for an API call
	}
	calls := func(round string) []call {
		verify, revoke, refresh := mk(db, "hang-verify-"+round), mk(db, "hang-revoke-"+round), mk(hy, "hang-refresh-"+round)
		browser := mk(db, "hang-browser-"+round)
		return []call{
			{name: "gateway check (database)", method: http.MethodGet, url: dbURL + "/sessiond/check", ok: http.StatusOK,
				cookie: "sid=" + string(browser.AccessToken)},
			{"verify (database)", http.MethodPost, dbURL + "/v1/sessions/verify", `{"access_token":"` + string(verify.AccessToken) + `"}`, http.StatusOK, ""},
			{"create", http.MethodPost, dbURL + "/v1/sessions", `{"subject":"hang-new-` + round + `"}`, http.StatusCreated, ""},
			// Writes that wait behind another (PostgreSQL's group commit
			// queues them) are cut by the deadline too.
			{"create (queued)", http.MethodPost, dbURL + "/v1/sessions", `{"subject":"hang-new-` + round + `"}`, http.StatusCreated, ""},
			{"create (queued 2)", http.MethodPost, dbURL + "/v1/sessions", `{"subject":"hang-new-` + round + `"}`, http.StatusCreated, ""},
			{"refresh (hybrid)", http.MethodPost, hyURL + "/v1/sessions/refresh", `{"refresh_token":"` + string(refresh.RefreshToken) + `"}`, http.StatusOK, ""},
			{"list", http.MethodGet, dbURL + "/v1/subjects/hang-verify-" + round + "/sessions", "", http.StatusOK, ""},
			{"revoke", http.MethodDelete, dbURL + "/v1/sessions/" + string(revoke.Session.ID), "", http.StatusNoContent, ""},
		}
	}
	hc := &http.Client{Timeout: 3 * hangWriteTimeout}
	send := func(c call) (status int, code, retryAfter string, took time.Duration, err error) {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req := testenv.NewRequest(t, c.method, c.url, body)
		if c.cookie != "" {
			req.Header.Set("Cookie", c.cookie)
		} else {
			req.Header.Set("Authorization", "Bearer "+string(testKey))
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		begin := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return 0, "", "", time.Since(begin), err
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		took = time.Since(begin)
		if err != nil {
			return res.StatusCode, "", "", took, err
		}
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &p)
		return res.StatusCode, p.Code, res.Header.Get("Retry-After"), took, nil
	}

	hung := calls("hung")
	freeze()
	var wg sync.WaitGroup
	for _, c := range hung {
		wg.Go(func() {
			status, code, retry, took, err := send(c)
			switch {
			case err != nil:
				t.Errorf("store hung: %s: no answer after %v: %v; want 503 store_unavailable within server.write_timeout (%v)", c.name, took.Round(time.Millisecond), err, hangWriteTimeout)
			case status != http.StatusServiceUnavailable || code != "store_unavailable" || (retry != "1" && c.cookie == ""):
				t.Errorf("store hung: %s = %d %q, Retry-After %q; want 503 store_unavailable, Retry-After 1", c.name, status, code, retry)
			case took >= hangWriteTimeout:
				t.Errorf("store hung: %s answered after %v; want within server.write_timeout (%v)", c.name, took, hangWriteTimeout)
			default:
				t.Logf("store hung: %s = 503 store_unavailable after %v", c.name, took.Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	thaw()

	// The store answers again: the same calls succeed, on the same nodes.
	for _, c := range calls("back") {
		status, code, _, took, err := send(c)
		if err != nil || status != c.ok {
			t.Errorf("store back: %s = %d %q (%v) after %v; want %d", c.name, status, code, err, took.Round(time.Millisecond), c.ok)
		}
	}
}
