package redisstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/redisstore"
)

// revocationKinds are the store's ways to revoke a session, each revoking
// sess (of subject) at at.
var revocationKinds = []struct {
	name   string
	revoke func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error
	// bulk: several scripts, each waiting, may run at once (one wait
	// otherwise).
	bulk bool
}{
	{"Revoke", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, err := st.Revoke(ctx, sess.ID, at, sessiond.ReasonLogout)
		return err
	}, false},
	{"RevokeRecorded", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, _, err := st.RevokeRecorded(ctx, sess.ID, at, sessiond.ReasonLogout, func(s *sessiond.Session) sessiond.ChangeRecords {
			return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(at), Time: at,
				Type: sessiond.EventSessionRevoked, Subject: s.Subject, SessionID: s.ID}}}
		})
		return err
	}, false},
	{"RevokeSubject", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, err := st.RevokeSubject(ctx, sess.Subject, "", at, sessiond.ReasonAdmin)
		return err
	}, false},
	{"RevokeSubjectBatch", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		return walkSubject(ctx, st, sess.Subject, at, nil)
	}, false},
	{"RevokeSubjectBatch/records", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		return walkSubject(ctx, st, sess.Subject, at, func(revs []sessiond.Revocation, _ []sessiond.Client, _ bool) sessiond.ChangeRecords {
			var rec sessiond.ChangeRecords
			for _, r := range revs {
				rec.Events = append(rec.Events, sessiond.Event{ID: sessiond.NewEventID(at), Time: at,
					Type: sessiond.EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID})
			}
			return rec
		})
	}, false},
	{"RevokeSubjectRecorded", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, err := st.RevokeSubjectRecorded(ctx, sess.Subject, "", at, sessiond.ReasonAdmin, nil)
		return err
	}, false},
	{"RevokeMatching/all", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident)
		return err
	}, true},
	{"RevokeMatching/subjects", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{sess.Subject}}, at, sessiond.ReasonIncident)
		return err
	}, true},
	{"RevokeMatching/issued-before", func(ctx context.Context, st *redisstore.Store, sess *sessiond.Session, at time.Time) error {
		_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{IssuedBefore: sess.CreatedAt.Add(time.Second)}, at, sessiond.ReasonIncident)
		return err
	}, true},
}

// walkSubject revokes subject's sessions with RevokeSubjectBatch, batch
// after batch, as the Manager does.
func walkSubject(ctx context.Context, st *redisstore.Store, subject string, at time.Time,
	revoked func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) error {
	for cursor := ""; ; {
		_, _, next, err := st.RevokeSubjectBatch(ctx, subject, "", at, sessiond.ReasonAdmin, cursor, 128, revoked)
		if err != nil || next == "" {
			return err
		}
		cursor = next
	}
}

// TestStore_SubjectWalkWaitsOnce: with its replica stopped, a walk of a
// subject in batches (RevokeSubject, and RevokeSubjectBatch from one
// cursor to the next) waits for the replica once, not once a batch: with
// the default RevocationWait of 1 s, a walk of 100,000 sessions (782
// batches) would otherwise take 13 minutes while the replica is down.
func TestStore_SubjectWalkWaitsOnce(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, logs := waitingStore(t, pair, "walk")
	t0 := now()
	for _, subject := range []string{"store", "batches"} {
		createSubject(t, st, subject, 3*redisstore.SubjectBatch, t0)
	}
	pair.Stop()
	defer pair.Continue()
	before := st.UnackedRevocations()
	if revs, err := st.RevokeSubject(ctx, "store", "", t0.Add(time.Second), sessiond.ReasonAdmin); err != nil || len(revs) != 3*redisstore.SubjectBatch {
		t.Fatalf("RevokeSubject() = %d revocations, %v; want %d", len(revs), err, 3*redisstore.SubjectBatch)
	}
	if n := st.UnackedRevocations() - before; n != 1 {
		t.Errorf("RevokeSubject of 3 batches: %d waits fell short; want 1, then no more waits\n%s", n, logs())
	}
	before = st.UnackedRevocations()
	if err := walkSubject(ctx, st, "batches", t0.Add(time.Second), nil); err != nil {
		t.Fatalf("a walk of RevokeSubjectBatch = %v", err)
	}
	if n := st.UnackedRevocations() - before; n != 1 {
		t.Errorf("a walk of 3 batches: %d waits fell short; want 1, then no more waits\n%s", n, logs())
	}
}

