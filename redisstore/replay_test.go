package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_AckedReplayGuardWaiting runs the AckedReplayGuard suite on a
// master with a replica, where RememberOnceAcked waits (the shared test
// Redis has none, so TestStore runs it without the wait).
func TestStore_AckedReplayGuardWaiting(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	sessiondtest.TestAckedReplayGuard(t, func(t *testing.T) sessiond.Store {
		st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: randomPrefix()})
		if err != nil {
			t.Fatalf("redisstore.New() = %v", err)
		}
		t.Cleanup(func() { st.Close() })
		if n := st.RevocationReplicas(); n != 1 {
			t.Fatalf("RevocationReplicas() = %d; want 1 (the master has a replica)", n)
		}
		return st
	}, sessiondtest.ReplayByStoreClock())
}

// TestStore_RememberOnceAckedSurvivesFailover: a one-time key recorded
// with RememberOnceAcked is on the replica when the call returns, so a
// failover cannot forget it and let the key be used once more (a DBSC
// challenge answered twice, a Shared Signals SET acted on twice). The
// replica is stopped and the master's replication buffer filled, so the
// record sits in the master's memory only; either the call returns at
// once (the defect: the master is killed and the replica promoted) or the
// master shows it blocked waiting, and the replica is resumed first.
func TestStore_RememberOnceAckedSurvivesFailover(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "ackonce", RevocationWait: 10 * time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	at := time.Now()
	writeThenFailover(t, pair, st, "RememberOnceAcked", func() error {
		fresh, err := st.RememberOnceAcked(ctx, "dbsc:challenge", at, at.Add(time.Hour))
		if err == nil && !fresh {
			t.Error("RememberOnceAcked() of a new key = false; want true")
		}
		return err
	})

	promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "ackonce"})
	if err != nil {
		t.Fatalf("redisstore.New(promoted replica) = %v", err)
	}
	defer promoted.Close()
	if fresh, err := promoted.RememberOnce(ctx, "dbsc:challenge", at, at.Add(time.Hour)); err != nil || fresh {
		t.Errorf("after the failover: RememberOnce(the key) = %v, %v; want false, nil (a replay)", fresh, err)
	}
}

// TestStore_RememberOnceWait: with the replica stopped and a short wait,
// RememberOnce does not wait (DPoP proofs, on every bound request), so it
// is neither logged nor counted; RememberOnceAcked records the key all the
// same (it holds on the master), logs a warning and counts it as a
// revocation whose wait fell short; a replay answers false either way,
// and RememberOnceAcked's replay sends no WAIT (counted by the master),
// so replays cannot hold connections while a replica is down.
func TestStore_RememberOnceWait(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, logs := waitingStore(t, pair, "ackoncewait")
	pair.Stop()
	defer pair.Continue()
	at := time.Now()
	steps := []struct {
		name     string
		remember func(ctx context.Context, key string, now, until time.Time) (bool, error)
		key      string
		fresh    bool
		unacked  uint64 // after the step
		waits    int    // WAITs the master has run after the step
	}{
		{"RememberOnce", st.RememberOnce, "dpop", true, 0, 0},
		{"RememberOnceAcked", st.RememberOnceAcked, "dbsc", true, 1, 1},
		{"RememberOnceAcked", st.RememberOnceAcked, "dbsc", false, 1, 1},
		{"RememberOnce", st.RememberOnce, "dbsc", false, 1, 1},
	}
	waits := func() int { return waitCalls(t, pair.Run, pair.Master) }
	base := waits()
	for i, s := range steps {
		if fresh, err := s.remember(ctx, s.key, at, at.Add(time.Hour)); err != nil || fresh != s.fresh {
			t.Fatalf("step %d: %s(%s) = %v, %v; want %v, nil", i+1, s.name, s.key, fresh, err, s.fresh)
		}
		if n := st.UnackedRevocations(); n != s.unacked {
			t.Errorf("step %d: after %s(%s): UnackedRevocations() = %d; want %d", i+1, s.name, s.key, n, s.unacked)
		}
		if n := waits() - base; n != s.waits {
			t.Errorf("step %d: after %s(%s): the master ran %d WAITs; want %d", i+1, s.name, s.key, n, s.waits)
		}
	}
	if log := logs(); strings.Count(log, "not on enough replicas") != 1 {
		t.Errorf("%d warnings; want 1, for the key recorded:\n%s", strings.Count(log, "not on enough replicas"), log)
	}
}

// waitCalls is how many WAITs the Redis on port has run (INFO
// commandstats), through run.
func waitCalls(t *testing.T, run func(port int, args ...string) (string, error), port int) int {
	t.Helper()
	out, err := run(port, "INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats = %v", err)
	}
	_, rest, found := strings.Cut(out, "cmdstat_wait:calls=")
	if !found {
		return 0
	}
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	if err != nil {
		t.Fatalf("cmdstat_wait in %q: %v", out, err)
	}
	return n
}

