package ssf_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestReplaySurvivesFailover: Redis replicates asynchronously, and the
// record of a SET's jti (RememberOnce) returned as soon as the master had
// it, so a failover to a replica that had not received it forgot it: the
// same SET, sent again within its window (7 days for a polled one), was
// acted on a second time and ended the sessions its user had opened
// since. The record now waits for a replica as a revocation does. The
// replica is stopped and the master's replication buffer filled, so the
// record sits in the master's memory only; either the push answers at
// once (the defect: the master is killed and the replica promoted) or the
// master shows it blocked waiting, and the replica is resumed first. On
// the promoted replica the SET must be a replay.
//
// The sessions are kept apart from Redis, so that only the record is
// there. With them on the same Redis, a SET that ends a session is
// covered by the revocation's own wait, which holds every write made
// before it; one that finds no session to end (its user had none at the
// time) writes nothing, and was covered only on Redis 7.0, which waits
// after any command for the whole stream so far (from 7.2 WAIT waits up
// to its connection's last write).
func TestReplaySurvivesFailover(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	m, err := sessiond.New(ctx, sessiond.Options{Store: memstore.New(), Strategy: sessiond.StrategyDatabase, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr := newTransmitter(t)
	// push sends set to a receiver whose records are in st and answers
	// its status.
	push := func(st *redisstore.Store, set string) int {
		rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: tr.jwks.URL,
			Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: m, Replay: st})
		if err != nil {
			t.Error(err)
			return 0
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(set))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}

	st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "ssffail", RevocationWait: 10 * time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	set := sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt",
		claims("failover", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")}))
	pair.WriteThenFailover("the push", func() error {
		if code := push(st, set); code != http.StatusAccepted {
			t.Errorf("push = %d; want 202", code)
		}
		return nil
	})
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("UnackedRevocations() = %d; want 0", n)
	}

	promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "ssffail"})
	if err != nil {
		t.Fatalf("redisstore.New(promoted replica) = %v", err)
	}
	defer promoted.Close()
	// alice logs in after the SET; its replay must not end that session.
	if _, err := m.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := push(promoted, set); code != http.StatusBadRequest {
		t.Errorf("after the failover: the same SET again = %d; want 400 (a replay)", code)
	}
	if ss, err := m.List(ctx, "user:alice@example.com"); err != nil || len(ss) != 1 {
		t.Errorf("after the replay: alice's live sessions = %d, %v; want her new one", len(ss), err)
	}
}