// TestStore_RevocationSurvivesFailover: Redis replicates asynchronously,
// so a revocation its master acknowledged and had not yet sent to the
// replica was undone when the replica took over, and the revoked session
// verified again. A revocation now returns only once a replica has it
// (WAIT, on by default when the master has a replica). The replica is
// stopped and the master's replication buffer filled, so the revocation
// sits in the master's memory only; then either the revocation returns
// (the defect: the master is killed at once, the replica promoted, and
// the session must still be revoked there) or the master shows it
// blocked waiting for a replica, and the replica is resumed first.
func TestStore_RevocationSurvivesFailover(t *testing.T) {
	for _, kind := range revocationKinds {
		t.Run(kind.name, func(t *testing.T) {
			pair := redisclustertest.StartPair(t)
			ctx := context.Background()
			// RevocationReplicas left at auto; a wait long enough for the
			// resumed replica to catch up on the filler on a busy machine.
			st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "ack", RevocationWait: 10 * time.Minute})
			if err != nil {
				t.Fatalf("redisstore.New() = %v", err)
			}
			defer st.Close()
			t0 := now()
			sess := newSession("alice", t0)
			tok := newToken(sessiond.KindAccess, sess.ID, t0)
			if err := st.Create(ctx, sess, tok); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			writeThenFailover(t, pair, st, "the revocation", func() error { return kind.revoke(ctx, st, sess, t0.Add(time.Second)) })

			promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "ack"})
			if err != nil {
				t.Fatalf("redisstore.New(promoted replica) = %v", err)
			}
			defer promoted.Close()
			got, err := promoted.Get(ctx, sess.ID)
			if err != nil {
				t.Fatalf("Get() on the promoted replica = %v", err)
			}
			if !got.Revoked() {
				t.Errorf("after the failover the session is live again: an acknowledged revocation was lost")
			}
		})
	}
}

// writeThenFailover makes write on st, the store of pair's master, then
// fails over (redisclustertest.Pair.WriteThenFailover): a write that waits
// for the replica is on it, and counted as acknowledged.
func writeThenFailover(t *testing.T, pair *redisclustertest.Pair, st *redisstore.Store, what string, write func() error) {
	t.Helper()
	pair.WriteThenFailover(what, write)
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("UnackedRevocations() = %d; want 0", n)
	}
}

// TestStore_RevocationWaitTimesOut: with its replica stopped, a revocation
// whose wait for a replica times out still succeeds (it holds on the
// master, and every node already enforces it), and is logged as a warning,
// counted.
func TestStore_RevocationWaitTimesOut(t *testing.T) {
	for _, kind := range revocationKinds {
		t.Run(kind.name, func(t *testing.T) {
			pair := redisclustertest.StartPair(t)
			ctx := context.Background()
			st, logs := waitingStore(t, pair, "ack")
			if got := st.RevocationReplicas(); got != 1 {
				t.Fatalf("RevocationReplicas() = %d; want 1 (the master has a replica)", got)
			}
			t0 := now()
			sess := newSession("bob", t0)
			if err := st.Create(ctx, sess, newToken(sessiond.KindAccess, sess.ID, t0)); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			pair.Stop()
			defer pair.Continue()
			if err := kind.revoke(ctx, st, sess, t0.Add(time.Second)); err != nil {
				t.Fatalf("revoke = %v; want nil: the revocation holds on the master", err)
			}
			if got, err := st.Get(ctx, sess.ID); err != nil || !got.Revoked() {
				t.Fatalf("Get() = %+v, %v; want the session revoked", got, err)
			}
			log := logs()
			n := st.UnackedRevocations()
			if n == 0 || n != uint64(strings.Count(log, "level=WARN")) || !kind.bulk && n != 1 {
				t.Errorf("UnackedRevocations() = %d; want one per warning, one for a single script (at least one for bulk):\n%s", n, log)
			}
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "not on enough replicas") {
				t.Errorf("log = %q; want a warning that the revocation is not on a replica", log)
			}
		})
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitingStore opens a store on pair's master under prefix that waits
// 10 ms for its replica, and returns it with what it has logged so far.
func waitingStore(t *testing.T, pair *redisclustertest.Pair, prefix string) (*redisstore.Store, func() string) {
	t.Helper()
	var logs strings.Builder
	var mu sync.Mutex
	st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: prefix,
		Logger:         slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil)),
		RevocationWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}
}

