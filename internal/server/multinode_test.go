package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// sharedStore is one deployment's store that several nodes share.
type sharedStore struct {
	name string
	// configure points cfg at a fresh namespace on the store, removed
	// when the test ends.
	configure func(t *testing.T, cfg *config.Config)
}

// sharedStores are PostgreSQL and Redis, from SESSIOND_TEST_POSTGRES_URL and
// SESSIOND_TEST_REDIS_URL (skipped without them, failing under
// SESSIOND_TEST_REQUIRE=1).
func sharedStores(t *testing.T) []sharedStore {
	pg := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	rd := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	return []sharedStore{
		{"postgres", func(t *testing.T, cfg *config.Config) {
			ns := testenv.PostgresSchema(t, pg, "srvtest")
			cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "postgres", pg, ns
		}},
		{"redis", func(t *testing.T, cfg *config.Config) {
			ns := testenv.UniqueName("srvtest")
			t.Cleanup(func() { testenv.DeleteRedisPrefix(t, rd, ns+":") })
			cfg.Store.Driver, cfg.Store.DSN, cfg.Store.Namespace = "redis", rd, ns
		}},
	}
}

// eventually polls cond until it holds; within guards against a hang, it
// measures nothing.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoNodes starts two nodes of cfg on its shared store, each with a data
// directory of its own and an hour between watermark polls (only the
// store's feed carries changes between them within a test), and returns
// an API client of each.
func twoNodes(t *testing.T, cfg config.Config) (a, b *client.Client) {
	t.Helper()
	na := start(t, server.Options{Config: cfg, WatermarkPoll: time.Hour})
	cfgB := cfg
	cfgB.Server.DataDir = t.TempDir()
	nb := start(t, server.Options{Config: cfgB, WatermarkPoll: time.Hour})
	return apiClient(t, na), apiClient(t, nb)
}

// TestKillSwitchByPush: the kill switch on node A reaches node B through
// the store's feed. B's watermark poll is an hour, so only the push can make
// B reject a token older than the incident within the test.
func TestKillSwitchByPush(t *testing.T) {
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			cfg := devConfig(t)
			st.configure(t, &cfg)
			ca, cb := twoNodes(t, cfg)
			ctx := t.Context()

			login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "mallory-victim"})
			if err != nil {
				t.Fatal(err)
			}
			// Verified once on B, so B's verify cache holds it too.
			if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
				t.Fatalf("node B rejects node A's fresh token: %v", err)
			}
			if _, err := ca.RevokeIncident(ctx, client.Incident{All: true, Reason: "push test"}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			eventually(t, 10*time.Second, "node B rejects a token older than node A's kill switch", func() bool {
				_, err := cb.Verify(ctx, login.AccessToken, nil)
				return errors.Is(err, sessiond.ErrRevoked)
			})
			t.Logf("kill switch on node A reached node B after %v", time.Since(start))

			// A login after the incident works on both nodes.
			fresh, err := cb.CreateSession(ctx, client.CreateRequest{Subject: "mallory-victim"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ca.Verify(ctx, fresh.AccessToken, nil); err != nil {
				t.Errorf("node A rejects a login made on node B after the incident: %v", err)
			}
		})
	}
}

// TestRefreshFailuresSharedAcrossNodes: failed refreshes of one subject,
// spread over two nodes, reach rate_limit.refresh_failures at the same
// total count as on one node; past it both nodes answer 429 with
// Retry-After, while a good refresh of the same subject still works.
func TestRefreshFailuresSharedAcrossNodes(t *testing.T) {
	const limit = 4
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			cfg := devConfig(t)
			st.configure(t, &cfg)
			cfg.RateLimit.RefreshFailures = config.WindowRule{Requests: limit, Per: config.Duration(time.Minute)}
			na := start(t, server.Options{Config: cfg})
			cfgB := cfg
			cfgB.Server.DataDir = t.TempDir()
			nb := start(t, server.Options{Config: cfgB})
			nodes := []*client.Client{apiClient(t, na), apiClient(t, nb)}
			ctx := t.Context()

			login, err := nodes[0].CreateSession(ctx, client.CreateRequest{Subject: "trudy-target"})
			if err != nil {
				t.Fatal(err)
			}
			if err := nodes[0].RevokeSession(ctx, login.Session.ID); err != nil {
				t.Fatal(err)
			}
			for i := range limit {
				_, err := nodes[i%2].Refresh(ctx, login.RefreshToken, nil)
				if !errors.Is(err, sessiond.ErrRevoked) {
					t.Fatalf("failed refresh #%d (node %d) = %v; want 401 session_revoked under the limit", i+1, i%2, err)
				}
			}
			for i, c := range nodes {
				_, err := c.Refresh(ctx, login.RefreshToken, nil)
				ce, ok := errors.AsType[*client.Error](err)
				if !ok || ce.Status != 429 || !errors.Is(err, client.ErrRateLimited) || ce.RetryAfter < 1 || ce.RetryAfter > 60 {
					t.Fatalf("failed refresh #%d (node %d) = %v; want 429 with Retry-After in 1..60", limit+1+i, i, err)
				}
			}
			good, err := nodes[1].CreateSession(ctx, client.CreateRequest{Subject: "trudy-target"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nodes[0].Refresh(ctx, good.RefreshToken, nil); err != nil {
				t.Errorf("a good refresh of the subject over the limit = %v; want it to succeed", err)
			}
		})
	}
}
