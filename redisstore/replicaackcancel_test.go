package redisstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_RevocationOutlivesCancel: a caller whose context ends while
// its revocation waits for a replica (a client that hangs up on a logout)
// got the context's error although the script had revoked the session on
// the master; on a Cluster the store then skipped recording it, so the
// revocation index and the feed that other nodes read never had it. The
// wait is the store's, not the caller's (bounded by RevocationWait): the
// revocation returns what it revoked, recorded.
func TestStore_RevocationOutlivesCancel(t *testing.T) {
	type setup struct {
		st      *redisstore.Store
		sess    *sessiond.Session
		stop    func()      // stops the replica of the session's master
		resume  func()      // resumes it
		waiting func() bool // a client is blocked (WAIT) on that master
	}
	for _, tt := range []struct {
		name  string
		start func(t *testing.T) setup
	}{
		{"standalone", func(t *testing.T) setup {
			pair := redisclustertest.StartPair(t)
			st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: "ackcancel", RevocationWait: 10 * time.Minute})
			if err != nil {
				t.Fatalf("redisstore.New() = %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return setup{st: st, sess: newSession("carol", now()), stop: pair.Stop, resume: pair.Continue, waiting: pair.Blocked}
		}},
		{"cluster", func(t *testing.T) setup {
			cluster := redisclustertest.Start(t)
			ma, ra := cluster.SlotOwner("{" + tagOf("carol") + "}")
			if ra == 0 {
				t.Fatal("master without a replica")
			}
			// The store's global indexes (the record step) on another
			// master, whose replica keeps running.
			prefix := "ackcancel"
			for i := 0; ; i++ {
				if m, _ := cluster.SlotOwner("{" + prefix + strconv.Itoa(i) + "}"); m != ma {
					prefix += strconv.Itoa(i)
					break
				}
			}
			st, err := redisstore.New(context.Background(), cluster.URL(), redisstore.Options{Prefix: prefix, RevocationWait: 10 * time.Minute})
			if err != nil {
				t.Fatalf("redisstore.New(cluster) = %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return setup{st: st, sess: newSession("carol", now()),
				stop:    func() { cluster.Stop(ra); t.Cleanup(func() { cluster.Continue(ra) }) },
				resume:  func() { cluster.Continue(ra) },
				waiting: func() bool { return cluster.Blocked(ma) }}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start(t)
			t0 := s.sess.CreatedAt
			if err := s.st.Create(context.Background(), s.sess); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			s.stop()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type answer struct {
				sess *sessiond.Session
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				got, err := s.st.Revoke(ctx, s.sess.ID, t0.Add(time.Second), sessiond.ReasonLogout)
				done <- answer{got, err}
			}()
			for !s.waiting() {
				time.Sleep(2 * time.Millisecond)
			}
			// The caller goes away; then the replica catches up, which
			// ends the wait (the store's, not the caller's).
			cancel()
			s.resume()
			a := <-done
			if a.err != nil || a.sess == nil || !a.sess.Revoked() {
				t.Errorf("Revoke() with its context ended during the wait = %+v, %v; want the revoked session: the master has it", a.sess, a.err)
			}
			revs, err := s.st.Revocations(context.Background(), t0.Add(-time.Second))
			if err != nil {
				t.Fatalf("Revocations() = %v", err)
			}
			found := false
			for _, r := range revs {
				found = found || r.SessionID == s.sess.ID
			}
			if !found {
				t.Errorf("Revocations() = %+v; want %s: the other nodes learn the revocation from its record", revs, s.sess.ID)
			}
			if n := s.st.UnackedRevocations(); n != 0 {
				t.Errorf("UnackedRevocations() = %d; want 0 (the replica acknowledged it)", n)
			}
		})
	}
}