// TestStore_RevocationReplicasOption: how New resolves RevocationReplicas
// and refuses a negative RevocationWait.
func TestStore_RevocationReplicasOption(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	alone := redisclustertest.StartPair(t)
	alone.KillMaster()
	alone.Promote() // a master without replicas
	// A server that refuses INFO, as some managed services do.
	noInfo := "redis://127.0.0.1:" + strconv.Itoa(redisclustertest.StartServer(t, "--rename-command", "INFO", "")) + "/0"
	tests := []struct {
		name string
		url  string
		opts redisstore.Options
		want int
	}{
		{"auto with a replica", pair.URL(), redisstore.Options{}, 1},
		{"auto without replicas", alone.ReplicaURL(), redisstore.Options{}, 0},
		{"off", pair.URL(), redisstore.Options{RevocationReplicas: -1}, 0},
		{"explicit", pair.URL(), redisstore.Options{RevocationReplicas: 2}, 2},
		{"explicit without replicas", alone.ReplicaURL(), redisstore.Options{RevocationReplicas: 1}, 1},
		{"auto, INFO refused", noInfo, redisstore.Options{}, 1},
		{"off, INFO refused", noInfo, redisstore.Options{RevocationReplicas: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Prefix = "opt"
			st, err := redisstore.New(context.Background(), tt.url, tt.opts)
			if err != nil {
				t.Fatalf("redisstore.New() = %v", err)
			}
			defer st.Close()
			if got := st.RevocationReplicas(); got != tt.want {
				t.Errorf("RevocationReplicas() = %d; want %d", got, tt.want)
			}
		})
	}
	t.Run("negative wait", func(t *testing.T) {
		_, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{RevocationWait: -time.Second})
		if !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("redisstore.New(RevocationWait -1s) = %v; want ErrInvalidArgument", err)
		}
	})
}

// TestStore_RevocationWaitCluster: on a Redis Cluster each WAIT runs on the
// master that took the revocation's writes. With one master's replica
// stopped, a revocation of a session in that master's slots waits there
// (a client of that master blocks) until the replica is resumed, and one
// of a session on another master (its record on a third, or the same
// other) never waits there and is acknowledged. Seen by the master's
// blocked client rather than by a short wait timing out: the running
// replicas overran a 10 ms wait on a loaded machine.
func TestStore_RevocationWaitCluster(t *testing.T) {
	cluster := redisclustertest.Start(t)
	owner := func(tag string) (int, int) { return cluster.SlotOwner("{" + tag + "}") }
	// Subject a's sessions are on master ma; the store's global indexes
	// (the record script) and subject b's sessions elsewhere.
	ma, ra := owner(tagOf("a"))
	if ra == 0 {
		t.Fatal("master without a replica")
	}
	// first returns the first base+i whose tag (tagOf) is on another
	// master than ma.
	first := func(base string, tagOf func(string) string) string {
		for i := 0; ; i++ {
			if m, _ := owner(tagOf(base + strconv.Itoa(i))); m != ma {
				return base + strconv.Itoa(i)
			}
		}
	}
	prefix := first("ackc", func(p string) string { return p })
	subjectB := first("b", tagOf)
	ctx := context.Background()
	// Each wait lasts until the replica acknowledges: the minute only
	// keeps a lost replica from hanging the test.
	st, err := redisstore.New(ctx, cluster.URL(), redisstore.Options{Prefix: prefix, RevocationWait: time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New(cluster) = %v", err)
	}
	defer st.Close()
	if got := st.RevocationReplicas(); got != 1 {
		t.Fatalf("RevocationReplicas() = %d; want 1 (every master has a replica)", got)
	}
	t0 := now()
	sa, sb := newSession("a", t0), newSession(subjectB, t0)
	for _, s := range []*sessiond.Session{sa, sb} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	cluster.Stop(ra)
	defer cluster.Continue(ra)
	blocked, err := blocksOn(t, cluster, ma, func() error {
		_, err := st.Revoke(ctx, sb.ID, t0.Add(time.Second), sessiond.ReasonLogout)
		return err
	}, func() { cluster.Continue(ra) })
	if err != nil {
		t.Fatalf("Revoke(b) = %v", err)
	}
	if blocked {
		t.Fatal("revoking a session of another master waited on a's master, whose replica is stopped")
	}
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("after revoking a session whose master's replica runs: UnackedRevocations() = %d; want 0", n)
	}
	blocked, err = blocksOn(t, cluster, ma, func() error {
		_, err := st.Revoke(ctx, sa.ID, t0.Add(time.Second), sessiond.ReasonLogout)
		return err
	}, func() { cluster.Continue(ra) })
	if err != nil {
		t.Fatalf("Revoke(a) = %v", err)
	}
	if !blocked {
		t.Error("revoking a session of a's master, whose replica is stopped, returned without waiting there")
	}
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("after revoking a session whose master's replica was resumed during the wait: UnackedRevocations() = %d; want 0", n)
	}
}

// blocksOn runs call and reports whether a client of the node on port
// blocked (in WAIT) before call returned; if one did, release (which lets
// the WAIT end) is called and call awaited.
func blocksOn(t *testing.T, cluster *redisclustertest.Cluster, port int, call func() error, release func()) (bool, error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	for {
		select {
		case err := <-done:
			return false, err
		case <-time.After(2 * time.Millisecond):
		}
		if cluster.Blocked(port) {
			release()
			return true, <-done
		}
	}
}
