package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestRevokeSubject_FailsPartWay: on Redis, which revokes a subject's
// sessions 128 a script, a script that fails after earlier ones committed
// (here a session's record that is not a hash) fails the command (exit 1)
// and `sessiond sessions revoke-subject` says how many sessions it had
// revoked, which stay revoked; once the cause is gone, the same command
// revokes the rest and the two counts add up to every session.
func TestRevokeSubject_FailsPartWay(t *testing.T) {
	u := os.Getenv("SESSIOND_TEST_REDIS_URL")
	if u == "" {
		testenv.Unset(t, "SESSIOND_TEST_REDIS_URL", "the Redis store's batches are not tested")
		return
	}
	ns := testenv.UniqueName("e2e")
	t.Cleanup(func() { testenv.DeleteRedisPrefix(t, u, ns) })
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + u, "SESSIOND_STORE_NAMESPACE=" + ns}})
	ctx := context.Background()
	c := n.client()
	const total = 300 // three batches
	var last string
	for i := range total {
		tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: "bulk"})
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		last = string(tr.Session.ID)
	}

	opt, err := rueidis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	keys, err := rc.Do(ctx, rc.B().Keys().Pattern(ns+":*:s:"+last).Build()).AsStrSlice()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the newest session's record: %q, %v; want one key", keys, err)
	}
	// The newest session is in the last batch: its record, replaced by a
	// string, fails that batch's script after the first two committed.
	saved, err := rc.Do(ctx, rc.B().Dump().Key(keys[0]).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Do(ctx, rc.B().Set().Key(keys[0]).Value("not a session").Build()).Error(); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := n.cli("sessions", "revoke-subject", "bulk")
	m := regexp.MustCompile(`revoked (\d+) sessions? before the failure \(they stay revoked; the same command again revokes the rest\)`).FindStringSubmatch(errOut)
	if code != exitFailure || out != "" || m == nil {
		t.Fatalf("revoke-subject failing part way = exit %d, stdout %q, stderr %q; want exit 1 and the count revoked before the failure on stderr", code, out, errOut)
	}
	first, _ := strconv.Atoi(m[1])
	if first < 1 || first >= total {
		t.Fatalf("revoked %d before the failure; want some of the %d, not all", first, total)
	}

	if err := rc.Do(ctx, rc.B().Restore().Key(keys[0]).Ttl(0).SerializedValue(saved).Replace().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = n.cli("sessions", "revoke-subject", "bulk")
	if want := fmt.Sprintf("revoked %d sessions\n", total-first); code != 0 || out != want {
		t.Errorf("revoke-subject again = exit %d, %q (stderr %q); want %q", code, out, errOut, want)
	}
}
