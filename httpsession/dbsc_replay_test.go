package httpsession_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
)

// TestDBSC_ChallengeSurvivesFailover: Redis replicates asynchronously, and
// the record of a used DBSC challenge (RememberOnce) returned as soon as
// the master had it; a refresh writes nothing else that waits for a
// replica. A failover to a replica that had not received the record
// forgot it, and the same Secure-Session-Response, sent again with the
// session's cookie before the challenge expired (5 minutes), got a new
// bound cookie without the device key. The record now waits for a replica
// as a revocation does. The replica is stopped and the master's
// replication buffer filled, so the record sits in the master's memory
// only; either the refresh answers at once (the defect: the master is
// killed and the replica promoted) or the master shows it blocked
// waiting, and the replica is resumed first. An app node on the promoted
// replica must refuse the proof as used.
func TestDBSC_ChallengeSurvivesFailover(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "dbscfail", RevocationWait: 10 * time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dbsc := httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, Key: key, Replay: st}
	// Redis expires the records by its own clock: the app's must be near it.
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, start: time.Now(), opts: httpsession.Options{DBSC: dbsc}})
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	sid, challenge := refreshChallenge(t, b, d)
	proof, err := d.Proof(challenge, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair.WriteThenFailover("the DBSC refresh", func() error {
		r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid, httpsession.HeaderSessionResponse, proof)
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d; want 200", r.StatusCode)
		}
		return nil
	})
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("UnackedRevocations() = %d; want 0", n)
	}

	promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "dbscfail"})
	if err != nil {
		t.Fatalf("redisstore.New(promoted replica) = %v", err)
	}
	defer promoted.Close()
	// Another node of the app (same Manager, same DBSC key) on the promoted
	// replica, sent the same refresh with the session's cookie.
	dbsc.Replay, dbsc.Clock = promoted, e.clock
	s2, err := httpsession.New(httpsession.Options{Manager: e.m, DBSC: dbsc})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewTLSServer(s2.DBSCHandler())
	defer srv2.Close()
	res, err := srv2.Client().Do(testenv.NewRequest(t, http.MethodPost, srv2.URL+httpsession.DefaultDBSCRefreshPath, nil,
		"Sec-Secure-Session-Id", sid, httpsession.HeaderSessionResponse, proof,
		"Cookie", httpsession.DefaultCookieName+"="+b.cookie("/", httpsession.DefaultCookieName)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || setCookies(t, res)[httpsession.DefaultBoundCookieName] != nil {
		t.Errorf("after the failover: the same proof again = %d, cookies %q; want 403 and no bound cookie (the challenge is used)",
			res.StatusCode, res.Header.Values("Set-Cookie"))
	}
}

// TestDBSC_ChallengeRecordOutlivesSkew: Redis expires a used challenge's
// record by its own clock, and the record lasted exactly until the
// challenge's expiry by the app's clock, which the app checks by its own:
// with the app's clock behind Redis's by d, the last d of every
// challenge's life (all of it, for d past its lifetime) was not
// remembered, and a proof used once was taken again. The record now lasts
// a minute past the challenge. A 1 s challenge on an app 30 s behind
// Redis shows it without waiting: its record used to be expired on
// arrival.
func TestDBSC_ChallengeRecordOutlivesSkew(t *testing.T) {
	port := redisclustertest.StartServer(t)
	st, err := redisstore.New(context.Background(), "redis://127.0.0.1:"+strconv.Itoa(port)+"/0", redisstore.Options{Prefix: "dbscskew"})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, start: time.Now().Add(-30 * time.Second),
		opts: httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, Replay: st, ChallengeLifetime: time.Second}}})
	b, d := e.dbscBrowser(t, "ES256")
	register(t, b, d, "alice")
	sid, challenge := refreshChallenge(t, b, d)
	proof, err := d.Proof(challenge, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusOK, http.StatusForbidden} {
		r := b.do(http.MethodPost, httpsession.DefaultDBSCRefreshPath, nil, "Sec-Secure-Session-Id", sid, httpsession.HeaderSessionResponse, proof)
		if r.StatusCode != want {
			t.Errorf("refresh #%d with one proof = %d; want %d", i+1, r.StatusCode, want)
		}
	}
}
