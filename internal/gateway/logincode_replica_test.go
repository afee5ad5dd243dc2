package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
)

// redeem sends a browser of e to loginURL, as TestLoginCode does, and
// returns the status and body. It reports a failed request as an error
// rather than failing the test, so it may run on another goroutine.
func redeem(t *testing.T, e *env, loginURL string) (int, string, error) {
	b := e.browser(t)
	res, err := b.c.Do(testenv.NewRequest(t, http.MethodGet, e.srv.URL+loginURL, nil, "Sec-Fetch-Site", "same-origin", navigate, "navigate"))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// TestLoginCode_SpendSurvivesFailover: Redis replicates asynchronously, and
// the write that spent a login code returned as soon as the master had it,
// so a failover to a replica that had not received it yet made the code
// redeemable again within its lifetime, by whoever else held it (a
// browser's history, a proxy's log). The spend now waits for a replica as
// a revocation does. The replica is stopped and the master's replication
// buffer filled, so the spend sits in the master's memory only; then
// either the redemption answers (the defect: the master is killed at once
// and the replica promoted) or the master shows it blocked waiting, and
// the replica is resumed first. On the promoted replica the code must be
// spent.
func TestLoginCode_SpendSurvivesFailover(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "logincode", RevocationWait: 10 * time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	e := newEnv(t, envOptions{})
	onMaster := e.onMeta(t, st)
	_, loginURL := newCode(t, onMaster, e.login(t, "alice"), "/orders")

	pair.WriteThenFailover("the redemption", func() error {
		status, body, err := redeem(t, onMaster, loginURL)
		if err == nil && status != http.StatusSeeOther {
			err = fmt.Errorf("status %d %s; want 303", status, body)
		}
		return err
	})
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("UnackedRevocations() = %d; want 0", n)
	}

	promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "logincode"})
	if err != nil {
		t.Fatalf("redisstore.New(promoted replica) = %v", err)
	}
	defer promoted.Close()
	status, body, err := redeem(t, e.onMeta(t, promoted), loginURL)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid_login_code") {
		t.Errorf("after the failover: the spent code again = %d %s; want 400 invalid_login_code", status, body)
	}
}

// TestLoginCode_OnlySpendWaits: with the replica stopped, issuing a code
// does not wait for it (a login never does: a code lost in a failover is
// refused, and its user logs in again); spending one waits, and when the
// wait times out the redemption still succeeds (the master has the
// spend), counted as a revocation whose wait fell short.
func TestLoginCode_OnlySpendWaits(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: "logincodewait", RevocationWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	e := newEnv(t, envOptions{})
	onMaster := e.onMeta(t, st)
	pair.Stop()
	defer pair.Continue()
	_, loginURL := newCode(t, onMaster, e.login(t, "alice"), "/")
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("after issuing a code: UnackedRevocations() = %d; want 0 (issuing does not wait)", n)
	}
	if status, body, err := redeem(t, onMaster, loginURL); err != nil || status != http.StatusSeeOther {
		t.Fatalf("redeem = %d %s, %v; want 303: the spend holds on the master", status, body, err)
	}
	if n := st.UnackedRevocations(); n != 1 {
		t.Errorf("after spending it: UnackedRevocations() = %d; want 1 (the spend waited, in vain)", n)
	}
	if status, _, err := redeem(t, onMaster, loginURL); err != nil || status != http.StatusBadRequest {
		t.Errorf("redeem again = %d, %v; want 400", status, err)
	}
}
