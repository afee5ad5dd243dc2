package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/client"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestE2E_RedisRestartedEmpty: a Redis without persistence restarts empty
// under two running nodes, taking the API key set and the signing key ring
// with it. Each node seeds the key set again with its SESSIOND_API_KEY and
// writes its ring back, as a fresh start would, so within a few seconds
// and without a restart: the key works again on both nodes, /readyz
// answers 200, a new login on one node verifies on the other, a node
// started afterwards agrees with both (same ring, same default issuer),
// each node logged the loss and recorded store.reset_detected, and a key
// made through the API before stays lost.
func TestE2E_RedisRestartedEmpty(t *testing.T) {
	testenv.Programs(t, "the Redis restart test", " (apt-get install redis-server)", "redis-server")
	srv := newStoreServer(t, "redis")
	srv.extra = []string{"--appendonly", "no"} // no persistence: a restart comes back empty
	srv.stop()
	srv.start()
	env := []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + srv.dsn()}
	a, b := twoNodes(t, env)
	ca, cb := a.client(), b.client()
	ctx := context.Background()

	if _, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "before"}); err != nil {
		t.Fatalf("login before the restart: %v", err)
	}
	_, made, err := ca.CreateAPIKey(ctx, "made-before")
	if err != nil {
		t.Fatal(err)
	}

	srv.stop()
	srv.start()

	start := time.Now()
	for _, n := range []*node{a, b} {
		eventually(t, 15*time.Second, n.url+": SESSIOND_API_KEY works again after Redis restarted empty", func() bool {
			return testenv.CallAPI(t, "POST", n.url+"/v1/sessions", testAPIKey, `{"subject":"after"}`, nil) == 201
		})
		eventually(t, 15*time.Second, n.url+": /readyz answers 200", func() bool { return n.client().Ready(ctx) == nil })
	}
	t.Logf("both nodes serve again %v after Redis came back", time.Since(start).Round(time.Millisecond))

	c := startNode(t, nodeConfig{env: env}) // a node started on the store the others mended
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node a:\n%s\nnode c:\n%s", a.log.String(), c.log.String())
		}
	})
	nodes := map[string]*client.Client{"a": ca, "b": cb, "c": c.client()}
	for from, cf := range nodes {
		login, err := cf.CreateSession(ctx, client.CreateRequest{Subject: "after-" + from})
		if err != nil {
			t.Fatalf("login on node %s after the restart: %v", from, err)
		}
		for on, co := range nodes {
			eventually(t, 10*time.Second, "node "+on+" verifies node "+from+"'s token", func() bool {
				_, err := co.Verify(ctx, login.AccessToken, nil)
				if err != nil {
					t.Logf("node %s verifying node %s's token: %v", on, from, err)
				}
				return err == nil
			})
		}
	}

	lostKey, err := client.New(a.url, made)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lostKey.Verify(ctx, "x", nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("a key made through the API before the restart: %v; want 401 (lost with the store)", err)
	}
	// Each node seeds its key; the ring is written back by the first
	// node to find it gone, and the other finds it as it held it.
	ringLines := 0
	for name, n := range map[string]*node{"a": a, "b": b} {
		count := func(doc string) int {
			found := 0
			for _, line := range strings.Split(n.log.String(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "vanished from the store") && strings.Contains(line, doc) {
					found++
				}
			}
			return found
		}
		if got := count(`"document":"api_keys"`); got != 1 {
			t.Errorf("node %s logged %d ERROR lines naming the API key set as vanished; want 1", name, got)
		}
		if got := count(`"document":"signing_keys"`); got > 1 {
			t.Errorf("node %s logged %d ERROR lines naming the signing key ring as vanished; want at most 1", name, got)
		} else {
			ringLines += got
		}
	}
	if ringLines == 0 {
		t.Error("no node logged an ERROR line naming the signing key ring as vanished")
	}
	evs, _, err := ca.ListEvents(ctx, client.EventQuery{Type: "store.reset_detected"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 2 {
		t.Errorf("store.reset_detected events = %d; want one per node and lost document (at least 2)", len(evs))
	}
}