// TestStore_RememberOnceAckedCluster: on a Redis Cluster the WAIT after
// RememberOnceAcked runs on the master of the key's slot, and a replay
// sends none.
func TestStore_RememberOnceAckedCluster(t *testing.T) {
	cluster := redisclustertest.Start(t)
	ctx := context.Background()
	st, err := redisstore.New(ctx, cluster.URL(), redisstore.Options{Prefix: "ackoncec", RevocationWait: 2 * time.Second})
	if err != nil {
		t.Fatalf("redisstore.New(cluster) = %v", err)
	}
	defer st.Close()
	at := time.Now()
	if fresh, err := st.RememberOnceAcked(ctx, "ssf.jti.x", at, at.Add(time.Hour)); err != nil || !fresh {
		t.Fatalf("RememberOnceAcked() = %v, %v; want true, nil", fresh, err)
	}
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("with every replica running: %d unacknowledged; want 0", n)
	}
	master, replica := cluster.SlotOwner("ackoncec:once:ssf.jti.y")
	if replica == 0 {
		t.Fatal("master without a replica")
	}
	cluster.Stop(replica)
	defer cluster.Continue(replica)
	if fresh, err := st.RememberOnceAcked(ctx, "ssf.jti.y", at, at.Add(time.Hour)); err != nil || !fresh {
		t.Fatalf("RememberOnceAcked() = %v, %v; want true, nil: the record holds on the master", fresh, err)
	}
	if n := st.UnackedRevocations(); n != 1 {
		t.Errorf("with the replica of the key's master stopped: %d unacknowledged; want 1", n)
	}
	base := waitCalls(t, cluster.Run, master)
	if fresh, err := st.RememberOnceAcked(ctx, "ssf.jti.y", at, at.Add(time.Hour)); err != nil || fresh {
		t.Errorf("RememberOnceAcked() of a recorded key = %v, %v; want false, nil", fresh, err)
	}
	// The replay looked on the key's master and wrote nothing: no WAIT
	// held a connection for the stopped replica.
	if n := waitCalls(t, cluster.Run, master) - base; n != 0 {
		t.Errorf("a replay with the replica stopped: the key's master ran %d WAITs; want 0", n)
	}
}

// TestStore_RememberOnceExpiry: a one-time key lives until the later of
// its until by Redis's clock and its window (until - now) counted from
// Redis's TIME when it is set, whichever way the caller's clock is off.
// Kept until until alone, a caller behind Redis lost its records early
// (a DPoP proof passed twice); kept its window alone, a caller ahead lost
// them early for the nodes that agree with Redis, which accept the proof
// until its until.
func TestStore_RememberOnceExpiry(t *testing.T) {
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	raw := rawClient(t)
	ctx := context.Background()
	const window = 5*time.Minute + 30*time.Second
	redisMS := func() int64 {
		t.Helper()
		tm, err := raw.Do(ctx, raw.B().Time().Build()).AsStrSlice()
		if err != nil || len(tm) != 2 {
			t.Fatalf("TIME = %v, %v", tm, err)
		}
		s, _ := strconv.ParseInt(tm[0], 10, 64)
		us, _ := strconv.ParseInt(tm[1], 10, 64)
		return s*1000 + us/1000
	}
	for _, tc := range []struct {
		name   string
		offset time.Duration // the caller's clock minus Redis's
	}{
		{"Agreeing", 0},
		{"Behind", -10 * time.Minute},
		{"Ahead", 10 * time.Minute},
	} {
		for _, acked := range []bool{false, true} {
			remember, name := st.RememberOnce, tc.name
			if acked {
				remember, name = st.RememberOnceAcked, tc.name+"/Acked"
			}
			t.Run(name, func(t *testing.T) {
				key := "exp-" + randomHex(4)
				before := redisMS()
				now := time.Now().Add(tc.offset)
				until := now.Add(window)
				if fresh, err := remember(ctx, key, now, until); err != nil || !fresh {
					t.Fatalf("remember(%s) = %v, %v; want true", key, fresh, err)
				}
				after := redisMS()
				at, err := raw.Do(ctx, raw.B().Pexpiretime().Key(prefix+":once:"+key).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				untilMS := until.Add(time.Millisecond - time.Nanosecond).UnixMilli()
				lo := max(untilMS, before+window.Milliseconds())
				hi := max(untilMS, after+window.Milliseconds()+1)
				if at < lo || at > hi {
					t.Errorf("PEXPIRETIME = %d; want the later of until (%d) and Redis's TIME + window (%d..%d)", at, untilMS, before+window.Milliseconds(), after+window.Milliseconds()+1)
				}
			})
		}
	}
}
